//! The OAuth 2.0 protocol: the token endpoint's grants driven through oxide-auth-async flows,
//! client authentication, the scope grammar and RFC error codes. No SQL and no warp here:
//! storage goes through `store` repositories, HTTP through `http`.

pub mod client_auth;
pub mod endpoint;
pub mod error;
pub mod grants;
pub mod scope;

pub use error::{ErrorCode, OAuthError};

/// The client id recorded in access tokens exchanged without client authentication.
pub const BUILTIN_PUBLIC_CLIENT: &str = "tessera";

//! The OAuth 2.0 protocol: typed token requests, client authentication, one handler per grant,
//! and RFC error codes. No SQL and no warp here: reads and writes go through `domain`, HTTP
//! through `http`.

pub mod client_auth;
pub mod error;
pub mod grants;
pub mod request;

pub use error::{ErrorCode, OAuthError};

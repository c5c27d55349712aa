//! The vocabulary every layer shares: scopes and their grammar, album permissions, grant types,
//! clients, refresh tokens and their status rules. Pure types with no I/O; nothing here imports
//! another part of tessera.

pub mod album;
pub mod basic;
pub mod client;
pub mod grant;
pub mod holdings;
pub mod scope;
pub mod token;

pub use album::{AlbumId, Permission, Permissions};
pub use client::{Client, ClientScopePolicy, BUILTIN_PUBLIC_CLIENT, MAX_CLIENT_ID_LEN};
pub use grant::GrantType;
pub use holdings::{effective_scope, Holdings};
pub use scope::{Scope, ScopeError, ScopeItem, MAX_SCOPE_LEN};
pub use token::{RefreshToken, TokenKind, TokenStatus};

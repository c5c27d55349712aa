//! sea-orm entities, one per table. The schema itself is owned by `migrations/`.

pub mod album;
pub mod album_member;
pub mod audit_event;
pub mod client;
pub mod refresh_token;
pub mod revoked_access_token;
pub mod user;

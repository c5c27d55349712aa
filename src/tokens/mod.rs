//! Token strings and signatures: the `tsr_` refresh-token format, client secrets, signing keys
//! and the JWKS, and JWT access tokens (RFC 9068). Nothing here touches the database or HTTP.

pub mod jwt;
mod key_dir;
pub mod keys;
pub mod secret;

//! tessera: an OAuth 2.0 authorization server for long-lived, named refresh tokens (personal and
//! album tokens) exchanged for short-lived JWT access tokens.
//!
//! Layers, outside in (see docs/architecture.md):
//! - [`http`]: the warp edge: routes, handlers, the oxide-auth frontend adapter, JSON errors.
//! - [`oauth`]: the protocol: grants through oxide-auth-async flows, client authentication,
//!   scopes, RFC error codes.
//! - [`domain`]: tessera's rules: token management, introspection, revocation, cleanup.
//! - [`store`]: sea-orm entities and repositories; the schema lives in `migrations/`.
//! - [`tokens`]: token strings, signing keys, JWTs.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod oauth;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tokens;

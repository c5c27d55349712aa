//! tessera: an OAuth 2.0 authorization server for long-lived, named refresh tokens (personal and
//! album tokens) exchanged for short-lived JWT access tokens.
//!
//! Layers, outside in (see docs/architecture.md); each uses only the layers below it:
//! - [`http`]: the warp edge: routes, handlers, strict form parsing, JSON errors, the server.
//! - [`oauth`]: the protocol: typed token requests, client authentication, one handler per
//!   grant (`oauth::grants`), RFC error codes.
//! - [`domain`]: tessera's rules: token management, accounts, introspection, revocation,
//!   rotation, cleanup, brute-force limits, and [`domain::AppState`].
//! - [`store`]: sea-orm entities and repositories, and the one write path (`store::Db::write`);
//!   the schema lives in `migrations/`.
//! - [`tokens`]: token strings, signing keys, JWTs.
//! - [`model`]: the vocabulary all of them share (scopes, permissions, grant types, clients,
//!   refresh tokens and their status rules); pure types, no I/O.
//! - [`config`], [`clock`], [`metrics`], [`telemetry`]: settings, time, counters, logging.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod model;
pub mod oauth;
pub mod store;
pub mod telemetry;
pub mod tokens;

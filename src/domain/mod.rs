//! tessera's rules, between the protocol edge and storage: who may create, see and revoke which
//! token; what a refresh token grants at exchange; introspection and revocation; cleanup.
//! Times come in as arguments or from `AppState::clock`.

pub mod accounts;
pub mod audit;
pub mod caller;
pub mod clients;
pub mod error;
pub mod gc;
pub mod introspection;
pub mod limiter;
pub mod management;
pub mod minting;
pub mod passwords;
pub mod refresh;
pub mod revocation;
pub mod state;

pub use error::Error;
pub use state::AppState;

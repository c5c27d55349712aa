//! tessera's integration tests: one binary, the real server over HTTP, each database test on
//! SQLite and on PostgreSQL (when TESSERA_TEST_POSTGRES_URL is set).

mod helpers;
mod process;

mod brute_force;
mod cli;
mod foundation;
mod hostile_input;
mod reliability;
mod revoke_introspect;
mod token_endpoint;
mod tokens_api;

//! tessera's integration tests: one binary, the real server over HTTP, each database test on
//! SQLite and on PostgreSQL (when TESSERA_TEST_POSTGRES_URL is set).

mod helpers;
mod process;
mod raw_http;

mod brute_force;
mod cli;
mod foundation;
mod hostile_input;
mod quotas;
mod reliability;
mod revocation_races;
mod revoke_introspect;
mod slow_clients;
mod token_endpoint;
mod tokens_api;
mod users_admin;

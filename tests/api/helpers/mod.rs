#![allow(dead_code)]
//! Spawns the real server in-process on port 0 with a fresh database (SQLite file, or a fresh
//! PostgreSQL database when TESSERA_TEST_POSTGRES_URL is set) and a fresh key directory, and
//! gives tests what they share: HTTP helpers, set-up through the library as the CLI does it,
//! tokens through the API, OAuth error assertions, JWT claims and stored-state snapshots.

mod db;
mod http;
mod json;
mod jwt;
mod oauth;
mod server;
mod setup;
mod state;
mod tokens;

pub use db::*;
pub use http::*;
pub use json::*;
pub use jwt::*;
pub use oauth::*;
pub use server::*;
pub use state::*;

pub const ALICE: (&str, &str) = ("alice", "alice-pw");

/// Defines a test that runs once on SQLite and once on PostgreSQL (skipped with a note when
/// TESSERA_TEST_POSTGRES_URL is unset).
#[macro_export]
macro_rules! db_test {
    ($(#[$meta:meta])* $name:ident, |$app:ident| $body:block) => {
        db_test!($(#[$meta])* $name, [], |$app| $body);
    };
    ($(#[$meta:meta])* $name:ident, [$($k:expr => $v:expr),*], |$app:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($app: &$crate::helpers::TestApp) $body

            async fn run(backend: $crate::helpers::Backend) {
                let Some(app) = $crate::helpers::TestApp::spawn_with(backend, &[$(($k, $v)),*]).await else {
                    return;
                };
                body(&app).await;
                app.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::helpers::Backend::Postgres).await;
            }
        }
    };
}

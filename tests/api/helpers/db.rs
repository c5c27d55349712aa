//! Fresh databases: a SQLite file in a directory, or a uniquely named PostgreSQL database on the
//! server of TESSERA_TEST_POSTGRES_URL.

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The PostgreSQL admin URL for tests, or None (with a visible note) to skip.
pub fn postgres_base_url() -> Option<String> {
    match std::env::var("TESSERA_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but TESSERA_TEST_POSTGRES_URL is not set: PostgreSQL tests must run in CI");
            }
            eprintln!("note: TESSERA_TEST_POSTGRES_URL not set; skipping the PostgreSQL half of this test");
            None
        }
    }
}

/// Creates a uniquely named database on the server of `base` and returns its URL.
pub async fn create_pg_database(base: &str) -> (String, String) {
    use sea_orm::{ConnectionTrait, Database};
    let name = format!(
        "tessera_t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        rand_suffix()
    );
    let admin = Database::connect(base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at TESSERA_TEST_POSTGRES_URL is unreachable: {e}"));
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create test database");
    admin.close().await.ok();
    let (prefix, _) = base
        .rsplit_once('/')
        .expect("postgres URL with a database path");
    (format!("{prefix}/{name}"), name)
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

pub async fn drop_pg_database(base: &str, name: &str) {
    use sea_orm::{ConnectionTrait, Database};
    if let Ok(admin) = Database::connect(base).await {
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        admin.close().await.ok();
    }
}

/// The URL of the SQLite database file `t.db` in `dir` (created on first use).
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("t.db").display())
}

/// A fresh database: a SQLite file in `dir`, or a new PostgreSQL database (with the admin URL
/// and name to drop it afterwards); `None` when PostgreSQL is not configured.
pub async fn fresh_database(
    backend: Backend,
    dir: &Path,
) -> Option<(String, Option<(String, String)>)> {
    match backend {
        Backend::Sqlite => Some((sqlite_url(dir), None)),
        Backend::Postgres => {
            let base = postgres_base_url()?;
            let (url, name) = create_pg_database(&base).await;
            Some((url, Some((base, name))))
        }
    }
}

/// Runs `test` with the URL of a fresh database on `backend` (see [`fresh_database`]; skipped
/// when PostgreSQL is not configured), and drops a PostgreSQL database afterwards even when the
/// test panics; the panic is then passed on.
pub async fn on_fresh_database<F, Fut>(backend: Backend, dir: &Path, test: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some((url, pg)) = fresh_database(backend, dir).await else {
        return;
    };
    let result = tokio::spawn(test(url)).await;
    if let Some((base, name)) = pg {
        drop_pg_database(&base, &name).await;
    }
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// [`on_fresh_database`] with a new directory, which `test` is given to own: the SQLite
/// database is a file in it, and the test may keep its logs and keys there too.
pub async fn with_database_dir<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(tempfile::TempDir, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_fresh_database(backend, &path, move |db| test(dir, db)).await;
}

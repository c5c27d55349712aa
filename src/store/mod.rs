//! Persistence through sea-orm: connecting (SQLite or PostgreSQL), and one repository module per
//! aggregate. Repositories take a connection (or transaction) and know nothing of HTTP or OAuth.

pub mod albums;
pub mod audit;
pub mod clients;
mod db;
pub mod entity;
pub mod refresh_tokens;
pub mod revoked_access_tokens;
pub mod users;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DbErr, RuntimeErr};

pub use db::{Db, Event, Write};

/// What went wrong below the domain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or has no free connection: worth a 503 and a retry.
    #[error("database unavailable: {0}")]
    Unavailable(DbErr),
    /// A unique constraint refused the row.
    #[error("already exists")]
    Conflict,
    #[error("database error: {0}")]
    Database(DbErr),
    /// A stored value does not parse (a kind or scope written by a newer or broken version).
    #[error("stored data does not parse: {0}")]
    Corrupt(String),
}

impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        match &e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(e),
            DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s))
                if is_connection_error(s) =>
            {
                StoreError::Unavailable(e)
            }
            _ if is_unique_violation(&e) => StoreError::Conflict,
            _ => StoreError::Database(e),
        }
    }
}

fn is_connection_error(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match e {
        E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Tls(_) => true,
        // PostgreSQL SQLSTATE classes 08 (connection exception) and 57P (the server shut the
        // connection down, e.g. pg_terminate_backend or a restart): the database went away
        // under a pooled connection. That connection then fails its release ping and is dropped.
        E::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Connects and configures the pool for the URL's backend.
///
/// SQLite: WAL journal (readers never block the writer), a 5 s busy timeout, foreign keys on,
/// `synchronous = NORMAL` (durable against a process crash, which is what WAL needs), and a small
/// pool: SQLite has one writer anyway, and a few readers let reads proceed during a write.
/// PostgreSQL: `max_connections` per instance.
///
/// Pings: sqlx pings a connection when it goes back to the pool (always), and by default also
/// when it is taken out, which on SQLite is one more hand-off to the connection's worker thread
/// per query. An embedded database file cannot hang up, so SQLite skips the second ping;
/// PostgreSQL pings only a connection that sat idle for a while (the server or a proxy may have
/// dropped it); a connection that broke while in use fails its release ping and is discarded.
pub async fn connect(url: &str, max_connections: u32) -> Result<Db, StoreError> {
    let mut opts = ConnectOptions::new(url.to_string());
    opts.sqlx_logging(false)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3));
    if url.starts_with("sqlite:") {
        use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
        opts.max_connections(max_connections.clamp(2, 4))
            .min_connections(1)
            .test_before_acquire(false)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
            });
    } else {
        opts.max_connections(max_connections)
            .min_connections(1)
            .test_before_acquire_if_idle_for(Duration::from_secs(5));
    }
    Ok(Db::new(Database::connect(opts).await?))
}

/// The row a unique-key filter selects. Unlike `.one()` it sends no `LIMIT ?`: SQLite
/// re-prepares a statement whose LIMIT is a bound parameter on every execution (its planner
/// peeks at the value), which cost more than the lookup itself on the hot paths.
pub(crate) async fn unique<E: sea_orm::EntityTrait>(
    select: sea_orm::Select<E>,
    db: &impl sea_orm::ConnectionTrait,
) -> Result<Option<E::Model>, StoreError> {
    Ok(select.all(db).await?.into_iter().next())
}

/// The SQL of one hot statement, built by sea-query on first use for each backend and reused
/// with bound values after that. Building a statement cost more than running it on the hot
/// paths (see docs/performance.md); the SQL depends only on the backend, never on the values.
pub(crate) struct CachedSql {
    sqlite: std::sync::OnceLock<String>,
    postgres: std::sync::OnceLock<String>,
}

impl CachedSql {
    pub(crate) const fn new() -> Self {
        CachedSql {
            sqlite: std::sync::OnceLock::new(),
            postgres: std::sync::OnceLock::new(),
        }
    }

    /// A statement of `build`'s SQL for `backend` with these `values`.
    pub(crate) fn statement(
        &self,
        backend: sea_orm::DbBackend,
        build: impl FnOnce(sea_orm::DbBackend) -> String,
        values: impl IntoIterator<Item = sea_orm::Value>,
    ) -> sea_orm::Statement {
        let cell = match backend {
            sea_orm::DbBackend::Sqlite => &self.sqlite,
            _ => &self.postgres,
        };
        let sql = cell.get_or_init(|| build(backend)).clone();
        sea_orm::Statement::from_sql_and_values(backend, sql, values)
    }
}

/// Applies every pending migration.
pub async fn migrate(db: &Db) -> Result<(), StoreError> {
    Migrator::up(db.conn(), None)
        .await
        .map_err(StoreError::from)
}

/// `SELECT 1`, for readiness.
pub async fn ping(db: &Db) -> Result<(), StoreError> {
    db.conn().ping().await.map_err(StoreError::from)
}

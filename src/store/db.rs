//! The database handle and its one write path.
//!
//! Every write goes through [`Db::write`], which takes the SQLite write turn and opens the
//! transaction together: no caller can open a write transaction without the turn, or keep the
//! turn after its transaction ended. Audit rows are written through the same [`Write`], so an
//! audited change and its audit row commit together or not at all.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{audit, StoreError};

/// The pool, plus the queue SQLite's single writer needs. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    conn: DatabaseConnection,
    write_turn: Arc<Mutex<()>>,
}

/// One write transaction, holding the SQLite write turn until it commits or is dropped (a drop
/// rolls back).
pub struct Write {
    txn: DatabaseTransaction,
    _turn: Option<OwnedMutexGuard<()>>,
}

/// What an audit row says: who did what to what, with a JSON detail that never holds a secret.
pub struct Event<'a> {
    pub at: DateTime<Utc>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub detail: serde_json::Value,
}

impl Db {
    pub fn new(conn: DatabaseConnection) -> Self {
        Db {
            conn,
            write_turn: Arc::default(),
        }
    }

    /// The pool itself, for what needs sea-orm's own connection type (migrations, pool stats).
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// Closes the pool (tests that simulate an instance going away).
    pub async fn close(self) -> Result<(), StoreError> {
        self.conn.close().await.map_err(StoreError::from)
    }

    pub fn is_sqlite(&self) -> bool {
        self.conn.get_database_backend() == DbBackend::Sqlite
    }

    /// Starts a write transaction.
    ///
    /// SQLite has a single writer: a second `BEGIN IMMEDIATE` waits in SQLite's busy handler,
    /// which sleeps (up to 100 ms a try) while holding a pooled connection. Queueing writers on
    /// a turn here instead costs nothing while waiting and serves them in order. The
    /// transaction is `BEGIN IMMEDIATE`: it takes the write lock up front instead of failing
    /// with "database is locked" when a read inside it later turns into a write. PostgreSQL
    /// needs no turn and ignores the mode.
    pub async fn write(&self) -> Result<Write, StoreError> {
        let turn = match self.is_sqlite() {
            true => Some(self.write_turn.clone().lock_owned().await),
            false => None,
        };
        let txn = self
            .conn
            .begin_with_options(TransactionOptions {
                isolation_level: None,
                access_mode: None,
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            })
            .await?;
        Ok(Write { txn, _turn: turn })
    }

    /// Writes one audit row on its own (for changes made by a single statement).
    pub async fn audit(&self, e: Event<'_>) -> Result<(), StoreError> {
        audit::record(&self.conn, e).await
    }

    /// Live and idle connections in the pool, when the backend reports them.
    pub fn pool_stats(&self) -> Option<(u32, usize)> {
        use sea_orm::DatabaseConnectionType as T;
        match &self.conn.inner {
            T::SqlxPostgresPoolConnection(_) => {
                let pool = self.conn.get_postgres_connection_pool();
                Some((pool.size(), pool.num_idle()))
            }
            T::SqlxSqlitePoolConnection(_) => {
                let pool = self.conn.get_sqlite_connection_pool();
                Some((pool.size(), pool.num_idle()))
            }
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }
}

impl Write {
    pub async fn audit(&self, e: Event<'_>) -> Result<(), StoreError> {
        audit::record(&self.txn, e).await
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.txn.commit().await.map_err(StoreError::from)
    }

    pub async fn rollback(self) -> Result<(), StoreError> {
        self.txn.rollback().await.map_err(StoreError::from)
    }
}

/// Repositories take `&impl ConnectionTrait`, so both handles can be passed to them.
macro_rules! delegate_connection {
    ($ty:ty, $field:ident) => {
        #[async_trait::async_trait]
        impl ConnectionTrait for $ty {
            fn get_database_backend(&self) -> DbBackend {
                self.$field.get_database_backend()
            }
            async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
                self.$field.execute_raw(stmt).await
            }
            async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
                self.$field.execute_unprepared(sql).await
            }
            async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
                self.$field.query_one_raw(stmt).await
            }
            async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
                self.$field.query_all_raw(stmt).await
            }
        }
    };
}

delegate_connection!(Db, conn);
delegate_connection!(Write, txn);

//! Revoking token families and everything created under them, whatever the tree's size.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;

use crate::store::{CachedSql, StoreError};

/// Where a revocation starts: one family, or every family of one user.
#[derive(Clone, Copy, Debug)]
pub enum Roots<'a> {
    Family(&'a str),
    User(i64),
}

/// Revokes the root families and every family created under any of them (transitively, through
/// `parent_id`), and returns the public ids of the families that were live until now.
///
/// One recursive statement walks and revokes the whole tree, so its size is bound by nothing but
/// the table (a level of children is never bound into one `IN (...)`). The statement is repeated
/// until it changes nothing. Under PostgreSQL's READ COMMITTED a statement sees only rows
/// committed before it began: a rotation that held a head row while we waited for it commits
/// its successor after our snapshot was taken, and a token created under a parent whose row it
/// held does the same. Each such wait means the statement changed at least one row (the one it
/// waited for), so the next repetition runs, with a fresh snapshot that contains the successor
/// or child; the loop ends only when one statement saw every row of the tree already revoked.
/// Rows we revoked stay locked until our commit, so no new rotation or child can start from
/// them. On SQLite writers are serialised (`BEGIN IMMEDIATE`) and the second run changes nothing.
pub async fn revoke_families(
    db: &impl ConnectionTrait,
    roots: Roots<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    static BY_FAMILY: CachedSql = CachedSql::new();
    static BY_USER: CachedSql = CachedSql::new();
    let backend = db.get_database_backend();
    let mut newly = BTreeSet::new();
    // Each repetition revokes at least one row that was live; rows are finite.
    for _ in 0..MAX_REVOCATION_PASSES {
        let stmt = match roots {
            Roots::Family(id) => BY_FAMILY.statement(
                backend,
                |b| revoke_tree_sql(b, "family_id"),
                [id.into(), now.into()],
            ),
            Roots::User(id) => BY_USER.statement(
                backend,
                |b| revoke_tree_sql(b, "user_id"),
                [id.into(), now.into()],
            ),
        };
        let rows = db.query_all_raw(stmt).await?;
        if rows.is_empty() {
            return Ok(newly.into_iter().collect());
        }
        for r in rows {
            let family: String = r.try_get_by_index(0)?;
            let head: bool = r.try_get_by_index::<Option<DateTime<Utc>>>(1)?.is_none();
            if head {
                newly.insert(family);
            }
        }
    }
    Err(StoreError::Database(sea_orm::DbErr::Custom(
        "revocation did not settle: the token tree kept changing".into(),
    )))
}

const MAX_REVOCATION_PASSES: usize = 1000;

/// The recursive revocation: roots are the families with `root_column = $1`, then every family
/// whose `parent_id` is one of the set; all their unrevoked rows get `revoked_at = $2`. Returns
/// each changed row's family and `rotated_at` (NULL for a family's head).
fn revoke_tree_sql(backend: sea_orm::DbBackend, root_column: &str) -> String {
    let (p1, p2) = match backend {
        sea_orm::DbBackend::Postgres => ("$1", "$2"),
        _ => ("?", "?"),
    };
    format!(
        "WITH RECURSIVE tree(family_id) AS ( \
           SELECT family_id FROM refresh_tokens WHERE {root_column} = {p1} \
           UNION \
           SELECT t.family_id FROM refresh_tokens t JOIN tree ON t.parent_id = tree.family_id \
         ) \
         UPDATE refresh_tokens SET revoked_at = {p2} \
         WHERE revoked_at IS NULL AND family_id IN (SELECT family_id FROM tree) \
         RETURNING family_id, rotated_at"
    )
}

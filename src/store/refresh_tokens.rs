//! Refresh tokens. One row per token string ever issued; rows of one rotation chain share a
//! `family_id`, which is also the token's public id. The chain's head (the only row without
//! `rotated_at`) carries the current state that users see.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::refresh_token::{self, Column as C, Entity as Tokens};
use super::StoreError;

pub use refresh_token::Model as RefreshToken;

/// Listing filter by status at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Active,
    Expired,
    Revoked,
}

pub struct NewRefreshToken {
    pub id: String,
    pub secret_hash: String,
    pub kind: String,
    pub name: String,
    pub user_id: i64,
    pub client_id: Option<String>,
    pub album_id: Option<String>,
    pub scope: String,
    pub rotating: bool,
    pub family_id: String,
    pub parent_id: Option<String>,
    pub rotated_from_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    t: NewRefreshToken,
) -> Result<RefreshToken, StoreError> {
    let row = refresh_token::ActiveModel {
        id: Set(t.id),
        secret_hash: Set(t.secret_hash),
        kind: Set(t.kind),
        name: Set(t.name),
        user_id: Set(t.user_id),
        client_id: Set(t.client_id),
        album_id: Set(t.album_id),
        scope: Set(t.scope),
        rotating: Set(t.rotating),
        family_id: Set(t.family_id),
        parent_id: Set(t.parent_id),
        rotated_from_id: Set(t.rotated_from_id),
        created_at: Set(t.created_at),
        expires_at: Set(t.expires_at),
        last_used_at: Set(t.last_used_at),
        rotated_at: Set(None),
        revoked_at: Set(None),
    };
    Ok(row.insert(db).await?)
}

pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    secret_hash: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    super::unique(Tokens::find().filter(C::SecretHash.eq(secret_hash)), db).await
}

/// The token with this hash and its owner, in one query: the refresh grant and introspection
/// need both, and on SQLite every query is a hand-off to the connection's worker thread.
///
/// This is the hottest query of tessera, so it skips two costs of sea-orm's generic path that
/// the profile showed to be larger than the lookup itself: the SQL is built by sea-query once
/// per backend (from an entity-based select joining the owner) and reused, and the row is
/// decoded by column position instead of by formatted alias names.
pub async fn find_by_hash_with_owner(
    db: &impl ConnectionTrait,
    secret_hash: &str,
) -> Result<Option<(RefreshToken, super::users::User)>, StoreError> {
    use sea_orm::QueryTrait;
    static SQL: super::CachedSql = super::CachedSql::new();
    let stmt = SQL.statement(
        db.get_database_backend(),
        |backend| {
            Tokens::find()
                .filter(C::SecretHash.eq(""))
                .inner_join(super::entity::user::Entity)
                .select_also(super::entity::user::Entity)
                .build(backend)
                .sql
        },
        [secret_hash.into()],
    );
    let Some(row) = db.query_all_raw(stmt).await?.into_iter().next() else {
        return Ok(None);
    };
    // The inner join (and the foreign key) guarantee an owner.
    Ok(Some((token_at(&row)?, owner_at(&row, TOKEN_COLUMNS)?)))
}

/// How many columns a refresh-token row has: the owner's columns follow them.
const TOKEN_COLUMNS: usize = 17;

/// Decodes the refresh-token columns, in `Column` order (the order sea-query selects them in).
fn token_at(r: &sea_orm::QueryResult) -> Result<RefreshToken, sea_orm::DbErr> {
    Ok(RefreshToken {
        id: r.try_get_by_index(0)?,
        secret_hash: r.try_get_by_index(1)?,
        kind: r.try_get_by_index(2)?,
        name: r.try_get_by_index(3)?,
        user_id: r.try_get_by_index(4)?,
        client_id: r.try_get_by_index(5)?,
        album_id: r.try_get_by_index(6)?,
        scope: r.try_get_by_index(7)?,
        rotating: r.try_get_by_index(8)?,
        family_id: r.try_get_by_index(9)?,
        parent_id: r.try_get_by_index(10)?,
        rotated_from_id: r.try_get_by_index(11)?,
        created_at: r.try_get_by_index(12)?,
        expires_at: r.try_get_by_index(13)?,
        last_used_at: r.try_get_by_index(14)?,
        rotated_at: r.try_get_by_index(15)?,
        revoked_at: r.try_get_by_index(16)?,
    })
}

/// Decodes the owner's columns, which start at `base`.
fn owner_at(r: &sea_orm::QueryResult, base: usize) -> Result<super::users::User, sea_orm::DbErr> {
    Ok(super::users::User {
        id: r.try_get_by_index(base)?,
        name: r.try_get_by_index(base + 1)?,
        password_hash: r.try_get_by_index(base + 2)?,
        is_admin: r.try_get_by_index(base + 3)?,
        created_at: r.try_get_by_index(base + 4)?,
        disabled_at: r.try_get_by_index(base + 5)?,
        deleted_at: r.try_get_by_index(base + 6)?,
    })
}

pub async fn find_by_row_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    super::unique(Tokens::find_by_id(id.to_string()), db).await
}

/// The head of the family with this public id.
pub async fn find_head(
    db: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    Ok(Tokens::find()
        .filter(C::FamilyId.eq(family_id))
        .filter(C::RotatedAt.is_null())
        .one(db)
        .await?)
}

/// The row that replaced `row_id` by rotation, if any.
pub async fn successor(
    db: &impl ConnectionTrait,
    row_id: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    Ok(Tokens::find()
        .filter(C::RotatedFromId.eq(row_id))
        .one(db)
        .await?)
}

/// Compare-and-set: marks `row_id` rotated if, and only if, it is still the live head.
/// Exactly one of any number of concurrent callers gets `true`.
pub async fn mark_rotated(
    db: &impl ConnectionTrait,
    row_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = Tokens::update_many()
        .col_expr(C::RotatedAt, Expr::value(now))
        .filter(C::Id.eq(row_id))
        .filter(live(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records use; the caller throttles how often this runs.
pub async fn touch_last_used(
    db: &impl ConnectionTrait,
    row_id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    Tokens::update_many()
        .col_expr(C::LastUsedAt, Expr::value(now))
        .filter(C::Id.eq(row_id))
        .exec(db)
        .await?;
    Ok(())
}

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
    static BY_FAMILY: super::CachedSql = super::CachedSql::new();
    static BY_USER: super::CachedSql = super::CachedSql::new();
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

/// Locks one unrevoked row of a family for the rest of the transaction, and returns it; `None`
/// if every row of the family is revoked. A revocation changes every unrevoked row of a family,
/// so it waits for this lock (and then sees what this transaction inserted), or this waits for
/// the revocation (and then finds nothing). PostgreSQL only; SQLite serialises writers anyway.
pub async fn lock_unrevoked_row(
    db: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    Ok(Tokens::find()
        .filter(C::FamilyId.eq(family_id))
        .filter(C::RevokedAt.is_null())
        .order_by_asc(C::Id)
        .limit(1)
        .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
        .all(db)
        .await?
        .into_iter()
        .next())
}

/// Live (unrevoked, unexpired) tokens of a user: family heads only.
pub async fn count_live_of_user(
    db: &impl ConnectionTrait,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(Tokens::find()
        .filter(C::UserId.eq(user_id))
        .filter(live(now))
        .count(db)
        .await?)
}

/// Live tokens created with a Bearer credential of the family `parent_id`.
pub async fn count_live_children(
    db: &impl ConnectionTrait,
    parent_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    Ok(Tokens::find()
        .filter(C::ParentId.eq(parent_id))
        .filter(live(now))
        .count(db)
        .await?)
}

/// A family head that is neither revoked nor expired.
fn live(now: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(C::RotatedAt.is_null())
        .add(C::RevokedAt.is_null())
        .add(
            Condition::any()
                .add(C::ExpiresAt.is_null())
                .add(C::ExpiresAt.gt(now)),
        )
}

/// Which heads to list.
pub struct ListQuery<'a> {
    pub user_id: Option<i64>,
    pub album_id: Option<&'a str>,
    pub status: Option<StatusFilter>,
    pub limit: u64,
    pub offset: u64,
}

/// Family heads, newest first, and the total count without paging.
pub async fn list(
    db: &impl ConnectionTrait,
    q: &ListQuery<'_>,
    now: DateTime<Utc>,
) -> Result<(Vec<RefreshToken>, u64), StoreError> {
    let mut cond = Condition::all().add(C::RotatedAt.is_null());
    if let Some(u) = q.user_id {
        cond = cond.add(C::UserId.eq(u));
    }
    if let Some(a) = q.album_id {
        cond = cond.add(C::AlbumId.eq(a)).add(C::Kind.eq("album"));
    }
    match q.status {
        None => {}
        Some(StatusFilter::Revoked) => cond = cond.add(C::RevokedAt.is_not_null()),
        Some(StatusFilter::Expired) => {
            cond = cond.add(C::RevokedAt.is_null()).add(C::ExpiresAt.lte(now))
        }
        Some(StatusFilter::Active) => cond = cond.add(live(now)),
    }
    let total = Tokens::find().filter(cond.clone()).count(db).await?;
    let rows = Tokens::find()
        .filter(cond)
        .order_by_desc(C::CreatedAt)
        .order_by_desc(C::FamilyId)
        .limit(q.limit)
        .offset(q.offset)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// Deletes up to `batch` rows that no live token needs: expired or revoked before `cutoff`, or
/// rotated away before `rotated_cutoff` (which the caller keeps past the lifetime of any access
/// token minted from the row). Returns how many were deleted.
pub async fn delete_stale(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    rotated_cutoff: DateTime<Utc>,
    batch: u64,
) -> Result<u64, StoreError> {
    let ids: Vec<String> = Tokens::find()
        .select_only()
        .column(C::Id)
        .filter(
            Condition::any()
                .add(C::ExpiresAt.lt(cutoff))
                .add(C::RevokedAt.lt(cutoff))
                .add(C::RotatedAt.lt(rotated_cutoff)),
        )
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let res = Tokens::delete_many()
        .filter(C::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;

    #[test]
    fn positional_decoding_covers_every_column() {
        // `token_at` and `owner_at` list the columns by hand; a column added to an entity must
        // be added there too (the integration test compares both paths row for row).
        assert_eq!(
            super::refresh_token::Column::iter().count(),
            super::TOKEN_COLUMNS
        );
        assert_eq!(super::super::entity::user::Column::iter().count(), 7);
    }
}

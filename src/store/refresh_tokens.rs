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
        .filter(C::RotatedAt.is_null())
        .filter(C::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(C::ExpiresAt.is_null())
                .add(C::ExpiresAt.gt(now)),
        )
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

/// Revokes the given families, every family created under any of them (transitively, through
/// `parent_id`), and returns the public ids of the families that were live until now.
pub async fn revoke_families(
    db: &impl ConnectionTrait,
    family_ids: &[String],
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let mut all: BTreeSet<String> = family_ids.iter().cloned().collect();
    let mut frontier: Vec<String> = family_ids.to_vec();
    while !frontier.is_empty() {
        let children: Vec<String> = Tokens::find()
            .select_only()
            .column(C::FamilyId)
            .filter(C::ParentId.is_in(frontier.clone()))
            .distinct()
            .into_tuple()
            .all(db)
            .await?;
        frontier = children
            .into_iter()
            .filter(|f| all.insert(f.clone()))
            .collect();
    }
    let all: Vec<String> = all.into_iter().collect();
    let mut newly = Vec::new();
    for chunk in all.chunks(500) {
        let live: Vec<String> = Tokens::find()
            .select_only()
            .column(C::FamilyId)
            .filter(C::FamilyId.is_in(chunk.to_vec()))
            .filter(C::RevokedAt.is_null())
            .filter(C::RotatedAt.is_null())
            .into_tuple()
            .all(db)
            .await?;
        Tokens::update_many()
            .col_expr(C::RevokedAt, Expr::value(now))
            .filter(C::FamilyId.is_in(chunk.to_vec()))
            .filter(C::RevokedAt.is_null())
            .exec(db)
            .await?;
        newly.extend(live);
    }
    Ok(newly)
}

/// Public ids of every live family of a user.
pub async fn live_families_of_user(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(Tokens::find()
        .select_only()
        .column(C::FamilyId)
        .filter(C::UserId.eq(user_id))
        .filter(C::RevokedAt.is_null())
        .filter(C::RotatedAt.is_null())
        .into_tuple()
        .all(db)
        .await?)
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
        Some(StatusFilter::Active) => {
            cond = cond.add(C::RevokedAt.is_null()).add(
                Condition::any()
                    .add(C::ExpiresAt.is_null())
                    .add(C::ExpiresAt.gt(now)),
            )
        }
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
        assert_eq!(super::super::entity::user::Column::iter().count(), 5);
    }
}

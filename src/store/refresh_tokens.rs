//! Refresh tokens. One row per token string ever issued; rows of one rotation chain share a
//! `family_id`, which is also the token's public id. The chain's head (the only row without
//! `rotated_at`) carries the current state that users see.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::refresh_token::{self, Column as C, Entity as Tokens};
use super::StoreError;

mod hot;
mod revoke;

pub use hot::find_by_hash_with_owner;
pub use revoke::{revoke_families, Roots};

pub use crate::model::RefreshToken;
use crate::model::{Scope, TokenKind};

/// Parses a row's kind and scope once, here at the storage edge.
fn from_row(m: refresh_token::Model) -> Result<RefreshToken, StoreError> {
    let kind = m
        .kind
        .parse::<TokenKind>()
        .map_err(|_| StoreError::Corrupt(format!("token row {}: kind {:?}", m.id, m.kind)))?;
    let scope = Scope::parse(&m.scope)
        .map_err(|e| StoreError::Corrupt(format!("token row {}: scope: {e}", m.id)))?;
    Ok(RefreshToken {
        id: m.id,
        secret_hash: m.secret_hash,
        kind,
        name: m.name,
        user_id: m.user_id,
        client_id: m.client_id,
        album_id: m.album_id,
        scope,
        rotating: m.rotating,
        family_id: m.family_id,
        parent_id: m.parent_id,
        rotated_from_id: m.rotated_from_id,
        created_at: m.created_at,
        expires_at: m.expires_at,
        last_used_at: m.last_used_at,
        rotated_at: m.rotated_at,
        revoked_at: m.revoked_at,
    })
}

impl TryFrom<refresh_token::Model> for RefreshToken {
    type Error = StoreError;
    fn try_from(m: refresh_token::Model) -> Result<Self, StoreError> {
        from_row(m)
    }
}

fn from_rows(rows: Vec<refresh_token::Model>) -> Result<Vec<RefreshToken>, StoreError> {
    rows.into_iter().map(from_row).collect()
}

fn first(rows: Vec<refresh_token::Model>) -> Result<Option<RefreshToken>, StoreError> {
    rows.into_iter().next().map(from_row).transpose()
}

/// Listing filter by status at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFilter {
    Active,
    Expired,
    Revoked,
}

/// Inserts a new row (a new token, or the successor of a rotated one); it is never revoked or
/// rotated yet, whatever `t` says.
pub async fn insert(
    db: &impl ConnectionTrait,
    t: RefreshToken,
) -> Result<RefreshToken, StoreError> {
    let row = refresh_token::ActiveModel {
        id: Set(t.id),
        secret_hash: Set(t.secret_hash),
        kind: Set(t.kind.as_str().to_string()),
        name: Set(t.name),
        user_id: Set(t.user_id),
        client_id: Set(t.client_id),
        album_id: Set(t.album_id),
        scope: Set(t.scope.to_string()),
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
    from_row(row.insert(db).await?)
}

pub async fn find_by_hash(
    db: &impl ConnectionTrait,
    secret_hash: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    first(
        Tokens::find()
            .filter(C::SecretHash.eq(secret_hash))
            .all(db)
            .await?,
    )
}

pub async fn find_by_row_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    first(Tokens::find_by_id(id.to_string()).all(db).await?)
}

/// The head of the family with this public id.
pub async fn find_head(
    db: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    first(
        Tokens::find()
            .filter(C::FamilyId.eq(family_id))
            .filter(C::RotatedAt.is_null())
            .all(db)
            .await?,
    )
}

/// The row that replaced `row_id` by rotation, if any.
pub async fn successor(
    db: &impl ConnectionTrait,
    row_id: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    first(
        Tokens::find()
            .filter(C::RotatedFromId.eq(row_id))
            .all(db)
            .await?,
    )
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

/// Locks one unrevoked row of a family for the rest of the transaction, and returns it; `None`
/// if every row of the family is revoked. A revocation changes every unrevoked row of a family,
/// so it waits for this lock (and then sees what this transaction inserted), or this waits for
/// the revocation (and then finds nothing). PostgreSQL only; SQLite serialises writers anyway.
pub async fn lock_unrevoked_row(
    db: &impl ConnectionTrait,
    family_id: &str,
) -> Result<Option<RefreshToken>, StoreError> {
    first(
        Tokens::find()
            .filter(C::FamilyId.eq(family_id))
            .filter(C::RevokedAt.is_null())
            .order_by_asc(C::Id)
            .limit(1)
            .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
            .all(db)
            .await?,
    )
}

/// Whose live tokens to count.
#[derive(Clone, Copy, Debug)]
pub enum Counted<'a> {
    /// Every token of a user.
    OfUser(i64),
    /// The tokens made with a Bearer credential of this family.
    ChildrenOf(&'a str),
}

/// Live (unrevoked, unexpired) tokens: family heads only.
pub async fn count_live(
    db: &impl ConnectionTrait,
    of: Counted<'_>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let whose = match of {
        Counted::OfUser(id) => C::UserId.eq(id),
        Counted::ChildrenOf(family) => C::ParentId.eq(family),
    };
    Ok(Tokens::find()
        .filter(whose)
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
        cond = cond
            .add(C::AlbumId.eq(a))
            .add(C::Kind.eq(TokenKind::Album.as_str()));
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
    Ok((from_rows(rows)?, total))
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

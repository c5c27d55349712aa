//! `jti`s of revoked access tokens, kept until the token's own expiry.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Set,
};

use super::entity::revoked_access_token::{self, Column as C, Entity as Revoked};
use super::StoreError;

pub async fn insert(
    db: &impl ConnectionTrait,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let row = revoked_access_token::ActiveModel {
        jti: Set(jti.to_string()),
        expires_at: Set(expires_at),
        revoked_at: Set(now),
    };
    Revoked::insert(row)
        .on_conflict_do_nothing_on([C::Jti])
        .exec(db)
        .await?;
    Ok(())
}

pub async fn is_revoked(db: &impl ConnectionTrait, jti: &str) -> Result<bool, StoreError> {
    Ok(Revoked::find().filter(C::Jti.eq(jti)).count(db).await? > 0)
}

/// Whether an access token is revoked: its `jti` is listed, or the refresh-token row it was
/// minted from (`rtid`) is revoked or gone. One round trip that reads the current state, so a
/// revocation by any instance is seen by the very next call.
pub async fn access_token_revoked(
    db: &impl ConnectionTrait,
    jti: &str,
    rtid: Option<&str>,
) -> Result<bool, StoreError> {
    use super::entity::refresh_token::{Column as R, Entity as Tokens};
    // Literals, not bound values: PostgreSQL cannot type a bare `SELECT $1`.
    let one = || Expr::cust("1");
    let listed = Query::select()
        .expr(one())
        .from(Revoked)
        .and_where(Expr::col(C::Jti).eq(jti))
        .to_owned();
    let mut revoked = Expr::exists(listed);
    if let Some(rtid) = rtid {
        let live_row = Query::select()
            .expr(one())
            .from(Tokens)
            .and_where(Expr::col(R::Id).eq(rtid))
            .and_where(Expr::col(R::RevokedAt).is_null())
            .to_owned();
        revoked = revoked.or(Expr::exists(live_row).not());
    }
    let q = Query::select()
        .expr_as(
            Expr::case(revoked, one()).finally(Expr::cust("0")),
            "revoked",
        )
        .to_owned();
    let row = db.query_one(&q).await?;
    Ok(row
        .map(|r| r.try_get::<i32>("", "revoked"))
        .transpose()?
        .unwrap_or(1)
        != 0)
}

/// Deletes up to `batch` ids whose token has expired anyway.
pub async fn delete_expired(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    batch: u64,
) -> Result<u64, StoreError> {
    let ids: Vec<String> = Revoked::find()
        .select_only()
        .column(C::Jti)
        .filter(C::ExpiresAt.lt(now))
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(Revoked::delete_many()
        .filter(C::Jti.is_in(ids))
        .exec(db)
        .await?
        .rows_affected)
}

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
/// minted from (`rtid`) is revoked or gone, or that row's owner is disabled or deleted. One round trip that reads the current state, so a
/// revocation by any instance is seen by the very next call. On every JWT introspection: its
/// SQL is built once per backend and shape and reused (`store::CachedSql`).
pub async fn access_token_revoked(
    db: &impl ConnectionTrait,
    jti: &str,
    rtid: Option<&str>,
) -> Result<bool, StoreError> {
    // One statement per shape: with and without the refresh-token row check.
    static LISTED: super::CachedSql = super::CachedSql::new();
    static LISTED_OR_ROW_GONE: super::CachedSql = super::CachedSql::new();
    let backend = db.get_database_backend();
    let stmt = match rtid {
        None => LISTED.statement(backend, |b| revoked_sql(b, false), [jti.into()]),
        Some(rtid) => LISTED_OR_ROW_GONE.statement(
            backend,
            |b| revoked_sql(b, true),
            [jti.into(), rtid.into()],
        ),
    };
    let row = db.query_one_raw(stmt).await?;
    Ok(row
        .map(|r| r.try_get_by_index::<i32>(0))
        .transpose()?
        .unwrap_or(1)
        != 0)
}

/// `SELECT CASE WHEN EXISTS(listed jti) [OR NOT EXISTS(live row)] THEN 1 ELSE 0 END`, with the
/// jti (and the row id) as parameters in that order.
fn revoked_sql(backend: sea_orm::DbBackend, with_row: bool) -> String {
    use super::entity::refresh_token::{Column as R, Entity as Tokens};
    use sea_orm::StatementBuilder;
    // Literals, not bound values: PostgreSQL cannot type a bare `SELECT $1`.
    let one = || Expr::cust("1");
    let listed = Query::select()
        .expr(one())
        .from(Revoked)
        .and_where(Expr::col(C::Jti).eq(""))
        .to_owned();
    let mut revoked = Expr::exists(listed);
    if with_row {
        use super::entity::user::{Column as U, Entity as Users};
        // The row is live and its owner neither disabled nor deleted.
        let live_row = Query::select()
            .expr(one())
            .from(Tokens)
            .inner_join(Users, Expr::col((Users, U::Id)).equals((Tokens, R::UserId)))
            .and_where(Expr::col((Tokens, R::Id)).eq(""))
            .and_where(Expr::col((Tokens, R::RevokedAt)).is_null())
            .and_where(Expr::col((Users, U::DisabledAt)).is_null())
            .and_where(Expr::col((Users, U::DeletedAt)).is_null())
            .to_owned();
        revoked = revoked.or(Expr::exists(live_row).not());
    }
    let q = Query::select()
        .expr_as(
            Expr::case(revoked, one()).finally(Expr::cust("0")),
            "revoked",
        )
        .to_owned();
    StatementBuilder::build(&q, &backend).sql
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

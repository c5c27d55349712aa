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
/// revocation by any instance is seen by the very next call. On every JWT introspection: its
/// SQL is built once per backend and shape and reused (see `refresh_tokens::find_by_hash_with_owner`).
pub async fn access_token_revoked(
    db: &impl ConnectionTrait,
    jti: &str,
    rtid: Option<&str>,
) -> Result<bool, StoreError> {
    let backend = db.get_database_backend();
    let mut values: Vec<sea_orm::Value> = vec![jti.into()];
    if let Some(rtid) = rtid {
        values.push(rtid.into());
    }
    let sql = revoked_sql(backend, rtid.is_some());
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await?;
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
    use sea_orm::{DbBackend, StatementBuilder};
    use std::sync::OnceLock;
    static CACHE: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    let slot = match backend {
        DbBackend::Sqlite => 0,
        _ => 2,
    } + usize::from(with_row);
    CACHE[slot]
        .get_or_init(|| {
            // Literals, not bound values: PostgreSQL cannot type a bare `SELECT $1`.
            let one = || Expr::cust("1");
            let listed = Query::select()
                .expr(one())
                .from(Revoked)
                .and_where(Expr::col(C::Jti).eq(""))
                .to_owned();
            let mut revoked = Expr::exists(listed);
            if with_row {
                let live_row = Query::select()
                    .expr(one())
                    .from(Tokens)
                    .and_where(Expr::col(R::Id).eq(""))
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
            StatementBuilder::build(&q, &backend).sql
        })
        .clone()
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

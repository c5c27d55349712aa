//! Users: name, argon2id password hash, admin flag.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::entity::user::{self, Entity as Users};
use super::StoreError;

pub use user::Model as User;

pub async fn create(
    db: &impl ConnectionTrait,
    name: &str,
    password_hash: &str,
    is_admin: bool,
    now: DateTime<Utc>,
) -> Result<User, StoreError> {
    let row = user::ActiveModel {
        name: Set(name.to_string()),
        password_hash: Set(password_hash.to_string()),
        is_admin: Set(is_admin),
        created_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(db).await?)
}

pub async fn find_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<User>, StoreError> {
    // PostgreSQL refuses a NUL in a text value with an error; no stored name holds one.
    if name.contains('\0') {
        return Ok(None);
    }
    super::unique(Users::find().filter(user::Column::Name.eq(name)), db).await
}

pub async fn find_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<User>, StoreError> {
    super::unique(Users::find_by_id(id), db).await
}

impl User {
    /// Neither disabled nor deleted: the user's password and tokens work.
    pub fn is_enabled(&self) -> bool {
        self.disabled_at.is_none() && self.deleted_at.is_none()
    }
}

/// Locks the user's row until the transaction ends, so the transactions that count or change
/// the user's tokens (creation against the quota, revoke-all, disable, delete) run one at a
/// time for that user. `FOR NO KEY UPDATE`, not `FOR UPDATE`: inserting a token row takes a
/// key-share lock on its user for the foreign key, which this must not block, or a rotation and
/// a creation could deadlock. PostgreSQL only; SQLite serialises writers anyway.
pub async fn lock(db: &impl ConnectionTrait, id: i64) -> Result<Option<User>, StoreError> {
    use sea_orm::QuerySelect;
    Ok(Users::find_by_id(id)
        .lock(sea_orm::sea_query::LockType::NoKeyUpdate)
        .all(db)
        .await?
        .into_iter()
        .next())
}

/// Sets or clears `disabled_at`.
pub async fn set_disabled(
    db: &impl ConnectionTrait,
    id: i64,
    disabled_at: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    Users::update_many()
        .col_expr(user::Column::DisabledAt, Expr::value(disabled_at))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Turns the user into a tombstone: deleted and disabled, with no usable password hash.
pub async fn mark_deleted(
    db: &impl ConnectionTrait,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    use sea_orm::sea_query::Expr;
    Users::update_many()
        .col_expr(user::Column::DeletedAt, Expr::value(now))
        .col_expr(user::Column::DisabledAt, Expr::value(now))
        .col_expr(user::Column::PasswordHash, Expr::value(""))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

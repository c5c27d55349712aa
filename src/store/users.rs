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
    super::unique(Users::find().filter(user::Column::Name.eq(name)), db).await
}

pub async fn find_by_id(db: &impl ConnectionTrait, id: i64) -> Result<Option<User>, StoreError> {
    super::unique(Users::find_by_id(id), db).await
}

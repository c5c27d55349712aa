//! OAuth clients: confidential (hashed secret) or public.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::entity::client::{self, Entity as Clients};
use super::StoreError;

pub use client::Model as Client;

pub struct NewClient<'a> {
    pub id: &'a str,
    pub secret_hash: Option<String>,
    pub grant_types: &'a str,
    pub scope: Option<&'a str>,
    pub may_introspect: bool,
}

pub async fn create(
    db: &impl ConnectionTrait,
    c: NewClient<'_>,
    now: DateTime<Utc>,
) -> Result<Client, StoreError> {
    let row = client::ActiveModel {
        id: Set(c.id.to_string()),
        is_public: Set(c.secret_hash.is_none()),
        secret_hash: Set(c.secret_hash),
        grant_types: Set(c.grant_types.to_string()),
        scope: Set(c.scope.map(str::to_string)),
        may_introspect: Set(c.may_introspect),
        created_at: Set(now),
    };
    Ok(row.insert(db).await?)
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<Client>, StoreError> {
    super::unique(Clients::find_by_id(id.to_string()), db).await
}

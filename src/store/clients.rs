//! OAuth clients: confidential (hashed secret) or public.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::entity::client::{self, Entity as Clients};
use super::StoreError;

use crate::model::{Client, ClientScopePolicy, GrantType};
pub use client::Model as ClientRow;

/// The client as the protocol sees it. Stored grant types and scope policies were validated at
/// registration; one that no longer parses grants nothing rather than everything.
pub fn to_model(row: &ClientRow) -> Client {
    Client {
        id: row.id.clone(),
        is_public: row.is_public,
        grant_types: row
            .grant_types
            .split(' ')
            .filter_map(|g| g.parse::<GrantType>().ok())
            .collect(),
        policy: ClientScopePolicy::parse(row.scope.as_deref()).unwrap_or(ClientScopePolicy::Only {
            exact: Default::default(),
            any_album: Default::default(),
        }),
        may_introspect: row.may_introspect,
    }
}

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
) -> Result<ClientRow, StoreError> {
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

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<ClientRow>, StoreError> {
    // PostgreSQL refuses a NUL in a text value with an error; no stored id holds one.
    if id.contains('\0') {
        return Ok(None);
    }
    super::unique(Clients::find_by_id(id.to_string()), db).await
}

/// Client rows kept in memory after a successful lookup, so that authenticating a client (on
/// every client_credentials grant and every introspection) costs no database round trip.
///
/// Why this is safe: tessera has no operation that changes or deletes a client (rows are
/// append-only), so a cached row cannot go stale through tessera. The TTL only bounds how long an
/// edit made directly in the database goes unseen. Unknown ids are never cached, so a client
/// registered by another process or instance is usable at once. A zero TTL disables the cache.
pub struct ClientCache {
    ttl: std::time::Duration,
    rows: std::sync::RwLock<std::collections::HashMap<String, (std::time::Instant, ClientRow)>>,
}

/// Bounds memory: at most this many clients are cached; beyond it the cache starts over.
const CACHE_CAPACITY: usize = 10_000;

impl ClientCache {
    pub fn new(ttl: std::time::Duration) -> Self {
        ClientCache {
            ttl,
            rows: Default::default(),
        }
    }

    /// The client with this id, from memory if it was read less than the TTL ago.
    pub async fn find(
        &self,
        db: &impl ConnectionTrait,
        id: &str,
    ) -> Result<Option<ClientRow>, StoreError> {
        if self.ttl.is_zero() {
            return find(db, id).await;
        }
        {
            let rows = self.rows.read().unwrap_or_else(|p| p.into_inner());
            if let Some((at, row)) = rows.get(id) {
                if at.elapsed() < self.ttl {
                    return Ok(Some(row.clone()));
                }
            }
        }
        let found = find(db, id).await?;
        if let Some(row) = &found {
            let mut rows = self.rows.write().unwrap_or_else(|p| p.into_inner());
            if rows.len() >= CACHE_CAPACITY {
                rows.clear();
            }
            rows.insert(id.to_string(), (std::time::Instant::now(), row.clone()));
        }
        Ok(found)
    }
}

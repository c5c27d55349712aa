//! Registering OAuth clients. The secret of a confidential client is returned once and stored
//! only as its SHA-256.

use serde::Serialize;

use super::Error;
use crate::oauth::scope::ClientScopePolicy;
use crate::oauth::BUILTIN_PUBLIC_CLIENT;
use crate::state::AppState;
use crate::store::{audit, clients, StoreError};
use crate::tokens::secret::{Secret, SecretKind};

pub struct NewClient {
    pub id: String,
    pub public: bool,
    pub grant_types: Option<String>,
    pub scope: Option<String>,
    pub introspect: bool,
}

#[derive(Serialize)]
pub struct Registered {
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub public: bool,
    pub grant_types: Vec<String>,
    pub scope: Option<String>,
    pub introspect: bool,
}

const GRANTS: [&str; 2] = ["refresh_token", "client_credentials"];

/// The longest client id; the OAuth endpoints refuse longer ones before anything else.
pub const MAX_ID_LEN: usize = 128;

pub async fn register(state: &AppState, c: NewClient) -> Result<Registered, Error> {
    let id_ok = (1..=MAX_ID_LEN).contains(&c.id.len())
        && c.id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !id_ok {
        return Err(Error::InvalidRequest(
            "client ids are 1 to 128 characters of letters, digits, '.', '_' and '-'".into(),
        ));
    }
    if c.id == BUILTIN_PUBLIC_CLIENT {
        return Err(Error::InvalidRequest(format!(
            "{BUILTIN_PUBLIC_CLIENT} is the built-in public client's id"
        )));
    }
    // RFC 9068 §5: a client_credentials token's `sub` is the client id, a user's token's `sub`
    // is the user name; a resource server must never mistake one for the other.
    if crate::store::users::find_by_name(&state.db, &c.id)
        .await?
        .is_some()
    {
        return Err(Error::Conflict(format!(
            "a user named {} exists; client ids and user names share the access token's sub claim",
            c.id
        )));
    }
    let grant_types: Vec<String> = match &c.grant_types {
        Some(list) => list
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        None if c.public => vec!["refresh_token".into()],
        None => GRANTS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = grant_types.iter().find(|g| !GRANTS.contains(&g.as_str())) {
        return Err(Error::InvalidRequest(format!(
            "unknown grant type {bad:?}; use refresh_token, client_credentials"
        )));
    }
    if c.public && grant_types.iter().any(|g| g == "client_credentials") {
        return Err(Error::InvalidRequest(
            "public clients cannot use client_credentials".into(),
        ));
    }
    if c.public && c.introspect {
        return Err(Error::InvalidRequest(
            "public clients cannot introspect: they cannot authenticate".into(),
        ));
    }
    let scope = c.scope.as_deref().map(str::trim).filter(|s| !s.is_empty());
    ClientScopePolicy::parse(scope).map_err(|e| Error::InvalidRequest(format!("--scope: {e}")))?;
    let secret = (!c.public).then(|| Secret::generate(SecretKind::ClientSecret));
    let now = state.clock.now();
    clients::create(
        &state.db,
        clients::NewClient {
            id: &c.id,
            secret_hash: secret.as_ref().map(Secret::hash),
            grant_types: &grant_types.join(" "),
            scope,
            may_introspect: c.introspect,
        },
        now,
    )
    .await
    .map_err(|e| match e {
        StoreError::Conflict => Error::Conflict(format!("client {} already exists", c.id)),
        other => other.into(),
    })?;
    audit::record(&state.db, now, "operator", "client.create", &format!("client:{}", c.id),
        serde_json::json!({ "public": c.public, "grant_types": grant_types, "introspect": c.introspect })).await?;
    Ok(Registered {
        client_id: c.id,
        client_secret: secret.map(|s| s.expose().to_string()),
        public: c.public,
        grant_types,
        scope: scope.map(str::to_string),
        introspect: c.introspect,
    })
}

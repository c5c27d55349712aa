//! Registering OAuth clients. The secret of a confidential client is returned once and stored
//! only as its SHA-256.

use serde::Serialize;

use super::{AppState, Error};
use crate::model::{
    Client, ClientScopePolicy, GrantType, BUILTIN_PUBLIC_CLIENT, MAX_CLIENT_ID_LEN,
};
use crate::store::{clients, Event, StoreError};
use crate::tokens::secret::{matches_hash, Secret, SecretKind};

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

pub async fn register(state: &AppState, c: NewClient) -> Result<Registered, Error> {
    let id_ok = (1..=MAX_CLIENT_ID_LEN).contains(&c.id.len())
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
    let grant_types: Vec<GrantType> = match &c.grant_types {
        Some(list) => list
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(|g| {
                g.parse().map_err(|_| {
                    Error::InvalidRequest(format!(
                        "unknown grant type {g:?}; use {}",
                        GrantType::listed(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        None if c.public => vec![GrantType::RefreshToken],
        None => GrantType::ALL.to_vec(),
    };
    let grant_types: Vec<&str> = grant_types.iter().map(|g| g.as_str()).collect();
    if c.public && grant_types.contains(&GrantType::ClientCredentials.as_str()) {
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
    let w = state.db.write().await?;
    clients::create(
        &w,
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
    w.audit(Event {
        at: now,
        actor: "operator",
        action: "client.create",
        target: &format!("client:{}", c.id),
        detail: serde_json::json!({
            "public": c.public, "grant_types": grant_types, "introspect": c.introspect,
        }),
    })
    .await?;
    w.commit().await?;
    Ok(Registered {
        client_id: c.id,
        client_secret: secret.map(|s| s.expose().to_string()),
        public: c.public,
        grant_types: grant_types.iter().map(|g| g.to_string()).collect(),
        scope: scope.map(str::to_string),
        introspect: c.introspect,
    })
}

/// Checks a client id and optional secret against the registered clients (and the built-in
/// public one). A confidential client needs its secret; a public client must not send one (an
/// empty one is tolerated: some libraries send `id:`). `Ok(None)`: the credentials are wrong.
pub async fn verify(
    state: &AppState,
    client_id: &str,
    secret: Option<&[u8]>,
) -> Result<Option<Client>, Error> {
    if client_id == BUILTIN_PUBLIC_CLIENT {
        return Ok(matches!(secret, None | Some(b"")).then(Client::builtin));
    }
    let Some(row) = state.clients.find(&state.db, client_id).await? else {
        // Spend the same hash as a real check so timing does not reveal unknown ids.
        let _ = matches_hash("", &"0".repeat(64));
        return Ok(None);
    };
    let right = match (&row.secret_hash, secret) {
        (None, None) | (None, Some(b"")) => true,
        (Some(hash), Some(s)) => std::str::from_utf8(s).is_ok_and(|s| matches_hash(s, hash)),
        _ => false,
    };
    Ok(right.then(|| clients::to_model(&row)))
}

/// Whether `client_id` names a public client (so presenting its token is proof enough).
pub async fn is_public(state: &AppState, client_id: &str) -> Result<bool, Error> {
    Ok(clients::find(&state.db, client_id)
        .await?
        .is_some_and(|c| c.is_public))
}

//! RFC 7662 introspection of both token kinds: JWT access tokens and `tsr_` refresh tokens.
//! Every doubt answers exactly `{"active": false}`; the reason is only logged at debug level.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::Error;
use crate::oauth::scope::{Permissions, Scope, ScopeItem};
use crate::state::AppState;
use crate::store::{albums, refresh_tokens, revoked_access_tokens};
use crate::tokens::jwt::{verify_access_token, VerifyContext};
use crate::tokens::secret::{Secret, SecretKind};

pub fn inactive() -> Value {
    json!({ "active": false })
}

/// The RFC 7662 response for `token` (before any signing as RFC 9701).
pub async fn introspect(state: &AppState, token: &str) -> Result<Value, Error> {
    let now = state.clock.now();
    let out = if token.starts_with("tsr_") {
        refresh_token(state, token, now).await?
    } else if token.matches('.').count() == 2 {
        access_token(state, token, now).await?
    } else {
        None
    };
    state.metrics.introspected(out.is_some());
    Ok(out.unwrap_or_else(inactive))
}

async fn access_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Value>, Error> {
    let keys = state.keys();
    let claims = match verify_access_token(
        token,
        &VerifyContext {
            keys: &keys,
            issuer: &state.settings.issuer,
            audience: &state.settings.audience,
            now,
            key_grace: state.key_grace(),
        },
    ) {
        Ok(c) => c,
        Err(reason) => {
            tracing::debug!(%reason, "introspection: access token inactive");
            return Ok(None);
        }
    };
    if revoked_access_tokens::access_token_revoked(&state.db, &claims.jti, claims.rtid.as_deref())
        .await?
    {
        return Ok(None);
    }
    let Ok(mut scope) = Scope::parse(&claims.scope) else {
        return Ok(None);
    };
    // Album scopes of a user's token hold only while the user holds them, as at exchange: the
    // answer drops what was lost since the token was minted. (A client_credentials token has
    // no user; its album scopes are the client's registration, checked when it was issued.)
    if let Some(rtid) = claims.rtid.as_deref() {
        let ids: Vec<&str> = scope.albums().into_iter().map(|a| a.as_str()).collect();
        if !ids.is_empty() {
            let held = albums::permissions_of_row_owner(&state.db, rtid, &ids).await?;
            retain_held(&mut scope, &held);
            scope = scope.normalize_read_rule();
            if scope.is_empty() {
                return Ok(None);
            }
        }
    }
    let mut m = Map::new();
    m.insert("active".into(), true.into());
    m.insert("scope".into(), scope.to_string().into());
    m.insert("client_id".into(), claims.client_id.clone().into());
    if claims.rtid.is_some() {
        m.insert("username".into(), claims.sub.clone().into());
    }
    m.insert("token_type".into(), "Bearer".into());
    m.insert("exp".into(), claims.exp.into());
    m.insert("iat".into(), claims.iat.into());
    m.insert("sub".into(), claims.sub.into());
    m.insert("aud".into(), claims.aud.into());
    m.insert("iss".into(), claims.iss.into());
    m.insert("jti".into(), claims.jti.into());
    add_album_fields(&mut m, &scope);
    Ok(Some(Value::Object(m)))
}

async fn refresh_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Value>, Error> {
    let Ok(secret) = Secret::parse(SecretKind::RefreshToken, token) else {
        return Ok(None);
    };
    let Some((row, owner)) =
        refresh_tokens::find_by_hash_with_owner(&state.db, &secret.hash()).await?
    else {
        return Ok(None);
    };
    if row.revoked_at.is_some()
        || row.rotated_at.is_some()
        || row.expires_at.is_some_and(|e| e <= now)
        || !owner.is_enabled()
    {
        return Ok(None);
    }
    let Ok(mut scope) = Scope::parse(&row.scope) else {
        return Ok(None);
    };
    // Album scopes hold only while the owner holds them (as at exchange).
    let ids: Vec<&str> = scope.albums().into_iter().map(|a| a.as_str()).collect();
    let held = albums::permissions_on(&state.db, owner.id, &ids).await?;
    retain_held(&mut scope, &held);
    if !owner.is_admin {
        scope.retain(|i| *i != ScopeItem::Admin);
    }
    let scope = scope.normalize_read_rule();
    if scope.is_empty() {
        return Ok(None);
    }
    let mut m = Map::new();
    m.insert("active".into(), true.into());
    m.insert("scope".into(), scope.to_string().into());
    m.insert(
        "client_id".into(),
        row.client_id
            .clone()
            .unwrap_or_else(|| crate::oauth::BUILTIN_PUBLIC_CLIENT.into())
            .into(),
    );
    m.insert("username".into(), owner.name.clone().into());
    m.insert("token_type".into(), "refresh_token".into());
    if let Some(e) = row.expires_at {
        m.insert("exp".into(), e.timestamp().into());
    }
    m.insert("iat".into(), row.created_at.timestamp().into());
    m.insert("sub".into(), owner.name.into());
    m.insert("aud".into(), state.settings.audience.clone().into());
    m.insert("iss".into(), state.settings.issuer.clone().into());
    m.insert("jti".into(), row.family_id.into());
    add_album_fields(&mut m, &scope);
    Ok(Some(Value::Object(m)))
}

/// Keeps the album items the owner holds now (`held`: raw permission lists per album).
fn retain_held(scope: &mut Scope, held: &[(String, String)]) {
    scope.retain(|item| match item {
        ScopeItem::User | ScopeItem::Admin => true,
        ScopeItem::Album { album, permission } => held
            .iter()
            .find(|(a, _)| a == album.as_str())
            .and_then(|(_, p)| Permissions::parse_list(p).ok())
            .is_some_and(|p| p.allows(*permission)),
    });
}

/// For a token confined to one album: `album_id` and `permissions`, as Kheops-style resource
/// servers want them.
fn add_album_fields(m: &mut Map<String, Value>, scope: &Scope) {
    let albums = scope.albums();
    if scope.has_user() || albums.len() != 1 {
        return;
    }
    let Some(album) = albums.into_iter().next() else {
        return;
    };
    let perms: Vec<&str> = scope
        .items()
        .filter_map(|i| match i {
            ScopeItem::Album { permission, .. } => Some(permission.as_str()),
            ScopeItem::User | ScopeItem::Admin => None,
        })
        .collect();
    m.insert("album_id".into(), album.as_str().into());
    m.insert("permissions".into(), perms.into());
}

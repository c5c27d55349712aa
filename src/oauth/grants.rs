//! What the two grants decide, independent of the oxide-auth plumbing in `endpoint`:
//! - `refresh_token` (RFC 6749 §6): recover and judge the presented token, then mint (and rotate).
//! - `client_credentials` (§4.4): the scope a confidential client gets for itself.

use chrono::{DateTime, Utc};

use super::client_auth::{self, KnownClient};
use super::scope::{Scope, ScopeItem};
use super::OAuthError;
use crate::domain::minting::{self, AccessToken};
use crate::state::AppState;
use crate::store::refresh_tokens::{self, NewRefreshToken, RefreshToken};
use crate::store::users::User;
use crate::store::{albums, audit};
use crate::tokens::secret::{public_id, Secret, SecretKind};

/// A presented refresh token that passed every check, and what it will grant.
#[derive(Debug)]
pub struct Recovered {
    pub row: RefreshToken,
    pub owner: User,
    /// The client the access token will name.
    pub client: KnownClient,
    /// The client the token is bound to, or the client that presented it if unbound.
    pub bound_client_id: String,
    /// Everything the flow may grant: the token's scope plus album scopes a `user` token may be
    /// narrowed to. The flow checks the requested scope against it.
    pub ceiling: Scope,
    /// What the access token will carry.
    pub scope: Scope,
    /// An already-rotated token presented again inside the grace window: answered with an
    /// access token only, so the family does not fork.
    pub grace_duplicate: bool,
}

/// The result of a successful exchange.
pub struct Issued {
    pub access: AccessToken,
    pub refresh: Option<Secret>,
    pub scope: Scope,
}

/// Finds and judges a presented refresh token. `client` is the authenticated client, if any.
pub async fn recover(
    state: &AppState,
    presented: &str,
    requested: Option<&Scope>,
    client: Option<&KnownClient>,
    now: DateTime<Utc>,
) -> Result<Recovered, OAuthError> {
    let secret = Secret::parse(SecretKind::RefreshToken, presented)
        .map_err(|e| OAuthError::invalid_grant(format!("malformed refresh token: {e}")))?;
    let (row, owner) = refresh_tokens::find_by_hash_with_owner(&state.db, &secret.hash())
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    if row.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("refresh token has been revoked"));
    }
    if row.expires_at.is_some_and(|e| e <= now) {
        return Err(OAuthError::invalid_grant("refresh token has expired"));
    }
    if !owner.is_enabled() {
        return Err(OAuthError::invalid_grant(
            "the refresh token's owner is disabled",
        ));
    }
    let mut grace_duplicate = false;
    if let Some(rotated_at) = row.rotated_at {
        if now - rotated_at <= state.settings.rotation_grace.to_chrono() {
            grace_duplicate = true;
        } else {
            reuse_detected(state, &row, client, now).await?;
            return Err(OAuthError::invalid_grant(
                "refresh token was already used (rotated); its whole token family has been revoked",
            ));
        }
    }

    let (client, bound_client_id) = match (&row.client_id, client) {
        (Some(bound), Some(c)) if *bound != c.id => {
            return Err(OAuthError::invalid_grant(
                "refresh token was issued to another client",
            ))
        }
        (Some(bound), Some(c)) => (c.clone(), bound.clone()),
        (Some(bound), None) => {
            let c = client_auth::check(state, bound, None).await.map_err(|_| {
                OAuthError::invalid_client(
                    "this refresh token is bound to a confidential client; authenticate as it",
                )
            })?;
            (c, bound.clone())
        }
        (None, Some(c)) => (c.clone(), c.id.clone()),
        (None, None) => {
            let c = KnownClient::builtin();
            let id = c.id.clone();
            (c, id)
        }
    };
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::unauthorized_client(format!(
            "client {} is not registered for the refresh_token grant",
            client.id
        )));
    }

    let token_scope = Scope::parse(&row.scope).map_err(|e| {
        tracing::error!(token = %row.family_id, error = %e, "stored scope does not parse");
        OAuthError::server_error()
    })?;

    let base = match requested {
        None => token_scope.clone(),
        Some(r) => {
            for item in r.items() {
                let ok = token_scope.contains(item)
                    || (matches!(item, ScopeItem::Album { .. })
                        && token_scope.has_user()
                        && row.kind != "album");
                if !ok {
                    return Err(OAuthError::invalid_scope(format!(
                        "{item} exceeds the refresh token's scope ({token_scope})"
                    )));
                }
            }
            r.clone()
        }
    };

    // Album scopes hold only while the token's owner holds the permission right now.
    let album_ids: Vec<&str> = base.albums().into_iter().map(|a| a.as_str()).collect();
    let held = albums::permissions_on(&state.db, owner.id, &album_ids).await?;
    let mut scope = base.clone();
    let mut missing_requested: Option<String> = None;
    scope.retain(|item| match item {
        ScopeItem::User => true,
        // Admin power holds only while the owner is an admin.
        ScopeItem::Admin => {
            if !owner.is_admin && !token_scope.contains(item) && missing_requested.is_none() {
                missing_requested = Some(item.to_string());
            }
            owner.is_admin
        }
        ScopeItem::Album { album, permission } => {
            let allowed = held
                .iter()
                .find(|(a, _)| a == album.as_str())
                .and_then(|(_, p)| super::scope::Permissions::parse_list(p).ok())
                .is_some_and(|p| p.allows(*permission));
            if !allowed && !token_scope.contains(item) && missing_requested.is_none() {
                missing_requested = Some(item.to_string());
            }
            allowed
        }
    });
    if let Some(item) = missing_requested {
        return Err(OAuthError::invalid_scope(format!(
            "the token's owner does not hold {item}"
        )));
    }
    let scope = scope.normalize_read_rule();
    if scope.is_empty() {
        return Err(OAuthError::invalid_grant(
            "the token's creator no longer holds any of the album permissions it grants",
        ));
    }
    if let Some(item) = client.policy.first_disallowed(&scope) {
        return Err(OAuthError::invalid_scope(format!(
            "client {} may not request {item}",
            client.id
        )));
    }
    let ceiling = Scope::from_items(token_scope.items().chain(base.items()).cloned());
    Ok(Recovered {
        row,
        owner,
        client,
        bound_client_id,
        ceiling,
        scope,
        grace_duplicate,
    })
}

/// Replay of a rotated token after the grace window: the token may be stolen, so the whole
/// family (and everything created under it) is revoked.
async fn reuse_detected(
    state: &AppState,
    row: &RefreshToken,
    client: Option<&KnownClient>,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    let _turn = state.sqlite_write_turn().await;
    let txn = crate::store::write_txn(&state.db).await?;
    let revoked =
        refresh_tokens::revoke_families(&txn, refresh_tokens::Roots::Family(&row.family_id), now)
            .await?;
    let detail = serde_json::json!({
        "row": row.id,
        "client_id": client.map(|c| c.id.clone()),
        "revoked_families": revoked,
    });
    audit::record(
        &txn,
        now,
        "tessera",
        "refresh_token.reuse_detected",
        &format!("token:{}", row.family_id),
        detail,
    )
    .await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    state.metrics.reuse_detected();
    state.metrics.revoked(revoked.len() as u64);
    tracing::warn!(token = %row.family_id, "refresh token reuse detected; family revoked");
    Ok(())
}

/// Mints the access token and, for rotating tokens, atomically replaces the refresh token.
/// The response is built only after the rotation committed.
pub async fn complete(
    state: &AppState,
    rec: &Recovered,
    now: DateTime<Utc>,
) -> Result<Issued, OAuthError> {
    let row = &rec.row;
    let access = minting::mint(
        state,
        &minting::Grant {
            subject: &rec.owner.name,
            client_id: &rec.client.id,
            scope: &rec.scope,
            refresh_row: Some(&row.id),
            not_after: row.expires_at,
        },
        now,
    )?;
    if !row.rotating || rec.grace_duplicate {
        if state.should_touch(&row.id, now) {
            refresh_tokens::touch_last_used(&state.db, &row.id, now).await?;
        }
        return Ok(Issued {
            access,
            refresh: None,
            scope: rec.scope.clone(),
        });
    }

    let secret = Secret::generate(SecretKind::RefreshToken);
    let turn = state.sqlite_write_turn().await;
    let txn = crate::store::write_txn(&state.db).await?;
    if !refresh_tokens::mark_rotated(&txn, &row.id, now).await? {
        txn.rollback()
            .await
            .map_err(crate::store::StoreError::from)?;
        drop(turn);
        // Lost the race to a concurrent exchange of the same token.
        let current = refresh_tokens::find_by_row_id(&state.db, &row.id).await?;
        return match current {
            Some(c)
                if c.revoked_at.is_none()
                    && c.rotated_at
                        .is_some_and(|r| now - r <= state.settings.rotation_grace.to_chrono()) =>
            {
                Ok(Issued {
                    access,
                    refresh: None,
                    scope: rec.scope.clone(),
                })
            }
            _ => Err(OAuthError::invalid_grant("refresh token has been revoked")),
        };
    }
    refresh_tokens::insert(
        &txn,
        NewRefreshToken {
            id: public_id(),
            secret_hash: secret.hash(),
            kind: row.kind.clone(),
            name: row.name.clone(),
            user_id: row.user_id,
            client_id: row.client_id.clone(),
            album_id: row.album_id.clone(),
            scope: row.scope.clone(),
            rotating: true,
            family_id: row.family_id.clone(),
            parent_id: row.parent_id.clone(),
            rotated_from_id: Some(row.id.clone()),
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: Some(now),
        },
    )
    .await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    drop(turn);
    Ok(Issued {
        access,
        refresh: Some(secret),
        scope: rec.scope.clone(),
    })
}

/// The scope a confidential client gets for itself: what it asked for, or else the exact scopes
/// it was registered with. `user` needs a user and is never granted here.
pub fn client_credentials_scope(
    client: &KnownClient,
    requested: Option<&Scope>,
) -> Result<Scope, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use the client_credentials grant",
        ));
    }
    if !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(format!(
            "client {} is not registered for the client_credentials grant",
            client.id
        )));
    }
    let scope = match (requested, &client.policy) {
        (Some(r), _) => r.clone(),
        (None, super::scope::ClientScopePolicy::Only { exact, .. }) => {
            Scope::from_items(exact.iter().filter(|i| **i != ScopeItem::User).cloned())
        }
        (None, super::scope::ClientScopePolicy::Any) => Scope::default(),
    };
    if scope.has_user() {
        return Err(OAuthError::invalid_scope(
            "user scope needs a user; client_credentials tokens act as the client itself",
        ));
    }
    // No registered scope means "whatever its users hold" for the refresh grant, where every
    // album scope is re-checked against the user's membership. Here no user stands behind the
    // token, so a client gets only the album scopes the operator registered for it.
    if let (Some(item), super::scope::ClientScopePolicy::Any) =
        (scope.items().next(), &client.policy)
    {
        return Err(OAuthError::invalid_scope(format!(
            "client {} has no registered scope, so client_credentials cannot grant {item} \
             (register the client with --scope)",
            client.id
        )));
    }
    if let Some(item) = client.policy.first_disallowed(&scope) {
        return Err(OAuthError::invalid_scope(format!(
            "client {} may not request {item}",
            client.id
        )));
    }
    Ok(scope)
}

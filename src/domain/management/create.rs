//! Making personal and album tokens: the name, the expiry, the scope within what the caller
//! holds now, and the insert (after `admit`) with its audit row.

use chrono::{DateTime, Utc};

use super::admit::admit;
use super::list::visible_album;
use super::{view, Created, MAX_TOKEN_NAME};
use crate::domain::caller::{Caller, Credential};
use crate::domain::{AppState, Error};
use crate::model::{
    AlbumId, GrantType, Holdings, Permission, RefreshToken, Scope, ScopeItem, TokenKind,
};
use crate::store::refresh_tokens;
use crate::store::{albums, clients, Event};
use crate::tokens::secret::{public_id, Secret, SecretKind};

/// When a new token expires, as the request asked.
#[derive(Clone, Copy, Debug)]
pub enum Expiry {
    Default,
    In(i64),
    At(DateTime<Utc>),
    Never,
}

pub struct NewPersonal {
    pub name: String,
    pub scope: String,
    pub expiry: Expiry,
    pub rotating: bool,
    /// Binds the token to this OAuth client (kind `client`; always rotating).
    pub client_id: Option<String>,
}

pub struct NewAlbumToken {
    pub name: String,
    pub permissions: Vec<String>,
    pub expiry: Expiry,
    pub rotating: bool,
}

fn check_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::InvalidRequest("name is required".into()));
    }
    if name.chars().count() > MAX_TOKEN_NAME {
        return Err(Error::InvalidRequest(format!(
            "name is longer than {MAX_TOKEN_NAME} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidRequest(
            "name contains control characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// Resolves the requested expiry against the defaults, the maximum and the parent's expiry.
fn resolve_expiry(
    state: &AppState,
    expiry: Expiry,
    default_ttl: chrono::Duration,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let max = state.settings.personal_token_max_ttl;
    let at = match expiry {
        Expiry::Default => Some(now + default_ttl),
        Expiry::In(secs) => {
            if secs <= 0 {
                return Err(Error::InvalidRequest(
                    "expires_in must be a positive number of seconds".into(),
                ));
            }
            if secs as u64 > max.as_secs() {
                return Err(Error::InvalidRequest(format!(
                    "expires_in is beyond the maximum token lifetime of {max} ({} seconds)",
                    max.as_secs()
                )));
            }
            Some(now + chrono::Duration::seconds(secs))
        }
        Expiry::At(t) => {
            if t <= now {
                return Err(Error::InvalidRequest("expires_at is in the past".into()));
            }
            if t - now > max.to_chrono() {
                return Err(Error::InvalidRequest(format!(
                    "expires_at is beyond the maximum token lifetime of {max}"
                )));
            }
            Some(t)
        }
        Expiry::Never => {
            if !state.settings.allow_non_expiring_tokens {
                return Err(Error::InvalidRequest(
                    "non-expiring tokens are disabled on this server (allow_non_expiring_tokens)"
                        .into(),
                ));
            }
            None
        }
    };
    // A token made with a Bearer credential never outlives the refresh token behind it.
    Ok(match (&caller.credential, at) {
        (
            Credential::Bearer {
                expires_at: Some(cap),
                ..
            },
            Some(t),
        ) => Some(t.min(*cap)),
        (
            Credential::Bearer {
                expires_at: Some(cap),
                ..
            },
            None,
        ) => Some(*cap),
        (_, t) => t,
    })
}

/// Checks that `scope` is within what the caller holds now: their album permissions, and for a
/// Bearer caller also the scope of their access token.
async fn check_within_caller(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
) -> Result<(), Error> {
    if let Credential::Bearer { scope: parent, .. } = &caller.credential {
        for item in scope.items() {
            let ok = parent.contains(item)
                || (parent.has_user() && matches!(item, ScopeItem::Album { .. }));
            if !ok {
                return Err(Error::InvalidScope(format!(
                    "{item} exceeds the scope of the credential making this token"
                )));
            }
        }
    }
    if scope.has_admin() && !caller.is_admin() {
        return Err(Error::InvalidScope(
            "admin can only be granted to a token of an admin".into(),
        ));
    }
    let ids: Vec<&AlbumId> = scope.albums().into_iter().collect();
    let held = Holdings {
        is_admin: caller.is_admin(),
        albums: albums::permissions_on(&state.db, caller.user.id, &ids).await?,
    };
    if let Some(item) = scope
        .items()
        .find(|i| matches!(i, ScopeItem::Album { .. }) && !held.holds(i))
    {
        return Err(Error::InvalidScope(format!("you do not hold {item}")));
    }
    Ok(())
}

pub(super) fn parent_of(caller: &Caller) -> Option<String> {
    match &caller.credential {
        Credential::Password | Credential::Operator => None,
        Credential::Bearer { family_id, .. } => Some(family_id.clone()),
    }
}

struct Insert<'a> {
    kind: TokenKind,
    name: String,
    scope: &'a Scope,
    album_id: Option<String>,
    client_id: Option<String>,
    rotating: bool,
    expires_at: Option<DateTime<Utc>>,
}

async fn insert_token(
    state: &AppState,
    caller: &Caller,
    t: Insert<'_>,
    now: DateTime<Utc>,
) -> Result<Created, Error> {
    let secret = Secret::generate(SecretKind::RefreshToken);
    let id = public_id();
    let txn = state.db.write().await?;
    if let Err(refusal) = admit(state, &txn, caller, now).await? {
        // The refusal is recorded (and committed) even though no token is made.
        txn.audit(Event {
            at: now,
            actor: &caller.actor(),
            action: "token.quota_exceeded",
            target: &format!("user:{}", caller.user.name),
            detail: refusal.detail,
        })
        .await?;
        txn.commit().await?;
        return Err(refusal.error);
    }
    let row = refresh_tokens::insert(
        &txn,
        RefreshToken {
            id: id.clone(),
            secret_hash: secret.hash(),
            kind: t.kind,
            name: t.name,
            user_id: caller.user.id,
            client_id: t.client_id,
            album_id: t.album_id,
            scope: t.scope.clone(),
            rotating: t.rotating,
            family_id: id.clone(),
            parent_id: parent_of(caller),
            rotated_from_id: None,
            created_at: now,
            expires_at: t.expires_at,
            last_used_at: None,
            rotated_at: None,
            revoked_at: None,
        },
    )
    .await?;
    txn.audit(Event {
        at: now,
        actor: &caller.actor(),
        action: "token.create",
        target: &format!("token:{id}"),
        detail: serde_json::json!({
            "kind": row.kind.as_str(), "name": row.name, "scope": row.scope.to_string(),
            "expires_at": row.expires_at, "parent_id": row.parent_id,
        }),
    })
    .await?;
    txn.commit().await?;
    Ok(Created {
        view: view(row, &caller.user.name, now),
        token: secret,
    })
}

pub async fn create_personal(
    state: &AppState,
    caller: &Caller,
    req: NewPersonal,
) -> Result<Created, Error> {
    let now = state.clock.now();
    let name = check_name(&req.name)?;
    let scope = Scope::parse(&req.scope).map_err(|e| Error::InvalidScope(e.to_string()))?;
    check_within_caller(state, caller, &scope).await?;
    let expires_at = resolve_expiry(
        state,
        req.expiry,
        state.settings.personal_token_default_ttl.to_chrono(),
        caller,
        now,
    )?;
    let (kind, rotating) = match &req.client_id {
        Some(cid) => {
            // One answer for unknown and unsuitable clients, so client ids cannot be probed.
            let usable = clients::find(&state.db, cid)
                .await?
                .is_some_and(|c| clients::to_model(&c).allows_grant(GrantType::RefreshToken));
            if !usable {
                return Err(Error::InvalidRequest(format!(
                    "client_id {cid:?} does not name a client registered for the refresh_token grant"
                )));
            }
            // Tokens held by an OAuth client always rotate (RFC 9700 §4.14.2).
            (TokenKind::Client, true)
        }
        None => (TokenKind::Personal, req.rotating),
    };
    insert_token(
        state,
        caller,
        Insert {
            kind,
            name,
            scope: &scope,
            album_id: None,
            client_id: req.client_id,
            rotating,
            expires_at,
        },
        now,
    )
    .await
}

pub async fn create_album_token(
    state: &AppState,
    caller: &Caller,
    album: &str,
    req: NewAlbumToken,
) -> Result<Created, Error> {
    let now = state.clock.now();
    let album_id = AlbumId::parse(album).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let held = visible_album(state, caller, &album_id).await?;
    let name = check_name(&req.name)?;
    if req.permissions.is_empty() {
        return Err(Error::InvalidRequest(
            "permissions must name at least one of read, write, download, share".into(),
        ));
    }
    let mut items = Vec::new();
    for p in &req.permissions {
        let perm: Permission = p
            .parse()
            .map_err(|e: crate::model::ScopeError| Error::InvalidRequest(e.to_string()))?;
        if perm == Permission::Admin {
            return Err(Error::InvalidRequest(
                "admin cannot be granted to a token".into(),
            ));
        }
        items.push(ScopeItem::Album {
            album: album_id.clone(),
            permission: perm,
        });
    }
    let scope = Scope::parse(&Scope::from_items(items).to_string())
        .map_err(|e| Error::InvalidRequest(e.to_string()))?;
    if !held.allows(Permission::Share) {
        return Err(Error::Forbidden(format!(
            "creating album tokens needs share or admin on album {album_id}"
        )));
    }
    check_within_caller(state, caller, &scope)
        .await
        .map_err(|e| match e {
            Error::InvalidScope(d) => Error::Forbidden(d),
            other => other,
        })?;
    let expires_at = resolve_expiry(
        state,
        req.expiry,
        state.settings.album_token_default_ttl.to_chrono(),
        caller,
        now,
    )?;
    insert_token(
        state,
        caller,
        Insert {
            kind: TokenKind::Album,
            name,
            scope: &scope,
            album_id: Some(album_id.to_string()),
            client_id: None,
            rotating: req.rotating,
            expires_at,
        },
        now,
    )
    .await
}

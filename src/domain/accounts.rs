//! Who is calling the `/api`: a user with a password (HTTP Basic), or with an access token whose
//! scope contains `user` (Bearer). Users and album memberships are managed here too.

use chrono::{DateTime, Utc};

use super::limiter::{self, Blocked};
use super::Error;
use crate::oauth::scope::{AlbumId, Permissions, Scope};
use crate::state::AppState;
use crate::store::users::{self, User};
use crate::store::{albums, audit, refresh_tokens, revoked_access_tokens};
use crate::tokens::jwt::{verify_access_token, VerifyContext};

/// How the caller proved who they are.
#[derive(Clone, Debug)]
pub enum Credential {
    Password,
    /// An access token minted from a refresh token: what the caller creates can never outlive or
    /// outrank that refresh token.
    Bearer {
        family_id: String,
        scope: Scope,
        expires_at: Option<DateTime<Utc>>,
    },
    /// The operator at the command line, acting for this user (audited as the operator).
    Operator,
}

#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub credential: Credential,
}

impl Caller {
    /// Whether this request carries admin power: an admin's password, the operator, or an
    /// admin's access token whose scope includes `admin`. A plain `user` token of an admin acts
    /// as an ordinary user, so a token handed to a script never carries more than it says.
    pub fn is_admin(&self) -> bool {
        self.user.is_admin
            && match &self.credential {
                Credential::Password | Credential::Operator => true,
                Credential::Bearer { scope, .. } => scope.has_admin(),
            }
    }

    pub fn actor(&self) -> String {
        match self.credential {
            Credential::Operator => "operator".to_string(),
            _ => format!("user:{}", self.user.name),
        }
    }
}

pub const MAX_NAME_LEN: usize = 64;
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Checks a user name and password, with brute-force limiting per user and source address
/// (see `limiter`: the attempt is reserved before argon2 runs). Unknown users cost the same
/// argon2 time as wrong passwords.
pub async fn authenticate_password(
    state: &AppState,
    name: &str,
    password: &str,
    source: &str,
) -> Result<Caller, Error> {
    // No user can have such a name or password, and the name must not become a limiter key of
    // any length: refused before anything is stored or hashed.
    if name.len() > MAX_NAME_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidRequest(format!(
            "user names are at most {MAX_NAME_LEN} bytes and passwords at most {MAX_PASSWORD_LEN}"
        )));
    }
    let keys = [limiter::user_key(name), limiter::address_key(source)];
    let attempt = state
        .limiter
        .begin(&[&keys[0], &keys[1]])
        .map_err(|Blocked(wait)| Error::RateLimited(wait))?;
    match check_password(state, name, password).await {
        Ok(Some(user)) => {
            attempt.refund();
            Ok(Caller {
                user,
                credential: Credential::Password,
            })
        }
        Ok(None) => {
            attempt.fail();
            Err(Error::Unauthenticated(
                "invalid user name or password".into(),
            ))
        }
        // Busy or the database is down: nothing was checked, so nothing counts.
        Err(e) => {
            attempt.refund();
            Err(e)
        }
    }
}

/// The user, if the password is theirs. Waits for a turn at the password gate first, so a full
/// line is refused before the database is asked.
async fn check_password(
    state: &AppState,
    name: &str,
    password: &str,
) -> Result<Option<User>, Error> {
    let admission = state.passwords.admit()?;
    // A deleted user is a tombstone without a password: checked like an unknown name.
    let user = users::find_by_name(&state.db, name)
        .await?
        .filter(|u| u.deleted_at.is_none());
    let ok = admission
        .verify(
            user.as_ref().map(|u| u.password_hash.clone()),
            password.to_string(),
        )
        .await?;
    // A disabled user's right password gets the same answer as a wrong one: the check ran
    // anyway, so timing says nothing either.
    Ok(user.filter(|u| ok && u.is_enabled()))
}

/// Checks a Bearer access token: valid signature and claims, `user` in its scope, not revoked,
/// and minted from a refresh token that is still unrevoked.
pub async fn authenticate_bearer(state: &AppState, token: &str) -> Result<Caller, Error> {
    let now = state.clock.now();
    let keys = state.keys();
    let claims = verify_access_token(
        token,
        &VerifyContext {
            keys: &keys,
            issuer: &state.settings.issuer,
            audience: &state.settings.audience,
            now,
            key_grace: state.key_grace(),
        },
    )
    .map_err(|e| {
        tracing::debug!(reason = %e, "bearer token rejected");
        Error::Unauthenticated("invalid or expired access token".into())
    })?;
    let scope = Scope::parse(&claims.scope)
        .map_err(|_| Error::Unauthenticated("access token has no usable scope".into()))?;
    if !scope.has_user() {
        return Err(Error::InsufficientScope {
            needed: "user",
            description: "the access token's scope does not include user".into(),
        });
    }
    let Some(rtid) = claims.rtid.as_deref() else {
        return Err(Error::InsufficientScope {
            needed: "user",
            description: "client_credentials tokens cannot manage user tokens".into(),
        });
    };
    if revoked_access_tokens::is_revoked(&state.db, &claims.jti).await? {
        return Err(Error::Unauthenticated(
            "access token has been revoked".into(),
        ));
    }
    let row = refresh_tokens::find_by_row_id(&state.db, rtid)
        .await?
        .filter(|r| r.revoked_at.is_none())
        .ok_or_else(|| Error::Unauthenticated("access token has been revoked".into()))?;
    let user = users::find_by_name(&state.db, &claims.sub)
        .await?
        .filter(|u| u.id == row.user_id && u.deleted_at.is_none())
        .ok_or_else(|| Error::Unauthenticated("access token's user no longer exists".into()))?;
    if !user.is_enabled() {
        return Err(Error::Unauthenticated(
            "access token's user is disabled".into(),
        ));
    }
    Ok(Caller {
        user,
        credential: Credential::Bearer {
            family_id: row.family_id,
            scope,
            expires_at: row.expires_at,
        },
    })
}

/// Validates a user name: 1 to 64 characters of letters, digits, `.`, `_`, `-` and `@`.
pub fn parse_user_name(name: &str) -> Result<&str, Error> {
    let ok = (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    if ok {
        Ok(name)
    } else {
        Err(Error::InvalidRequest(
            "user names are 1 to 64 characters of letters, digits, '.', '_', '-' and '@'".into(),
        ))
    }
}

pub async fn add_user(
    state: &AppState,
    name: &str,
    password: &str,
    admin: bool,
) -> Result<User, Error> {
    parse_user_name(name)?;
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidRequest(format!(
            "the password must be 1 to {MAX_PASSWORD_LEN} bytes"
        )));
    }
    // See `clients::register`: user names and client ids must not meet in `sub`.
    if crate::store::clients::find(&state.db, name)
        .await?
        .is_some()
        || name == crate::oauth::BUILTIN_PUBLIC_CLIENT
    {
        return Err(Error::Conflict(format!(
            "a client with id {name} exists; user names and client ids share the access token's sub claim"
        )));
    }
    if users::find_by_name(&state.db, name)
        .await?
        .is_some_and(|u| u.deleted_at.is_some())
    {
        return Err(Error::Conflict(format!(
            "user {name} was deleted; names of deleted users are not reused (old access tokens name them)"
        )));
    }
    let hash = state.passwords.admit()?.hash(password.to_string()).await?;
    let now = state.clock.now();
    let user = users::create(&state.db, name, &hash, admin, now)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict => {
                Error::Conflict(format!("user {name} already exists"))
            }
            other => other.into(),
        })?;
    audit::record(
        &state.db,
        now,
        "operator",
        "user.create",
        &format!("user:{name}"),
        serde_json::json!({ "admin": admin }),
    )
    .await?;
    Ok(user)
}

pub async fn add_album(
    state: &AppState,
    id: &str,
    name: Option<&str>,
) -> Result<albums::Album, Error> {
    let album = AlbumId::parse(id).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    let name = name.unwrap_or(id);
    if name.is_empty() || name.len() > 200 {
        return Err(Error::InvalidRequest(
            "album names are 1 to 200 characters".into(),
        ));
    }
    let now = state.clock.now();
    let a = albums::create(&state.db, album.as_str(), name, now)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict => {
                Error::Conflict(format!("album {id} already exists"))
            }
            other => other.into(),
        })?;
    audit::record(
        &state.db,
        now,
        "operator",
        "album.create",
        &format!("album:{id}"),
        serde_json::json!({ "name": name }),
    )
    .await?;
    Ok(a)
}

/// Sets a user's permissions on an album, replacing what they had (`none` removes them).
pub async fn grant_album(
    state: &AppState,
    album: &str,
    user: &str,
    perms: &str,
) -> Result<Permissions, Error> {
    let perms = Permissions::parse_list(perms).map_err(|e| Error::InvalidRequest(e.to_string()))?;
    albums::find(&state.db, album)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no album {album}")))?;
    let u = users::find_by_name(&state.db, user)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(|| Error::NotFound(format!("no user {user}")))?;
    let now = state.clock.now();
    albums::set_permissions(&state.db, album, u.id, &perms.to_list(), now).await?;
    audit::record(
        &state.db,
        now,
        "operator",
        "album.grant",
        &format!("album:{album}"),
        serde_json::json!({ "user": user, "permissions": perms.to_list() }),
    )
    .await?;
    Ok(perms)
}

/// The caller's permissions on an album (empty if not a member or no such album).
pub async fn album_permissions(
    state: &AppState,
    user_id: i64,
    album: &str,
) -> Result<Permissions, Error> {
    let rows = albums::permissions_on(&state.db, user_id, &[album]).await?;
    Ok(rows
        .first()
        .and_then(|(_, p)| Permissions::parse_list(p).ok())
        .unwrap_or_default())
}

/// Disables or re-enables a user. While disabled, the user's password is refused, their refresh
/// tokens do not exchange, and every token of theirs introspects inactive; nothing is deleted or
/// revoked, so re-enabling brings back exactly the tokens that were live before (unless they
/// expired or were revoked in between). Returns the user after the change.
pub async fn set_disabled(
    state: &AppState,
    actor: &str,
    name: &str,
    disabled: bool,
) -> Result<User, Error> {
    let now = state.clock.now();
    let _turn = state.sqlite_write_turn().await;
    let txn = crate::store::write_txn(&state.db).await?;
    let user = live_user_locked(&txn, name).await?;
    if user.disabled_at.is_some() == disabled {
        // Already as asked: nothing changes, nothing is audited.
        txn.rollback()
            .await
            .map_err(crate::store::StoreError::from)?;
        return Ok(user);
    }
    let at = disabled.then_some(now);
    users::set_disabled(&txn, user.id, at).await?;
    audit::record(
        &txn,
        now,
        actor,
        if disabled {
            "user.disable"
        } else {
            "user.enable"
        },
        &format!("user:{name}"),
        serde_json::json!({}),
    )
    .await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    Ok(User {
        disabled_at: at,
        ..user
    })
}

/// Deletes a user: revokes every token of theirs (and everything created under them), removes
/// their album memberships and password, and leaves a tombstone row, so the audit trail keeps
/// meaning and the name is never given to someone else (old access tokens name it in `sub`).
/// Returns how many live tokens were revoked.
pub async fn delete_user(state: &AppState, actor: &str, name: &str) -> Result<usize, Error> {
    let now = state.clock.now();
    let _turn = state.sqlite_write_turn().await;
    let txn = crate::store::write_txn(&state.db).await?;
    let user = live_user_locked(&txn, name).await?;
    let revoked =
        refresh_tokens::revoke_families(&txn, refresh_tokens::Roots::User(user.id), now).await?;
    albums::remove_all_of_user(&txn, user.id).await?;
    users::mark_deleted(&txn, user.id, now).await?;
    audit::record(
        &txn,
        now,
        actor,
        "user.delete",
        &format!("user:{name}"),
        serde_json::json!({ "revoked": revoked }),
    )
    .await?;
    txn.commit().await.map_err(crate::store::StoreError::from)?;
    state.metrics.revoked(revoked.len() as u64);
    Ok(revoked.len())
}

/// The user named `name`, not deleted, with its row locked for the transaction.
async fn live_user_locked(txn: &sea_orm::DatabaseTransaction, name: &str) -> Result<User, Error> {
    let not_found = || Error::NotFound(format!("no user {name}"));
    let found = users::find_by_name(txn, name)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(not_found)?;
    users::lock(txn, found.id)
        .await?
        .filter(|u| u.deleted_at.is_none())
        .ok_or_else(not_found)
}

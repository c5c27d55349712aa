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
    let user = users::find_by_name(&state.db, name).await?;
    let ok = admission
        .verify(
            user.as_ref().map(|u| u.password_hash.clone()),
            password.to_string(),
        )
        .await?;
    Ok(user.filter(|_| ok))
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
        return Err(Error::InsufficientScope(
            "the access token's scope does not include user".into(),
        ));
    }
    let Some(rtid) = claims.rtid.as_deref() else {
        return Err(Error::InsufficientScope(
            "client_credentials tokens cannot manage user tokens".into(),
        ));
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
        .filter(|u| u.id == row.user_id)
        .ok_or_else(|| Error::Unauthenticated("access token's user no longer exists".into()))?;
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

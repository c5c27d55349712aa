//! Who is calling the `/api`: a user with a password (HTTP Basic), or with an access token whose
//! scope contains `user` (Bearer), or the operator at the command line acting for a user.

use chrono::{DateTime, Utc};

use super::limiter::{self, Blocked};
use super::{AppState, Error};
use crate::model::Scope;
use crate::store::users::{self, User};
use crate::store::{refresh_tokens, revoked_access_tokens};

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
    let keys = limiter::login_keys(name, source);
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
    let claims = state.verify_access_token(token, now).map_err(|e| {
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

//! Signing access tokens: claims assembled from what the grant decided, signed with the current
//! key held in memory.

use chrono::{DateTime, Utc};

use super::Error;
use crate::domain::AppState;
use crate::model::Scope;
use crate::tokens::jwt::{self, AccessClaims, AT_TYP};
use crate::tokens::secret::random_id;

pub struct AccessToken {
    pub jwt: String,
    pub expires_at: DateTime<Utc>,
    pub jti: String,
}

/// Who and what an access token is for.
pub struct Grant<'a> {
    pub subject: &'a str,
    pub client_id: &'a str,
    pub scope: &'a Scope,
    /// The refresh-token row it was minted from.
    pub refresh_row: Option<&'a str>,
    /// The refresh token's own expiry: the access token never outlives it.
    pub not_after: Option<DateTime<Utc>>,
}

pub fn mint(state: &AppState, g: &Grant<'_>, now: DateTime<Utc>) -> Result<AccessToken, Error> {
    let mut exp = now + state.settings.access_token_ttl.to_chrono();
    if let Some(cap) = g.not_after {
        exp = exp.min(cap);
    }
    let jti = random_id();
    let claims = AccessClaims {
        iss: state.settings.issuer.clone(),
        sub: g.subject.to_string(),
        aud: state.settings.audience.clone(),
        exp: exp.timestamp(),
        iat: now.timestamp(),
        jti: jti.clone(),
        client_id: g.client_id.to_string(),
        scope: g.scope.to_string(),
        rtid: g.refresh_row.map(str::to_string),
    };
    let keys = state.keys();
    let token =
        jwt::sign(keys.signing(), AT_TYP, &claims).map_err(|e| Error::Internal(e.to_string()))?;
    // Report the expiry at the second the JWT carries.
    let expires_at = DateTime::from_timestamp(exp.timestamp(), 0).unwrap_or(exp);
    Ok(AccessToken {
        jwt: token,
        expires_at,
        jti,
    })
}

//! RFC 7009 revocation of refresh tokens (the whole family and everything created under it) and
//! of access tokens (their `jti`, kept until the token's own expiry).

use super::{AppState, Error};
use crate::model::{Client, BUILTIN_PUBLIC_CLIENT};
use crate::store::{refresh_tokens, revoked_access_tokens};
use crate::tokens::secret::{Secret, SecretKind};

/// Revokes `token` if it is a live tessera token the requester may revoke. Unknown, expired,
/// already revoked or garbage tokens are fine (RFC 7009 §2.2): the endpoint leaks nothing.
/// `client` is the authenticated (or public, by id) client, if any.
pub async fn revoke(state: &AppState, token: &str, client: Option<&Client>) -> Result<(), Error> {
    // The hint only orders the lookup (§2.1); both kinds are tried whatever it says, and the
    // prefix tells them apart without a lookup.
    if token.starts_with("tsr_") {
        revoke_refresh(state, token, client).await
    } else if token.matches('.').count() == 2 {
        revoke_access(state, token, client).await
    } else {
        Ok(())
    }
}

async fn revoke_refresh(
    state: &AppState,
    token: &str,
    client: Option<&Client>,
) -> Result<(), Error> {
    let Ok(secret) = Secret::parse(SecretKind::RefreshToken, token) else {
        return Ok(());
    };
    let Some(row) = refresh_tokens::find_by_hash(&state.db, &secret.hash()).await? else {
        return Ok(());
    };
    if let Some(bound) = &row.client_id {
        match client {
            Some(c) if c.id == *bound => {}
            Some(_) => {
                return Err(Error::Forbidden(
                    "this token was issued to another client".into(),
                ))
            }
            None => {
                // Bound to a public client: presenting it is proof enough. Bound to a
                // confidential client: that client must authenticate.
                if !super::clients::is_public(state, bound).await? {
                    return Err(Error::Unauthenticated(
                        "this token belongs to a confidential client; authenticate as it".into(),
                    ));
                }
            }
        }
    }
    // Personal and album tokens belong to no client: their holder may revoke them.
    let actor = client
        .map(|c| format!("client:{}", c.id))
        .unwrap_or_else(|| "holder".into());
    super::management::revoke_family(state, &actor, &row.family_id).await
}

async fn revoke_access(
    state: &AppState,
    token: &str,
    client: Option<&Client>,
) -> Result<(), Error> {
    let now = state.clock.now();
    let Ok(claims) = state.verify_access_token(token, now) else {
        return Ok(());
    };
    match client {
        Some(c) if c.id == claims.client_id => {}
        Some(_) => {
            return Err(Error::Forbidden(
                "this token was issued to another client".into(),
            ))
        }
        None if claims.client_id == BUILTIN_PUBLIC_CLIENT => {}
        None => {
            if !super::clients::is_public(state, &claims.client_id).await? {
                return Err(Error::Unauthenticated(
                    "this token belongs to a confidential client; authenticate as it".into(),
                ));
            }
        }
    }
    let exp = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
    revoked_access_tokens::insert(&state.db, &claims.jti, exp, now).await?;
    state.metrics.revoked(1);
    Ok(())
}

//! `client_credentials` (RFC 6749 §4.4): a confidential client gets an access token for itself.
//! The client is the subject; no refresh token is issued.

use chrono::{DateTime, Utc};

use super::Issued;
use crate::domain::minting;
use crate::domain::AppState;
use crate::model::{Client, ClientScopePolicy, GrantType, Scope, ScopeItem};
use crate::oauth::OAuthError;

pub fn exchange(
    state: &AppState,
    client: &Client,
    requested: Option<&Scope>,
    now: DateTime<Utc>,
) -> Result<Issued, OAuthError> {
    let scope = scope_for(client, requested)?;
    let access = minting::mint(
        state,
        &minting::Grant {
            subject: &client.id,
            client_id: &client.id,
            scope: &scope,
            refresh_row: None,
            not_after: None,
        },
        now,
    )?;
    Ok(Issued {
        access,
        refresh: None,
        scope,
    })
}

/// The scope a confidential client gets for itself: what it asked for, or else the exact scopes
/// it was registered with. `user` needs a user and is never granted here.
pub fn scope_for(client: &Client, requested: Option<&Scope>) -> Result<Scope, OAuthError> {
    if client.is_public {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use the client_credentials grant",
        ));
    }
    if !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::unauthorized_client(format!(
            "client {} is not registered for the client_credentials grant",
            client.id
        )));
    }
    let scope = match (requested, &client.policy) {
        (Some(r), _) => r.clone(),
        (None, ClientScopePolicy::Only { exact, .. }) => {
            Scope::from_items(exact.iter().filter(|i| **i != ScopeItem::User).cloned())
        }
        (None, ClientScopePolicy::Any) => Scope::default(),
    };
    if scope.has_user() {
        return Err(OAuthError::invalid_scope(
            "user scope needs a user; client_credentials tokens act as the client itself",
        ));
    }
    // No registered scope means "whatever its users hold" for the refresh grant, where every
    // album scope is re-checked against the user's membership. Here no user stands behind the
    // token, so a client gets only the album scopes the operator registered for it.
    if let (Some(item), ClientScopePolicy::Any) = (scope.items().next(), &client.policy) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::ErrorCode;
    use std::collections::BTreeSet;

    fn client(public: bool, grants: &[GrantType], policy: Option<&str>) -> Client {
        Client {
            id: "svc".into(),
            is_public: public,
            grant_types: grants.iter().copied().collect::<BTreeSet<_>>(),
            policy: ClientScopePolicy::parse(policy).unwrap(),
            may_introspect: false,
        }
    }

    #[test]
    fn the_registered_scope_without_user_is_the_default() {
        let c = client(
            false,
            &[GrantType::ClientCredentials],
            Some("user album:a:read"),
        );
        assert_eq!(scope_for(&c, None).unwrap().to_string(), "album:a:read");
        let asked = Scope::parse("album:b:read").unwrap();
        let e = scope_for(&c, Some(&asked)).err().unwrap();
        assert_eq!(e.code, ErrorCode::InvalidScope);
        assert_eq!(e.description, "client svc may not request album:b:read");
    }

    #[test]
    fn refuses_public_unregistered_and_user() {
        let public = client(true, &[GrantType::ClientCredentials], None);
        assert_eq!(
            scope_for(&public, None).err().unwrap().code,
            ErrorCode::UnauthorizedClient
        );
        let refresh_only = client(false, &[GrantType::RefreshToken], None);
        assert_eq!(
            scope_for(&refresh_only, None).err().unwrap().code,
            ErrorCode::UnauthorizedClient
        );
        let any = client(false, &[GrantType::ClientCredentials], None);
        assert!(scope_for(&any, None).unwrap().is_empty());
        let user = Scope::parse("user").unwrap();
        assert_eq!(
            scope_for(&any, Some(&user)).err().unwrap().code,
            ErrorCode::InvalidScope
        );
        let album = Scope::parse("album:a:read").unwrap();
        let e = scope_for(&any, Some(&album)).err().unwrap();
        assert!(
            e.description.contains("has no registered scope"),
            "{}",
            e.description
        );
    }
}

//! `refresh_token` (RFC 6749 §6): judge the presented token, narrow its scope if asked, keep
//! only what its owner still holds, mint an access token and, for rotating tokens, rotate.
//! The decisions are plain functions over the token and its owner (tested below without a
//! server); reads and writes go through `domain::refresh`.

use chrono::{DateTime, Duration, Utc};

use super::Issued;
use crate::domain::refresh::{self, Rotation};
use crate::domain::{clients, minting, AppState};
use crate::model::{
    effective_scope, Client, GrantType, Holdings, RefreshToken, Scope, ScopeItem, TokenKind,
};
use crate::oauth::OAuthError;
use crate::store::users::User;
use crate::tokens::secret::{Secret, SecretKind};

pub async fn exchange(
    state: &AppState,
    client: Option<&Client>,
    presented: &str,
    requested: Option<&Scope>,
    now: DateTime<Utc>,
) -> Result<Issued, OAuthError> {
    let secret = Secret::parse(SecretKind::RefreshToken, presented)
        .map_err(|e| OAuthError::invalid_grant(format!("malformed refresh token: {e}")))?;
    let (row, owner) = refresh::presented(state, &secret)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("unknown refresh token"))?;
    let presentation = judge(&row, &owner, now, state.settings.rotation_grace.to_chrono())?;
    if presentation == Presentation::Replayed {
        refresh::reuse_detected(state, &row, client.map(|c| c.id.as_str()), now).await?;
        return Err(OAuthError::invalid_grant(
            "refresh token was already used (rotated); its whole token family has been revoked",
        ));
    }
    let client = acting_client(state, &row, client).await?;
    if !client.allows_grant(GrantType::RefreshToken) {
        return Err(OAuthError::unauthorized_client(format!(
            "client {} is not registered for the refresh_token grant",
            client.id
        )));
    }
    let asked = narrowed(&row, requested)?;
    let holdings = refresh::holdings(state, &owner, &asked).await?;
    let scope = granted(&row.scope, &asked, &holdings, &client)?;

    let access = minting::mint(
        state,
        &minting::Grant {
            subject: &owner.name,
            client_id: &client.id,
            scope: &scope,
            refresh_row: Some(&row.id),
            not_after: row.expires_at,
        },
        now,
    )?;
    let refresh = if !row.rotating || presentation == Presentation::GraceDuplicate {
        refresh::note_use(state, &row, now).await?;
        None
    } else {
        match refresh::rotate(state, &row, now).await? {
            Rotation::Rotated(new) => Some(new),
            Rotation::Duplicate => None,
            Rotation::Gone => {
                return Err(OAuthError::invalid_grant("refresh token has been revoked"))
            }
        }
    };
    Ok(Issued {
        access,
        refresh,
        scope,
    })
}

/// How a token that may be exchanged was presented.
#[derive(Debug, PartialEq, Eq)]
enum Presentation {
    /// The live head of its family.
    Fresh,
    /// Already rotated, presented again within `grace`: an access token only, so the family
    /// does not fork.
    GraceDuplicate,
    /// Already rotated, presented after `grace`: it may be stolen.
    Replayed,
}

fn judge(
    row: &RefreshToken,
    owner: &User,
    now: DateTime<Utc>,
    grace: Duration,
) -> Result<Presentation, OAuthError> {
    if row.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant("refresh token has been revoked"));
    }
    if row.is_expired(now) {
        return Err(OAuthError::invalid_grant("refresh token has expired"));
    }
    if !owner.is_enabled() {
        return Err(OAuthError::invalid_grant(
            "the refresh token's owner is disabled",
        ));
    }
    Ok(match row.rotated_at {
        None => Presentation::Fresh,
        Some(at) if now - at <= grace => Presentation::GraceDuplicate,
        Some(_) => Presentation::Replayed,
    })
}

/// The client the access token will name: the one that authenticated, which must be the one
/// the token is bound to; or the bound client itself if it is public; or the built-in client.
async fn acting_client(
    state: &AppState,
    row: &RefreshToken,
    client: Option<&Client>,
) -> Result<Client, OAuthError> {
    match (&row.client_id, client) {
        (Some(bound), Some(c)) if *bound != c.id => Err(OAuthError::invalid_grant(
            "refresh token was issued to another client",
        )),
        (_, Some(c)) => Ok(c.clone()),
        (Some(bound), None) => match clients::verify(state, bound, None).await {
            Ok(Some(c)) => Ok(c),
            _ => Err(OAuthError::invalid_client(
                "this refresh token is bound to a confidential client; authenticate as it",
            )),
        },
        (None, None) => Ok(Client::builtin()),
    }
}

/// The scope asked for, if the token may be narrowed to it: items the token holds, or album
/// scopes of a `user` token that is not an album token.
fn narrowed(row: &RefreshToken, requested: Option<&Scope>) -> Result<Scope, OAuthError> {
    let Some(r) = requested else {
        return Ok(row.scope.clone());
    };
    for item in r.items() {
        let ok = row.scope.contains(item)
            || (matches!(item, ScopeItem::Album { .. })
                && row.scope.has_user()
                && row.kind != TokenKind::Album);
        if !ok {
            return Err(OAuthError::invalid_scope(format!(
                "{item} exceeds the refresh token's scope ({})",
                row.scope
            )));
        }
    }
    Ok(r.clone())
}

/// What the access token carries: what was asked for, less what the owner no longer holds. An
/// item asked for beyond the token's own scope must be held now; an item of the token's own
/// scope that was lost is silently dropped, until nothing is left.
fn granted(
    token_scope: &Scope,
    asked: &Scope,
    owner: &Holdings,
    client: &Client,
) -> Result<Scope, OAuthError> {
    if let Some(item) = asked
        .items()
        .find(|i| !owner.holds(i) && !token_scope.contains(i))
    {
        return Err(OAuthError::invalid_scope(format!(
            "the token's owner does not hold {item}"
        )));
    }
    let scope = effective_scope(asked, owner);
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
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlbumId, ClientScopePolicy, Permissions};
    use crate::oauth::ErrorCode;

    fn row(kind: TokenKind, scope: &str, now: DateTime<Utc>) -> RefreshToken {
        RefreshToken {
            id: "r1".into(),
            secret_hash: "00".into(),
            kind,
            name: "ci".into(),
            user_id: 1,
            client_id: None,
            album_id: None,
            scope: Scope::parse(scope).unwrap(),
            rotating: true,
            family_id: "r1".into(),
            parent_id: None,
            rotated_from_id: None,
            created_at: now,
            expires_at: None,
            last_used_at: None,
            rotated_at: None,
            revoked_at: None,
        }
    }

    fn owner(now: DateTime<Utc>) -> User {
        User {
            id: 1,
            name: "alice".into(),
            password_hash: String::new(),
            is_admin: false,
            created_at: now,
            disabled_at: None,
            deleted_at: None,
        }
    }

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    #[test]
    fn judge_orders_revoked_expired_disabled_then_rotation() {
        let now = Utc::now();
        let grace = Duration::seconds(10);
        let mut t = row(TokenKind::Personal, "user", now);
        let mut o = owner(now);
        assert_eq!(judge(&t, &o, now, grace).unwrap(), Presentation::Fresh);
        t.rotated_at = Some(now - Duration::seconds(10));
        assert_eq!(
            judge(&t, &o, now, grace).unwrap(),
            Presentation::GraceDuplicate
        );
        t.rotated_at = Some(now - Duration::seconds(11));
        assert_eq!(judge(&t, &o, now, grace).unwrap(), Presentation::Replayed);
        o.disabled_at = Some(now);
        assert_eq!(
            judge(&t, &o, now, grace).err().unwrap().description,
            "the refresh token's owner is disabled"
        );
        t.expires_at = Some(now);
        assert_eq!(
            judge(&t, &o, now, grace).err().unwrap().description,
            "refresh token has expired"
        );
        t.revoked_at = Some(now);
        assert_eq!(
            judge(&t, &o, now, grace).err().unwrap().description,
            "refresh token has been revoked"
        );
    }

    #[test]
    fn a_user_token_narrows_to_album_scopes_an_album_token_does_not() {
        let now = Utc::now();
        let personal = row(TokenKind::Personal, "user", now);
        let asked = scope("album:a:read");
        assert_eq!(narrowed(&personal, Some(&asked)).unwrap(), asked);
        assert_eq!(narrowed(&personal, None).unwrap(), scope("user"));
        let album = row(TokenKind::Album, "album:a:read", now);
        let e = narrowed(&album, Some(&scope("album:a:read album:a:write")))
            .err()
            .unwrap();
        assert_eq!(e.code, ErrorCode::InvalidScope);
        assert_eq!(
            e.description,
            "album:a:write exceeds the refresh token's scope (album:a:read)"
        );
    }

    #[test]
    fn granted_drops_lost_items_and_refuses_unheld_new_ones() {
        let a = AlbumId::parse("a").unwrap();
        let holdings = Holdings {
            is_admin: false,
            albums: [(a, Permissions::parse_list("read").unwrap())].into(),
        };
        let any = Client::builtin();
        let token = scope("album:a:read album:a:download");
        // download was lost: dropped silently, read remains.
        assert_eq!(
            granted(&token, &token, &holdings, &any).unwrap(),
            scope("album:a:read")
        );
        // asked beyond the token's scope and not held: refused.
        let e = granted(&scope("user"), &scope("album:b:read"), &holdings, &any)
            .err()
            .unwrap();
        assert_eq!(
            e.description,
            "the token's owner does not hold album:b:read"
        );
        // nothing left: the grant itself is gone.
        let e = granted(
            &scope("album:b:read"),
            &scope("album:b:read"),
            &holdings,
            &any,
        )
        .err()
        .unwrap();
        assert_eq!(e.code, ErrorCode::InvalidGrant);
        // the client's policy applies last.
        let narrow = Client {
            policy: ClientScopePolicy::parse(Some("user")).unwrap(),
            ..Client::builtin()
        };
        let e = granted(&token, &token, &holdings, &narrow).err().unwrap();
        assert_eq!(e.description, "client tessera may not request album:a:read");
    }
}

//! RFC 7662 introspection of both token kinds: JWT access tokens and `tsr_` refresh tokens.
//! Every doubt answers exactly `{"active": false}`; the reason is only logged at debug level.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AppState, Error};
use crate::model::{effective_scope, Holdings, Scope, ScopeItem, BUILTIN_PUBLIC_CLIENT};
use crate::store::{albums, refresh_tokens, revoked_access_tokens};
use crate::tokens::jwt;
use crate::tokens::secret::{Secret, SecretKind};

/// An introspection answer (RFC 7662 §2.2). An inactive token is `{"active": false}` and
/// nothing else; absent members are not written.
#[derive(Debug, Default, PartialEq, Serialize)]
pub struct Introspection {
    pub active: bool,
    /// For a token confined to one album, as Kheops-style resource servers want it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub album_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// With `album_id`: the permissions the token grants on that album.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `Bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The user behind the token (absent for a client_credentials token: no user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

impl Introspection {
    pub fn inactive() -> Self {
        Introspection::default()
    }

    /// An active answer for `scope`, with the album fields filled in when the scope confines
    /// the token to one album.
    fn active(scope: &Scope) -> Self {
        let mut out = Introspection {
            active: true,
            scope: Some(scope.to_string()),
            ..Default::default()
        };
        let albums = scope.albums();
        if !scope.has_user() && albums.len() == 1 {
            out.album_id = albums.into_iter().next().map(|a| a.to_string());
            out.permissions = Some(
                scope
                    .items()
                    .filter_map(|i| match i {
                        ScopeItem::Album { permission, .. } => Some(permission.as_str()),
                        ScopeItem::User | ScopeItem::Admin => None,
                    })
                    .collect(),
            );
        }
        out
    }
}

/// The RFC 9701 form of an answer: a JWT signed with the current key, for resource server
/// `audience`.
pub fn signed(state: &AppState, audience: &str, answer: &Introspection) -> Result<String, Error> {
    #[derive(Serialize)]
    struct Claims<'a> {
        iss: &'a str,
        aud: &'a str,
        iat: i64,
        token_introspection: &'a Introspection,
    }
    let claims = Claims {
        iss: &state.settings.issuer,
        aud: audience,
        iat: state.clock.now().timestamp(),
        token_introspection: answer,
    };
    let keys = state.keys();
    jwt::sign(keys.signing(), "token-introspection+jwt", &claims)
        .map_err(|e| Error::Internal(e.to_string()))
}

/// The RFC 7662 response for `token` (before any signing as RFC 9701).
pub async fn introspect(state: &AppState, token: &str) -> Result<Introspection, Error> {
    let now = state.clock.now();
    let out = if token.starts_with("tsr_") {
        refresh_token(state, token, now).await?
    } else if token.matches('.').count() == 2 {
        access_token(state, token, now).await?
    } else {
        None
    };
    state.metrics.introspected(out.is_some());
    Ok(out.unwrap_or_else(Introspection::inactive))
}

async fn access_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Introspection>, Error> {
    let claims = match state.verify_access_token(token, now) {
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
    // `admin` was checked at exchange and is not looked up again for a token that lives
    // minutes: only the albums cost a query here, and only when the scope names one.
    if let Some(rtid) = claims.rtid.as_deref() {
        let ids: Vec<_> = scope.albums().into_iter().collect();
        if !ids.is_empty() {
            let owner = Holdings {
                is_admin: scope.has_admin(),
                albums: albums::permissions_of_row_owner(&state.db, rtid, &ids).await?,
            };
            scope = effective_scope(&scope, &owner);
            if scope.is_empty() {
                return Ok(None);
            }
        }
    }
    Ok(Some(Introspection {
        client_id: Some(claims.client_id),
        username: claims.rtid.is_some().then(|| claims.sub.clone()),
        token_type: Some("Bearer"),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        ..Introspection::active(&scope)
    }))
}

async fn refresh_token(
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Introspection>, Error> {
    let Ok(secret) = Secret::parse(SecretKind::RefreshToken, token) else {
        return Ok(None);
    };
    let Some((row, owner)) =
        refresh_tokens::find_by_hash_with_owner(&state.db, &secret.hash()).await?
    else {
        return Ok(None);
    };
    if !row.is_live(now) || !owner.is_enabled() {
        return Ok(None);
    }
    // What it grants now, as at exchange.
    let held = super::refresh::holdings(state, &owner, &row.scope).await?;
    let scope = effective_scope(&row.scope, &held);
    if scope.is_empty() {
        return Ok(None);
    }
    Ok(Some(Introspection {
        client_id: Some(
            row.client_id
                .unwrap_or_else(|| BUILTIN_PUBLIC_CLIENT.into()),
        ),
        username: Some(owner.name.clone()),
        token_type: Some("refresh_token"),
        exp: row.expires_at.map(|e| e.timestamp()),
        iat: Some(row.created_at.timestamp()),
        sub: Some(owner.name),
        aud: Some(state.settings.audience.clone()),
        iss: Some(state.settings.issuer.clone()),
        jti: Some(row.family_id),
        ..Introspection::active(&scope)
    }))
}

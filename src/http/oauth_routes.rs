//! The OAuth endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662/9701).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::{self, json_response, no_store};
use super::form::{self, Form};
use super::oxide_frontend::FormRequest;
use super::{finish, Incoming};
use crate::domain::{introspection, revocation};
use crate::oauth::client_auth::{self, ClientCredentials, KnownClient};
use crate::oauth::endpoint::{self, GrantKind, TokenResponse};
use crate::oauth::scope::Scope;
use crate::oauth::{ErrorCode, OAuthError};
use crate::state::AppState;
use crate::tokens::jwt;

/// POST /oauth/token
#[tracing::instrument(skip_all)]
pub async fn token(state: AppState, inc: Incoming) -> Response {
    let r = match token_inner(&state, &inc).await {
        Ok(t) => {
            let mut body = serde_json::json!({
                "access_token": t.access_token,
                "token_type": "Bearer",
                "expires_in": t.expires_in,
                "scope": t.scope.to_string(),
            });
            if let Some(rt) = t.refresh_token {
                body["refresh_token"] = rt.into();
            }
            no_store(json_response(StatusCode::OK, &body))
        }
        Err(e) => {
            tracing::info!(error = e.code.as_str(), description = %e.description, "token request refused");
            error::oauth(&e)
        }
    };
    finish(&state, "token", &inc, r)
}

fn credentials(inc: &Incoming, form: &Form) -> Result<ClientCredentials, OAuthError> {
    ClientCredentials::from_request(
        inc.header("authorization"),
        form.get("client_id"),
        form.get("client_secret"),
    )
}

async fn token_inner(state: &AppState, inc: &Incoming) -> Result<TokenResponse, OAuthError> {
    let form = form::parse(inc.header("content-type"), &inc.body)?;
    let kind = match form.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("refresh_token") => GrantKind::RefreshToken,
        Some("client_credentials") => GrantKind::ClientCredentials,
        Some(other) => {
            let shown: String = other.chars().filter(|c| !c.is_control()).take(40).collect();
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {shown:?} is not supported; use refresh_token or client_credentials"),
            ));
        }
    };
    if kind == GrantKind::RefreshToken && form.get("refresh_token").is_none() {
        return Err(OAuthError::invalid_request("refresh_token is required"));
    }
    let creds = credentials(inc, &form)?;
    // No limiter check here: a correct client is never refused (see client_auth::refusal).
    let source = inc.source();
    if kind == GrantKind::ClientCredentials && matches!(creds, ClientCredentials::None) {
        return Err(OAuthError::invalid_client(
            "client_credentials needs client authentication",
        ));
    }
    let requested = form
        .get("scope")
        .map(Scope::parse)
        .transpose()
        .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    // Both client authentication methods reach the flows as HTTP Basic (see oxide_frontend).
    let authorization = match &creds {
        ClientCredentials::None => None,
        ClientCredentials::Secret {
            client_id, secret, ..
        } => {
            if client_id.contains(':') {
                return Err(OAuthError::invalid_client("client authentication failed"));
            }
            Some(format!(
                "Basic {}",
                STANDARD.encode(format!("{client_id}:{secret}"))
            ))
        }
        ClientCredentials::PublicId { client_id } => Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{client_id}:"))
        )),
    };
    let request = FormRequest::new(form.iter(), authorization);
    let out = endpoint::run(state, kind, request, requested.as_ref(), &source).await?;
    state.metrics.issued(match kind {
        GrantKind::RefreshToken => "refresh_token",
        GrantKind::ClientCredentials => "client_credentials",
    });
    Ok(out)
}

/// Authenticates the caller of revoke or introspect if it named a client.
async fn client_of(
    state: &AppState,
    inc: &Incoming,
    form: &Form,
) -> Result<Option<KnownClient>, OAuthError> {
    let creds = credentials(inc, form)?;
    client_auth::authenticate(state, &creds, &inc.source()).await
}

/// POST /oauth/revoke
#[tracing::instrument(skip_all)]
pub async fn revoke(state: AppState, inc: Incoming) -> Response {
    let r = match revoke_inner(&state, &inc).await {
        Ok(()) => no_store(Response::new(Default::default())),
        Err(e) => error::oauth(&e),
    };
    finish(&state, "revoke", &inc, r)
}

async fn revoke_inner(state: &AppState, inc: &Incoming) -> Result<(), OAuthError> {
    let form = form::parse(inc.header("content-type"), &inc.body)?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    // token_type_hint only orders the lookup; an unknown or wrong hint changes nothing.
    let client = client_of(state, inc, &form).await?;
    revocation::revoke(state, token, client.as_ref()).await
}

/// POST /oauth/introspect
#[tracing::instrument(skip_all)]
pub async fn introspect(state: AppState, inc: Incoming) -> Response {
    let r = match introspect_inner(&state, &inc).await {
        Ok(r) => r,
        Err(e) => error::oauth(&e),
    };
    finish(&state, "introspect", &inc, r)
}

pub const INTROSPECTION_JWT: &str = "application/token-introspection+jwt";

async fn introspect_inner(state: &AppState, inc: &Incoming) -> Result<Response, OAuthError> {
    let form = form::parse(inc.header("content-type"), &inc.body)?;
    let client = match client_of(state, inc, &form).await? {
        Some(c) if !c.is_public => c,
        _ => {
            return Err(OAuthError::invalid_client(
                "introspection needs an authenticated resource-server client",
            ))
        }
    };
    if !client.may_introspect {
        let body = serde_json::json!({
            "error": "unauthorized_client",
            "error_description": format!("client {} is not allowed to introspect tokens", client.id),
        });
        return Ok(no_store(json_response(StatusCode::FORBIDDEN, &body)));
    }
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let answer = introspection::introspect(state, token).await?;
    let wants_jwt = inc.header("accept").is_some_and(|a| {
        a.split(',')
            .any(|m| m.trim().starts_with(INTROSPECTION_JWT))
    });
    if !wants_jwt {
        return Ok(no_store(json_response(StatusCode::OK, &answer)));
    }
    // RFC 9701: the answer as a signed JWT for this resource server.
    let now = state.clock.now();
    let claims = serde_json::json!({
        "iss": state.settings.issuer,
        "aud": client.id,
        "iat": now.timestamp(),
        "token_introspection": answer,
    });
    let keys = state.keys();
    let signed = jwt::sign(keys.signing(), "token-introspection+jwt", &claims)
        .map_err(|_| OAuthError::server_error())?;
    let mut r = Response::new(signed.into());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(INTROSPECTION_JWT),
    );
    Ok(no_store(r))
}

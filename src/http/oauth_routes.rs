//! The OAuth endpoints: token (RFC 6749), revocation (RFC 7009), introspection (RFC 7662/9701).

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::{self, json_response, no_store};
use super::form::{self, Form};
use super::{finish, Incoming};
use crate::domain::AppState;
use crate::domain::{introspection, revocation};
use crate::model::Client;
use crate::oauth::client_auth::{self, ClientCredentials};
use crate::oauth::grants::{self, TokenResponse};
use crate::oauth::request::TokenRequest;
use crate::oauth::OAuthError;

/// POST /oauth/token
#[tracing::instrument(skip_all)]
pub async fn token(state: AppState, inc: Incoming) -> Response {
    let r = match token_inner(&state, &inc).await {
        Ok(t) => no_store(json_response(StatusCode::OK, &t)),
        Err(e) => {
            tracing::info!(error = e.code.as_str(), description = %e.description, "token request refused");
            error::oauth(&e)
        }
    };
    finish(&state, "token", &inc, r)
}

async fn token_inner(state: &AppState, inc: &Incoming) -> Result<TokenResponse, OAuthError> {
    let form = form::parse(inc.header("content-type"), &inc.body)?;
    let req = TokenRequest::parse(|k| form.get(k), inc.header("authorization"))?;
    grants::exchange(state, req, &inc.source()).await
}

fn credentials(inc: &Incoming, form: &Form) -> Result<ClientCredentials, OAuthError> {
    ClientCredentials::from_request(
        inc.header("authorization"),
        form.get("client_id"),
        form.get("client_secret"),
    )
}

/// Authenticates the caller of revoke or introspect if it named a client.
async fn client_of(
    state: &AppState,
    inc: &Incoming,
    form: &Form,
) -> Result<Option<Client>, OAuthError> {
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
    Ok(revocation::revoke(state, token, client.as_ref()).await?)
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
    let signed = introspection::signed(state, &client.id, &answer)?;
    let mut r = Response::new(signed.into());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(INTROSPECTION_JWT),
    );
    Ok(no_store(r))
}

//! Operational and discovery endpoints: health, readiness, RFC 8414 metadata, JWKS, metrics.

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;

use super::error::json_response;
use super::{finish, Incoming};
use crate::domain::AppState;
use crate::model::GrantType;

/// GET /healthz: the process is up.
pub async fn healthz(state: AppState, inc: Incoming) -> Response {
    let r = json_response(StatusCode::OK, &serde_json::json!({ "status": "ok" }));
    finish(&state, "healthz", &inc, r)
}

/// GET /readyz: the database answers.
pub async fn readyz(state: AppState, inc: Incoming) -> Response {
    let r = match crate::store::ping(&state.db).await {
        Ok(()) => json_response(StatusCode::OK, &serde_json::json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({
                    "status": "not ready",
                    "error": "temporarily_unavailable",
                    "error_description": "the database is unavailable",
                }),
            )
        }
    };
    finish(&state, "readyz", &inc, r)
}

/// The RFC 8414 document: only what works.
pub fn metadata_document(state: &AppState) -> serde_json::Value {
    let iss = &state.settings.issuer;
    let auth_methods = ["client_secret_basic", "client_secret_post", "none"];
    serde_json::json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}/oauth/token"),
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "grant_types_supported": GrantType::ALL.map(GrantType::as_str),
        "response_types_supported": [],
        "scopes_supported": ["user", "album:<album_id>:read", "album:<album_id>:write", "album:<album_id>:download", "album:<album_id>:share"],
        "introspection_signing_alg_values_supported": [state.keys().signing().alg.as_str()],
    })
}

/// GET /.well-known/oauth-authorization-server
pub async fn metadata(state: AppState, inc: Incoming) -> Response {
    let mut r = json_response(StatusCode::OK, &metadata_document(&state));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    finish(&state, "metadata", &inc, r)
}

/// GET /.well-known/jwks.json: every key that signs or still verifies unexpired tokens.
pub async fn jwks(state: AppState, inc: Incoming) -> Response {
    let body = state.keys().jwks(state.clock.now(), state.key_grace());
    let mut r = json_response(StatusCode::OK, &body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    // Short enough that a rotation reaches resource servers well before old keys retire.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    finish(&state, "jwks", &inc, r)
}

/// GET /metrics: Prometheus text format.
pub async fn metrics(state: AppState, inc: Incoming) -> Response {
    let pool = state.db.pool_stats();
    let mut r = Response::new(state.metrics.render(pool).into());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    finish(&state, "metrics", &inc, r)
}

//! Revocation (RFC 7009), introspection (RFC 7662, and RFC 9701 signed answers) and the cleanup
//! of stale rows, as a resource server and a token holder see them.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tessera::tokens::secret::{Secret, SecretKind};

use crate::helpers::TestApp;

mod by_client;
mod forged_tokens;
mod forgeries;
mod gc;
mod introspection;
mod revocation;
mod signed;
mod two_instances;

const ISSUER: &str = "http://tessera.test";

/// POST /oauth/revoke with an optional hint and optional HTTP Basic client credentials.
async fn revoke(
    app: &TestApp,
    token: &str,
    hint: Option<&str>,
    basic: Option<(&str, &str)>,
) -> Response {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    app.post_form("/oauth/revoke", &form, basic).await
}

/// POST /oauth/introspect with this form and optional HTTP Basic client credentials.
async fn introspect_form(
    app: &TestApp,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Response {
    app.post_form("/oauth/introspect", form, basic).await
}

/// Asserts the RFC 7009 success answer: 200, empty body, not cacheable.
async fn assert_revoke_ok(r: Response, what: &str) {
    assert_eq!(r.status(), StatusCode::OK, "revoking {what}");
    assert_eq!(r.headers()["cache-control"], "no-store", "revoking {what}");
    assert_eq!(
        r.text().await.unwrap(),
        "",
        "revoking {what}: the body must be empty"
    );
}

async fn assert_inactive(app: &TestApp, rs: (&str, &str), token: &str, what: &str) {
    assert_eq!(
        app.introspect(token, rs).await,
        json!({ "active": false }),
        "{what} must be inactive"
    );
}

async fn assert_active(app: &TestApp, rs: (&str, &str), token: &str, what: &str) -> Value {
    let v = app.introspect(token, rs).await;
    assert_eq!(v["active"], true, "{what} must be active: {v}");
    v
}

/// The same token with one character of its body changed, so the checksum no longer matches.
fn bad_checksum(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[6] = if chars[6] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn unknown_refresh_token() -> String {
    Secret::generate(SecretKind::RefreshToken)
        .expose()
        .to_string()
}

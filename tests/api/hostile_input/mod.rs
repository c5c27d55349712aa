//! Hostile input: the OpenAPI description covers every route, and the token, revoke, introspect
//! and `/api` endpoints answer malformed, oversized and malicious requests with a 4xx and a JSON
//! `{error, error_description}`, never a 5xx, and without changing any stored state.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{TestApp, ALICE};

mod bodies;
mod encoding;
mod metacharacters;
mod openapi;
mod tokens;

const FORM: &str = "application/x-www-form-urlencoded";
const SQLI: &str = "a1'; DROP TABLE users;--";

/// Asserts a 4xx with a JSON `{error, error_description}` body; returns the status and body.
async fn refused(r: Response, what: &str) -> (StatusCode, Value) {
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body");
    check_refusal(status.as_u16(), &ct, &text, what);
    (status, serde_json::from_str(&text).unwrap_or_default())
}

fn check_refusal(status: u16, content_type: &str, body: &str, what: &str) {
    assert!(
        (400..500).contains(&status),
        "{what}: expected a 4xx, got {status}: {body}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content type {content_type:?}: {body}"
    );
    let v: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {body}"));
    assert!(
        v["error"].as_str().is_some_and(|s| !s.is_empty()) && v["error_description"].is_string(),
        "{what}: not an error body: {v}"
    );
}

async fn post_raw(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
    basic: Option<(&str, &str)>,
) -> Response {
    let mut req = app.http.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.expect("POST")
}

/// A request written by hand on a fresh connection, for what an HTTP client library would
/// normalise away (dot segments, chunked bodies). Returns status, content type and body.
async fn raw_http(app: &TestApp, head: impl AsRef<[u8]>, body: &[u8]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and stop reading) before the whole body is sent.
    if s.write_all(head.as_ref()).await.is_ok() {
        let _ = s.write_all(body).await;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = s.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let ct = headers
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ct, body.to_string())
}

fn basic_header(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// An `/api` request with HTTP Basic, its target sent exactly as given.
async fn raw_api(
    app: &TestApp,
    method: &str,
    target: &str,
    user: (&str, &str),
    json: Option<&str>,
) -> (u16, String, String) {
    let body = json.unwrap_or("");
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: tessera.test\r\nAuthorization: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        basic_header(user.0, user.1),
        body.len()
    );
    raw_http(app, head, body.as_bytes()).await
}

fn seg(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Alice with album a1, a resource server `rs`, and a rotating personal token of alice (so an
/// accidental exchange would show in the snapshot). Returns (refresh token, its id, rs secret).
async fn fixture(app: &TestApp) -> (String, String, String) {
    app.alice_with_album().await;
    let (_, rs_secret) = app.add_resource_server().await;
    let v = app
        .create_token(
            ALICE,
            json!({ "name": "laptop", "scope": "user album:a1:read", "rotating": true }),
        )
        .await;
    (
        v["token"].as_str().expect("token").into(),
        v["id"].as_str().expect("id").into(),
        rs_secret,
    )
}

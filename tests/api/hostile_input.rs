//! Hostile input: the OpenAPI description covers every route, and the token, revoke, introspect
//! and `/api` endpoints answer malformed, oversized and malicious requests with a 4xx and a JSON
//! `{error, error_description}`, never a 5xx, and without changing any stored state.

use std::collections::BTreeSet;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use reqwest::{Method, Response, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::db_test;
use crate::helpers::{TestApp, ALICE};

// ----- the OpenAPI description covers every route -----

const ROUTES_SRC: &str = include_str!("../../src/http/mod.rs");
const OPENAPI: &str = include_str!("../../docs/openapi.yaml");
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// The routes named by the filter comments in src/http/mod.rs, like `// GET /api/tokens/{id}`.
fn served_routes(src: &str) -> BTreeSet<(String, String)> {
    src.lines()
        .filter_map(|line| {
            let mut words = line.trim().strip_prefix("// ")?.split_whitespace();
            let (method, path) = (words.next()?, words.next()?);
            (METHODS.contains(&method) && path.starts_with('/'))
                .then(|| (method.to_string(), path.to_string()))
        })
        .collect()
}

/// The operations of an OpenAPI YAML document: path keys indented by two spaces under the
/// top-level `paths:`, and their method keys indented by four.
fn documented_operations(yaml: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut in_paths = false;
    let mut path: Option<String> = None;
    for line in yaml.lines() {
        let content = line.trim_end();
        if content.is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        if !content.starts_with(' ') {
            in_paths = content == "paths:";
            path = None;
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(key) = content.strip_prefix("  ").filter(|k| !k.starts_with(' ')) {
            path = key
                .strip_suffix(':')
                .map(|p| p.trim_matches('"').trim_matches('\'').to_string());
        } else if let Some(key) = content.strip_prefix("    ").filter(|k| !k.starts_with(' ')) {
            let method = key.strip_suffix(':').unwrap_or("").to_ascii_uppercase();
            if let (Some(p), true) = (&path, METHODS.contains(&method.as_str())) {
                out.insert((method, p.clone()));
            }
        }
    }
    out
}

fn undocumented(served: &BTreeSet<(String, String)>, yaml: &str) -> Vec<(String, String)> {
    served
        .difference(&documented_operations(yaml))
        .cloned()
        .collect()
}

#[test]
fn every_served_route_is_in_the_openapi_description() {
    let served = served_routes(ROUTES_SRC);
    assert_eq!(
        served.len(),
        ROUTES_SRC.matches("warp::path!(").count(),
        "every route filter in src/http/mod.rs needs its `// METHOD /path` comment: {served:?}"
    );
    let missing = undocumented(&served, OPENAPI);
    assert!(
        missing.is_empty(),
        "routes served but missing from docs/openapi.yaml: {missing:?}"
    );
    let documented = documented_operations(OPENAPI);
    let phantom: Vec<_> = documented.difference(&served).collect();
    assert!(
        phantom.is_empty(),
        "operations in docs/openapi.yaml that tessera does not serve: {phantom:?}"
    );
}

db_test!(
    every_documented_operation_is_served_by_the_running_server,
    |app| {
        // The comment check above trusts the `// METHOD /path` comments; this asks the server. A
        // documented operation must reach a handler: not warp's "no such endpoint" 404, not 405.
        let documented = documented_operations(OPENAPI);
        assert!(documented.len() >= 18, "{documented:?}");
        for (method, path) in &documented {
            let concrete: String = path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "x" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            let r = app
                .http
                .request(m, app.url(&concrete))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}: {body}"
            );
            assert!(
                !(status == StatusCode::NOT_FOUND
                    && body["error_description"] == "no such endpoint"),
                "{method} {path} is documented but not served: {body}"
            );
        }
        // And the check can fail: an undocumented path is "no such endpoint".
        let r = app.get("/api/not-an-endpoint").await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error_description"],
            "no such endpoint"
        );
    }
);

#[test]
fn the_route_check_notices_a_missing_route() {
    let served = served_routes(ROUTES_SRC);
    assert!(
        served.contains(&("GET".to_string(), "/api/me".to_string())),
        "{served:?}"
    );
    let without_me = OPENAPI.replace("\n  /api/me:\n", "\n  /api/not-me:\n");
    assert_ne!(without_me, OPENAPI, "the fixture edit must apply");
    assert_eq!(
        undocumented(&served, &without_me),
        [("GET".to_string(), "/api/me".to_string())]
    );
    let without_delete = OPENAPI.replace(
        "\n    delete:\n      tags: [api]\n      operationId: revokeToken",
        "\n    x-gone:",
    );
    assert_ne!(without_delete, OPENAPI, "the fixture edit must apply");
    assert_eq!(
        undocumented(&served, &without_delete),
        [("DELETE".to_string(), "/api/tokens/{id}".to_string())]
    );
}

// ----- helpers for this module -----

const FORM: &str = "application/x-www-form-urlencoded";
const SQLI: &str = "a1'; DROP TABLE users;--";

/// Every stored row of every table, as sorted debug lines: equal snapshots mean no state change.
pub(crate) async fn snapshot(app: &TestApp) -> Vec<String> {
    use tessera::store::entity::*;
    let db = &app.state.db;
    fn lines<M: std::fmt::Debug>(rows: Vec<M>) -> impl Iterator<Item = String> {
        rows.into_iter().map(|m| format!("{m:?}"))
    }
    let mut out: Vec<String> = Vec::new();
    out.extend(lines(user::Entity::find().all(db).await.expect("users")));
    out.extend(lines(
        client::Entity::find().all(db).await.expect("clients"),
    ));
    out.extend(lines(album::Entity::find().all(db).await.expect("albums")));
    out.extend(lines(
        album_member::Entity::find().all(db).await.expect("members"),
    ));
    out.extend(lines(
        refresh_token::Entity::find()
            .all(db)
            .await
            .expect("refresh tokens"),
    ));
    out.extend(lines(
        revoked_access_token::Entity::find()
            .all(db)
            .await
            .expect("revoked"),
    ));
    out.extend(lines(
        audit_event::Entity::find().all(db).await.expect("audit"),
    ));
    out.sort();
    out
}

async fn assert_unchanged(app: &TestApp, before: &[String], what: &str) {
    let after = snapshot(app).await;
    assert_eq!(before, after.as_slice(), "{what} changed stored state");
}

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

// ----- the tests -----

db_test!(oversized_bodies_are_refused_everywhere, |app| {
    let (rt, _, rs) = fixture(app).await;
    let before = snapshot(app).await;
    let pad = "a".repeat(20 * 1024);
    for (path, basic) in [
        ("/oauth/token", None),
        ("/oauth/revoke", None),
        ("/oauth/introspect", Some(("rs", rs.as_str()))),
    ] {
        let body = format!("grant_type=refresh_token&refresh_token={rt}&token={rt}&pad={pad}");
        let (status, _) = refused(post_raw(app, path, Some(FORM), body, basic).await, path).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    for path in ["/api/tokens", "/api/albums/a1/tokens"] {
        let body = json!({ "name": pad, "scope": "user", "permissions": ["read"] });
        let (status, _) = refused(
            app.api_as(Method::POST, path, ALICE, Some(body)).await,
            path,
        )
        .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    // Chunked, so no Content-Length announces the size: the limit holds while reading.
    let mut chunked = Vec::new();
    chunked.extend_from_slice(format!("{:x}\r\ntoken={rt}&\r\n", rt.len() + 7).as_bytes());
    for _ in 0..6 {
        chunked.extend_from_slice(format!("1000\r\n{}\r\n", "b".repeat(0x1000)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /oauth/revoke HTTP/1.1\r\nHost: tessera.test\r\nContent-Type: {FORM}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let (status, ct, body) = raw_http(app, &head, &chunked).await;
    check_refusal(status, &ct, &body, "chunked oversized revoke");
    assert_eq!(status, 413, "{body}");
    assert_unchanged(app, &before, "oversized bodies").await;
});

db_test!(repeated_parameters_are_refused, |app| {
    let (rt, _, rs) = fixture(app).await;
    let before = snapshot(app).await;
    let (none, rs_auth) = (None, Some(("rs", rs.as_str())));
    let cases = [
        (
            "/oauth/token",
            format!("grant_type=refresh_token&refresh_token={rt}&refresh_token={rt}"),
            none,
        ),
        (
            "/oauth/token",
            format!("grant_type=refresh_token&grant_type=refresh_token&refresh_token={rt}"),
            None,
        ),
        (
            "/oauth/token",
            "grant_type=client_credentials&client_id=rs&client_id=rs".into(),
            None,
        ),
        ("/oauth/revoke", format!("token={rt}&token=other"), None),
        (
            "/oauth/introspect",
            format!("token={rt}&token={rt}"),
            rs_auth,
        ),
    ];
    for (path, body, basic) in cases {
        let (status, v) = refused(
            post_raw(app, path, Some(FORM), body.clone(), basic).await,
            &body,
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(v["error"], "invalid_request", "{body}");
        assert!(
            v["error_description"]
                .as_str()
                .unwrap_or("")
                .contains("repeated"),
            "{v}"
        );
    }
    let r = app
        .api_as(Method::GET, "/api/tokens?limit=1&limit=2", ALICE, None)
        .await;
    refused(r, "repeated query parameter").await;
    let dup = r#"{"name":"a","scope":"user","scope":"user album:a1:read"}"#;
    let r = app
        .http
        .post(app.url("/api/tokens"))
        .basic_auth(ALICE.0, Some(ALICE.1))
        .header("content-type", "application/json")
        .body(dup)
        .send()
        .await
        .unwrap();
    let (_, v) = refused(r, "repeated JSON member").await;
    assert_eq!(v["error"], "invalid_request");
    assert_unchanged(app, &before, "repeated parameters").await;
});

db_test!(wrong_or_missing_content_types_are_refused, |app| {
    let (rt, _, rs) = fixture(app).await;
    let before = snapshot(app).await;
    let bodies = [
        (
            "/oauth/token",
            format!("grant_type=refresh_token&refresh_token={rt}"),
            None,
        ),
        ("/oauth/revoke", format!("token={rt}"), None),
        (
            "/oauth/introspect",
            format!("token={rt}"),
            Some(("rs", rs.as_str())),
        ),
    ];
    let wrong = [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencodedx"),
    ];
    for (path, body, basic) in &bodies {
        for ct in wrong {
            let what = format!("{path} with content type {ct:?}");
            let (status, v) =
                refused(post_raw(app, path, ct, body.clone(), *basic).await, &what).await;
            assert_eq!(
                (status, v["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request")),
                "{what}"
            );
        }
    }
    let json_body = r#"{"name":"n","scope":"user","permissions":["read"]}"#;
    for path in ["/api/tokens", "/api/albums/a1/tokens"] {
        for ct in [
            None,
            Some(FORM),
            Some("text/plain"),
            Some("application/jsonx"),
        ] {
            let what = format!("{path} with content type {ct:?}");
            let (status, v) =
                refused(post_raw(app, path, ct, json_body, Some(ALICE)).await, &what).await;
            assert_eq!(
                (status, v["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request")),
                "{what}"
            );
        }
    }
    assert_unchanged(app, &before, "wrong content types").await;
});

db_test!(json_where_a_form_is_expected_is_refused, |app| {
    let (rt, _, rs) = fixture(app).await;
    let before = snapshot(app).await;
    let cases = [
        (
            "/oauth/token",
            json!({ "grant_type": "refresh_token", "refresh_token": rt }),
            None,
        ),
        ("/oauth/revoke", json!({ "token": rt }), None),
        (
            "/oauth/introspect",
            json!({ "token": rt }),
            Some(("rs", rs.as_str())),
        ),
    ];
    for (path, body, basic) in &cases {
        for ct in ["application/json", FORM] {
            let what = format!("{path}: JSON sent as {ct}");
            let (status, v) = refused(
                post_raw(app, path, Some(ct), body.to_string(), *basic).await,
                &what,
            )
            .await;
            assert_eq!(
                (status, v["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request")),
                "{what}"
            );
        }
    }
    // And JSON of the wrong shape where the API expects an object.
    for body in [
        "[]",
        "null",
        "\"user\"",
        r#"{"name":5,"scope":["user"]}"#,
        r#"{"name":"n"}"#,
        r#"{"name":"n","scope":"user","admin":true}"#,
    ] {
        let r = post_raw(
            app,
            "/api/tokens",
            Some("application/json"),
            body,
            Some(ALICE),
        )
        .await;
        let (status, _) = refused(r, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert_unchanged(app, &before, "JSON bodies").await;
});

db_test!(invalid_utf8_and_percent_encoding_are_refused, |app| {
    let (rt, id, rs) = fixture(app).await;
    let before = snapshot(app).await;
    let bad: [&[u8]; 5] = [b"%zz", b"%4", b"%ff%fe", b"\xff\xfe", b"%C3%28"];
    for raw in bad {
        for (path, basic) in [
            ("/oauth/token", None),
            ("/oauth/revoke", None),
            ("/oauth/introspect", Some(("rs", rs.as_str()))),
        ] {
            for body in [
                [b"grant_type=refresh_token&token=".as_slice(), raw].concat(),
                [
                    b"grant_type=refresh_token&refresh_token=",
                    rt.as_bytes(),
                    b"&token=",
                    rt.as_bytes(),
                    b"&",
                    raw,
                    b"=1",
                ]
                .concat(),
            ] {
                let what = format!("{path}: {}", String::from_utf8_lossy(&body));
                let (status, v) =
                    refused(post_raw(app, path, Some(FORM), body, basic).await, &what).await;
                assert_eq!(
                    (status, v["error"].as_str()),
                    (StatusCode::BAD_REQUEST, Some("invalid_request")),
                    "{what}"
                );
            }
        }
    }
    let r = post_raw(
        app,
        "/api/tokens",
        Some("application/json"),
        b"{\"name\":\"\xff\xfe\",\"scope\":\"user\"}".to_vec(),
        Some(ALICE),
    )
    .await;
    refused(r, "invalid UTF-8 in JSON").await;
    for path in [
        "/api/tokens?status=%ff".to_string(),
        "/api/tokens?limit=%zz".to_string(),
        format!("/api/tokens/{id}%ff"),
        "/api/albums/a1%ff/tokens".to_string(),
        "/api/albums/%C3%28/tokens".to_string(),
    ] {
        refused(app.api_as(Method::GET, &path, ALICE, None).await, &path).await;
    }
    // Raw bytes that are not UTF-8 in the path and in the Authorization header.
    let head = format!("GET /api/albums/a1\u{7f}\u{1}/tokens HTTP/1.1\r\nHost: t\r\nAuthorization: {}\r\nConnection: close\r\n\r\n", basic_header(ALICE.0, ALICE.1));
    let mut bytes = head.into_bytes();
    if let Some(p) = bytes.iter().position(|b| *b == 0x7f) {
        bytes[p] = 0xff;
    }
    // hyper refuses such a request line itself (400, empty body) before tessera sees it.
    let (status, _, _) = raw_http(app, &bytes, b"").await;
    assert_eq!(status, 400, "non-UTF-8 path");
    for header in [
        "Basic /w==",
        "Basic !!!",
        "Basic YWxpY2U=",
        "Bearer",
        "Digest abc",
    ] {
        let r = app
            .http
            .get(app.url("/api/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        let (status, _) = refused(r, header).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header}");
        let r = app
            .http
            .post(app.url("/oauth/introspect"))
            .header("authorization", header)
            .form(&[("token", rt.as_str())])
            .send()
            .await
            .unwrap();
        let (status, v) = refused(r, header).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{header}"
        );
    }
    assert_unchanged(app, &before, "invalid encodings").await;
});

db_test!(ten_thousand_character_scopes_are_refused, |app| {
    let (rt, _, rs) = fixture(app).await;
    let before = snapshot(app).await;
    let items: String = "album:a1:read ".repeat(800).chars().take(10_000).collect();
    let one_word = "x".repeat(10_000);
    for scope in [&items, &one_word] {
        assert_eq!(scope.chars().count(), 10_000);
        let r = app
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &rt),
                    ("scope", scope),
                ],
                None,
            )
            .await;
        let (status, v) = refused(r, "refresh_token grant").await;
        assert_eq!(
            (status, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope"))
        );
        let r = app
            .token(
                &[("grant_type", "client_credentials"), ("scope", scope)],
                Some(("rs", &rs)),
            )
            .await;
        let (status, v) = refused(r, "client_credentials grant").await;
        assert_eq!(
            (status, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope"))
        );
        let r = app
            .api_as(
                Method::POST,
                "/api/tokens",
                ALICE,
                Some(json!({ "name": "n", "scope": scope })),
            )
            .await;
        let (status, v) = refused(r, "personal token").await;
        assert_eq!(
            (status, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope"))
        );
    }
    let r = app
        .api_as(
            Method::POST,
            "/api/albums/a1/tokens",
            ALICE,
            Some(json!({ "name": "n", "permissions": [one_word] })),
        )
        .await;
    assert_eq!(
        refused(r, "10,000-character permission").await.0,
        StatusCode::BAD_REQUEST
    );
    let r = app
        .api_as(
            Method::POST,
            "/api/tokens",
            ALICE,
            Some(json!({ "name": one_word, "scope": "user" })),
        )
        .await;
    assert_eq!(
        refused(r, "10,000-character name").await.0,
        StatusCode::BAD_REQUEST
    );
    assert_unchanged(app, &before, "long scopes").await;
});

db_test!(tokens_with_a_bad_checksum_are_refused, |app| {
    use tessera::tokens::secret::{Secret, SecretFormatError, SecretKind};
    let (rt, _, rs) = fixture(app).await;
    let before = snapshot(app).await;
    let mut bad = rt.clone();
    let last = bad.pop().expect("non-empty");
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        Secret::parse(SecretKind::RefreshToken, &bad).err(),
        Some(SecretFormatError::Checksum)
    );

    let r = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &bad)],
            None,
        )
        .await;
    let (status, v) = refused(r, "exchange").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let r = app.api_bearer(Method::GET, "/api/me", &bad, None).await;
    assert_eq!(
        refused(r, "as a Bearer credential").await.0,
        StatusCode::UNAUTHORIZED
    );
    // A client secret with a bad checksum fails client authentication.
    let mut bad_secret = rs.clone();
    let last = bad_secret.pop().expect("non-empty");
    bad_secret.push(if last == 'A' { 'B' } else { 'A' });
    let r = app
        .post_form(
            "/oauth/introspect",
            &[("token", &rt)],
            Some(("rs", &bad_secret)),
        )
        .await;
    let (status, v) = refused(r, "bad client secret").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // Revocation and introspection of an invalid token are not errors (RFC 7009 §2.2,
    // RFC 7662 §2.2): they must answer as for any unknown token and touch nothing.
    let r = app
        .post_form("/oauth/revoke", &[("token", &bad)], None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "");
    assert_eq!(
        app.introspect(&bad, ("rs", &rs)).await,
        json!({ "active": false })
    );
    assert_unchanged(app, &before, "bad-checksum tokens").await;
    assert_eq!(
        app.introspect(&rt, ("rs", &rs)).await["active"],
        true,
        "the real token is untouched"
    );
});

db_test!(a_refresh_token_of_one_client_is_refused_to_another, |app| {
    app.alice_with_album().await;
    let s1 = app
        .add_client("c1", false, Some("refresh_token"), None, false)
        .await
        .expect("secret");
    let s2 = app
        .add_client("c2", false, Some("refresh_token"), None, false)
        .await
        .expect("secret");
    app.add_client("p1", true, Some("refresh_token"), None, false)
        .await;
    let v = app
        .create_token(
            ALICE,
            json!({ "name": "bound", "scope": "user", "client_id": "c1" }),
        )
        .await;
    let rt = v["token"].as_str().expect("token").to_string();
    let before = snapshot(app).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let r = app.token(&form, Some(("c2", &s2))).await;
    let (status, v) = refused(r, "exchange by another confidential client").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let r = app
        .token(
            &[
                form[0],
                form[1],
                ("client_id", "c2"),
                ("client_secret", &s2),
            ],
            None,
        )
        .await;
    refused(r, "exchange by another client, secret in the body").await;
    let r = app
        .token(&[form[0], form[1], ("client_id", "p1")], None)
        .await;
    refused(r, "exchange by a public client").await;
    let r = app.token(&form, None).await;
    refused(r, "exchange without client authentication").await;
    let r = app
        .post_form("/oauth/revoke", &[("token", &rt)], Some(("c2", &s2)))
        .await;
    refused(r, "revocation by another client").await;
    assert_unchanged(app, &before, "another client's refresh token").await;
    // The token was good all along: its own client may use it.
    let r = app.token(&form, Some(("c1", &s1))).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
});

db_test!(sql_and_path_metacharacters_are_harmless, |app| {
    let (_, _, _) = fixture(app).await;
    app.add_user("root", "root-pw", true).await;
    let root = ("root", "root-pw");
    let before = snapshot(app).await;
    // Sent by hand: an HTTP library would resolve `..` and `%2e%2e` segments before sending.
    let album_body = r#"{"name":"n","permissions":["read"]}"#;
    for album in [
        seg(SQLI),
        "..".into(),
        "%2e%2e".into(),
        "%2E%2E%2F%2E%2E".into(),
        "..%2F..".into(),
        seg("a1/../a1"),
        "a1%00".into(),
        "*".into(),
        seg("a1' OR '1'='1"),
    ] {
        let target = format!("/api/albums/{album}/tokens");
        for method in ["GET", "POST"] {
            let (status, ct, body) = raw_api(app, method, &target, ALICE, Some(album_body)).await;
            check_refusal(status, &ct, &body, &format!("{method} {target}"));
            assert_eq!(status, 400, "{method} {target}: {body}");
        }
    }
    // Dot segments match no route: tessera never resolves them.
    for target in [
        "/api/albums/../tokens/x",
        "/api/albums/../../etc/passwd",
        "/api/tokens/../../api/audit",
        "/api/albums/a1/../tokens",
    ] {
        for method in ["GET", "POST", "DELETE"] {
            let (status, ct, body) = raw_api(app, method, target, ALICE, Some("{}")).await;
            check_refusal(status, &ct, &body, &format!("{method} {target}"));
        }
    }
    for id in [
        seg(SQLI),
        "..".into(),
        "%2e%2e".into(),
        seg("../../etc/passwd"),
        "%25".into(),
        seg("1 OR 1=1"),
    ] {
        let target = format!("/api/tokens/{id}");
        for method in ["GET", "DELETE"] {
            let (status, ct, body) = raw_api(app, method, &target, root, None).await;
            check_refusal(status, &ct, &body, &format!("{method} {target}"));
            assert_eq!(status, 404, "{method} {target}: {body}");
        }
    }
    for user in [SQLI, "..", "alice'--", "alice%"] {
        let target = format!("/api/users/{}/tokens", seg(user).replace("%2E", "."));
        for method in ["GET", "DELETE"] {
            let (status, ct, body) = raw_api(app, method, &target, root, None).await;
            check_refusal(status, &ct, &body, &format!("{method} {target}"));
            assert_eq!(status, 404, "{method} {target}: {body}");
        }
        let q = format!("/api/tokens?user={}", seg(user));
        assert_eq!(
            refused(app.api_as(Method::GET, &q, root, None).await, &q)
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            refused(app.api_as(Method::GET, &q, ALICE, None).await, &q)
                .await
                .0,
            StatusCode::FORBIDDEN
        );
    }
    for scope in [
        format!("album:{SQLI}:read"),
        "album:..:read".into(),
        "user'--".into(),
        "album:a1:read;DROP".into(),
    ] {
        let r = app
            .api_as(
                Method::POST,
                "/api/tokens",
                ALICE,
                Some(json!({ "name": "n", "scope": scope })),
            )
            .await;
        let (status, v) = refused(r, &scope).await;
        assert_eq!(
            (status, v["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_scope")),
            "{scope}"
        );
    }
    let r = app
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", SQLI),
                ("client_secret", "x"),
            ],
            None,
        )
        .await;
    let (status, v) = refused(r, "client id with SQL").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // A filter with metacharacters is just a filter that matches nothing.
    let r = app
        .api_as(
            Method::GET,
            &format!("/api/audit?target={}", seg(SQLI)),
            root,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-total-count"], "0");
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    assert_unchanged(app, &before, "metacharacters").await;

    // Token names are free text: stored and shown verbatim, and nothing else happens.
    for name in [SQLI, "../../etc/passwd", "%2e%2e"] {
        let v = app
            .create_token(ALICE, json!({ "name": name, "scope": "user" }))
            .await;
        assert_eq!(v["name"], name);
        let id = v["id"].as_str().expect("id");
        let shown: Value = app
            .api_as(Method::GET, &format!("/api/tokens/{id}"), ALICE, None)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown["name"], name);
    }
    let me = app.api_as(Method::GET, "/api/me", ALICE, None).await;
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "the users table is still there"
    );
    let after = snapshot(app).await;
    assert_eq!(
        after.len(),
        before.len() + 6,
        "three tokens and their three audit events, nothing more"
    );
});

db_test!(out_of_range_paging_is_refused, |app| {
    fixture(app).await;
    app.add_user("root", "root-pw", true).await;
    let before = snapshot(app).await;
    for query in [
        "limit=0",
        "limit=501",
        "limit=-1",
        "limit=1e3",
        "offset=-1",
        "offset=18446744073709551615",
        "offset=9223372036854775808",
        "limit=18446744073709551616",
        "status=all",
        "surprise=1",
    ] {
        for path in [
            "/api/tokens",
            "/api/albums/a1/tokens",
            "/api/users/alice/tokens",
            "/api/audit",
        ] {
            let target = format!("{path}?{query}");
            let (status, v) = refused(
                app.api_as(Method::GET, &target, ("root", "root-pw"), None)
                    .await,
                &target,
            )
            .await;
            assert_eq!(
                (status, v["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request")),
                "{target}"
            );
        }
    }
    assert_unchanged(app, &before, "paging parameters").await;
});

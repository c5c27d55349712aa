//! Bodies: oversized, with repeated parameters, of the wrong content type or shape.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{check_refusal, fixture, post_raw, raw_http, refused, FORM};
use crate::db_test;
use crate::helpers::{assert_unchanged, snapshot, ALICE};

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
    let r = app.get_as("/api/tokens?limit=1&limit=2", ALICE).await;
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

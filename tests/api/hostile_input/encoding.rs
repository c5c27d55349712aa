//! Invalid UTF-8 and percent-encoding, and scopes of ten thousand characters.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{basic_header, fixture, post_raw, raw_http, refused, FORM};
use crate::db_test;
use crate::helpers::{assert_unchanged, snapshot, ALICE};

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
        refused(app.get_as(&path, ALICE).await, &path).await;
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
            .client_credentials(&[("scope", scope)], Some(("rs", &rs)))
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

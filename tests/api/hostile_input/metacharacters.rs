//! SQL and path metacharacters, and out-of-range paging.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{check_refusal, fixture, raw_api, refused, seg, SQLI};
use crate::db_test;
use crate::helpers::{assert_unchanged, snapshot, ALICE};

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
            refused(app.get_as(&q, root).await, &q).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            refused(app.get_as(&q, ALICE).await, &q).await.0,
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
        .client_credentials(&[("client_id", SQLI), ("client_secret", "x")], None)
        .await;
    let (status, v) = refused(r, "client id with SQL").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // A filter with metacharacters is just a filter that matches nothing.
    let r = app
        .get_as(&format!("/api/audit?target={}", seg(SQLI)), root)
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
            .get_as(&format!("/api/tokens/{id}"), ALICE)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(shown["name"], name);
    }
    let me = app.get_as("/api/me", ALICE).await;
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
            let (status, v) =
                refused(app.get_as(&target, ("root", "root-pw")).await, &target).await;
            assert_eq!(
                (status, v["error"].as_str()),
                (StatusCode::BAD_REQUEST, Some("invalid_request")),
                "{target}"
            );
        }
    }
    assert_unchanged(app, &before, "paging parameters").await;
});

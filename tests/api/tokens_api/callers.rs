//! Who is calling: a password or a Bearer access token, and what a Bearer caller may make.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use super::{delete, lifetime, listing, show, time, written};
use crate::db_test;
use crate::helpers::{assert_error_mentions, expect_status, s, ALICE};

db_test!(
    api_without_a_valid_credential_is_401_with_both_challenges,
    |app| {
        app.alice_with_album().await;
        let before = written(app).await;
        let body = json!({ "name": "n", "scope": "user" });
        let attempts = [
            ("no credential", None),
            ("wrong password", Some("Basic YWxpY2U6d3Jvbmc=".to_string())),
            (
                "unknown user",
                Some("Basic bm9ib2R5OmFsaWNlLXB3".to_string()),
            ),
            ("malformed Basic", Some("Basic !!!".to_string())),
            ("garbage Bearer", Some("Bearer not-a-jwt".to_string())),
            ("other scheme", Some("Digest username=alice".to_string())),
        ];
        let mut descriptions = Vec::new();
        for (what, header) in attempts {
            let mut req = app.http.post(app.url("/api/tokens")).json(&body);
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{what}");
            let challenges: Vec<&str> = r
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert!(
                challenges.iter().any(|c| c.starts_with("Basic")),
                "{what}: {challenges:?}"
            );
            assert!(
                challenges.iter().any(|c| c.starts_with("Bearer")),
                "{what}: {challenges:?}"
            );
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"], "unauthorized", "{what}: {v}");
            descriptions.push(v["error_description"].as_str().unwrap().to_string());
        }
        // An unknown user and a wrong password read the same, so names cannot be probed.
        assert_eq!(descriptions[1], descriptions[2]);
        assert_eq!(written(app).await.0, before.0, "no token was written");
        // A refresh token is not an access token.
        let personal = app
            .create_token(ALICE, json!({ "name": "p", "scope": "user" }))
            .await;
        let r = app
            .api_bearer(Method::GET, "/api/tokens", s(&personal, "token"), None)
            .await;
        assert_error_mentions(r, 401, "unauthorized", "access token").await;
    }
);

db_test!(bearer_access_token_needs_user_in_its_scope, |app| {
    app.alice_with_album().await;
    let album = app
        .create_album_token(ALICE, "a1", "viewer", &["read"])
        .await;
    let at = app.exchange(s(&album, "token")).await;
    assert!(!s(&at, "scope").contains("user"));
    let r = app
        .api_bearer(Method::GET, "/api/tokens", s(&at, "access_token"), None)
        .await;
    // RFC 6750 §3.1: a valid token with too little scope is 403 with a Bearer challenge.
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"user\""
    );
    assert_error_mentions(r, 403, "insufficient_scope", "user").await;
    let (at, _) = app.session(ALICE, json!({})).await;
    let (items, total) = listing(app.api_bearer(Method::GET, "/api/tokens", &at, None).await).await;
    assert_eq!(
        (items.len(), total),
        (2, 2),
        "the Bearer caller sees alice's tokens"
    );
});

db_test!(failed_passwords_are_rate_limited, ["TESSERA_AUTH_FAILURE_LIMIT" => "3"], |app| {
    app.alice_with_album().await;
    let (at, _) = app.session(ALICE, json!({})).await;
    for i in 0..3 {
        let r = app.get_as("/api/tokens", ("alice", "wrong")).await;
        assert_eq!(r.status(), 401, "failure {i}");
    }
    let r = app.get_as("/api/tokens", ALICE).await;
    assert_eq!(r.status(), 429, "even the right password waits once the limit is reached");
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 300, "{wait}");
    assert_error_mentions(r, 429, "too_many_requests", "retry").await;
    // A Bearer credential involves no password and is not limited.
    let r = app.api_bearer(Method::GET, "/api/tokens", &at, None).await;
    assert_eq!(r.status(), 200);
});

// ----- tokens made with a Bearer credential -----

db_test!(
    bearer_made_tokens_never_outlive_or_outrank_their_parent,
    |app| {
        app.alice_with_album().await;
        app.add_album("a2").await;
        let (at, parent) = app.session(ALICE, json!({ "expires_in": 86400 })).await;
        let parent_id = s(&parent, "id");
        let parent_expiry = time(&parent, "expires_at");

        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": "child", "scope": "user", "expires_in": 30 * 86400 })),
            )
            .await;
        let capped = expect_status(r, 201).await;
        assert_eq!(capped["parent_id"], parent_id);
        assert_eq!(
            time(&capped, "expires_at"),
            parent_expiry,
            "capped at the parent's expiry"
        );
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": "short", "scope": "user", "expires_in": 3600 })),
            )
            .await;
        let short = expect_status(r, 201).await;
        assert_eq!(
            lifetime(&short),
            Duration::hours(1),
            "a shorter lifetime is kept"
        );
        let r = app
            .api_bearer(
                Method::POST,
                "/api/albums/a1/tokens",
                &at,
                Some(json!({ "name": "album child", "permissions": ["read", "download"] })),
            )
            .await;
        let album_child = expect_status(r, 201).await;
        assert_eq!(album_child["parent_id"], parent_id);
        assert_eq!(
            time(&album_child, "expires_at"),
            parent_expiry,
            "the 90-day album default is capped too"
        );

        // Scope: a Bearer caller is held to the same limit as its user.
        let before = written(app).await;
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": "more", "scope": "album:a2:read" })),
            )
            .await;
        assert_error_mentions(r, 400, "invalid_scope", "you do not hold album:a2:read").await;
        let r = app
            .api_bearer(
                Method::POST,
                "/api/albums/a1/tokens",
                &at,
                Some(json!({ "name": "more", "permissions": ["read", "admin"] })),
            )
            .await;
        assert_error_mentions(r, 400, "invalid_request", "admin").await;
        assert_eq!(written(app).await, before);

        // A grandchild made from the child's access token is under the child.
        let child_at = app.exchange(s(&capped, "token")).await;
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                s(&child_at, "access_token"),
                Some(json!({ "name": "grandchild", "scope": "user" })),
            )
            .await;
        let grandchild = expect_status(r, 201).await;
        assert_eq!(grandchild["parent_id"], capped["id"]);

        // Revoking the parent revokes everything made under it, and its access tokens stop working.
        expect_status(
            delete(app, ALICE, &format!("/api/tokens/{parent_id}")).await,
            204,
        )
        .await;
        for t in [&capped, &short, &album_child, &grandchild] {
            assert_eq!(
                show(app, ALICE, s(t, "id")).await["status"],
                "revoked",
                "{t}"
            );
            app.assert_refresh_refused(s(t, "token"), "a revoked token")
                .await;
        }
        let r = app.api_bearer(Method::GET, "/api/tokens", &at, None).await;
        assert_eq!(r.status(), 401);
        // A sibling made with the password is untouched.
        let sibling = app
            .create_token(ALICE, json!({ "name": "sibling", "scope": "user" }))
            .await;
        assert_eq!(
            show(app, ALICE, s(&sibling, "id")).await["status"],
            "active"
        );
    }
);

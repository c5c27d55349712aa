//! Token lifetimes: defaults, limits and non-expiring tokens.

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::json;

use super::{lifetime, post_album_token, post_token, show, time, written};
use crate::db_test;
use crate::helpers::{assert_error_mentions, expect_status, s, ALICE};

db_test!(expiry_defaults_to_60_days_and_is_capped_at_366, |app| {
    app.alice_with_album().await;
    let t = app
        .create_token(ALICE, json!({ "name": "n", "scope": "user" }))
        .await;
    assert_eq!(lifetime(&t), Duration::days(60));
    let t = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "user", "expires_in": 3600 }),
        )
        .await;
    assert_eq!(lifetime(&t), Duration::hours(1));
    let t = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "user", "expires_in": 366 * 86400 }),
        )
        .await;
    assert_eq!(lifetime(&t), Duration::days(366));
    let at = app.clock.now() + Duration::days(10);
    let t = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "user", "expires_at": at.to_rfc3339() }),
        )
        .await;
    assert_eq!(time(&t, "expires_at"), at);
    let offset = (app.clock.now() + Duration::days(5))
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap());
    let t = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "user", "expires_at": offset.to_rfc3339() }),
        )
        .await;
    assert_eq!(
        time(&t, "expires_at"),
        offset.with_timezone(&Utc),
        "an RFC 3339 offset is honoured"
    );

    let before = written(app).await;
    let now = app.clock.now();
    let cases = [
        (json!({ "expires_in": 366 * 86400 + 1 }), "maximum"),
        (
            json!({ "expires_at": (now + Duration::days(367)).to_rfc3339() }),
            "maximum",
        ),
        (
            json!({ "expires_at": (now - Duration::seconds(1)).to_rfc3339() }),
            "past",
        ),
        (json!({ "expires_in": 0 }), "positive"),
        (json!({ "expires_in": -60 }), "positive"),
        (json!({ "never_expires": true }), "non-expiring"),
    ];
    for (extra, about) in cases {
        let mut body = json!({ "name": "n", "scope": "user" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        assert_error_mentions(
            post_token(app, ALICE, body).await,
            400,
            "invalid_request",
            about,
        )
        .await;
        let r = post_album_token(app, ALICE, "a1", {
            let mut b = json!({ "name": "n", "permissions": ["read"] });
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            b
        })
        .await;
        assert_error_mentions(r, 400, "invalid_request", about).await;
    }
    assert_eq!(
        written(app).await,
        before,
        "a refused lifetime writes nothing"
    );
});

db_test!(lifetimes_are_configurable, [
    "TESSERA_PERSONAL_TOKEN_DEFAULT_TTL" => "7d",
    "TESSERA_ALBUM_TOKEN_DEFAULT_TTL" => "14d",
    "TESSERA_PERSONAL_TOKEN_MAX_TTL" => "30d"
], |app| {
    app.alice_with_album().await;
    let t = app.create_token(ALICE, json!({ "name": "n", "scope": "user" })).await;
    assert_eq!(lifetime(&t), Duration::days(7));
    let t = app.create_album_token(ALICE, "a1", "n", &["read"]).await;
    assert_eq!(lifetime(&t), Duration::days(14));
    let t = app.create_token(ALICE, json!({ "name": "n", "scope": "user", "expires_in": 30 * 86400 })).await;
    assert_eq!(lifetime(&t), Duration::days(30));
    let r = post_token(app, ALICE, json!({ "name": "n", "scope": "user", "expires_in": 30 * 86400 + 1 })).await;
    assert_error_mentions(r, 400, "invalid_request", "2592000 seconds").await;
});

db_test!(non_expiring_tokens_only_when_enabled, ["TESSERA_ALLOW_NON_EXPIRING_TOKENS" => "true"], |app| {
    app.alice_with_album().await;
    let forever = app.create_token(ALICE, json!({ "name": "forever", "scope": "user", "never_expires": true })).await;
    assert!(forever["expires_at"].is_null(), "{forever}");
    let album = expect_status(post_album_token(app, ALICE, "a1", json!({ "name": "a", "permissions": ["read"], "never_expires": true })).await, 201).await;
    assert!(album["expires_at"].is_null(), "{album}");
    // The maximum still applies to explicit lifetimes.
    let r = post_token(app, ALICE, json!({ "name": "n", "scope": "user", "expires_in": 367 * 86400 })).await;
    assert_error_mentions(r, 400, "invalid_request", "maximum").await;
    // A child of a non-expiring parent may be non-expiring; a child of an expiring one may not.
    let at = app.exchange(s(&forever, "token")).await;
    let r = app.api_bearer(Method::POST, "/api/tokens", s(&at, "access_token"), Some(json!({ "name": "c", "scope": "user", "never_expires": true }))).await;
    let child = expect_status(r, 201).await;
    assert!(child["expires_at"].is_null(), "{child}");
    let (at, parent) = app.session(ALICE, json!({ "expires_in": 86400 })).await;
    let r = app.api_bearer(Method::POST, "/api/tokens", &at, Some(json!({ "name": "c", "scope": "user", "never_expires": true }))).await;
    let child = expect_status(r, 201).await;
    assert_eq!(time(&child, "expires_at"), time(&parent, "expires_at"));

    app.clock.advance(Duration::days(400));
    assert_eq!(show(app, ALICE, s(&forever, "id")).await["status"], "active");
    app.exchange(s(&forever, "token")).await;
});

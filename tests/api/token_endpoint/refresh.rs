//! The refresh_token grant's answer (RFC 6749 §5.1), the scopes it reports, and what an exchange
//! records.

use serde_json::{json, Value};

use super::album_secret;
use crate::db_test;
use crate::helpers::{claims, expect_token, ALICE};

db_test!(
    refresh_grant_answers_bearer_token_with_no_store_headers,
    |app| {
        app.alice_with_album().await;
        let (_, rt) = app.alice_token("user", json!({})).await;
        let r = app.refresh(&rt).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 900, "default access_token_ttl is 15m");
        assert_eq!(v["scope"], "user");
        assert!(
            v["access_token"]
                .as_str()
                .is_some_and(|t| t.split('.').count() == 3),
            "{v}"
        );
        assert!(
            v.get("refresh_token").is_none(),
            "a non-rotating token is not replaced: {v}"
        );
    }
);

db_test!(scope_in_response_and_jwt_is_sorted, |app| {
    app.alice_with_album().await;
    let (_, rt) = app
        .alice_token("user album:a1:write album:a1:read", json!({}))
        .await;
    let v = app.exchange(&rt).await;
    assert_eq!(v["scope"], "album:a1:read album:a1:write user");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["scope"],
        "album:a1:read album:a1:write user"
    );
    let v = expect_token(
        app.exchange_with(
            &rt,
            &[("scope", "album:a1:write user  album:a1:read")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(v["scope"], "album:a1:read album:a1:write user");
});

db_test!(album_token_exchanges_for_its_album_scopes, |app| {
    app.alice_with_album().await;
    let rt = album_secret(app, &["download", "read"]).await;
    let v = app.exchange(&rt).await;
    assert_eq!(v["scope"], "album:a1:download album:a1:read");
    assert!(
        v.get("refresh_token").is_none(),
        "album tokens do not rotate by default: {v}"
    );
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(
        c["sub"], "alice",
        "an album token acts for the user who created it"
    );
    assert_eq!(c["client_id"], "tessera");
});

// ----- bookkeeping -----

db_test!(last_used_at_is_written_at_most_once_per_minute, |app| {
    app.alice_with_album().await;
    let (id, rt) = app.alice_token("user", json!({})).await;
    let path = format!("/api/tokens/{id}");
    let last_used = || async {
        let v: Value = app.get_as(&path, ALICE).await.json().await.unwrap();
        v["last_used_at"].clone()
    };
    assert_eq!(last_used().await, Value::Null);
    app.exchange(&rt).await;
    let first = last_used().await;
    assert!(first.is_string(), "{first}");
    app.clock.advance(chrono::Duration::seconds(30));
    app.exchange(&rt).await;
    assert_eq!(
        last_used().await,
        first,
        "not written again within the minute"
    );
    app.clock.advance(chrono::Duration::seconds(31));
    app.exchange(&rt).await;
    let later = last_used().await;
    assert_ne!(later, first, "written again after a minute");
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(parse(&later) - parse(&first) >= chrono::Duration::seconds(61));
});

db_test!(last_used_resolution_is_configurable, ["TESSERA_LAST_USED_RESOLUTION" => "10m"], |app| {
    app.alice_with_album().await;
    let (id, rt) = app.alice_token("user", json!({})).await;
    let path = format!("/api/tokens/{id}");
    app.exchange(&rt).await;
    let first: Value = app.get_as(&path, ALICE).await.json().await.unwrap();
    app.clock.advance(chrono::Duration::minutes(5));
    app.exchange(&rt).await;
    let again: Value = app.get_as(&path, ALICE).await.json().await.unwrap();
    assert!(first["last_used_at"].is_string());
    assert_eq!(again["last_used_at"], first["last_used_at"]);
});

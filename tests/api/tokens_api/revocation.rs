//! Revoking tokens through the API, and two users who see only their own.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use super::{delete, listing, show, time, BOB};
use crate::db_test;
use crate::helpers::{assert_error_mentions, expect_status, s, ALICE};

db_test!(revoke_is_204_twice_and_stops_the_token, |app| {
    app.alice_with_album().await;
    let t = app
        .create_token(ALICE, json!({ "name": "n", "scope": "user" }))
        .await;
    let id = s(&t, "id");
    let path = format!("/api/tokens/{id}");
    let r = delete(app, ALICE, &path).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(expect_status(r, 204).await, Value::Null);
    let first = show(app, ALICE, id).await;
    assert_eq!(first["status"], "revoked");
    let revoked_at = time(&first, "revoked_at");
    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        expect_status(delete(app, ALICE, &path).await, 204).await,
        Value::Null
    );
    assert_eq!(
        time(&show(app, ALICE, id).await, "revoked_at"),
        revoked_at,
        "a second revoke changes nothing"
    );
    app.assert_refresh_refused(s(&t, "token"), "a revoked token")
        .await;

    let long = "x".repeat(40);
    for bad in ["NoSuchToken1", "a-b", long.as_str()] {
        let p = format!("/api/tokens/{bad}");
        assert_error_mentions(app.get_as(&p, ALICE).await, 404, "not_found", "no token").await;
        assert_error_mentions(delete(app, ALICE, &p).await, 404, "not_found", "no token").await;
    }
});

// ----- two users -----

db_test!(users_see_and_revoke_only_their_own_tokens, |app| {
    app.alice_with_album().await;
    app.add_user("bob", "bob-pw", false).await;
    app.grant("a1", "bob", "read,share").await;
    let alice_p = app
        .create_token(ALICE, json!({ "name": "alice personal", "scope": "user" }))
        .await;
    let alice_a = app
        .create_album_token(ALICE, "a1", "alice album", &["read"])
        .await;
    let bob_p = app
        .create_token(BOB, json!({ "name": "bob personal", "scope": "user" }))
        .await;
    let bob_a = app
        .create_album_token(BOB, "a1", "bob album", &["read"])
        .await;

    let ids = |items: &[Value]| {
        let mut v: Vec<String> = items
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let sorted = |a: &Value, b: &Value| {
        let mut v = vec![s(a, "id").to_string(), s(b, "id").to_string()];
        v.sort();
        v
    };
    let (items, total) = listing(app.get_as("/api/tokens", BOB).await).await;
    assert_eq!((ids(&items), total), (sorted(&bob_p, &bob_a), 2));
    let (items, total) = listing(app.get_as("/api/tokens", ALICE).await).await;
    assert_eq!((ids(&items), total), (sorted(&alice_p, &alice_a), 2));
    let (items, _) = listing(app.get_as("/api/albums/a1/tokens", BOB).await).await;
    assert_eq!(ids(&items), [s(&bob_a, "id")]);
    assert_error_mentions(
        app.get_as("/api/tokens?user=alice", BOB).await,
        403,
        "forbidden",
        "admin",
    )
    .await;

    // Another user's id answers exactly like an id that does not exist.
    let (bob_at, _) = app.session(BOB, json!({})).await;
    for theirs in [&alice_p, &alice_a] {
        let p = format!("/api/tokens/{}", s(theirs, "id"));
        assert_error_mentions(app.get_as(&p, BOB).await, 404, "not_found", "no token").await;
        assert_error_mentions(delete(app, BOB, &p).await, 404, "not_found", "no token").await;
        assert_error_mentions(
            app.api_bearer(Method::GET, &p, &bob_at, None).await,
            404,
            "not_found",
            "no token",
        )
        .await;
        assert_error_mentions(
            app.api_bearer(Method::DELETE, &p, &bob_at, None).await,
            404,
            "not_found",
            "no token",
        )
        .await;
        assert_eq!(show(app, ALICE, s(theirs, "id")).await["status"], "active");
        app.exchange(s(theirs, "token")).await;
    }
});

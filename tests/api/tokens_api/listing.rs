//! Listing tokens: order, paging, counts and status filters.

use chrono::Duration;
use reqwest::Method;
use serde_json::json;

use super::{delete, listing, names, show, time};
use crate::db_test;
use crate::helpers::{assert_error_mentions, expect_status, s, ALICE};

db_test!(
    list_is_newest_first_paged_counted_and_filtered_by_status,
    |app| {
        app.alice_with_album().await;
        let short = app
            .create_token(
                ALICE,
                json!({ "name": "a", "scope": "user", "expires_in": 30 }),
            )
            .await;
        for name in ["b", "c", "d"] {
            app.clock.advance(Duration::seconds(1));
            app.create_token(ALICE, json!({ "name": name, "scope": "user" }))
                .await;
        }
        let (items, _) = listing(app.get_as("/api/tokens", ALICE).await).await;
        let c = items.iter().find(|t| t["name"] == "c").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        expect_status(delete(app, ALICE, &format!("/api/tokens/{c}")).await, 204).await;
        app.clock.advance(Duration::seconds(60));

        let list = |q: &str| {
            let path = format!("/api/tokens{q}");
            async move { app.get_as(&path, ALICE).await }
        };
        let (items, total) = listing(list("").await).await;
        assert_eq!((names(&items), total), (vec!["d", "c", "b", "a"], 4));
        let statuses: Vec<&str> = items
            .iter()
            .map(|t| t["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["active", "revoked", "active", "expired"]);
        for t in &items {
            for field in [
                "id",
                "name",
                "kind",
                "user",
                "scope",
                "rotating",
                "created_at",
                "expires_at",
                "last_used_at",
                "revoked_at",
                "status",
            ] {
                assert!(t.get(field).is_some(), "{field} missing: {t}");
            }
            assert!(
                t.get("token").is_none(),
                "a listed record never carries the secret: {t}"
            );
        }
        assert_eq!(items[3]["id"], short["id"]);

        let (items, total) = listing(list("?limit=3").await).await;
        assert_eq!((names(&items), total), (vec!["d", "c", "b"], 4));
        let (items, total) = listing(list("?limit=3&offset=3").await).await;
        assert_eq!((names(&items), total), (vec!["a"], 4));
        let (items, total) = listing(list("?offset=10").await).await;
        assert_eq!((items.len(), total), (0, 4));
        let (items, total) = listing(list("?status=active").await).await;
        assert_eq!((names(&items), total), (vec!["d", "b"], 2));
        let (items, total) = listing(list("?status=expired").await).await;
        assert_eq!((names(&items), total), (vec!["a"], 1));
        let (items, total) = listing(list("?status=revoked").await).await;
        assert_eq!((names(&items), total), (vec!["c"], 1));
        let (items, total) = listing(list("?status=active&limit=1&offset=1").await).await;
        assert_eq!((names(&items), total), (vec!["b"], 2));

        for (q, about) in [
            ("?status=old", "status"),
            ("?limit=0", "limit"),
            ("?limit=501", "limit"),
            ("?limit=-1", "query"),
            ("?sort=name", "query"),
        ] {
            assert_error_mentions(list(q).await, 400, "invalid_request", about).await;
        }
    }
);

db_test!(list_pages_by_50_unless_told, |app| {
    app.alice_with_album().await;
    let (at, _) = app.session(ALICE, json!({})).await;
    for i in 0..50 {
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": format!("t{i}"), "scope": "user" })),
            )
            .await;
        expect_status(r, 201).await;
    }
    let (items, total) = listing(app.get_as("/api/tokens", ALICE).await).await;
    assert_eq!((items.len(), total), (50, 51));
    let (items, total) = listing(app.get_as("/api/tokens?limit=500", ALICE).await).await;
    assert_eq!((items.len(), total), (51, 51));
});

db_test!(last_use_shows_in_the_record, |app| {
    app.alice_with_album().await;
    let t = app
        .create_token(ALICE, json!({ "name": "n", "scope": "user" }))
        .await;
    assert!(show(app, ALICE, s(&t, "id")).await["last_used_at"].is_null());
    app.clock.advance(Duration::minutes(5));
    let used_at = app.clock.now();
    app.exchange(s(&t, "token")).await;
    let shown = show(app, ALICE, s(&t, "id")).await;
    let last = time(&shown, "last_used_at");
    assert!(
        last >= used_at && last < used_at + Duration::seconds(30),
        "{shown}"
    );
    assert_eq!(shown["status"], "active");
});

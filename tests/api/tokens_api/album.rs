//! Album tokens: their scope, who may create them, and who sees and revokes them.

use chrono::Duration;
use serde_json::json;
use tessera::tokens::secret::{Secret, SecretKind};

use super::{delete, lifetime, listing, names, post_album_token, show, written, BOB, CAROL};
use crate::db_test;
use crate::helpers::{assert_error_mentions, expect_status, s, ALICE};

db_test!(album_token_scope_is_exactly_its_permissions, |app| {
    app.alice_with_album().await;
    let r = post_album_token(app, ALICE, "a1", json!({ "name": "viewer", "permissions": ["read", "download"], "expires_in": 30 * 86400, "rotating": true })).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t = expect_status(r, 201).await;
    assert!(
        Secret::parse(SecretKind::RefreshToken, s(&t, "token")).is_ok(),
        "{t}"
    );
    assert_eq!(t["kind"], "album");
    assert_eq!(t["album_id"], "a1");
    assert_eq!(t["scope"], "album:a1:download album:a1:read");
    let mut perms: Vec<&str> = t["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    perms.sort();
    assert_eq!(perms, ["download", "read"]);
    assert_eq!(t["rotating"], true);
    assert_eq!(lifetime(&t), Duration::days(30));
    let default = app
        .create_album_token(ALICE, "a1", "default", &["read"])
        .await;
    assert_eq!(lifetime(&default), Duration::days(90));
    let at = app.exchange(s(&t, "token")).await;
    assert_eq!(at["scope"], "album:a1:download album:a1:read");
});

db_test!(
    album_token_creation_follows_the_creators_permissions,
    |app| {
        app.alice_with_album().await;
        app.add_user("bob", "bob-pw", false).await;
        app.add_user("carol", "carol-pw", false).await;
        app.add_user("dave", "dave-pw", false).await;
        app.add_user("eve", "eve-pw", false).await;
        app.grant("a1", "bob", "read,share").await;
        app.grant("a1", "carol", "read,download").await;
        app.grant("a1", "eve", "admin").await;
        let before = written(app).await;

        // A non-member learns nothing, not even that the album exists: the same 404 as for
        // an album that does not.
        let dave = ("dave", "dave-pw");
        for album in ["a1", "no-such-album"] {
            let r = post_album_token(
                app,
                dave,
                album,
                json!({ "name": "n", "permissions": ["read"] }),
            )
            .await;
            assert_error_mentions(r, 404, "not_found", album).await;
            let r = app
                .get_as(&format!("/api/albums/{album}/tokens"), dave)
                .await;
            assert_error_mentions(r, 404, "not_found", album).await;
        }
        let forbidden = [
            (CAROL, json!(["read"]), "share"),
            (BOB, json!(["read", "write"]), "write"),
            (BOB, json!(["read", "download"]), "download"),
        ];
        for (who, perms, about) in forbidden {
            let r = post_album_token(app, who, "a1", json!({ "name": "n", "permissions": perms }))
                .await;
            assert_error_mentions(r, 403, "forbidden", about).await;
        }
        let bad = [
            (json!(["download"]), "read"),
            (json!(["share"]), "read"),
            (json!(["read", "fly"]), "fly"),
            (json!([]), "permissions"),
            (json!(["admin"]), "admin"),
            (json!("read"), "JSON"),
        ];
        for (perms, about) in bad {
            let r = post_album_token(
                app,
                ALICE,
                "a1",
                json!({ "name": "n", "permissions": perms }),
            )
            .await;
            assert_error_mentions(r, 400, "invalid_request", about).await;
        }
        let r = post_album_token(
            app,
            ALICE,
            "a1",
            json!({ "name": "n", "permissions": ["read"], "scope": "user" }),
        )
        .await;
        assert_error_mentions(r, 400, "invalid_request", "scope").await;
        let r = post_album_token(
            app,
            ALICE,
            "a1",
            json!({ "name": "", "permissions": ["read"] }),
        )
        .await;
        assert_error_mentions(r, 400, "invalid_request", "name").await;
        let r = post_album_token(
            app,
            ALICE,
            "nope",
            json!({ "name": "n", "permissions": ["read"] }),
        )
        .await;
        assert_error_mentions(r, 404, "not_found", "nope").await;
        assert_eq!(
            written(app).await,
            before,
            "refused album tokens write nothing"
        );

        // Share (or admin) and every permission granted is enough.
        let t = app
            .create_album_token(BOB, "a1", "bob", &["read", "share"])
            .await;
        assert_eq!(t["scope"], "album:a1:read album:a1:share");
        let t = app
            .create_album_token(
                ("eve", "eve-pw"),
                "a1",
                "eve",
                &["read", "write", "download", "share"],
            )
            .await;
        assert_eq!(t["user"], "eve");
        let t = app
            .create_album_token(ALICE, "a1", "alice", &["write"])
            .await;
        assert_eq!(t["scope"], "album:a1:write");
    }
);

db_test!(album_token_lists_and_album_admins, |app| {
    app.alice_with_album().await;
    app.add_album("a2").await;
    app.grant("a2", "alice", "read,share").await;
    app.add_user("bob", "bob-pw", false).await;
    app.add_user("carol", "carol-pw", false).await;
    app.add_user("dave", "dave-pw", false).await;
    app.grant("a1", "bob", "read,share").await;
    app.grant("a1", "carol", "admin").await;
    let alice_a = app
        .create_album_token(ALICE, "a1", "alice a1", &["read"])
        .await;
    app.clock.advance(Duration::seconds(1));
    let bob_a = app.create_album_token(BOB, "a1", "bob a1", &["read"]).await;
    let alice_a2 = app
        .create_album_token(ALICE, "a2", "alice a2", &["read"])
        .await;
    let alice_p = app
        .create_token(
            ALICE,
            json!({ "name": "alice personal", "scope": "album:a1:read" }),
        )
        .await;

    let list = |who| app.get_as("/api/albums/a1/tokens", who);
    let (items, total) = listing(list(ALICE).await).await;
    assert_eq!(
        (names(&items), total),
        (vec!["alice a1"], 1),
        "only her album tokens of this album"
    );
    let (items, total) = listing(list(BOB).await).await;
    assert_eq!((names(&items), total), (vec!["bob a1"], 1));
    let (items, total) = listing(list(CAROL).await).await;
    assert_eq!(
        (names(&items), total),
        (vec!["bob a1", "alice a1"], 2),
        "an album admin sees all, newest first"
    );
    // A non-member is told nothing about the album, not even that it exists.
    assert_error_mentions(list(("dave", "dave-pw")).await, 404, "not_found", "a1").await;
    let (items, _) = listing(
        app.get_as("/api/albums/a1/tokens?status=revoked", CAROL)
            .await,
    )
    .await;
    assert!(items.is_empty());
    assert_error_mentions(
        app.get_as("/api/albums/nope/tokens", ALICE).await,
        404,
        "not_found",
        "nope",
    )
    .await;

    // The album admin may see and revoke any token of the album, and nothing else.
    assert_eq!(show(app, CAROL, s(&alice_a, "id")).await["user"], "alice");
    for outside in [&alice_a2, &alice_p] {
        let p = format!("/api/tokens/{}", s(outside, "id"));
        assert_error_mentions(app.get_as(&p, CAROL).await, 404, "not_found", "no token").await;
        assert_error_mentions(delete(app, CAROL, &p).await, 404, "not_found", "no token").await;
    }
    // Holding share is not enough to revoke someone else's album token.
    assert_error_mentions(
        delete(app, BOB, &format!("/api/tokens/{}", s(&alice_a, "id"))).await,
        404,
        "not_found",
        "no token",
    )
    .await;
    assert_eq!(
        show(app, ALICE, s(&alice_a, "id")).await["status"],
        "active"
    );
    expect_status(
        delete(app, CAROL, &format!("/api/tokens/{}", s(&alice_a, "id"))).await,
        204,
    )
    .await;
    assert_eq!(
        show(app, ALICE, s(&alice_a, "id")).await["status"],
        "revoked"
    );
    app.assert_refresh_refused(s(&alice_a, "token"), "a revoked token")
        .await;
    assert_eq!(show(app, BOB, s(&bob_a, "id")).await["status"], "active");
    let (items, _) = listing(
        app.get_as("/api/albums/a1/tokens?status=revoked", CAROL)
            .await,
    )
    .await;
    assert_eq!(names(&items), ["alice a1"]);
});

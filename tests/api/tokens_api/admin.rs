//! Administration and audit.

use chrono::Duration;
use reqwest::Method;
use serde_json::json;

use super::{delete, listing, names, show, time, BOB, CAROL, ROOT};
use crate::db_test;
use crate::helpers::{assert_error_mentions, expect_status, s, ALICE};

db_test!(admins_list_and_revoke_any_users_tokens, |app| {
    app.alice_with_album().await;
    app.add_user("bob", "bob-pw", false).await;
    app.add_user("root", "root-pw", true).await;
    let (alice_at, p1) = app.session(ALICE, json!({})).await;
    app.clock.advance(Duration::seconds(1));
    let a1 = app
        .create_album_token(ALICE, "a1", "album", &["read"])
        .await;
    app.clock.advance(Duration::seconds(1));
    let r = app
        .api_bearer(
            Method::POST,
            "/api/tokens",
            &alice_at,
            Some(json!({ "name": "child", "scope": "user" })),
        )
        .await;
    let child = expect_status(r, 201).await;
    let b1 = app
        .create_token(BOB, json!({ "name": "b1", "scope": "user" }))
        .await;
    let b2 = app
        .create_token(BOB, json!({ "name": "b2", "scope": "user" }))
        .await;

    let (items, total) = listing(app.get_as("/api/tokens?user=alice", ROOT).await).await;
    assert_eq!(
        (names(&items), total),
        (vec!["child", "album", "session"], 3)
    );
    assert!(items.iter().all(|t| t["user"] == "alice"));
    let (same, _) = listing(app.get_as("/api/users/alice/tokens", ROOT).await).await;
    assert_eq!(same, items);
    let (items, _) = listing(
        app.get_as("/api/users/alice/tokens?status=active&limit=1", ROOT)
            .await,
    )
    .await;
    assert_eq!(names(&items), ["child"]);
    let (own, total) = listing(app.get_as("/api/tokens", ROOT).await).await;
    assert_eq!(
        (own.len(), total),
        (0, 0),
        "without ?user an admin lists their own tokens"
    );
    assert_error_mentions(
        app.get_as("/api/users/ghost/tokens", ROOT).await,
        404,
        "not_found",
        "ghost",
    )
    .await;
    assert_error_mentions(
        app.get_as("/api/tokens?user=ghost", ROOT).await,
        404,
        "not_found",
        "ghost",
    )
    .await;

    // Not for users without the admin flag, whatever they hold.
    assert_error_mentions(
        app.get_as("/api/users/bob/tokens", ALICE).await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    assert_error_mentions(
        app.get_as("/api/tokens?user=bob", ALICE).await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    assert_error_mentions(
        delete(app, ALICE, "/api/users/bob/tokens").await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    let (own, _) = listing(app.get_as("/api/tokens?user=alice", ALICE).await).await;
    assert_eq!(own.len(), 3, "naming oneself is allowed");
    assert_eq!(show(app, BOB, s(&b1, "id")).await["status"], "active");

    // An admin revokes one token of anyone...
    assert_eq!(show(app, ROOT, s(&b1, "id")).await["user"], "bob");
    expect_status(
        delete(app, ROOT, &format!("/api/tokens/{}", s(&b1, "id"))).await,
        204,
    )
    .await;
    assert_eq!(show(app, BOB, s(&b1, "id")).await["status"], "revoked");
    // ...or every live token of a user at once.
    let v = expect_status(delete(app, ROOT, "/api/users/alice/tokens").await, 200).await;
    assert_eq!(v, json!({ "revoked": 3 }));
    let v = expect_status(delete(app, ROOT, "/api/users/alice/tokens").await, 200).await;
    assert_eq!(v, json!({ "revoked": 0 }));
    assert_error_mentions(
        delete(app, ROOT, "/api/users/ghost/tokens").await,
        404,
        "not_found",
        "ghost",
    )
    .await;
    let (live, total) = listing(app.get_as("/api/tokens?status=active", ALICE).await).await;
    assert_eq!((live.len(), total), (0, 0));
    for t in [&p1, &a1, &child] {
        app.assert_refresh_refused(s(t, "token"), "a revoked token")
            .await;
    }
    assert_eq!(
        app.api_bearer(Method::GET, "/api/tokens", &alice_at, None)
            .await
            .status(),
        401
    );
    assert_eq!(
        show(app, BOB, s(&b2, "id")).await["status"],
        "active",
        "bob's other token is untouched"
    );
});

db_test!(creation_and_revocation_are_audited_for_admins, |app| {
    app.alice_with_album().await;
    app.add_user("root", "root-pw", true).await;
    app.add_user("carol", "carol-pw", false).await;
    app.grant("a1", "carol", "admin").await;
    let p = app
        .create_token(ALICE, json!({ "name": "laptop", "scope": "user" }))
        .await;
    let a = app
        .create_album_token(ALICE, "a1", "viewer", &["read"])
        .await;
    let (p_id, a_id) = (s(&p, "id"), s(&a, "id"));
    expect_status(
        delete(app, CAROL, &format!("/api/tokens/{a_id}")).await,
        204,
    )
    .await;
    expect_status(
        delete(app, ALICE, &format!("/api/tokens/{p_id}")).await,
        204,
    )
    .await;
    expect_status(
        delete(app, ALICE, &format!("/api/tokens/{p_id}")).await,
        204,
    )
    .await;
    app.create_token(ALICE, json!({ "name": "later", "scope": "user" }))
        .await;
    expect_status(delete(app, ROOT, "/api/users/alice/tokens").await, 200).await;

    assert_error_mentions(
        app.get_as("/api/audit", ALICE).await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    assert_error_mentions(
        app.get_as("/api/audit", CAROL).await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    let audit = |q: String| async move { app.get_as(&format!("/api/audit{q}"), ROOT).await };

    let (created, total) =
        listing(audit(format!("?action=token.create&target=token:{p_id}")).await).await;
    assert_eq!((created.len(), total), (1, 1));
    let e = &created[0];
    assert_eq!(
        (&e["actor"], &e["action"]),
        (&json!("user:alice"), &json!("token.create"))
    );
    assert_eq!(e["detail"]["name"], "laptop");
    assert_eq!(e["detail"]["kind"], "personal");
    assert_eq!(e["detail"]["scope"], "user");
    assert_eq!(time(e, "at"), time(&p, "created_at"));
    let (created, _) =
        listing(audit(format!("?action=token.create&target=token:{a_id}")).await).await;
    assert_eq!(created[0]["detail"]["kind"], "album");
    let (_, total) = listing(audit("?action=token.create".into()).await).await;
    assert_eq!(total, 3);

    let (revoked, total) =
        listing(audit(format!("?action=token.revoke&target=token:{a_id}")).await).await;
    assert_eq!(
        (total, &revoked[0]["actor"]),
        (1, &json!("user:carol")),
        "the album admin is the actor"
    );
    assert_eq!(revoked[0]["detail"]["revoked"], json!([a_id]));
    let (revoked, total) =
        listing(audit(format!("?action=token.revoke&target=token:{p_id}")).await).await;
    assert_eq!(
        (total, &revoked[0]["actor"]),
        (1, &json!("user:alice")),
        "a repeated revoke is not audited twice"
    );
    let (all, total) = listing(audit("?action=token.revoke_all".into()).await).await;
    assert_eq!(
        (total, &all[0]["actor"], &all[0]["target"]),
        (1, &json!("user:root"), &json!("user:alice"))
    );
    assert_eq!(
        all[0]["detail"]["revoked"].as_array().map(Vec::len),
        Some(1)
    );

    let (latest, _) = listing(audit("?limit=1".into()).await).await;
    assert_eq!(latest[0]["action"], "token.revoke_all", "newest first");
    let text = audit("?limit=500".into()).await.text().await.unwrap();
    for secret in [s(&p, "token"), s(&a, "token")] {
        assert!(!text.contains(secret), "the audit log never holds a secret");
    }
});

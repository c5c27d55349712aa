//! Disabling, re-enabling and deleting users (CLI and admin API), and the `admin` scope that
//! admin routes need from a Bearer token.

use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use tessera::store::entity::audit_event;

use crate::db_test;
use crate::helpers::{string as s, TestApp, ALICE};

const ROOT: (&str, &str) = ("root", "root-pw");

async fn rs(app: &TestApp) -> (String, String) {
    app.add_resource_server().await
}

async fn active(app: &TestApp, rs: &(String, String), token: &str) -> bool {
    app.introspect(token, (&rs.0, &rs.1)).await["active"] == true
}

async fn me_status(app: &TestApp, bearer: &str) -> u16 {
    app.api_bearer(Method::GET, "/api/me", bearer, None)
        .await
        .status()
        .as_u16()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    audit_event::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.action, e.target))
        .collect()
}

db_test!(a_disabled_user_holds_nothing_until_re_enabled, |app| {
    app.alice_with_album().await;
    app.add_user("root", "root-pw", true).await;
    let rs = rs(app).await;
    let personal = app
        .create_token(ALICE, json!({ "name": "ci", "scope": "user" }))
        .await;
    let doomed = app
        .create_token(ALICE, json!({ "name": "doomed", "scope": "user" }))
        .await;
    let album = app
        .create_album_token(ALICE, "a1", "viewer", &["read"])
        .await;
    let at = s(&app.exchange(&s(&personal, "token")).await, "access_token");
    let album_at = s(&app.exchange(&s(&album, "token")).await, "access_token");

    // Only an admin may disable, and not themselves.
    let r = app
        .api_as(Method::POST, "/api/users/root/disable", ALICE, None)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .api_as(Method::POST, "/api/users/root/disable", ROOT, None)
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app
        .api_as(Method::POST, "/api/users/nobody/disable", ROOT, None)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = app
        .api_as(Method::POST, "/api/users/alice/disable", ROOT, None)
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["disabled"], true, "{v}");

    for t in [&personal, &album] {
        let (status, body) = app.refresh_status(&s(t, "token")).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant");
        assert!(
            !active(app, &rs, &s(t, "token")).await,
            "refresh token inactive"
        );
    }
    assert!(!active(app, &rs, &at).await, "access token inactive");
    assert!(
        !active(app, &rs, &album_at).await,
        "album access token inactive"
    );
    assert_eq!(me_status(app, &at).await, 401);
    let r = app.get_as("/api/me", ALICE).await;
    assert_eq!(r.status(), 401, "the right password is refused");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error_description"], "invalid user name or password");
    // Revocation still works while disabled, and what it revokes stays revoked.
    let r = app
        .api_as(
            Method::DELETE,
            &format!("/api/tokens/{}", s(&doomed, "id")),
            ROOT,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);

    let r = app
        .api_as(Method::POST, "/api/users/alice/enable", ROOT, None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["disabled"], false);
    app.exchange(&s(&personal, "token")).await;
    app.exchange(&s(&album, "token")).await;
    assert!(
        active(app, &rs, &at).await,
        "unexpired access tokens work again"
    );
    assert_eq!(me_status(app, &at).await, 200);
    let r = app.get_as("/api/me", ALICE).await;
    assert_eq!(r.status(), 200);
    let (status, _) = app.refresh_status(&s(&doomed, "token")).await;
    assert_eq!(status, 400, "revoked while disabled stays revoked");

    let actions = audit_actions(app).await;
    assert!(actions.contains(&("user.disable".into(), "user:alice".into())));
    assert!(actions.contains(&("user.enable".into(), "user:alice".into())));
});

db_test!(
    a_deleted_user_is_revoked_everywhere_and_their_name_stays_reserved,
    |app| {
        app.alice_with_album().await;
        app.add_user("root", "root-pw", true).await;
        let rs = rs(app).await;
        let t = app
            .create_token(ALICE, json!({ "name": "ci", "scope": "user" }))
            .await;
        let at = s(&app.exchange(&s(&t, "token")).await, "access_token");
        let child = app
            .create_token_with(&at, json!({ "name": "child", "scope": "user" }))
            .await;

        let r = app
            .api_as(Method::DELETE, "/api/users/alice", ROOT, None)
            .await;
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["revoked"], 2, "{v}");
        for tok in [&t, &child] {
            let (status, _) = app.refresh_status(&s(tok, "token")).await;
            assert_eq!(status, 400);
        }
        assert!(!active(app, &rs, &at).await);
        let r = app.get_as("/api/me", ALICE).await;
        assert_eq!(r.status(), 401);
        let r = app
            .api_as(Method::DELETE, "/api/users/alice", ROOT, None)
            .await;
        assert_eq!(r.status(), 404, "deleted once");
        let again = tessera::domain::accounts::add_user(&app.state, "alice", "new-pw", false).await;
        assert!(
            matches!(again, Err(tessera::domain::Error::Conflict(_))),
            "the name is not given to someone else: {again:?}"
        );
        // The trail of what alice did is kept.
        let actions = audit_actions(app).await;
        assert!(actions.iter().any(|(a, _)| a == "token.create"));
        assert!(actions.contains(&("user.delete".into(), "user:alice".into())));
    }
);

db_test!(the_cli_disables_enables_and_deletes_users, |app| {
    app.alice_with_album().await;
    let t = app
        .create_token(ALICE, json!({ "name": "ci", "scope": "user" }))
        .await;
    let env = crate::process::env_for(app.dir.path(), &app.database_url, 0);
    let run = |args: &[&str]| {
        let out = crate::process::run_cli(&env, args, "");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let v = run(&["user", "disable", "alice"]);
    assert!(v["disabled_at"].is_string(), "{v}");
    assert_eq!(app.refresh_status(&s(&t, "token")).await.0, 400);
    let v = run(&["user", "enable", "alice"]);
    assert!(v["disabled_at"].is_null(), "{v}");
    app.exchange(&s(&t, "token")).await;
    let v = run(&["user", "delete", "alice"]);
    assert_eq!(v["revoked"], 1, "{v}");
    assert_eq!(app.refresh_status(&s(&t, "token")).await.0, 400);
    let out = crate::process::run_cli(&env, &["user", "enable", "alice"], "");
    assert!(!out.status.success(), "a deleted user cannot be re-enabled");
    assert!(out.stdout.is_empty());
});

db_test!(admin_routes_need_the_admin_scope_from_a_token, |app| {
    app.alice_with_album().await;
    app.add_user("root", "root-pw", true).await;
    let plain = app
        .create_token(ROOT, json!({ "name": "script", "scope": "user" }))
        .await;
    let plain_at = s(&app.exchange(&s(&plain, "token")).await, "access_token");
    for (method, path) in [
        (Method::GET, "/api/audit"),
        (Method::GET, "/api/users/alice/tokens"),
        (Method::POST, "/api/users/alice/disable"),
    ] {
        let r = app.api_bearer(method, path, &plain_at, None).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        let challenge = r
            .headers()
            .get("www-authenticate")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], "insufficient_scope");
    }
    // A plain token of an admin does not see other users' tokens either.
    let alice_token = app
        .create_token(ALICE, json!({ "name": "mine", "scope": "user" }))
        .await;
    let r = app
        .api_bearer(
            Method::GET,
            &format!("/api/tokens/{}", s(&alice_token, "id")),
            &plain_at,
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
    let me: Value = app
        .api_bearer(Method::GET, "/api/me", &plain_at, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["admin"], false, "{me}");

    let admin = app
        .create_token(
            ROOT,
            json!({ "name": "admin script", "scope": "user admin" }),
        )
        .await;
    let admin_at = s(&app.exchange(&s(&admin, "token")).await, "access_token");
    let r = app
        .api_bearer(Method::GET, "/api/audit", &admin_at, None)
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .api_bearer(
            Method::GET,
            &format!("/api/tokens/{}", s(&alice_token, "id")),
            &admin_at,
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    // Narrowed at exchange, the admin power is gone.
    let narrowed = app
        .token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &s(&admin, "token")),
                ("scope", "user"),
            ],
            None,
        )
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(narrowed["scope"], "user");
    let r = app
        .api_bearer(
            Method::GET,
            "/api/audit",
            &s(&narrowed, "access_token"),
            None,
        )
        .await;
    assert_eq!(r.status(), 403);

    // Only an admin's token may carry admin, and a child never more than its parent.
    let r = app
        .api_as(
            Method::POST,
            "/api/tokens",
            ALICE,
            Some(json!({ "name": "sneaky", "scope": "user admin" })),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let r = app
        .api_bearer(
            Method::POST,
            "/api/tokens",
            &plain_at,
            Some(json!({ "name": "escalate", "scope": "user admin" })),
        )
        .await;
    assert_eq!(r.status(), 400);
    let r = app
        .api_as(
            Method::POST,
            "/api/tokens",
            ROOT,
            Some(json!({ "name": "bare", "scope": "admin" })),
        )
        .await;
    assert_eq!(r.status(), 400, "admin needs user");
});

db_test!(
    /// Found by the fuzzer on PostgreSQL: a NUL in a user name or client id was a 500.
    names_with_a_nul_byte_are_unknown_not_an_error,
    |app| {
        app.add_user("root", "root-pw", true).await;
        let r = app.get_as("/api/tokens?user=j%00N", ROOT).await;
        assert_eq!(r.status(), 404);
        let r = app.api_as(Method::POST, "/api/users/a%00b/disable", ROOT, None).await;
        assert_eq!(r.status(), 404);
        let r = app
            .client_credentials(&[],
                Some(("a\0b", "tsc_x")),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
);

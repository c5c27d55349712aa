//! Token quotas: live tokens per user (`max_live_tokens_per_user`) and live tokens made with one
//! token's access token (`max_children_per_token`). A stolen token can no longer grow its tree
//! without bound; refusals are 403 `quota_exceeded`, audited, and change nothing else.

use futures::future::join_all;
use reqwest::{Method, Response};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};
use tessera::store::entity::{audit_event, refresh_token};

use crate::db_test;
use crate::helpers::{assert_oauth_error, error_description, string as s, TestApp, ALICE};

async fn rows(app: &TestApp) -> u64 {
    refresh_token::Entity::find()
        .count(&app.state.db)
        .await
        .unwrap()
}

async fn quota_refusals(app: &TestApp) -> Vec<Value> {
    audit_event::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "token.quota_exceeded")
        .map(|e| serde_json::from_str(&e.detail).unwrap())
        .collect()
}

async fn assert_quota_refused(r: Response, setting: &str) {
    let v = assert_oauth_error(r, 403, "quota_exceeded").await;
    assert!(
        error_description(&v).contains(setting),
        "the description names the setting: {v}"
    );
}

/// `n` concurrent creations of a personal token with the Bearer credential `at`.
async fn create_concurrently(app: &TestApp, at: &str, n: usize) -> Vec<Response> {
    join_all((0..n).map(|i| async move {
        app.api_bearer(
            Method::POST,
            "/api/tokens",
            at,
            Some(json!({ "name": format!("c{i}"), "scope": "user" })),
        )
        .await
    }))
    .await
}

db_test!(
    live_tokens_per_user_are_limited,
    ["TESSERA_MAX_LIVE_TOKENS_PER_USER" => "5"],
    |app| {
        app.alice_with_album().await;
        let mut ids = Vec::new();
        for i in 0..5 {
            let t = app
                .create_token(ALICE, json!({ "name": format!("t{i}"), "scope": "user" }))
                .await;
            ids.push(s(&t, "id"));
        }
        let before = rows(app).await;
        let r = app
            .api_as(
                Method::POST,
                "/api/tokens",
                ALICE,
                Some(json!({ "name": "one too many", "scope": "user" })),
            )
            .await;
        assert_quota_refused(r, "max_live_tokens_per_user").await;
        // Album tokens count too.
        let r = app
            .api_as(
                Method::POST,
                "/api/albums/a1/tokens",
                ALICE,
                Some(json!({ "name": "album", "permissions": ["read"] })),
            )
            .await;
        assert_quota_refused(r, "max_live_tokens_per_user").await;
        assert_eq!(rows(app).await, before, "a refusal stores no token");
        let refusals = quota_refusals(app).await;
        assert_eq!(refusals.len(), 2, "each refusal is audited");
        assert_eq!(refusals[0]["quota"], "max_live_tokens_per_user");

        // Revoked and expired tokens do not count.
        let r = app
            .api_as(Method::DELETE, &format!("/api/tokens/{}", ids[0]), ALICE, None)
            .await;
        assert_eq!(r.status(), 204);
        let short = app
            .create_token(ALICE, json!({ "name": "short", "scope": "user", "expires_in": 60 }))
            .await;
        assert_eq!(short["status"], "active");
        app.clock.advance(chrono::Duration::seconds(61));
        app.create_token(ALICE, json!({ "name": "after expiry", "scope": "user" }))
            .await;
    }
);

db_test!(
    /// Twenty concurrent creations against a quota of five: the count and the insert are one
    /// step (the user's row is locked on PostgreSQL), so exactly five succeed, in every trial.
    concurrent_creations_never_exceed_the_user_quota,
    ["TESSERA_MAX_LIVE_TOKENS_PER_USER" => "5"],
    |app| {
        for trial in 0..6 {
            let user = format!("u{trial}");
            app.add_user(&user, "pw-of-user", false).await;
            let (at, _) = app.session((&user, "pw-of-user"), json!({})).await;
            let statuses: Vec<u16> = create_concurrently(app, &at, 20)
                .await
                .iter()
                .map(|r| r.status().as_u16())
                .collect();
            let made = statuses.iter().filter(|s| **s == 201).count();
            let refused = statuses.iter().filter(|s| **s == 403).count();
            // The session token is one of the five.
            assert_eq!((made, refused), (4, 16), "trial {trial}: {statuses:?}");
        }
    }
);

db_test!(
    tokens_made_with_one_token_are_limited,
    ["TESSERA_MAX_CHILDREN_PER_TOKEN" => "3"],
    |app| {
        app.alice_with_album().await;
        let parent = app
            .create_token(ALICE, json!({ "name": "parent", "scope": "user" }))
            .await;
        let at = s(&app.exchange(&s(&parent, "token")).await, "access_token");
        let statuses = create_concurrently(app, &at, 10).await;
        let mut children = Vec::new();
        for r in statuses {
            match r.status().as_u16() {
                201 => children.push(r.json::<Value>().await.unwrap()),
                403 => assert_quota_refused(r, "max_children_per_token").await,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(children.len(), 3, "exactly the quota");
        let refusals = quota_refusals(app).await;
        assert_eq!(refusals.len(), 7);
        assert_eq!(refusals[0]["parent_id"], s(&parent, "id"));

        // Revoking a child frees its place; a password caller is not limited by it.
        let r = app
            .api_as(
                Method::DELETE,
                &format!("/api/tokens/{}", s(&children[0], "id")),
                ALICE,
                None,
            )
            .await;
        assert_eq!(r.status(), 204);
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": "again", "scope": "user" })),
            )
            .await;
        assert_eq!(r.status(), 201);
        app.create_token(ALICE, json!({ "name": "by password", "scope": "user" }))
            .await;
    }
);

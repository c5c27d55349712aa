//! Revocation racing rotation and reuse detection, and children made while their parent is
//! revoked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use super::{live_children, live_rows};
use crate::db_test;
use crate::helpers::{string as s, TestApp, ALICE};

/// One race: a client refreshes a rotating token in a loop while, after `delay`, `strike`
/// revokes its family. Once `strike` has answered, the newest refresh token must be dead and no
/// row of the family live.
async fn refresh_loop_against<F, Fut>(
    app: &TestApp,
    id: &str,
    secret: String,
    delay: u64,
    strike: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let latest = Mutex::new(secret);
    let stop = AtomicBool::new(false);
    let refresher = async {
        while !stop.load(Ordering::SeqCst) {
            let current = latest.lock().unwrap().clone();
            let (status, body) = app.refresh_status(&current).await;
            if status != 200 {
                break;
            }
            *latest.lock().unwrap() = s(&body, "refresh_token");
        }
    };
    let striker = async {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        strike().await;
        stop.store(true, Ordering::SeqCst);
    };
    futures::join!(refresher, striker);
    let newest = latest.lock().unwrap().clone();
    app.assert_refresh_refused(
        &newest,
        "the newest refresh token after the revocation answered",
    )
    .await;
    assert_eq!(live_rows(app, id).await, 0, "a live row in family {id}");
}

/// A fresh rotating token of alice for race `k` of `trial`; returns (id, secret).
async fn rotating(app: &TestApp, what: &str, trial: u64, k: u64) -> (String, String) {
    let t = app
        .create_token(
            ALICE,
            json!({ "name": format!("{what} {trial} {k}"), "scope": "user", "rotating": true }),
        )
        .await;
    (s(&t, "id"), s(&t, "token"))
}

const TRIALS: u64 = 12;
const PARALLEL: u64 = 8;

db_test!(
    /// Finding 2: under READ COMMITTED, a revocation racing a rotation left the successor live.
    revoking_a_token_while_it_rotates_leaves_nothing_live,
    |app| {
        app.alice_with_album().await;
        let session = app.session(ALICE, json!({})).await.0;
        for trial in 0..TRIALS {
            let mut races = Vec::new();
            for k in 0..PARALLEL {
                let (id, secret) = rotating(app, "ci", trial, k).await;
                let session = session.clone();
                races.push(async move {
                    let path = format!("/api/tokens/{id}");
                    refresh_loop_against(app, &id, secret, (trial * 5 + k * 3) % 23, || async {
                        let r = app.api_bearer(Method::DELETE, &path, &session, None).await;
                        assert_eq!(r.status(), 204);
                    })
                    .await;
                    let r = app.api_bearer(Method::GET, &path, &session, None).await;
                    let v: Value = r.json().await.unwrap();
                    assert_eq!(v["status"], "revoked", "{v}");
                });
            }
            join_all(races).await;
        }
    }
);

db_test!(
    /// Finding 2, second half: reuse detection racing a rotation revokes the whole family too.
    reuse_detection_racing_a_rotation_leaves_nothing_live,
    ["TESSERA_ROTATION_GRACE" => "0s"],
    |app| {
        app.alice_with_album().await;
        for trial in 0..TRIALS {
            let mut races = Vec::new();
            for k in 0..PARALLEL {
                // Rotate once, so the first secret is a rotated one an attacker replays.
                let (id, stolen) = rotating(app, "re", trial, k).await;
                let next = s(&app.exchange(&stolen).await, "refresh_token");
                races.push(async move {
                    refresh_loop_against(app, &id, next, (trial * 7 + k * 3) % 19, || async {
                        let (status, body) = app.refresh_status(&stolen).await;
                        assert_eq!(status, 400, "{body}");
                    })
                    .await;
                });
            }
            join_all(races).await;
        }
    }
);

db_test!(
    /// Finding 3: tokens created with the parent's access token while the parent was revoked
    /// stayed active. Now each child either commits before the revocation (and is revoked by
    /// it) or is refused.
    children_made_while_the_parent_is_revoked_never_outlive_it,
    |app| {
        app.alice_with_album().await;
        let session = app.session(ALICE, json!({})).await.0;
        for trial in 0..TRIALS * 2 {
            let parent = app
                .create_token(ALICE, json!({ "name": format!("parent {trial}"), "scope": "user" }))
                .await;
            let at = s(&app.exchange(&s(&parent, "token")).await, "access_token");
            let revoked = AtomicBool::new(false);
            let makers = (0..6).map(|k| {
                let at = at.clone();
                let revoked = &revoked;
                async move {
                    tokio::time::sleep(Duration::from_millis(k * 2)).await;
                    let after = revoked.load(Ordering::SeqCst);
                    let r = app
                        .api_bearer(
                            Method::POST,
                            "/api/tokens",
                            &at,
                            Some(json!({ "name": format!("child {k}"), "scope": "user" })),
                        )
                        .await;
                    let status = r.status();
                    let v: Value = r.json().await.unwrap();
                    if after {
                        assert_eq!(status, 401, "a child created after the revocation: {v}");
                    }
                    (status == 201).then_some(v)
                }
            });
            let path = format!("/api/tokens/{}", s(&parent, "id"));
            let revoker = async {
                tokio::time::sleep(Duration::from_millis(trial % 9)).await;
                let r = app.api_bearer(Method::DELETE, &path, &session, None).await;
                assert_eq!(r.status(), 204);
                revoked.store(true, Ordering::SeqCst);
            };
            let (children, ()) = futures::join!(join_all(makers), revoker);
            for c in children.into_iter().flatten() {
                app.assert_refresh_refused(&s(&c, "token"), "a child of a revoked parent").await;
                let r = app
                    .api_bearer(Method::GET, &format!("/api/tokens/{}", s(&c, "id")), &session, None)
                    .await;
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["status"], "revoked", "{v}");
            }
            assert_eq!(live_children(app, &s(&parent, "id")).await, 0);
        }
    }
);

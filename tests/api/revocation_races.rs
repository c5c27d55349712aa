//! Revocation under attack: a token tree grown past what one SQL statement can bind, revocation
//! racing rotation and reuse detection, and children made while their parent is revoked. Each
//! race repeats many trials; after a revocation has answered, nothing of the family may work.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use tessera::store::entity::refresh_token;

use crate::db_test;
use crate::helpers::{Backend, TestApp, ALICE};

/// More descendants than one statement can bind as parameters on this backend (SQLite 32,766,
/// PostgreSQL 65,535): where the old level-by-level walk failed with "too many SQL variables".
fn past_the_bind_limit(app: &TestApp) -> usize {
    match app.backend {
        Backend::Sqlite => 33_000,
        Backend::Postgres => 66_000,
    }
}

static PLANTED: AtomicU64 = AtomicU64::new(0);

/// Inserts `n` child families of `parent` straight into the database. Through HTTP this takes
/// minutes and the quotas stop it (see `quotas`); the revocation paths under test are HTTP.
async fn plant_children(app: &TestApp, parent: &str, n: usize) {
    use sea_orm::ActiveValue::Set;
    let owner = tessera::store::users::find_by_name(&app.state.db, "alice")
        .await
        .unwrap()
        .unwrap();
    let now = app.clock.now();
    let rows: Vec<refresh_token::ActiveModel> = (0..n)
        .map(|_| {
            let k = PLANTED.fetch_add(1, Ordering::Relaxed);
            let id = format!("p{k:011}");
            refresh_token::ActiveModel {
                id: Set(id.clone()),
                secret_hash: Set(format!("{k:064}")),
                kind: Set("personal".into()),
                name: Set("planted".into()),
                user_id: Set(owner.id),
                client_id: Set(None),
                album_id: Set(None),
                scope: Set("user".into()),
                rotating: Set(false),
                family_id: Set(id),
                parent_id: Set(Some(parent.to_string())),
                rotated_from_id: Set(None),
                created_at: Set(now),
                expires_at: Set(Some(now + chrono::Duration::days(1))),
                last_used_at: Set(None),
                rotated_at: Set(None),
                revoked_at: Set(None),
            }
        })
        .collect();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(1000).collect();
        refresh_token::Entity::insert_many(chunk)
            .exec(&app.state.db)
            .await
            .expect("plant children");
    }
}

/// Unrevoked rows whose parent is `parent`.
async fn live_children(app: &TestApp, parent: &str) -> u64 {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::ParentId.eq(parent))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .count(&app.state.db)
        .await
        .unwrap()
}

/// Unrevoked rows of the family `family`.
async fn live_rows(app: &TestApp, family: &str) -> u64 {
    refresh_token::Entity::find()
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .count(&app.state.db)
        .await
        .unwrap()
}

fn s(v: &Value, field: &str) -> String {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {v}"))
        .to_string()
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let r = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
            None,
        )
        .await;
    (r.status(), r.json().await.unwrap_or_default())
}

async fn assert_dead(app: &TestApp, token: &str, what: &str) {
    let (status, body) = refresh(app, token).await;
    assert_eq!(status, 400, "{what} still exchanges: {body}");
    assert_eq!(body["error"], "invalid_grant", "{what}: {body}");
}

/// A Bearer child made through HTTP with `access`; returns (created JSON, its access token).
async fn child(app: &TestApp, access: &str, name: &str) -> (Value, String) {
    let r = app
        .api_bearer(
            Method::POST,
            "/api/tokens",
            access,
            Some(json!({ "name": name, "scope": "user" })),
        )
        .await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    let at = s(&app.exchange(&s(&v, "token")).await, "access_token");
    (v, at)
}

/// A root token with a real child and grandchild (made with Bearer credentials through HTTP) and
/// more planted children than one statement can bind.
struct Tree {
    id: String,
    secret: String,
    child: String,
    grandchild: String,
}

async fn grow_tree(app: &TestApp, rotating: bool) -> (Tree, Value) {
    let root = app
        .create_token(
            ALICE,
            json!({ "name": "stolen", "scope": "user", "rotating": rotating }),
        )
        .await;
    let first = app.exchange(&s(&root, "token")).await;
    let at = s(&first, "access_token");
    let (c, c_at) = child(app, &at, "child").await;
    let (g, _) = child(app, &c_at, "grandchild").await;
    plant_children(app, &s(&root, "id"), past_the_bind_limit(app)).await;
    plant_children(app, &s(&g, "id"), 10).await;
    (
        Tree {
            id: s(&root, "id"),
            secret: s(&root, "token"),
            child: s(&c, "token"),
            grandchild: s(&g, "token"),
        },
        first,
    )
}

async fn assert_tree_revoked(app: &TestApp, t: &Tree, how: &str, live_secret: &str) {
    assert_eq!(
        live_children(app, &t.id).await,
        0,
        "{how}: planted children"
    );
    assert_eq!(live_rows(app, &t.id).await, 0, "{how}: the root");
    let alice = tessera::store::users::find_by_name(&app.state.db, "alice")
        .await
        .unwrap()
        .unwrap();
    let anything_live = refresh_token::Entity::find()
        .filter(refresh_token::Column::UserId.eq(alice.id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(anything_live, 0, "{how}: rows of the tree left live");
    assert_dead(app, live_secret, &format!("{how}: root")).await;
    assert_dead(app, &t.child, &format!("{how}: child")).await;
    assert_dead(app, &t.grandchild, &format!("{how}: grandchild")).await;
}

db_test!(
    /// Finding 1: a stolen `user` token grew a tree too large for one statement; every
    /// revocation path then failed with 500. Now each path revokes the whole tree.
    a_tree_past_the_bind_limit_is_revoked_by_every_path,
    |app| {
        app.alice_with_album().await;
        app.add_user("root", "root-pw", true).await;

        // DELETE /api/tokens/{id}
        let (t, _) = grow_tree(app, false).await;
        let r = app
            .api_as(Method::DELETE, &format!("/api/tokens/{}", t.id), ALICE, None)
            .await;
        assert_eq!(r.status(), 204, "{:?}", r.text().await);
        assert_tree_revoked(app, &t, "DELETE /api/tokens", &t.secret).await;

        // POST /oauth/revoke by the holder
        let (t, _) = grow_tree(app, false).await;
        let r = app
            .post_form("/oauth/revoke", &[("token", t.secret.as_str())], None)
            .await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        assert_tree_revoked(app, &t, "/oauth/revoke", &t.secret).await;

        // tessera token revoke ID (the real binary, on the same database)
        let (t, _) = grow_tree(app, false).await;
        let env = crate::process::env_for(app.dir.path(), &app.database_url, 0);
        let out = crate::process::run_cli(&env, &["token", "revoke", &t.id], "");
        assert!(
            out.status.success(),
            "tessera token revoke: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_tree_revoked(app, &t, "tessera token revoke", &t.secret).await;

        // The admin's revoke-all
        let (t, _) = grow_tree(app, false).await;
        let r = app
            .api_as(Method::DELETE, "/api/users/alice/tokens", ("root", "root-pw"), None)
            .await;
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
        assert_tree_revoked(app, &t, "revoke-all", &t.secret).await;

        // Reuse detection: the rotated first secret replayed after the grace window.
        let (t, first) = grow_tree(app, true).await;
        app.clock.advance(chrono::Duration::seconds(11));
        let (status, body) = refresh(app, &t.secret).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap_or_default()
                .contains("revoked"),
            "{body}"
        );
        assert_tree_revoked(app, &t, "reuse detection", &s(&first, "refresh_token")).await;
    }
);

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
            let (status, body) = refresh(app, &current).await;
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
    assert_dead(
        app,
        &newest,
        "the newest refresh token after the revocation answered",
    )
    .await;
    assert_eq!(live_rows(app, id).await, 0, "a live row in family {id}");
}

/// Alice's Bearer access token for management calls (no argon2 per call).
async fn alice_session(app: &TestApp) -> String {
    let t = app
        .create_token(ALICE, json!({ "name": "session", "scope": "user" }))
        .await;
    s(&app.exchange(&s(&t, "token")).await, "access_token")
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
        let session = alice_session(app).await;
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
                        let (status, body) = refresh(app, &stolen).await;
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
        let session = alice_session(app).await;
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
                assert_dead(app, &s(&c, "token"), "a child of a revoked parent").await;
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

//! A token tree grown past what one SQL statement can bind, revoked by every path.

use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use tessera::store::entity::refresh_token;

use super::{live_children, live_rows};
use crate::db_test;
use crate::helpers::{string as s, Backend, TestApp, ALICE};

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

/// A Bearer child made through HTTP with `access`; returns (created JSON, its access token).
async fn child(app: &TestApp, access: &str, name: &str) -> (Value, String) {
    let body = json!({ "name": name, "scope": "user" });
    let v = app.create_token_with(access, body).await;
    let at = app.access_token(&s(&v, "token")).await;
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
    app.assert_refresh_refused(live_secret, &format!("{how}: root"))
        .await;
    app.assert_refresh_refused(&t.child, &format!("{how}: child"))
        .await;
    app.assert_refresh_refused(&t.grandchild, &format!("{how}: grandchild"))
        .await;
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
        let (status, body) = app.refresh_status(&t.secret).await;
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

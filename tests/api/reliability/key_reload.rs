//! The periodic key reload.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::db_test;
use crate::helpers::{kid_of, TestApp, ALICE};

/// Polls until the served JWKS satisfies `ok` (the periodic reload runs every second here).
async fn wait_for_kids(app: &TestApp, what: &str, ok: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kids = app.served_kids().await;
        if ok(&kids) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: JWKS still {kids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

db_test!(the_periodic_key_reload_picks_up_a_rotation_and_a_compromised_key_removal, ["TESSERA_KEY_RELOAD_INTERVAL" => "1s"], |app| {
    app.add_user("alice", "alice-pw", false).await;
    let (rs, rs_secret) = app.add_resource_server().await;
    let rt = app
        .create_token(ALICE, json!({"name": "k", "scope": "user"}))
        .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let old_at = app.exchange(&rt).await["access_token"].as_str().unwrap().to_string();
    let old = kid_of(&old_at);

    // Another instance (or `tessera keys rotate`) rotates in the shared key directory; this
    // running server is not told, it finds out by its own periodic reload.
    let new = app.rotate_key_files();
    wait_for_kids(app, "rotation", |k| k.contains(&new) && k.contains(&old)).await;
    let new_at = app.exchange(&rt).await["access_token"].as_str().unwrap().to_string();
    assert_eq!(kid_of(&new_at), new, "new tokens are signed with the rotated-in key");
    assert_eq!(app.introspect(&old_at, (&rs, &rs_secret)).await["active"], true, "old key still verifies");

    // The old key was stolen: delete its files; after the next reload nothing it signed passes.
    for ext in ["pem", "json"] {
        std::fs::remove_file(app.dir.path().join("keys").join(format!("{old}.{ext}"))).unwrap();
    }
    wait_for_kids(app, "removal", |k| !k.contains(&old) && k.contains(&new)).await;
    assert_eq!(app.introspect(&old_at, (&rs, &rs_secret)).await, json!({"active": false}));
    let r = app.api_bearer(Method::GET, "/api/me", &old_at, None).await;
    assert_eq!(r.status(), 401, "a token of the removed key is refused at /api");
    assert_eq!(app.introspect(&new_at, (&rs, &rs_secret)).await["active"], true);
    let r = app.api_bearer(Method::GET, "/api/me", &new_at, None).await;
    assert_eq!(r.status(), 200);
});

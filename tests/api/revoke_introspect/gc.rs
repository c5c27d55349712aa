//! The cleanup of stale rows (`tessera gc` and the background task), which never deletes a live
//! token.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::store::{refresh_tokens, revoked_access_tokens};
use tessera::tokens::secret::{Secret, SecretKind};

use super::{assert_active, assert_revoke_ok, revoke, ISSUER};
use crate::db_test;
use crate::helpers::claims;

db_test!(gc_deletes_stale_rows_in_batches_and_never_a_live_token,
    ["TESSERA_GC_BATCH_SIZE" => "2", "TESSERA_ALLOW_NON_EXPIRING_TOKENS" => "true"], |app| {
    use tessera::domain::gc::run_once;
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let (live_id, live) = app.alice_token("user", json!({})).await;
    let (forever_id, forever) = app.alice_token("user", json!({ "never_expires": true })).await;
    let (short_id, _) = app.alice_token("user", json!({ "expires_in": 3600 })).await;
    let (gone_id, gone) = app.alice_token("user", json!({})).await;
    assert_revoke_ok(revoke(app, &gone, None, None).await, "a token to be collected").await;
    let (rotating_id, first) = app.alice_token("user", json!({ "rotating": true })).await;
    let current = app.exchange(&first).await["refresh_token"].as_str().unwrap().to_string();
    let revoked_at = app.access_token(&live).await;
    assert_revoke_ok(revoke(app, &revoked_at, None, None).await, "an access token").await;
    let jti = claims(&revoked_at)["jti"].as_str().unwrap().to_string();
    let first_hash = Secret::parse(SecretKind::RefreshToken, &first).unwrap().hash();
    let head = |id: &str| {
        let (db, id) = (app.state.db.clone(), id.to_string());
        async move { refresh_tokens::find_head(&db, &id).await.unwrap().is_some() }
    };

    // Nothing is stale yet: revoked and rotated rows are kept for the retention period.
    let c = run_once(&app.state).await.unwrap();
    assert_eq!((c.refresh_tokens, c.revoked_access_tokens), (0, 0));
    assert!(head(&gone_id).await && head(&short_id).await);
    assert!(refresh_tokens::find_by_hash(&app.state.db, &first_hash).await.unwrap().is_some());

    // The revoked jti goes when its token would have expired anyway.
    app.clock.advance(Duration::minutes(16));
    let c = run_once(&app.state).await.unwrap();
    assert_eq!((c.refresh_tokens, c.revoked_access_tokens), (0, 1));
    assert!(!revoked_access_tokens::is_revoked(&app.state.db, &jti).await.unwrap());

    // Past the 30-day retention: the revoked token, the expired one and the rotated-away row go,
    // in batches of two.
    app.clock.advance(Duration::days(31));
    let c = run_once(&app.state).await.unwrap();
    assert_eq!((c.refresh_tokens, c.revoked_access_tokens), (3, 0));
    assert!(!head(&gone_id).await && !head(&short_id).await);
    assert!(refresh_tokens::find_by_hash(&app.state.db, &first_hash).await.unwrap().is_none());
    let c = run_once(&app.state).await.unwrap();
    assert_eq!((c.refresh_tokens, c.revoked_access_tokens), (0, 0), "a second pass finds nothing");

    assert!(app.introspect(&forever, rs).await.get("exp").is_none(), "no exp for a token that never expires");
    // Live tokens are untouched and still work.
    for (id, token) in [(&live_id, &live), (&forever_id, &forever), (&rotating_id, &current)] {
        assert!(head(id).await, "live token {id} kept");
        assert_active(app, rs, token, "a live token after cleanup").await;
        let at = app.access_token(token).await;
        assert_active(app, rs, &at, "an access token minted after cleanup").await;
    }
});

db_test!(gc_keeps_a_rotated_row_while_access_tokens_minted_from_it_live,
    ["TESSERA_REVOKED_RETENTION" => "1s"], |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let (_, first) = app.alice_token("user", json!({ "rotating": true })).await;
    let at = app.access_token(&first).await;

    // The retention is shorter than the access token's life; the row it came from must stay.
    app.clock.advance(Duration::seconds(5));
    let c = tessera::domain::gc::run_once(&app.state).await.unwrap();
    assert_eq!(c.refresh_tokens, 0);
    assert_active(app, rs, &at, "an access token of a rotated-away row after cleanup").await;
    let r = app.api_bearer(Method::GET, "/api/me", &at, None).await;
    assert_eq!(r.status(), StatusCode::OK);

    app.clock.advance(Duration::minutes(16));
    let c = tessera::domain::gc::run_once(&app.state).await.unwrap();
    assert_eq!(c.refresh_tokens, 1, "the rotated row goes once its access tokens have expired");
});

db_test!(
    the_gc_command_deletes_what_is_stale_by_the_wall_clock,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        // Rows made 40 days ago (by the test clock) are stale now for the command's real clock.
        app.clock.advance(-Duration::days(40));
        let (old_id, _) = app.alice_token("user", json!({ "expires_in": 3600 })).await;
        let (live_id, live) = app.alice_token("user", json!({})).await;
        let old_at = app.access_token(&live).await;
        assert_revoke_ok(revoke(app, &old_at, None, None).await, "an access token").await;
        app.clock.advance(Duration::days(40));

        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("gc")
            .current_dir(app.dir.path())
            .env("TESSERA_DATABASE_URL", &app.database_url)
            .env("TESSERA_KEYS_DIR", app.dir.path().join("keys"))
            .env("TESSERA_ISSUER", ISSUER)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v,
            json!({ "refresh_tokens": 1, "revoked_access_tokens": 1 })
        );
        assert!(refresh_tokens::find_head(&app.state.db, &old_id)
            .await
            .unwrap()
            .is_none());
        assert!(refresh_tokens::find_head(&app.state.db, &live_id)
            .await
            .unwrap()
            .is_some());
        assert_active(
            app,
            (&rs_id, &rs_secret),
            &live,
            "a 40-day-old token with 20 days to live",
        )
        .await;
    }
);

db_test!(serve_collects_in_the_background, ["TESSERA_GC_INTERVAL" => "1s"], |app| {
    app.alice_with_album().await;
    let (short_id, _) = app.alice_token("user", json!({ "expires_in": 60 })).await;
    let (live_id, _) = app.alice_token("user", json!({})).await;
    app.clock.advance(Duration::days(31));
    let mut gone = false;
    for _ in 0..50 {
        if refresh_tokens::find_head(&app.state.db, &short_id).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(gone, "the background task deleted the long-expired token within 10 s");
    assert!(refresh_tokens::find_head(&app.state.db, &live_id).await.unwrap().is_some());
});

//! The skeleton: health, readiness, metadata, JWKS, JSON errors, keys kept across restarts.

use reqwest::StatusCode;
use serde_json::Value;

use crate::db_test;

db_test!(health_and_readiness, |app| {
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
});

db_test!(metadata_claims_only_what_works, |app| {
    let r = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(r.status(), 200);
    let m: Value = r.json().await.unwrap();
    // The whole document, so that nothing is claimed that no test exercises: each grant, auth
    // method and endpoint named here has its own tests (token_endpoint, revoke_introspect).
    let alg = app.state.keys().signing().alg.as_str();
    assert_eq!(
        m,
        serde_json::json!({
            "issuer": "http://tessera.test",
            "token_endpoint": "http://tessera.test/oauth/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint": "http://tessera.test/oauth/revoke",
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "introspection_endpoint": "http://tessera.test/oauth/introspect",
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_signing_alg_values_supported": [alg],
            "jwks_uri": "http://tessera.test/.well-known/jwks.json",
            "grant_types_supported": ["refresh_token", "client_credentials"],
            "response_types_supported": [],
            "scopes_supported": [
                "user",
                "album:<album_id>:read",
                "album:<album_id>:write",
                "album:<album_id>:download",
                "album:<album_id>:share"
            ],
        })
    );
    assert_eq!(alg, "ES256", "the default signing algorithm");
});

db_test!(jwks_publishes_the_signing_key, |app| {
    let r = app.get("/.well-known/jwks.json").await;
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(
        keys[0]["kid"],
        Value::from(app.state.keys().signing().kid.clone())
    );
    assert!(
        keys[0].get("d").is_none(),
        "private key material must never be published"
    );
});

db_test!(unknown_paths_and_methods_answer_json, |app| {
    let r = app.get("/no/such/thing").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "not_found");
    let r = app.get("/oauth/token").await;
    assert!(r.status().is_client_error());
    let v: Value = r.json().await.unwrap();
    assert!(v["error"].is_string() && v["error_description"].is_string());
});

db_test!(oversized_bodies_are_refused_with_json, |app| {
    let big = "a".repeat(64 * 1024);
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=refresh_token&refresh_token={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
});

db_test!(keys_and_data_survive_a_restart, |app| {
    // `app` is borrowed by the macro; restart a second server on a copy of its settings instead.
    let kid = app.state.keys().signing().kid.clone();
    app.add_user("bob", "pw", false).await;
    let settings = crate::helpers::test_settings(app.dir.path(), &app.database_url, &[]);
    let second = tessera::app::Application::build(settings, tessera::clock::Clock::default())
        .await
        .unwrap();
    assert_eq!(
        second.state().keys().signing().kid,
        kid,
        "a restart keeps the same key"
    );
    let user = tessera::store::users::find_by_name(&second.state().db, "bob")
        .await
        .unwrap();
    assert!(user.is_some(), "a restart keeps the data");
});

db_test!(
    /// Key rotation: the new key signs, the old one stays published while its tokens may live.
    key_rotation_keeps_old_key_published, |app| {
    let old = app.state.keys().signing().kid.clone();
    let new = app.rotate_key_files();
    app.state.reload_keys().unwrap();
    assert_eq!(app.state.keys().signing().kid, new);
    let kids = app.served_kids().await;
    assert!(kids.contains(&old) && kids.contains(&new), "{kids:?}");
    // After the longest access-token lifetime (plus margin) the old key is no longer served.
    app.clock.advance(chrono::Duration::hours(1));
    let kids = app.served_kids().await;
    assert_eq!(kids, [new]);
});

#[tokio::test]
async fn every_algorithm_generates_signs_and_verifies() {
    for alg in ["ES256", "EdDSA", "RS256"] {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::helpers::sqlite_url(dir.path());
        let settings =
            crate::helpers::test_settings(dir.path(), &db, &[("TESSERA_SIGNING_ALG", alg)]);
        let app = tessera::app::Application::build(settings, tessera::clock::Clock::default())
            .await
            .unwrap();
        let state = app.state().clone();
        assert_eq!(state.keys().signing().alg.as_str(), alg);
        let scope = tessera::model::Scope::parse("user").unwrap();
        let t = tessera::domain::minting::mint(
            &state,
            &tessera::domain::minting::Grant {
                subject: "s",
                client_id: "c",
                scope: &scope,
                refresh_row: None,
                not_after: None,
            },
            state.clock.now(),
        )
        .unwrap();
        let keys = state.keys();
        let claims = tessera::tokens::jwt::verify_access_token(
            &t.jwt,
            &tessera::tokens::jwt::VerifyContext {
                keys: &keys,
                issuer: &state.settings.issuer,
                audience: &state.settings.audience,
                now: state.clock.now(),
                key_grace: state.key_grace(),
            },
        )
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.sub, "s");
    }
}

#[test]
fn invalid_settings_exit_2_with_one_clear_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("migrate")
        .env("TESSERA_ACCESS_TOKEN_TTL", "fifteen")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("access_token_ttl") && err.contains("fifteen"),
        "{err}"
    );
}

db_test!(
    /// /metrics counts requests per route and status, issued tokens and introspections.
    metrics_count_what_happened,
    |app| {
        app.add_user("alice", "alice-pw", false).await;
        let t = app
            .create_token(crate::helpers::ALICE, serde_json::json!({"name": "m", "scope": "user"}))
            .await;
        let rt = t["token"].as_str().unwrap();
        let at = app.exchange(rt).await["access_token"].as_str().unwrap().to_string();
        let bad = app.token(&[("grant_type", "password")], None).await;
        assert_eq!(bad.status(), 400);
        let (rs, secret) = app.add_resource_server().await;
        assert_eq!(app.introspect(&at, (&rs, &secret)).await["active"], true);
        assert_eq!(app.introspect("garbage", (&rs, &secret)).await["active"], false);

        let r = app.get("/metrics").await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = r.text().await.unwrap();
        for line in [
            "tessera_http_requests_total{route=\"token\",status=\"200\"} 1",
            "tessera_http_requests_total{route=\"token\",status=\"400\"} 1",
            "tessera_tokens_issued_total{grant_type=\"refresh_token\"} 1",
            "tessera_introspections_total{active=\"true\"} 1",
            "tessera_introspections_total{active=\"false\"} 1",
            "tessera_http_request_duration_seconds_count{route=\"token\",status=\"200\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
        }
        assert!(text.contains("tessera_db_pool_connections{state=\"open\"}"));
    }
);

/// SIGTERM lets a request already in flight finish (its answer arrives, its data is kept), then
/// the process exits 0 and stops accepting connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish() {
    use crate::process::{alice_with_token, env_for, free_port, ServerProcess};
    use tokio::io::AsyncWriteExt;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tessera.log");
    let db = crate::helpers::sqlite_url(dir.path());
    let env = env_for(dir.path(), &db, free_port());
    let rt = alice_with_token(&env, &log);
    let mut server = ServerProcess::start(&env, &log).await;
    let addr = server.addr();

    // A token request whose body is still arriving when the signal comes.
    let body = format!("grant_type=refresh_token&refresh_token={rt}");
    let (first, rest) = body.split_at(20);
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.send_sigterm();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "tessera exited with a request in flight"
    );
    conn.write_all(rest.as_bytes()).await.unwrap();
    let answer = crate::raw_http::read_response(&mut conn, std::time::Duration::from_secs(10))
        .await
        .expect("no answer to the in-flight request");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.json()["access_token"].is_string(), "{answer:?}");

    let status = server
        .wait_exit(std::time::Duration::from_secs(10))
        .await
        .expect("tessera did not exit after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "still accepting connections after shutdown"
    );
}

db_test!(the_hot_token_lookup_agrees_with_the_generic_query, |app| {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use tessera::store::entity::{refresh_token, user};
    app.add_user("alice", "alice-pw", false).await;
    app.add_album("a1").await;
    app.grant("a1", "alice", "read,share").await;
    let personal = app
        .create_token(
            crate::helpers::ALICE,
            serde_json::json!({"name": "p", "scope": "user", "rotating": true}),
        )
        .await;
    let album = app
        .create_album_token(crate::helpers::ALICE, "a1", "a", &["read"])
        .await;
    // A rotated row too, so that every nullable column is set somewhere.
    let rotated = personal["token"].as_str().unwrap().to_string();
    let successor = app.exchange(&rotated).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    for token in [
        rotated.as_str(),
        successor.as_str(),
        album["token"].as_str().unwrap(),
    ] {
        let hash = tessera::tokens::secret::hash_hex(token);
        let generic = refresh_token::Entity::find()
            .filter(refresh_token::Column::SecretHash.eq(hash.as_str()))
            .find_also_related(user::Entity)
            .all(&app.state.db)
            .await
            .unwrap();
        let (row, owner) = generic.into_iter().next().unwrap();
        let row = tessera::model::RefreshToken::try_from(row).unwrap();
        let hot = tessera::store::refresh_tokens::find_by_hash_with_owner(&app.state.db, &hash)
            .await
            .unwrap()
            .expect("found");
        assert_eq!(hot, (row, owner.unwrap()));
    }
    let none = tessera::store::refresh_tokens::find_by_hash_with_owner(
        &app.state.db,
        "0".repeat(64).as_str(),
    )
    .await
    .unwrap();
    assert!(none.is_none());
});

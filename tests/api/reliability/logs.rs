//! Secrets never reach the logs, even at the most verbose level.

use serde_json::{json, Value};

use crate::helpers::{with_database_dir, Backend};
use crate::process::{self, ServerProcess};

/// The full flow with the most verbose logging: nothing secret may show up in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_on_sqlite() {
    with_database_dir(Backend::Sqlite, secrets_never_reach_the_logs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_on_postgres() {
    with_database_dir(Backend::Postgres, secrets_never_reach_the_logs).await;
}

async fn secrets_never_reach_the_logs(dir: tempfile::TempDir, db: String) {
    let log = dir.path().join("tessera.log");
    let mut env = process::env_for(dir.path(), &db, process::free_port());
    env.push(("TESSERA_LOG".into(), "trace".into()));
    let password = "P4ssw0rd-secret-value";
    process::cli(
        &env,
        &["user", "add", "alice"],
        &format!("{password}\n"),
        &log,
    );
    process::cli(&env, &["album", "add", "a1"], "", &log);
    process::cli(
        &env,
        &["album", "grant", "a1", "alice", "read,share"],
        "",
        &log,
    );
    let client: Value =
        serde_json::from_str(&process::cli(&env, &["client", "add", "app"], "", &log)).unwrap();
    let client_secret = client["client_secret"].as_str().unwrap().to_string();
    let rs: Value = serde_json::from_str(&process::cli(
        &env,
        &["client", "add", "rs", "--introspect"],
        "",
        &log,
    ))
    .unwrap();
    let rs_secret = rs["client_secret"].as_str().unwrap().to_string();
    let cli_token: Value = serde_json::from_str(&process::cli(
        &env,
        &[
            "token", "create", "--user", "alice", "--name", "cli", "--scope", "user",
        ],
        "",
        &log,
    ))
    .unwrap();
    let mut secrets: Vec<String> = vec![password.into(), client_secret.clone(), rs_secret.clone()];
    secrets.push(cli_token["token"].as_str().unwrap().into());

    let server = ServerProcess::start(&env, &log).await;
    let http = reqwest::Client::new();
    let base = server.base.clone();
    let created: Value = http
        .post(format!("{base}/api/tokens"))
        .basic_auth("alice", Some(password))
        .json(&json!({"name": "rot", "scope": "user", "rotating": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rt = created["token"].as_str().unwrap().to_string();
    secrets.push(rt.clone());
    // client_secret_basic, then client_secret_post with the rotated token.
    let a: Value = http
        .post(format!("{base}/oauth/token"))
        .basic_auth("app", Some(&client_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = a["access_token"].as_str().unwrap().to_string();
    let rt2 = a["refresh_token"].as_str().unwrap().to_string();
    secrets.push(at.clone());
    secrets.push(rt2.clone());
    let b: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt2.as_str()),
            ("client_id", "app"),
            ("client_secret", client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(b["access_token"].as_str().unwrap().into());
    secrets.push(b["refresh_token"].as_str().unwrap().into());
    // Bearer use of the API, album token, introspection, revocation, and failures.
    let album: Value = http
        .post(format!("{base}/api/albums/a1/tokens"))
        .bearer_auth(&at)
        .json(&json!({"name": "viewer", "permissions": ["read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    secrets.push(album["token"].as_str().unwrap().into());
    let i: Value = http
        .post(format!("{base}/oauth/introspect"))
        .basic_auth("rs", Some(&rs_secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(i["active"], true);
    let r = http
        .post(format!("{base}/oauth/revoke"))
        .basic_auth("app", Some(&client_secret))
        .form(&[("token", b["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let wrong_password = "Wr0ng-guess-value";
    let r = http
        .get(format!("{base}/api/me"))
        .basic_auth("alice", Some(wrong_password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    secrets.push(wrong_password.into());
    let wrong_secret = "tsc_definitelyNotTheRealSecret0";
    let r = http
        .post(format!("{base}/oauth/token"))
        .basic_auth("app", Some(wrong_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    secrets.push(wrong_secret.into());
    let mut server = server;
    server.terminate();

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("TRACE") || text.contains("DEBUG"),
        "the log must really be verbose"
    );
    assert!(text.contains("/oauth/token"), "requests are logged");
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "a secret leaked into the log");
        // A JWT's signature part, or a token's random part, alone must not appear either.
        let tail = &s[s.len().saturating_sub(16)..];
        assert!(!text.contains(tail), "part of a secret leaked into the log");
    }
}

//! Crash safety: kill -9 under load loses no answered creation or rotation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use tessera::store::entity::refresh_token::{Column as C, Entity as Tokens};
use tessera::tokens::secret::hash_hex;

use crate::helpers::{with_database_dir, Backend};
use crate::process::{self, ServerProcess};

/// Creates and rotates tokens under load, kills the server with SIGKILL, restarts it, and checks
/// that every answered creation and rotation survived and no rotation is half-done.
async fn crash_safety(dir: tempfile::TempDir, db: String) {
    let log = dir.path().join("tessera.log");
    let env = process::env_for(dir.path(), &db, process::free_port());
    process::cli(&env, &["user", "add", "alice"], "alice-pw\n", &log);
    let mut server = ServerProcess::start(&env, &log).await;
    let base = server.base.clone();
    let http = reqwest::Client::new();

    // Answered creations (non-rotating) and, per rotating chain, the last answered token.
    let created: Arc<Mutex<Vec<String>>> = Arc::default();
    let chains: Arc<Mutex<HashMap<usize, String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for w in 0..4usize {
        let (http, base, created, stop) =
            (http.clone(), base.clone(), created.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 2000 {
                i += 1;
                let Ok(r) = http
                    .post(format!("{base}/api/tokens"))
                    .basic_auth("alice", Some("alice-pw"))
                    .json(&json!({"name": format!("w{w}-{i}"), "scope": "user"}))
                    .send()
                    .await
                else {
                    break;
                };
                if r.status() != 201 {
                    break;
                }
                let Ok(v) = r.json::<Value>().await else {
                    break;
                };
                created
                    .lock()
                    .unwrap()
                    .push(v["token"].as_str().unwrap().to_string());
            }
        }));
    }
    for c in 0..4usize {
        let first: Value = http
            .post(format!("{base}/api/tokens"))
            .basic_auth("alice", Some("alice-pw"))
            .json(&json!({"name": format!("chain{c}"), "scope": "user", "rotating": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        chains
            .lock()
            .unwrap()
            .insert(c, first["token"].as_str().unwrap().to_string());
        let (http, base, chains, stop) = (http.clone(), base.clone(), chains.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 5000 {
                i += 1;
                let current = chains.lock().unwrap()[&c].clone();
                let Ok(r) = http
                    .post(format!("{base}/oauth/token"))
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("refresh_token", current.as_str()),
                    ])
                    .send()
                    .await
                else {
                    break;
                };
                if r.status() != 200 {
                    break;
                }
                let Ok(v) = r.json::<Value>().await else {
                    break;
                };
                match v["refresh_token"].as_str() {
                    Some(next) => {
                        chains.lock().unwrap().insert(c, next.to_string());
                    }
                    None => break,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let created = created.lock().unwrap().clone();
    let chains = chains.lock().unwrap().clone();
    assert!(
        created.len() > 5,
        "the load produced too few creations to mean anything ({})",
        created.len()
    );

    let server = ServerProcess::start(&env, &log).await;
    let db_conn = sea_orm::Database::connect(&db).await.unwrap();
    // Every answered creation is there and usable.
    for t in &created {
        let r = http
            .post(format!("{}/oauth/token", server.base))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "a token answered with 201 before the crash must work after it"
        );
    }
    // Every chain's last answered token is either the head, or was rotated by a request whose
    // answer was lost in the crash, in which case its successor exists.
    for t in chains.values() {
        let row = Tokens::find()
            .filter(C::SecretHash.eq(hash_hex(t)))
            .one(&db_conn)
            .await
            .unwrap()
            .expect("an answered rotation's token must be stored");
        assert!(row.revoked_at.is_none());
        if row.rotated_at.is_some() {
            let succ = Tokens::find()
                .filter(C::RotatedFromId.eq(row.id.clone()))
                .one(&db_conn)
                .await
                .unwrap();
            assert!(
                succ.is_some(),
                "a rotation is half-done: rotated without a successor"
            );
        } else {
            let r = http
                .post(format!("{}/oauth/token", server.base))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", t.as_str()),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    // No family anywhere has zero or two heads, and every rotated row has its successor.
    let all = Tokens::find().all(&db_conn).await.unwrap();
    let mut heads: HashMap<&str, usize> = HashMap::new();
    for r in &all {
        *heads.entry(r.family_id.as_str()).or_default() += usize::from(r.rotated_at.is_none());
        if r.rotated_at.is_some() {
            assert!(
                all.iter()
                    .any(|s| s.rotated_from_id.as_deref() == Some(r.id.as_str())),
                "half-done rotation"
            );
        }
    }
    assert!(
        heads.values().all(|n| *n == 1),
        "every family has exactly one head"
    );
    db_conn.close().await.ok();
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_safety_sqlite() {
    with_database_dir(Backend::Sqlite, crash_safety).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_safety_postgres() {
    with_database_dir(Backend::Postgres, crash_safety).await;
}

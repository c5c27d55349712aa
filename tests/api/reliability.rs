//! Faults and abuse: crashes (kill -9), two instances on one database, database outages,
//! brute force, and secrets in logs.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use tessera::store::entity::refresh_token::{Column as C, Entity as Tokens};
use tessera::tokens::secret::hash_hex;

use crate::db_test;
use crate::helpers::{self, from_address, Backend, TestApp, ALICE};
use crate::process::{self, ServerProcess};

/// A second instance on the same database and key directory, served over HTTP.
struct Second {
    base: String,
    state: tessera::domain::AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Second {
    async fn start(app: &TestApp) -> Second {
        let settings = helpers::test_settings(app.dir.path(), &app.database_url, &[]);
        let second = tessera::app::Application::build(settings, app.clock.clone())
            .await
            .expect("second instance");
        let base = format!("http://127.0.0.1:{}", second.port());
        let state = second.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(second.run_until(async move {
            let _ = rx.await;
        }));
        Second {
            base,
            state,
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.state.db.clone().close().await.ok();
    }
}

async fn rotating_token(app: &TestApp) -> String {
    app.add_user("alice", "alice-pw", false).await;
    let t = app
        .create_token(
            ALICE,
            json!({"name": "ci", "scope": "user", "rotating": true}),
        )
        .await;
    t["token"].as_str().unwrap().to_string()
}

/// Rows of one family without `rotated_at`: must always be exactly one.
async fn heads_of(state: &tessera::domain::AppState, family: &str) -> usize {
    Tokens::find()
        .filter(C::FamilyId.eq(family))
        .filter(C::RotatedAt.is_null())
        .all(&state.db)
        .await
        .unwrap()
        .len()
}

db_test!(two_instances_never_fork_a_family, |app| {
    if app.backend != Backend::Postgres {
        return; // two instances share a database only on PostgreSQL
    }
    let second = Second::start(app).await;
    let rt = rotating_token(app).await;
    let family = app
        .api_as(Method::GET, "/api/tokens", ALICE, None)
        .await
        .json::<Value>()
        .await
        .unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let base = if i % 2 == 0 {
            app.base.clone()
        } else {
            second.base.clone()
        };
        let http = app.http.clone();
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{base}/oauth/token"))
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }));
    }
    let mut successors = HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(
            status == 200 || status == 400,
            "unexpected {status}: {body}"
        );
        if let Some(s) = body["refresh_token"].as_str() {
            successors.insert(s.to_string());
        }
    }
    assert_eq!(
        successors.len(),
        1,
        "exactly one new refresh token across both instances"
    );
    assert_eq!(
        heads_of(&app.state, &family).await,
        1,
        "the family has exactly one live head"
    );
    let next = successors.into_iter().next().unwrap();
    app.exchange(&next).await;
    second.stop().await;
});

db_test!(rotated_keys_reach_the_other_instance_after_reload, |app| {
    let second = Second::start(app).await;
    let old = app.state.keys().signing().kid.clone();
    let dir = tessera::tokens::keys::KeyDir::new(app.dir.path().join("keys"));
    let new = dir
        .rotate(tessera::tokens::keys::Algorithm::Es256, app.clock.now())
        .unwrap();
    app.state.reload_keys().unwrap();
    // Before its reload the second instance still signs with the old key...
    assert_eq!(second.state.keys().signing().kid, old);
    second.state.reload_keys().unwrap();
    // ...after it, it serves and uses the new one, and still verifies the old one.
    let kids = process::served_kids(&app.http, &second.base).await;
    assert!(kids.contains(&new) && kids.contains(&old), "{kids:?}");
    assert_eq!(second.state.keys().signing().kid, new);
    second.stop().await;
});

db_test!(database_outage_fails_fast_and_recovers, |app| {
    if app.backend != Backend::Postgres {
        return; // an embedded SQLite file cannot go away independently of the process
    }
    let rt = {
        app.add_user("alice", "alice-pw", false).await;
        let t = app
            .create_token(ALICE, json!({"name": "ci", "scope": "user"}))
            .await;
        t["token"].as_str().unwrap().to_string()
    };
    app.exchange(&rt).await;
    let (rs, rs_secret) = app.add_resource_server().await;
    assert_eq!(app.introspect(&rt, (&rs, &rs_secret)).await["active"], true);
    let base = helpers::postgres_base_url().unwrap();
    let dbname = app.database_url.rsplit('/').next().unwrap().to_string();
    let admin = sea_orm::Database::connect(&base).await.unwrap();
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{dbname}\" WITH ALLOW_CONNECTIONS false"
        ))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{dbname}'"
        ))
        .await
        .unwrap();

    let started = Instant::now();
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "not ready");
    let r = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            None,
        )
        .await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
    // Every endpoint that needs the database says so the same way, never an answer it could
    // not check (an introspection must not guess "active" or "inactive").
    let outage_answers = [
        (
            "introspect",
            app.post_form(
                "/oauth/introspect",
                &[("token", &rt)],
                Some((&rs, &rs_secret)),
            )
            .await,
        ),
        (
            "revoke",
            app.post_form("/oauth/revoke", &[("token", &rt)], None)
                .await,
        ),
        ("api", app.api_as(Method::GET, "/api/me", ALICE, None).await),
    ];
    for (what, r) in outage_answers {
        assert_eq!(r.status(), 503, "{what}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable", "{what}: {body}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "outage answers must come fast, took {:?}",
        started.elapsed()
    );

    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE \"{dbname}\" WITH ALLOW_CONNECTIONS true"
        ))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = app
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                None,
            )
            .await;
        if r.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not resume after the database returned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/readyz").await.status(), 200);
    admin.close().await.ok();
});

db_test!(failed_client_auth_is_rate_limited, ["TESSERA_AUTH_FAILURE_LIMIT" => "3"], |app| {
    let secret = app.add_client("svc", false, Some("client_credentials"), None, false).await.unwrap();
    // Successful traffic never counts.
    for _ in 0..20 {
        let r = app.token(&[("grant_type", "client_credentials")], Some(("svc", &secret))).await;
        assert_eq!(r.status(), 200);
    }
    for _ in 0..3 {
        let r = app.token(&[("grant_type", "client_credentials")], Some(("svc", "wrong"))).await;
        assert_eq!(r.status(), 401);
    }
    let r = app.token(&[("grant_type", "client_credentials")], Some(("svc", "wrong"))).await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    // The secret is checked first: the right one is never refused, even while blocked.
    let r = app.token(&[("grant_type", "client_credentials")], Some(("svc", &secret))).await;
    assert_eq!(r.status(), 200);
});

db_test!(failed_password_checks_are_rate_limited, ["TESSERA_AUTH_FAILURE_LIMIT" => "3"], |app| {
    app.add_user("alice", "alice-pw", false).await;
    assert_eq!(app.api_as(Method::GET, "/api/me", ALICE, None).await.status(), 200);
    for _ in 0..3 {
        let r = app.api_as(Method::GET, "/api/me", ("alice", "guess"), None).await;
        assert_eq!(r.status(), 401);
    }
    let r = app.api_as(Method::GET, "/api/me", ("alice", "guess"), None).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // An unknown user is limited the same way (no hint that the name exists).
    for _ in 0..4 {
        let _ = app.api_as(Method::GET, "/api/me", ("nobody", "guess"), None).await;
    }
    assert_eq!(app.api_as(Method::GET, "/api/me", ("nobody", "guess"), None).await.status(), 429);
});

db_test!(failures_are_counted_per_source_address_and_per_user_and_expire, ["TESSERA_AUTH_FAILURE_LIMIT" => "3", "TESSERA_AUTH_FAILURE_WINDOW" => "2s"], |app| {
    app.add_user("alice", "alice-pw", false).await;
    app.add_user("bob", "bob-pw", false).await;
    let me = app.url("/api/me");
    let attacker = from_address([127, 0, 0, 2]);
    let other = from_address([127, 0, 0, 3]);
    // Per source address: three failures against three different names block the address...
    for name in ["x1", "x2", "x3"] {
        let r = attacker.get(&me).basic_auth(name, Some("guess")).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = attacker.get(&me).basic_auth("x4", Some("guess")).send().await.unwrap();
    assert_eq!(r.status(), 429, "the address is blocked whatever name it tries");
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After within the 2 s window: {retry}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    // ...but not other addresses, nor users it never tried.
    let r = other.get(&me).basic_auth("alice", Some("alice-pw")).send().await.unwrap();
    assert_eq!(r.status(), 200, "another address is not slowed");
    let r = other.get(&me).basic_auth("x5", Some("guess")).send().await.unwrap();
    assert_eq!(r.status(), 401, "another address still gets a plain 401");
    // Per user: failures for bob spread over addresses block bob, from any address.
    for ip in [[127, 0, 0, 4], [127, 0, 0, 5], [127, 0, 0, 6]] {
        let r = from_address(ip).get(&me).basic_auth("bob", Some("guess")).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = from_address([127, 0, 0, 7]).get(&me).basic_auth("bob", Some("guess")).send().await.unwrap();
    assert_eq!(r.status(), 429, "bob is blocked after failures from several addresses");
    assert_eq!(app.api_as(Method::GET, "/api/me", ALICE, None).await.status(), 200, "alice is not");
    // Blocks end with their window.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let r = attacker.get(&me).basic_auth("alice", Some("alice-pw")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the address is unblocked after the window");
    let r = other.get(&me).basic_auth("bob", Some("bob-pw")).send().await.unwrap();
    assert_eq!(r.status(), 200, "bob is unblocked after the window");
});

db_test!(login_timing_does_not_reveal_whether_a_user_exists, ["TESSERA_AUTH_FAILURE_LIMIT" => "1000"], |app| {
    // A wrong password costs one argon2 check (tens of ms); an unknown user must cost the same,
    // not a fast "no such row". Interleaved samples and a wide band keep this robust on a
    // noisy machine: skipping argon2 would make unknown users 10 to 100 times faster.
    app.add_user("alice", "alice-pw", false).await;
    async fn timed(app: &TestApp, name: &str) -> Duration {
        let t = Instant::now();
        let r = app.api_as(Method::GET, "/api/me", (name, "guess"), None).await;
        assert_eq!(r.status(), 401);
        t.elapsed()
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..12 {
        known.push(timed(app, "alice").await);
        unknown.push(timed(app, &format!("nobody{i}")).await);
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[6].as_secs_f64(), unknown[6].as_secs_f64());
    let ratio = u / k;
    assert!(
        (0.5..2.0).contains(&ratio),
        "median wrong-password {:.1} ms vs unknown-user {:.1} ms",
        k * 1e3,
        u * 1e3
    );
});

/// The full flow with the most verbose logging: nothing secret may show up in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    secrets_never_reach_the_logs(dir, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_the_logs_on_postgres() {
    let Some(base) = helpers::postgres_base_url() else {
        return;
    };
    let (url, name) = helpers::create_pg_database(&base).await;
    let dir = tempfile::tempdir().unwrap();
    let result = tokio::spawn(secrets_never_reach_the_logs(dir, url)).await;
    helpers::drop_pg_database(&base, &name).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
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

/// Creates and rotates tokens under load, kills the server with SIGKILL, restarts it, and checks
/// that every answered creation and rotation survived and no rotation is half-done.
async fn crash_safety(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tessera.log");
    let Some((db, pg)) = helpers::fresh_database(backend, dir.path()).await else {
        return;
    };
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
    if let Some((base, name)) = pg {
        helpers::drop_pg_database(&base, &name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_safety_sqlite() {
    crash_safety(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_safety_postgres() {
    crash_safety(Backend::Postgres).await;
}

/// Kid of a JWT's header.
fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    process::served_kids(&app.http, &app.base).await
}

/// Polls until the served JWKS satisfies `ok` (the periodic reload runs every second here).
async fn wait_for_kids(app: &TestApp, what: &str, ok: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let kids = published_kids(app).await;
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
    let dir = tessera::tokens::keys::KeyDir::new(app.dir.path().join("keys"));
    let new = dir
        .rotate(tessera::tokens::keys::Algorithm::Es256, app.clock.now())
        .unwrap();
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

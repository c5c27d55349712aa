//! A database outage: fast refusals while it lasts, and recovery after it.

use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use serde_json::{json, Value};

use crate::db_test;
use crate::helpers::{self, Backend, ALICE};

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
    let r = app.refresh(&rt).await;
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
        ("api", app.get_as("/api/me", ALICE).await),
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
        let r = app.refresh(&rt).await;
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

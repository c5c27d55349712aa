//! Rotation with reuse detection: the grace window, replays after it, and concurrent refreshes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::db_test;
use crate::helpers::{assert_token_error, claims, ALICE};

db_test!(rotating_token_is_replaced_on_each_use, |app| {
    app.alice_with_album().await;
    let (id, r1) = app.alice_token("user", json!({ "rotating": true })).await;
    let v1 = app.exchange(&r1).await;
    let r2 = v1["refresh_token"]
        .as_str()
        .expect("a rotating token is replaced")
        .to_string();
    assert!(r2.starts_with("tsr_") && r2 != r1);
    let v2 = app.exchange(&r2).await;
    let r3 = v2["refresh_token"]
        .as_str()
        .expect("replaced again")
        .to_string();
    assert!(r3 != r2 && r3 != r1);
    assert_ne!(
        claims(v1["access_token"].as_str().unwrap())["rtid"],
        claims(v2["access_token"].as_str().unwrap())["rtid"]
    );
    // The public id stays the same across rotation.
    let shown: Value = app
        .get_as(&format!("/api/tokens/{id}"), ALICE)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["rotating"], true);
});

db_test!(replay_inside_grace_window_gets_access_token_only, |app| {
    app.alice_with_album().await;
    let (_, r1) = app.alice_token("user", json!({ "rotating": true })).await;
    let r2 = app.exchange(&r1).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.clock.advance(chrono::Duration::seconds(5));
    let dup = app.exchange(&r1).await;
    assert!(
        dup.get("refresh_token").is_none(),
        "no second successor: {dup}"
    );
    assert_eq!(dup["scope"], "user");
    assert!(dup["access_token"].is_string());
    // The family did not fork and was not revoked.
    assert!(app.exchange(&r2).await["refresh_token"].is_string());
});

db_test!(replay_after_grace_window_revokes_the_family, |app| {
    app.alice_with_album().await;
    app.add_user("root", "root-pw", true).await;
    let rs = app.add_resource_server().await;
    let (id, r1) = app.alice_token("user", json!({ "rotating": true })).await;
    let v = app.exchange(&r1).await;
    let r2 = v["refresh_token"].as_str().unwrap().to_string();
    let at2 = v["access_token"].as_str().unwrap().to_string();
    app.clock.advance(chrono::Duration::seconds(11));
    let d = assert_token_error(app.refresh(&r1).await, 400, "invalid_grant").await;
    assert!(d.contains("already used") && d.contains("revoked"), "{d}");
    // The legitimate successor stops working too, and its access token is inactive.
    let d = assert_token_error(app.refresh(&r2).await, 400, "invalid_grant").await;
    assert!(d.contains("revoked"), "{d}");
    assert_eq!(app.introspect(&at2, (&rs.0, &rs.1)).await["active"], false);
    let shown: Value = app
        .get_as(&format!("/api/tokens/{id}"), ALICE)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "revoked");
    // The reuse is audited.
    let r = app
        .get_as(
            "/api/audit?action=refresh_token.reuse_detected",
            ("root", "root-pw"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let events: Value = r.json().await.unwrap();
    let events = events.as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    // The same target as the token's creation and revocation events.
    assert_eq!(events[0]["target"], Value::from(format!("token:{id}")));
    assert!(events[0]["detail"]["revoked_families"]
        .as_array()
        .unwrap()
        .contains(&Value::from(id)));
});

db_test!(rotation_grace_is_configurable, ["TESSERA_ROTATION_GRACE" => "2m"], |app| {
    app.alice_with_album().await;
    let (_, r1) = app.alice_token("user", json!({ "rotating": true })).await;
    let r2 = app.exchange(&r1).await["refresh_token"].as_str().unwrap().to_string();
    app.clock.advance(chrono::Duration::seconds(90));
    let dup = app.exchange(&r1).await;
    assert!(dup.get("refresh_token").is_none(), "{dup}");
    app.clock.advance(chrono::Duration::seconds(31));
    assert_token_error(app.refresh(&r1).await, 400, "invalid_grant").await;
    assert_token_error(app.refresh(&r2).await, 400, "invalid_grant").await;
});

db_test!(fifty_concurrent_refreshes_leave_one_live_successor, |app| {
    app.alice_with_album().await;
    let (_, r1) = app.alice_token("user", json!({ "rotating": true })).await;
    let requests = (0..50).map(|_| {
        let http = app.http.clone();
        let url = app.url("/oauth/token");
        let form = [
            ("grant_type", "refresh_token".to_string()),
            ("refresh_token", r1.clone()),
        ];
        tokio::spawn(async move {
            let r = http.post(url).form(&form).send().await.expect("POST");
            let status = r.status();
            (status, r.json::<Value>().await.expect("JSON"))
        })
    });
    let results = futures::future::join_all(requests).await;
    let mut successors = std::collections::BTreeSet::new();
    for res in results {
        let (status, body) = res.expect("task");
        assert_eq!(
            status,
            StatusCode::OK,
            "every duplicate inside the grace window is answered: {body}"
        );
        assert!(body["access_token"].is_string(), "{body}");
        if let Some(rt) = body["refresh_token"].as_str() {
            successors.insert(rt.to_string());
        }
    }
    let mut live = 0;
    for rt in &successors {
        let r = app.refresh(rt).await;
        if r.status() == 200 {
            live += 1;
        }
    }
    assert_eq!(successors.len(), 1, "exactly one successor was issued");
    assert_eq!(live, 1, "and it works");
});

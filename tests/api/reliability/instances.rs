//! Two instances on one database and key directory.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};
use tessera::store::entity::refresh_token::{Column as C, Entity as Tokens};

use crate::db_test;
use crate::helpers::{Backend, TestApp, ALICE};
use crate::process;

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
    let second = app.second_instance().await;
    let rt = rotating_token(app).await;
    let family = app
        .get_as("/api/tokens", ALICE)
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
    let second = app.second_instance().await;
    let old = app.state.keys().signing().kid.clone();
    let new = app.rotate_key_files();
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

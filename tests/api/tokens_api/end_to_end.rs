//! The "done when" end to end, through the API and through the CLI.

use chrono::Duration;
use sea_orm::EntityTrait;
use serde_json::{json, Value};
use tessera::tokens::secret::{Secret, SecretKind};

use super::{delete, lifetime, listing, post_album_token, time, BOB};
use crate::db_test;
use crate::helpers::{assert_error_mentions, expect_status, on_fresh_database, s, Backend, ALICE};

db_test!(
    album_token_for_a_viewer_from_creation_to_revocation,
    |app| {
        app.alice_with_album().await;
        app.add_user("bob", "bob-pw", false).await;
        app.grant("a1", "bob", "read,share").await;
        app.add_client("viewer", true, None, None, false).await;
        let t = expect_status(
        post_album_token(app, ALICE, "a1", json!({ "name": "viewer on my laptop", "permissions": ["read", "download"], "expires_in": 2592000 })).await,
        201,
    )
    .await;
        let id = s(&t, "id");
        let (items, _) = listing(app.get_as("/api/tokens", ALICE).await).await;
        assert_eq!(
            (&items[0]["id"], &items[0]["status"]),
            (&t["id"], &json!("active"))
        );
        assert!(items[0]["last_used_at"].is_null());
        assert_eq!(lifetime(&items[0]), Duration::days(30));

        app.clock.advance(Duration::minutes(2));
        let r = app
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "viewer"),
                    ("refresh_token", s(&t, "token")),
                ],
                None,
            )
            .await;
        let at = expect_status(r, 200).await;
        assert_eq!(at["token_type"], "Bearer");
        assert_eq!(at["scope"], "album:a1:download album:a1:read");
        let (items, _) = listing(app.get_as("/api/albums/a1/tokens", ALICE).await).await;
        assert_eq!(items[0]["id"], id);
        assert!(
            time(&items[0], "last_used_at") > time(&t, "created_at"),
            "{}",
            items[0]
        );

        // Bob, with share on the same album, sees none of it.
        let (mine, total) = listing(app.get_as("/api/tokens", BOB).await).await;
        assert_eq!((mine.len(), total), (0, 0));
        let (album, total) = listing(app.get_as("/api/albums/a1/tokens", BOB).await).await;
        assert_eq!((album.len(), total), (0, 0));
        assert_error_mentions(
            app.get_as(&format!("/api/tokens/{id}"), BOB).await,
            404,
            "not_found",
            "no token",
        )
        .await;

        expect_status(delete(app, ALICE, &format!("/api/tokens/{id}")).await, 204).await;
        let (items, _) = listing(app.get_as("/api/tokens?status=revoked", ALICE).await).await;
        assert_eq!(items[0]["id"], id);
        let r = app
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", "viewer"),
                    ("refresh_token", s(&t, "token")),
                ],
                None,
            )
            .await;
        assert_error_mentions(r, 400, "invalid_grant", "").await;
    }
);

// ----- the CLI -----

/// `tessera token create|list|revoke` against a database, as an operator would run them; returns
/// the id of the token it created and revoked.
fn cli_round_trip(database_url: &str) -> String {
    use crate::process::{cli, env_for};
    let dir = tempfile::tempdir().expect("tempdir");
    let env = env_for(dir.path(), database_url, 0);
    let log = dir.path().join("cli.log");
    let run = |args: &[&str]| -> Value {
        let out = cli(&env, args, "", &log);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
    };
    cli(&env, &["user", "add", "alice"], "alice-pw\n", &log);
    let created = run(&[
        "token",
        "create",
        "--user",
        "alice",
        "--name",
        "ci job",
        "--scope",
        "user",
        "--expires-in",
        "30d",
        "--rotating",
    ]);
    let secret = s(&created, "token").to_string();
    assert!(
        Secret::parse(SecretKind::RefreshToken, &secret).is_ok(),
        "{created}"
    );
    let id = s(&created, "id").to_string();
    assert_eq!(
        (&created["kind"], &created["user"], &created["rotating"]),
        (&json!("personal"), &json!("alice"), &json!(true))
    );
    assert_eq!(lifetime(&created), Duration::days(30));
    run(&[
        "token", "create", "--user", "alice", "--name", "other", "--scope", "user",
    ]);

    for args in [
        &["token", "list", "--user", "alice"][..],
        &["token", "list"][..],
    ] {
        let out = cli(&env, args, "", &log);
        assert!(!out.contains(&secret), "{args:?} shows the secret: {out}");
        let list: Value = serde_json::from_str(&out).unwrap();
        let ours: Vec<&Value> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["id"] == json!(id))
            .collect();
        assert_eq!(ours.len(), 1, "{out}");
        assert_eq!(ours[0]["status"], "active");
        assert_eq!(list.as_array().unwrap().len(), 2, "{out}");
    }
    assert_eq!(
        run(&["token", "revoke", id.as_str()]),
        json!({ "id": id, "status": "revoked" })
    );
    let list = run(&["token", "list", "--user", "alice"]);
    let statuses: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (s(t, "name"), s(t, "status")))
        .collect();
    assert_eq!(statuses, [("other", "active"), ("ci job", "revoked")]);
    id
}

/// The CLI round trip, then its audit trail: the operator, not the user, created and revoked.
async fn cli_round_trip_is_audited(database_url: String) {
    use tessera::store::entity::audit_event;
    let url = database_url.clone();
    let id = tokio::task::spawn_blocking(move || cli_round_trip(&url))
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let db = sea_orm::Database::connect(&database_url)
        .await
        .expect("connect");
    let events = audit_event::Entity::find().all(&db).await.expect("audit");
    db.close().await.ok();
    let target = format!("token:{id}");
    let actors = |action: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e.action == action && e.target == target)
            .map(|e| e.actor.clone())
            .collect()
    };
    assert_eq!(actors("token.create"), ["operator"]);
    assert_eq!(actors("token.revoke"), ["operator"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_creates_lists_and_revokes_tokens_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    on_fresh_database(Backend::Sqlite, dir.path(), cli_round_trip_is_audited).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_creates_lists_and_revokes_tokens_on_postgres() {
    let dir = tempfile::tempdir().expect("tempdir");
    on_fresh_database(Backend::Postgres, dir.path(), cli_round_trip_is_audited).await;
}

//! Personal tokens: the secret shown once, the record, and what a request may ask for.

use sea_orm::EntityTrait;
use serde_json::{json, Value};
use tessera::tokens::secret::{Secret, SecretKind};

use super::{post_token, show, written, BOB};
use crate::db_test;
use crate::helpers::{assert_error_mentions, expect_status, s, ALICE};

db_test!(
    the_secret_is_shown_once_and_only_its_hash_is_stored,
    |app| {
        app.alice_with_album().await;
        let r = post_token(
            app,
            ALICE,
            json!({ "name": "backup script", "scope": "user" }),
        )
        .await;
        assert_eq!(r.headers()["cache-control"], "no-store");
        let created = expect_status(r, 201).await;
        let secret = s(&created, "token").to_string();
        let parsed = Secret::parse(SecretKind::RefreshToken, &secret).unwrap_or_else(|e| {
            panic!("{secret:?} is not a tsr_ token with a valid checksum: {e}")
        });
        assert!(secret.starts_with("tsr_"));
        let id = s(&created, "id").to_string();
        assert!(
            !id.is_empty() && !secret.contains(&id),
            "the public id is not part of the secret"
        );

        assert_eq!(created["name"], "backup script");
        assert_eq!(created["kind"], "personal");
        assert_eq!(created["user"], "alice");
        assert_eq!(created["scope"], "user");
        assert_eq!(created["rotating"], false);
        assert_eq!(created["status"], "active");
        assert!(
            created["last_used_at"].is_null() && created["revoked_at"].is_null(),
            "{created}"
        );
        assert!(
            created.get("parent_id").is_none(),
            "a password-made token has no parent: {created}"
        );
        assert!(
            created.get("album_id").is_none() && created.get("permissions").is_none(),
            "{created}"
        );

        // Show and list give the same record without the secret or its hash.
        let hash = parsed.hash();
        let shown = show(app, ALICE, &id).await;
        let mut expected = created.clone();
        expected.as_object_mut().unwrap().remove("token");
        assert_eq!(shown, expected);
        for path in [format!("/api/tokens/{id}"), "/api/tokens".to_string()] {
            let text = app.get_as(&path, ALICE).await.text().await.unwrap();
            assert!(text.contains(&id), "{path}: {text}");
            assert!(
                !text.contains(&secret) && !text.contains(&hash),
                "{path} leaks the secret: {text}"
            );
        }

        // The database and the audit log hold the hash, never the secret.
        use tessera::store::entity::{audit_event, refresh_token};
        let rows = format!(
            "{:?}",
            refresh_token::Entity::find()
                .all(&app.state.db)
                .await
                .unwrap()
        );
        assert!(rows.contains(&hash) && !rows.contains(&secret), "{rows}");
        let events = format!(
            "{:?}",
            audit_event::Entity::find()
                .all(&app.state.db)
                .await
                .unwrap()
        );
        assert!(
            !events.contains(&secret) && !events.contains(&hash),
            "{events}"
        );

        // The one copy the caller got works; a second token is a different secret and id.
        app.exchange(&secret).await;
        let other = app
            .create_token(ALICE, json!({ "name": "backup script", "scope": "user" }))
            .await;
        assert_ne!(other["token"], created["token"]);
        assert_ne!(other["id"], created["id"]);
    }
);

db_test!(scope_must_be_within_what_the_caller_holds, |app| {
    app.alice_with_album().await;
    app.add_album("a2").await;
    app.add_user("bob", "bob-pw", false).await;
    app.grant("a1", "bob", "read").await;
    let before = written(app).await;
    for (who, scope, about) in [
        (ALICE, "album:a2:read", "you do not hold album:a2:read"),
        (
            BOB,
            "album:a1:read album:a1:write",
            "you do not hold album:a1:write",
        ),
        (
            BOB,
            "user album:a1:download album:a1:read",
            "you do not hold album:a1:download",
        ),
        (ALICE, "album:a1:admin", "admin"),
        (ALICE, "everything", "everything"),
        (ALICE, "album:a1:download", "requires album:a1:read"),
        (ALICE, "", "empty"),
    ] {
        let r = post_token(app, who, json!({ "name": "n", "scope": scope })).await;
        assert_error_mentions(r, 400, "invalid_scope", about).await;
    }
    assert_eq!(
        written(app).await,
        before,
        "nothing is written for a refused scope"
    );
    let ok = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "album:a1:read album:a1:download album:a1:write" }),
        )
        .await;
    assert_eq!(
        ok["scope"],
        "album:a1:download album:a1:read album:a1:write"
    );
    let ok = app
        .create_token(ALICE, json!({ "name": "n", "scope": "user" }))
        .await;
    assert_eq!(ok["scope"], "user");
});

db_test!(bad_requests_say_what_is_wrong_and_write_nothing, |app| {
    app.alice_with_album().await;
    let before = written(app).await;
    let long = "x".repeat(101);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("missing name", json!({ "scope": "user" }), "name"),
        ("missing scope", json!({ "name": "n" }), "scope"),
        ("empty name", json!({ "name": "", "scope": "user" }), "name"),
        (
            "blank name",
            json!({ "name": "   ", "scope": "user" }),
            "name",
        ),
        (
            "101-character name",
            json!({ "name": long, "scope": "user" }),
            "100",
        ),
        (
            "control character",
            json!({ "name": "a\u{7}b", "scope": "user" }),
            "control",
        ),
        (
            "unknown field",
            json!({ "name": "n", "scope": "user", "colour": "red" }),
            "colour",
        ),
        (
            "expires_in as text",
            json!({ "name": "n", "scope": "user", "expires_in": "3600" }),
            "JSON",
        ),
        (
            "not a date",
            json!({ "name": "n", "scope": "user", "expires_at": "tomorrow" }),
            "RFC 3339",
        ),
        (
            "two expiries",
            json!({ "name": "n", "scope": "user", "expires_in": 60, "expires_at": "2099-01-01T00:00:00Z" }),
            "at most one",
        ),
        (
            "JSON array",
            json!([{ "name": "n", "scope": "user" }]),
            "JSON",
        ),
    ];
    for (what, body, about) in cases {
        let r = post_token(app, ALICE, body).await;
        assert_eq!(r.status(), 400, "{what}");
        assert_error_mentions(r, 400, "invalid_request", about).await;
    }
    let raw = [
        (
            Some("text/plain"),
            r#"{"name":"n","scope":"user"}"#,
            "application/json",
        ),
        (None, r#"{"name":"n","scope":"user"}"#, "application/json"),
        (
            Some("application/x-www-form-urlencoded"),
            "name=n&scope=user",
            "application/json",
        ),
        (Some("application/json"), r#"{"name":"n","scope":"#, "JSON"),
        (Some("application/json"), "", "JSON"),
    ];
    for (ct, body, about) in raw {
        let mut req = app
            .http
            .post(app.url("/api/tokens"))
            .basic_auth(ALICE.0, Some(ALICE.1))
            .body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        assert_error_mentions(req.send().await.unwrap(), 400, "invalid_request", about).await;
    }
    assert_eq!(
        written(app).await,
        before,
        "a refused request writes nothing"
    );
    // The limit is 100 characters, not fewer.
    let hundred = "é".repeat(100);
    let ok = app
        .create_token(ALICE, json!({ "name": hundred, "scope": "user" }))
        .await;
    assert_eq!(ok["name"], Value::from(hundred));
});

db_test!(
    /// Finding 8: an unknown client id and a known one that cannot hold refresh tokens got
    /// different answers, so client ids could be enumerated. Both get the same error now.
    binding_to_a_client_does_not_reveal_which_client_ids_exist,
    |app| {
        app.alice_with_album().await;
        app.add_client("rs", false, Some("client_credentials"), None, true)
            .await;
        let mut answers = Vec::new();
        for id in ["nope", "rs"] {
            let before = written(app).await;
            let r = post_token(
                app,
                ALICE,
                json!({ "name": "bound", "scope": "user", "client_id": id }),
            )
            .await;
            assert_eq!(r.status(), 400, "{id}");
            let v: Value = r.json().await.unwrap();
            assert_eq!(written(app).await, before, "nothing stored for {id}");
            answers.push(v["error_description"].as_str().unwrap().replace(id, "ID"));
        }
        assert_eq!(answers[0], answers[1], "one answer for both");
    }
);

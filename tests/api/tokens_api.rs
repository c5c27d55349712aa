//! The token management API under `/api` (issue 4): personal and album tokens created with a
//! password or a Bearer access token, shown once, listed, revoked and administered; the same
//! through the CLI. Every rule runs on SQLite and on PostgreSQL.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, Response};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};
use tessera::tokens::secret::{Secret, SecretKind};

use crate::db_test;
use crate::helpers::{TestApp, ALICE};

const BOB: (&str, &str) = ("bob", "bob-pw");
const CAROL: (&str, &str) = ("carol", "carol-pw");
const ROOT: (&str, &str) = ("root", "root-pw");

// ----- helpers for this module -----

/// Asserts the status and returns the JSON body (`Null` for an empty body).
async fn expect(r: Response, status: u16) -> Value {
    let got = r.status();
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

/// Asserts a JSON error with this status and code whose description mentions `about`.
async fn refused(r: Response, status: u16, code: &str, about: &str) {
    let v = expect(r, status).await;
    assert_eq!(v["error"], code, "{v}");
    let d = v["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("no error_description: {v}"));
    assert!(
        d.to_lowercase().contains(&about.to_lowercase()),
        "description should mention {about:?}: {v}"
    );
}

/// A list response: the items and the X-Total-Count header.
async fn listing(r: Response) -> (Vec<Value>, u64) {
    let total = r
        .headers()
        .get("x-total-count")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no X-Total-Count header: {:?}", r.headers()));
    let v = expect(r, 200).await;
    (
        v.as_array()
            .unwrap_or_else(|| panic!("not an array: {v}"))
            .clone(),
        total,
    )
}

/// The `name`s of listed records, in order.
fn names(items: &[Value]) -> Vec<&str> {
    items
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect()
}

fn time(v: &Value, field: &str) -> DateTime<Utc> {
    let s = v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {v}"));
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{field} {s:?}: {e}"))
        .with_timezone(&Utc)
}

/// How long a created record lives: `expires_at - created_at`.
fn lifetime(v: &Value) -> Duration {
    time(v, "expires_at") - time(v, "created_at")
}

fn s<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string: {v}"))
}

async fn post_token(app: &TestApp, user: (&str, &str), body: Value) -> Response {
    app.api_as(Method::POST, "/api/tokens", user, Some(body))
        .await
}

async fn post_album_token(app: &TestApp, user: (&str, &str), album: &str, body: Value) -> Response {
    app.api_as(
        Method::POST,
        &format!("/api/albums/{album}/tokens"),
        user,
        Some(body),
    )
    .await
}

/// Creates an album token on `album`; returns the record with its `token`.
async fn album_token(
    app: &TestApp,
    user: (&str, &str),
    album: &str,
    name: &str,
    permissions: &[&str],
) -> Value {
    expect(
        post_album_token(
            app,
            user,
            album,
            json!({ "name": name, "permissions": permissions }),
        )
        .await,
        201,
    )
    .await
}

async fn show(app: &TestApp, user: (&str, &str), id: &str) -> Value {
    expect(
        app.api_as(Method::GET, &format!("/api/tokens/{id}"), user, None)
            .await,
        200,
    )
    .await
}

async fn delete(app: &TestApp, user: (&str, &str), path: &str) -> Response {
    app.api_as(Method::DELETE, path, user, None).await
}

/// An access token with scope `user`, from a fresh personal token of `user`; returns
/// (access token, the personal token's record).
async fn user_access_token(app: &TestApp, user: (&str, &str), extra: Value) -> (String, Value) {
    let mut body = json!({ "name": "session", "scope": "user" });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let parent = app.create_token(user, body).await;
    let at = app.exchange(s(&parent, "token")).await;
    (s(&at, "access_token").to_string(), parent)
}

/// Stored refresh-token rows and audit events: unchanged counts mean a refusal wrote nothing.
async fn written(app: &TestApp) -> (u64, u64) {
    use tessera::store::entity::{audit_event, refresh_token};
    let db = &app.state.db;
    (
        refresh_token::Entity::find()
            .count(db)
            .await
            .expect("count tokens"),
        audit_event::Entity::find()
            .count(db)
            .await
            .expect("count audit"),
    )
}

/// A refresh-token exchange that must fail with `invalid_grant`.
async fn assert_exchange_refused(app: &TestApp, secret: &str) {
    let r = app
        .token(
            &[("grant_type", "refresh_token"), ("refresh_token", secret)],
            None,
        )
        .await;
    refused(r, 400, "invalid_grant", "").await;
}

// ----- who is calling -----

db_test!(
    api_without_a_valid_credential_is_401_with_both_challenges,
    |app| {
        app.alice_with_album().await;
        let before = written(app).await;
        let body = json!({ "name": "n", "scope": "user" });
        let attempts = [
            ("no credential", None),
            ("wrong password", Some("Basic YWxpY2U6d3Jvbmc=".to_string())),
            (
                "unknown user",
                Some("Basic bm9ib2R5OmFsaWNlLXB3".to_string()),
            ),
            ("malformed Basic", Some("Basic !!!".to_string())),
            ("garbage Bearer", Some("Bearer not-a-jwt".to_string())),
            ("other scheme", Some("Digest username=alice".to_string())),
        ];
        let mut descriptions = Vec::new();
        for (what, header) in attempts {
            let mut req = app.http.post(app.url("/api/tokens")).json(&body);
            if let Some(h) = header {
                req = req.header("authorization", h);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{what}");
            let challenges: Vec<&str> = r
                .headers()
                .get_all("www-authenticate")
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert!(
                challenges.iter().any(|c| c.starts_with("Basic")),
                "{what}: {challenges:?}"
            );
            assert!(
                challenges.iter().any(|c| c.starts_with("Bearer")),
                "{what}: {challenges:?}"
            );
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["error"], "unauthorized", "{what}: {v}");
            descriptions.push(v["error_description"].as_str().unwrap().to_string());
        }
        // An unknown user and a wrong password read the same, so names cannot be probed.
        assert_eq!(descriptions[1], descriptions[2]);
        assert_eq!(written(app).await.0, before.0, "no token was written");
        // A refresh token is not an access token.
        let personal = app
            .create_token(ALICE, json!({ "name": "p", "scope": "user" }))
            .await;
        let r = app
            .api_bearer(Method::GET, "/api/tokens", s(&personal, "token"), None)
            .await;
        refused(r, 401, "unauthorized", "access token").await;
    }
);

db_test!(bearer_access_token_needs_user_in_its_scope, |app| {
    app.alice_with_album().await;
    let album = album_token(app, ALICE, "a1", "viewer", &["read"]).await;
    let at = app.exchange(s(&album, "token")).await;
    assert!(!s(&at, "scope").contains("user"));
    let r = app
        .api_bearer(Method::GET, "/api/tokens", s(&at, "access_token"), None)
        .await;
    // RFC 6750 §3.1: a valid token with too little scope is 403 with a Bearer challenge.
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"user\""
    );
    refused(r, 403, "insufficient_scope", "user").await;
    let (at, _) = user_access_token(app, ALICE, json!({})).await;
    let (items, total) = listing(app.api_bearer(Method::GET, "/api/tokens", &at, None).await).await;
    assert_eq!(
        (items.len(), total),
        (2, 2),
        "the Bearer caller sees alice's tokens"
    );
});

db_test!(failed_passwords_are_rate_limited, ["TESSERA_AUTH_FAILURE_LIMIT" => "3"], |app| {
    app.alice_with_album().await;
    let (at, _) = user_access_token(app, ALICE, json!({})).await;
    for i in 0..3 {
        let r = app.api_as(Method::GET, "/api/tokens", ("alice", "wrong"), None).await;
        assert_eq!(r.status(), 401, "failure {i}");
    }
    let r = app.api_as(Method::GET, "/api/tokens", ALICE, None).await;
    assert_eq!(r.status(), 429, "even the right password waits once the limit is reached");
    let wait: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 300, "{wait}");
    refused(r, 429, "too_many_requests", "retry").await;
    // A Bearer credential involves no password and is not limited.
    let r = app.api_bearer(Method::GET, "/api/tokens", &at, None).await;
    assert_eq!(r.status(), 200);
});

// ----- personal tokens: the secret, the record, show once -----

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
        let created = expect(r, 201).await;
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
            let text = app
                .api_as(Method::GET, &path, ALICE, None)
                .await
                .text()
                .await
                .unwrap();
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
        refused(r, 400, "invalid_scope", about).await;
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
        refused(r, 400, "invalid_request", about).await;
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
        refused(req.send().await.unwrap(), 400, "invalid_request", about).await;
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

// ----- lifetimes -----

db_test!(expiry_defaults_to_60_days_and_is_capped_at_366, |app| {
    app.alice_with_album().await;
    let t = app
        .create_token(ALICE, json!({ "name": "n", "scope": "user" }))
        .await;
    assert_eq!(lifetime(&t), Duration::days(60));
    let t = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "user", "expires_in": 3600 }),
        )
        .await;
    assert_eq!(lifetime(&t), Duration::hours(1));
    let t = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "user", "expires_in": 366 * 86400 }),
        )
        .await;
    assert_eq!(lifetime(&t), Duration::days(366));
    let at = app.clock.now() + Duration::days(10);
    let t = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "user", "expires_at": at.to_rfc3339() }),
        )
        .await;
    assert_eq!(time(&t, "expires_at"), at);
    let offset = (app.clock.now() + Duration::days(5))
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap());
    let t = app
        .create_token(
            ALICE,
            json!({ "name": "n", "scope": "user", "expires_at": offset.to_rfc3339() }),
        )
        .await;
    assert_eq!(
        time(&t, "expires_at"),
        offset.with_timezone(&Utc),
        "an RFC 3339 offset is honoured"
    );

    let before = written(app).await;
    let now = app.clock.now();
    let cases = [
        (json!({ "expires_in": 366 * 86400 + 1 }), "maximum"),
        (
            json!({ "expires_at": (now + Duration::days(367)).to_rfc3339() }),
            "maximum",
        ),
        (
            json!({ "expires_at": (now - Duration::seconds(1)).to_rfc3339() }),
            "past",
        ),
        (json!({ "expires_in": 0 }), "positive"),
        (json!({ "expires_in": -60 }), "positive"),
        (json!({ "never_expires": true }), "non-expiring"),
    ];
    for (extra, about) in cases {
        let mut body = json!({ "name": "n", "scope": "user" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        refused(
            post_token(app, ALICE, body).await,
            400,
            "invalid_request",
            about,
        )
        .await;
        let r = post_album_token(app, ALICE, "a1", {
            let mut b = json!({ "name": "n", "permissions": ["read"] });
            b.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            b
        })
        .await;
        refused(r, 400, "invalid_request", about).await;
    }
    assert_eq!(
        written(app).await,
        before,
        "a refused lifetime writes nothing"
    );
});

db_test!(lifetimes_are_configurable, [
    "TESSERA_PERSONAL_TOKEN_DEFAULT_TTL" => "7d",
    "TESSERA_ALBUM_TOKEN_DEFAULT_TTL" => "14d",
    "TESSERA_PERSONAL_TOKEN_MAX_TTL" => "30d"
], |app| {
    app.alice_with_album().await;
    let t = app.create_token(ALICE, json!({ "name": "n", "scope": "user" })).await;
    assert_eq!(lifetime(&t), Duration::days(7));
    let t = album_token(app, ALICE, "a1", "n", &["read"]).await;
    assert_eq!(lifetime(&t), Duration::days(14));
    let t = app.create_token(ALICE, json!({ "name": "n", "scope": "user", "expires_in": 30 * 86400 })).await;
    assert_eq!(lifetime(&t), Duration::days(30));
    let r = post_token(app, ALICE, json!({ "name": "n", "scope": "user", "expires_in": 30 * 86400 + 1 })).await;
    refused(r, 400, "invalid_request", "2592000 seconds").await;
});

db_test!(non_expiring_tokens_only_when_enabled, ["TESSERA_ALLOW_NON_EXPIRING_TOKENS" => "true"], |app| {
    app.alice_with_album().await;
    let forever = app.create_token(ALICE, json!({ "name": "forever", "scope": "user", "never_expires": true })).await;
    assert!(forever["expires_at"].is_null(), "{forever}");
    let album = expect(post_album_token(app, ALICE, "a1", json!({ "name": "a", "permissions": ["read"], "never_expires": true })).await, 201).await;
    assert!(album["expires_at"].is_null(), "{album}");
    // The maximum still applies to explicit lifetimes.
    let r = post_token(app, ALICE, json!({ "name": "n", "scope": "user", "expires_in": 367 * 86400 })).await;
    refused(r, 400, "invalid_request", "maximum").await;
    // A child of a non-expiring parent may be non-expiring; a child of an expiring one may not.
    let at = app.exchange(s(&forever, "token")).await;
    let r = app.api_bearer(Method::POST, "/api/tokens", s(&at, "access_token"), Some(json!({ "name": "c", "scope": "user", "never_expires": true }))).await;
    let child = expect(r, 201).await;
    assert!(child["expires_at"].is_null(), "{child}");
    let (at, parent) = user_access_token(app, ALICE, json!({ "expires_in": 86400 })).await;
    let r = app.api_bearer(Method::POST, "/api/tokens", &at, Some(json!({ "name": "c", "scope": "user", "never_expires": true }))).await;
    let child = expect(r, 201).await;
    assert_eq!(time(&child, "expires_at"), time(&parent, "expires_at"));

    app.clock.advance(Duration::days(400));
    assert_eq!(show(app, ALICE, s(&forever, "id")).await["status"], "active");
    app.exchange(s(&forever, "token")).await;
});

// ----- listing -----

db_test!(
    list_is_newest_first_paged_counted_and_filtered_by_status,
    |app| {
        app.alice_with_album().await;
        let short = app
            .create_token(
                ALICE,
                json!({ "name": "a", "scope": "user", "expires_in": 30 }),
            )
            .await;
        for name in ["b", "c", "d"] {
            app.clock.advance(Duration::seconds(1));
            app.create_token(ALICE, json!({ "name": name, "scope": "user" }))
                .await;
        }
        let (items, _) = listing(app.api_as(Method::GET, "/api/tokens", ALICE, None).await).await;
        let c = items.iter().find(|t| t["name"] == "c").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        expect(delete(app, ALICE, &format!("/api/tokens/{c}")).await, 204).await;
        app.clock.advance(Duration::seconds(60));

        let list = |q: &str| {
            let path = format!("/api/tokens{q}");
            async move { app.api_as(Method::GET, &path, ALICE, None).await }
        };
        let (items, total) = listing(list("").await).await;
        assert_eq!((names(&items), total), (vec!["d", "c", "b", "a"], 4));
        let statuses: Vec<&str> = items
            .iter()
            .map(|t| t["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["active", "revoked", "active", "expired"]);
        for t in &items {
            for field in [
                "id",
                "name",
                "kind",
                "user",
                "scope",
                "rotating",
                "created_at",
                "expires_at",
                "last_used_at",
                "revoked_at",
                "status",
            ] {
                assert!(t.get(field).is_some(), "{field} missing: {t}");
            }
            assert!(
                t.get("token").is_none(),
                "a listed record never carries the secret: {t}"
            );
        }
        assert_eq!(items[3]["id"], short["id"]);

        let (items, total) = listing(list("?limit=3").await).await;
        assert_eq!((names(&items), total), (vec!["d", "c", "b"], 4));
        let (items, total) = listing(list("?limit=3&offset=3").await).await;
        assert_eq!((names(&items), total), (vec!["a"], 4));
        let (items, total) = listing(list("?offset=10").await).await;
        assert_eq!((items.len(), total), (0, 4));
        let (items, total) = listing(list("?status=active").await).await;
        assert_eq!((names(&items), total), (vec!["d", "b"], 2));
        let (items, total) = listing(list("?status=expired").await).await;
        assert_eq!((names(&items), total), (vec!["a"], 1));
        let (items, total) = listing(list("?status=revoked").await).await;
        assert_eq!((names(&items), total), (vec!["c"], 1));
        let (items, total) = listing(list("?status=active&limit=1&offset=1").await).await;
        assert_eq!((names(&items), total), (vec!["b"], 2));

        for (q, about) in [
            ("?status=old", "status"),
            ("?limit=0", "limit"),
            ("?limit=501", "limit"),
            ("?limit=-1", "query"),
            ("?sort=name", "query"),
        ] {
            refused(list(q).await, 400, "invalid_request", about).await;
        }
    }
);

db_test!(list_pages_by_50_unless_told, |app| {
    app.alice_with_album().await;
    let (at, _) = user_access_token(app, ALICE, json!({})).await;
    for i in 0..50 {
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": format!("t{i}"), "scope": "user" })),
            )
            .await;
        expect(r, 201).await;
    }
    let (items, total) = listing(app.api_as(Method::GET, "/api/tokens", ALICE, None).await).await;
    assert_eq!((items.len(), total), (50, 51));
    let (items, total) = listing(
        app.api_as(Method::GET, "/api/tokens?limit=500", ALICE, None)
            .await,
    )
    .await;
    assert_eq!((items.len(), total), (51, 51));
});

db_test!(last_use_shows_in_the_record, |app| {
    app.alice_with_album().await;
    let t = app
        .create_token(ALICE, json!({ "name": "n", "scope": "user" }))
        .await;
    assert!(show(app, ALICE, s(&t, "id")).await["last_used_at"].is_null());
    app.clock.advance(Duration::minutes(5));
    let used_at = app.clock.now();
    app.exchange(s(&t, "token")).await;
    let shown = show(app, ALICE, s(&t, "id")).await;
    let last = time(&shown, "last_used_at");
    assert!(
        last >= used_at && last < used_at + Duration::seconds(30),
        "{shown}"
    );
    assert_eq!(shown["status"], "active");
});

// ----- revocation -----

db_test!(revoke_is_204_twice_and_stops_the_token, |app| {
    app.alice_with_album().await;
    let t = app
        .create_token(ALICE, json!({ "name": "n", "scope": "user" }))
        .await;
    let id = s(&t, "id");
    let path = format!("/api/tokens/{id}");
    let r = delete(app, ALICE, &path).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(expect(r, 204).await, Value::Null);
    let first = show(app, ALICE, id).await;
    assert_eq!(first["status"], "revoked");
    let revoked_at = time(&first, "revoked_at");
    app.clock.advance(Duration::minutes(1));
    assert_eq!(
        expect(delete(app, ALICE, &path).await, 204).await,
        Value::Null
    );
    assert_eq!(
        time(&show(app, ALICE, id).await, "revoked_at"),
        revoked_at,
        "a second revoke changes nothing"
    );
    assert_exchange_refused(app, s(&t, "token")).await;

    let long = "x".repeat(40);
    for bad in ["NoSuchToken1", "a-b", long.as_str()] {
        let p = format!("/api/tokens/{bad}");
        refused(
            app.api_as(Method::GET, &p, ALICE, None).await,
            404,
            "not_found",
            "no token",
        )
        .await;
        refused(delete(app, ALICE, &p).await, 404, "not_found", "no token").await;
    }
});

// ----- two users -----

db_test!(users_see_and_revoke_only_their_own_tokens, |app| {
    app.alice_with_album().await;
    app.add_user("bob", "bob-pw", false).await;
    app.grant("a1", "bob", "read,share").await;
    let alice_p = app
        .create_token(ALICE, json!({ "name": "alice personal", "scope": "user" }))
        .await;
    let alice_a = album_token(app, ALICE, "a1", "alice album", &["read"]).await;
    let bob_p = app
        .create_token(BOB, json!({ "name": "bob personal", "scope": "user" }))
        .await;
    let bob_a = album_token(app, BOB, "a1", "bob album", &["read"]).await;

    let ids = |items: &[Value]| {
        let mut v: Vec<String> = items
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let sorted = |a: &Value, b: &Value| {
        let mut v = vec![s(a, "id").to_string(), s(b, "id").to_string()];
        v.sort();
        v
    };
    let (items, total) = listing(app.api_as(Method::GET, "/api/tokens", BOB, None).await).await;
    assert_eq!((ids(&items), total), (sorted(&bob_p, &bob_a), 2));
    let (items, total) = listing(app.api_as(Method::GET, "/api/tokens", ALICE, None).await).await;
    assert_eq!((ids(&items), total), (sorted(&alice_p, &alice_a), 2));
    let (items, _) = listing(
        app.api_as(Method::GET, "/api/albums/a1/tokens", BOB, None)
            .await,
    )
    .await;
    assert_eq!(ids(&items), [s(&bob_a, "id")]);
    refused(
        app.api_as(Method::GET, "/api/tokens?user=alice", BOB, None)
            .await,
        403,
        "forbidden",
        "admin",
    )
    .await;

    // Another user's id answers exactly like an id that does not exist.
    let (bob_at, _) = user_access_token(app, BOB, json!({})).await;
    for theirs in [&alice_p, &alice_a] {
        let p = format!("/api/tokens/{}", s(theirs, "id"));
        refused(
            app.api_as(Method::GET, &p, BOB, None).await,
            404,
            "not_found",
            "no token",
        )
        .await;
        refused(delete(app, BOB, &p).await, 404, "not_found", "no token").await;
        refused(
            app.api_bearer(Method::GET, &p, &bob_at, None).await,
            404,
            "not_found",
            "no token",
        )
        .await;
        refused(
            app.api_bearer(Method::DELETE, &p, &bob_at, None).await,
            404,
            "not_found",
            "no token",
        )
        .await;
        assert_eq!(show(app, ALICE, s(theirs, "id")).await["status"], "active");
        app.exchange(s(theirs, "token")).await;
    }
});

// ----- tokens made with a Bearer credential -----

db_test!(
    bearer_made_tokens_never_outlive_or_outrank_their_parent,
    |app| {
        app.alice_with_album().await;
        app.add_album("a2").await;
        let (at, parent) = user_access_token(app, ALICE, json!({ "expires_in": 86400 })).await;
        let parent_id = s(&parent, "id");
        let parent_expiry = time(&parent, "expires_at");

        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": "child", "scope": "user", "expires_in": 30 * 86400 })),
            )
            .await;
        let capped = expect(r, 201).await;
        assert_eq!(capped["parent_id"], parent_id);
        assert_eq!(
            time(&capped, "expires_at"),
            parent_expiry,
            "capped at the parent's expiry"
        );
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": "short", "scope": "user", "expires_in": 3600 })),
            )
            .await;
        let short = expect(r, 201).await;
        assert_eq!(
            lifetime(&short),
            Duration::hours(1),
            "a shorter lifetime is kept"
        );
        let r = app
            .api_bearer(
                Method::POST,
                "/api/albums/a1/tokens",
                &at,
                Some(json!({ "name": "album child", "permissions": ["read", "download"] })),
            )
            .await;
        let album_child = expect(r, 201).await;
        assert_eq!(album_child["parent_id"], parent_id);
        assert_eq!(
            time(&album_child, "expires_at"),
            parent_expiry,
            "the 90-day album default is capped too"
        );

        // Scope: a Bearer caller is held to the same limit as its user.
        let before = written(app).await;
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                &at,
                Some(json!({ "name": "more", "scope": "album:a2:read" })),
            )
            .await;
        refused(r, 400, "invalid_scope", "you do not hold album:a2:read").await;
        let r = app
            .api_bearer(
                Method::POST,
                "/api/albums/a1/tokens",
                &at,
                Some(json!({ "name": "more", "permissions": ["read", "admin"] })),
            )
            .await;
        refused(r, 400, "invalid_request", "admin").await;
        assert_eq!(written(app).await, before);

        // A grandchild made from the child's access token is under the child.
        let child_at = app.exchange(s(&capped, "token")).await;
        let r = app
            .api_bearer(
                Method::POST,
                "/api/tokens",
                s(&child_at, "access_token"),
                Some(json!({ "name": "grandchild", "scope": "user" })),
            )
            .await;
        let grandchild = expect(r, 201).await;
        assert_eq!(grandchild["parent_id"], capped["id"]);

        // Revoking the parent revokes everything made under it, and its access tokens stop working.
        expect(
            delete(app, ALICE, &format!("/api/tokens/{parent_id}")).await,
            204,
        )
        .await;
        for t in [&capped, &short, &album_child, &grandchild] {
            assert_eq!(
                show(app, ALICE, s(t, "id")).await["status"],
                "revoked",
                "{t}"
            );
            assert_exchange_refused(app, s(t, "token")).await;
        }
        let r = app.api_bearer(Method::GET, "/api/tokens", &at, None).await;
        assert_eq!(r.status(), 401);
        // A sibling made with the password is untouched.
        let sibling = app
            .create_token(ALICE, json!({ "name": "sibling", "scope": "user" }))
            .await;
        assert_eq!(
            show(app, ALICE, s(&sibling, "id")).await["status"],
            "active"
        );
    }
);

// ----- album tokens -----

db_test!(album_token_scope_is_exactly_its_permissions, |app| {
    app.alice_with_album().await;
    let r = post_album_token(app, ALICE, "a1", json!({ "name": "viewer", "permissions": ["read", "download"], "expires_in": 30 * 86400, "rotating": true })).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    let t = expect(r, 201).await;
    assert!(
        Secret::parse(SecretKind::RefreshToken, s(&t, "token")).is_ok(),
        "{t}"
    );
    assert_eq!(t["kind"], "album");
    assert_eq!(t["album_id"], "a1");
    assert_eq!(t["scope"], "album:a1:download album:a1:read");
    let mut perms: Vec<&str> = t["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    perms.sort();
    assert_eq!(perms, ["download", "read"]);
    assert_eq!(t["rotating"], true);
    assert_eq!(lifetime(&t), Duration::days(30));
    let default = album_token(app, ALICE, "a1", "default", &["read"]).await;
    assert_eq!(lifetime(&default), Duration::days(90));
    let at = app.exchange(s(&t, "token")).await;
    assert_eq!(at["scope"], "album:a1:download album:a1:read");
});

db_test!(
    album_token_creation_follows_the_creators_permissions,
    |app| {
        app.alice_with_album().await;
        app.add_user("bob", "bob-pw", false).await;
        app.add_user("carol", "carol-pw", false).await;
        app.add_user("dave", "dave-pw", false).await;
        app.add_user("eve", "eve-pw", false).await;
        app.grant("a1", "bob", "read,share").await;
        app.grant("a1", "carol", "read,download").await;
        app.grant("a1", "eve", "admin").await;
        let before = written(app).await;

        // A non-member learns nothing, not even that the album exists: the same 404 as for
        // an album that does not.
        let dave = ("dave", "dave-pw");
        for album in ["a1", "no-such-album"] {
            let r = post_album_token(
                app,
                dave,
                album,
                json!({ "name": "n", "permissions": ["read"] }),
            )
            .await;
            refused(r, 404, "not_found", album).await;
            let r = app
                .api_as(
                    Method::GET,
                    &format!("/api/albums/{album}/tokens"),
                    dave,
                    None,
                )
                .await;
            refused(r, 404, "not_found", album).await;
        }
        let forbidden = [
            (CAROL, json!(["read"]), "share"),
            (BOB, json!(["read", "write"]), "write"),
            (BOB, json!(["read", "download"]), "download"),
        ];
        for (who, perms, about) in forbidden {
            let r = post_album_token(app, who, "a1", json!({ "name": "n", "permissions": perms }))
                .await;
            refused(r, 403, "forbidden", about).await;
        }
        let bad = [
            (json!(["download"]), "read"),
            (json!(["share"]), "read"),
            (json!(["read", "fly"]), "fly"),
            (json!([]), "permissions"),
            (json!(["admin"]), "admin"),
            (json!("read"), "JSON"),
        ];
        for (perms, about) in bad {
            let r = post_album_token(
                app,
                ALICE,
                "a1",
                json!({ "name": "n", "permissions": perms }),
            )
            .await;
            refused(r, 400, "invalid_request", about).await;
        }
        let r = post_album_token(
            app,
            ALICE,
            "a1",
            json!({ "name": "n", "permissions": ["read"], "scope": "user" }),
        )
        .await;
        refused(r, 400, "invalid_request", "scope").await;
        let r = post_album_token(
            app,
            ALICE,
            "a1",
            json!({ "name": "", "permissions": ["read"] }),
        )
        .await;
        refused(r, 400, "invalid_request", "name").await;
        let r = post_album_token(
            app,
            ALICE,
            "nope",
            json!({ "name": "n", "permissions": ["read"] }),
        )
        .await;
        refused(r, 404, "not_found", "nope").await;
        assert_eq!(
            written(app).await,
            before,
            "refused album tokens write nothing"
        );

        // Share (or admin) and every permission granted is enough.
        let t = album_token(app, BOB, "a1", "bob", &["read", "share"]).await;
        assert_eq!(t["scope"], "album:a1:read album:a1:share");
        let t = album_token(
            app,
            ("eve", "eve-pw"),
            "a1",
            "eve",
            &["read", "write", "download", "share"],
        )
        .await;
        assert_eq!(t["user"], "eve");
        let t = album_token(app, ALICE, "a1", "alice", &["write"]).await;
        assert_eq!(t["scope"], "album:a1:write");
    }
);

db_test!(album_token_lists_and_album_admins, |app| {
    app.alice_with_album().await;
    app.add_album("a2").await;
    app.grant("a2", "alice", "read,share").await;
    app.add_user("bob", "bob-pw", false).await;
    app.add_user("carol", "carol-pw", false).await;
    app.add_user("dave", "dave-pw", false).await;
    app.grant("a1", "bob", "read,share").await;
    app.grant("a1", "carol", "admin").await;
    let alice_a = album_token(app, ALICE, "a1", "alice a1", &["read"]).await;
    app.clock.advance(Duration::seconds(1));
    let bob_a = album_token(app, BOB, "a1", "bob a1", &["read"]).await;
    let alice_a2 = album_token(app, ALICE, "a2", "alice a2", &["read"]).await;
    let alice_p = app
        .create_token(
            ALICE,
            json!({ "name": "alice personal", "scope": "album:a1:read" }),
        )
        .await;

    let list = |who| app.api_as(Method::GET, "/api/albums/a1/tokens", who, None);
    let (items, total) = listing(list(ALICE).await).await;
    assert_eq!(
        (names(&items), total),
        (vec!["alice a1"], 1),
        "only her album tokens of this album"
    );
    let (items, total) = listing(list(BOB).await).await;
    assert_eq!((names(&items), total), (vec!["bob a1"], 1));
    let (items, total) = listing(list(CAROL).await).await;
    assert_eq!(
        (names(&items), total),
        (vec!["bob a1", "alice a1"], 2),
        "an album admin sees all, newest first"
    );
    // A non-member is told nothing about the album, not even that it exists.
    refused(list(("dave", "dave-pw")).await, 404, "not_found", "a1").await;
    let (items, _) = listing(
        app.api_as(
            Method::GET,
            "/api/albums/a1/tokens?status=revoked",
            CAROL,
            None,
        )
        .await,
    )
    .await;
    assert!(items.is_empty());
    refused(
        app.api_as(Method::GET, "/api/albums/nope/tokens", ALICE, None)
            .await,
        404,
        "not_found",
        "nope",
    )
    .await;

    // The album admin may see and revoke any token of the album, and nothing else.
    assert_eq!(show(app, CAROL, s(&alice_a, "id")).await["user"], "alice");
    for outside in [&alice_a2, &alice_p] {
        let p = format!("/api/tokens/{}", s(outside, "id"));
        refused(
            app.api_as(Method::GET, &p, CAROL, None).await,
            404,
            "not_found",
            "no token",
        )
        .await;
        refused(delete(app, CAROL, &p).await, 404, "not_found", "no token").await;
    }
    // Holding share is not enough to revoke someone else's album token.
    refused(
        delete(app, BOB, &format!("/api/tokens/{}", s(&alice_a, "id"))).await,
        404,
        "not_found",
        "no token",
    )
    .await;
    assert_eq!(
        show(app, ALICE, s(&alice_a, "id")).await["status"],
        "active"
    );
    expect(
        delete(app, CAROL, &format!("/api/tokens/{}", s(&alice_a, "id"))).await,
        204,
    )
    .await;
    assert_eq!(
        show(app, ALICE, s(&alice_a, "id")).await["status"],
        "revoked"
    );
    assert_exchange_refused(app, s(&alice_a, "token")).await;
    assert_eq!(show(app, BOB, s(&bob_a, "id")).await["status"], "active");
    let (items, _) = listing(
        app.api_as(
            Method::GET,
            "/api/albums/a1/tokens?status=revoked",
            CAROL,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(names(&items), ["alice a1"]);
});

// ----- administration and audit -----

db_test!(admins_list_and_revoke_any_users_tokens, |app| {
    app.alice_with_album().await;
    app.add_user("bob", "bob-pw", false).await;
    app.add_user("root", "root-pw", true).await;
    let (alice_at, p1) = user_access_token(app, ALICE, json!({})).await;
    app.clock.advance(Duration::seconds(1));
    let a1 = album_token(app, ALICE, "a1", "album", &["read"]).await;
    app.clock.advance(Duration::seconds(1));
    let r = app
        .api_bearer(
            Method::POST,
            "/api/tokens",
            &alice_at,
            Some(json!({ "name": "child", "scope": "user" })),
        )
        .await;
    let child = expect(r, 201).await;
    let b1 = app
        .create_token(BOB, json!({ "name": "b1", "scope": "user" }))
        .await;
    let b2 = app
        .create_token(BOB, json!({ "name": "b2", "scope": "user" }))
        .await;

    let (items, total) = listing(
        app.api_as(Method::GET, "/api/tokens?user=alice", ROOT, None)
            .await,
    )
    .await;
    assert_eq!(
        (names(&items), total),
        (vec!["child", "album", "session"], 3)
    );
    assert!(items.iter().all(|t| t["user"] == "alice"));
    let (same, _) = listing(
        app.api_as(Method::GET, "/api/users/alice/tokens", ROOT, None)
            .await,
    )
    .await;
    assert_eq!(same, items);
    let (items, _) = listing(
        app.api_as(
            Method::GET,
            "/api/users/alice/tokens?status=active&limit=1",
            ROOT,
            None,
        )
        .await,
    )
    .await;
    assert_eq!(names(&items), ["child"]);
    let (own, total) = listing(app.api_as(Method::GET, "/api/tokens", ROOT, None).await).await;
    assert_eq!(
        (own.len(), total),
        (0, 0),
        "without ?user an admin lists their own tokens"
    );
    refused(
        app.api_as(Method::GET, "/api/users/ghost/tokens", ROOT, None)
            .await,
        404,
        "not_found",
        "ghost",
    )
    .await;
    refused(
        app.api_as(Method::GET, "/api/tokens?user=ghost", ROOT, None)
            .await,
        404,
        "not_found",
        "ghost",
    )
    .await;

    // Not for users without the admin flag, whatever they hold.
    refused(
        app.api_as(Method::GET, "/api/users/bob/tokens", ALICE, None)
            .await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    refused(
        app.api_as(Method::GET, "/api/tokens?user=bob", ALICE, None)
            .await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    refused(
        delete(app, ALICE, "/api/users/bob/tokens").await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    let (own, _) = listing(
        app.api_as(Method::GET, "/api/tokens?user=alice", ALICE, None)
            .await,
    )
    .await;
    assert_eq!(own.len(), 3, "naming oneself is allowed");
    assert_eq!(show(app, BOB, s(&b1, "id")).await["status"], "active");

    // An admin revokes one token of anyone...
    assert_eq!(show(app, ROOT, s(&b1, "id")).await["user"], "bob");
    expect(
        delete(app, ROOT, &format!("/api/tokens/{}", s(&b1, "id"))).await,
        204,
    )
    .await;
    assert_eq!(show(app, BOB, s(&b1, "id")).await["status"], "revoked");
    // ...or every live token of a user at once.
    let v = expect(delete(app, ROOT, "/api/users/alice/tokens").await, 200).await;
    assert_eq!(v, json!({ "revoked": 3 }));
    let v = expect(delete(app, ROOT, "/api/users/alice/tokens").await, 200).await;
    assert_eq!(v, json!({ "revoked": 0 }));
    refused(
        delete(app, ROOT, "/api/users/ghost/tokens").await,
        404,
        "not_found",
        "ghost",
    )
    .await;
    let (live, total) = listing(
        app.api_as(Method::GET, "/api/tokens?status=active", ALICE, None)
            .await,
    )
    .await;
    assert_eq!((live.len(), total), (0, 0));
    for t in [&p1, &a1, &child] {
        assert_exchange_refused(app, s(t, "token")).await;
    }
    assert_eq!(
        app.api_bearer(Method::GET, "/api/tokens", &alice_at, None)
            .await
            .status(),
        401
    );
    assert_eq!(
        show(app, BOB, s(&b2, "id")).await["status"],
        "active",
        "bob's other token is untouched"
    );
});

db_test!(creation_and_revocation_are_audited_for_admins, |app| {
    app.alice_with_album().await;
    app.add_user("root", "root-pw", true).await;
    app.add_user("carol", "carol-pw", false).await;
    app.grant("a1", "carol", "admin").await;
    let p = app
        .create_token(ALICE, json!({ "name": "laptop", "scope": "user" }))
        .await;
    let a = album_token(app, ALICE, "a1", "viewer", &["read"]).await;
    let (p_id, a_id) = (s(&p, "id"), s(&a, "id"));
    expect(
        delete(app, CAROL, &format!("/api/tokens/{a_id}")).await,
        204,
    )
    .await;
    expect(
        delete(app, ALICE, &format!("/api/tokens/{p_id}")).await,
        204,
    )
    .await;
    expect(
        delete(app, ALICE, &format!("/api/tokens/{p_id}")).await,
        204,
    )
    .await;
    app.create_token(ALICE, json!({ "name": "later", "scope": "user" }))
        .await;
    expect(delete(app, ROOT, "/api/users/alice/tokens").await, 200).await;

    refused(
        app.api_as(Method::GET, "/api/audit", ALICE, None).await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    refused(
        app.api_as(Method::GET, "/api/audit", CAROL, None).await,
        403,
        "forbidden",
        "admin",
    )
    .await;
    let audit = |q: String| async move {
        app.api_as(Method::GET, &format!("/api/audit{q}"), ROOT, None)
            .await
    };

    let (created, total) =
        listing(audit(format!("?action=token.create&target=token:{p_id}")).await).await;
    assert_eq!((created.len(), total), (1, 1));
    let e = &created[0];
    assert_eq!(
        (&e["actor"], &e["action"]),
        (&json!("user:alice"), &json!("token.create"))
    );
    assert_eq!(e["detail"]["name"], "laptop");
    assert_eq!(e["detail"]["kind"], "personal");
    assert_eq!(e["detail"]["scope"], "user");
    assert_eq!(time(e, "at"), time(&p, "created_at"));
    let (created, _) =
        listing(audit(format!("?action=token.create&target=token:{a_id}")).await).await;
    assert_eq!(created[0]["detail"]["kind"], "album");
    let (_, total) = listing(audit("?action=token.create".into()).await).await;
    assert_eq!(total, 3);

    let (revoked, total) =
        listing(audit(format!("?action=token.revoke&target=token:{a_id}")).await).await;
    assert_eq!(
        (total, &revoked[0]["actor"]),
        (1, &json!("user:carol")),
        "the album admin is the actor"
    );
    assert_eq!(revoked[0]["detail"]["revoked"], json!([a_id]));
    let (revoked, total) =
        listing(audit(format!("?action=token.revoke&target=token:{p_id}")).await).await;
    assert_eq!(
        (total, &revoked[0]["actor"]),
        (1, &json!("user:alice")),
        "a repeated revoke is not audited twice"
    );
    let (all, total) = listing(audit("?action=token.revoke_all".into()).await).await;
    assert_eq!(
        (total, &all[0]["actor"], &all[0]["target"]),
        (1, &json!("user:root"), &json!("user:alice"))
    );
    assert_eq!(
        all[0]["detail"]["revoked"].as_array().map(Vec::len),
        Some(1)
    );

    let (latest, _) = listing(audit("?limit=1".into()).await).await;
    assert_eq!(latest[0]["action"], "token.revoke_all", "newest first");
    let text = audit("?limit=500".into()).await.text().await.unwrap();
    for secret in [s(&p, "token"), s(&a, "token")] {
        assert!(!text.contains(secret), "the audit log never holds a secret");
    }
});

// ----- the "done when" of the issue, end to end -----

db_test!(
    album_token_for_a_viewer_from_creation_to_revocation,
    |app| {
        app.alice_with_album().await;
        app.add_user("bob", "bob-pw", false).await;
        app.grant("a1", "bob", "read,share").await;
        app.add_client("viewer", true, None, None, false).await;
        let t = expect(
        post_album_token(app, ALICE, "a1", json!({ "name": "viewer on my laptop", "permissions": ["read", "download"], "expires_in": 2592000 })).await,
        201,
    )
    .await;
        let id = s(&t, "id");
        let (items, _) = listing(app.api_as(Method::GET, "/api/tokens", ALICE, None).await).await;
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
        let at = expect(r, 200).await;
        assert_eq!(at["token_type"], "Bearer");
        assert_eq!(at["scope"], "album:a1:download album:a1:read");
        let (items, _) = listing(
            app.api_as(Method::GET, "/api/albums/a1/tokens", ALICE, None)
                .await,
        )
        .await;
        assert_eq!(items[0]["id"], id);
        assert!(
            time(&items[0], "last_used_at") > time(&t, "created_at"),
            "{}",
            items[0]
        );

        // Bob, with share on the same album, sees none of it.
        let (mine, total) = listing(app.api_as(Method::GET, "/api/tokens", BOB, None).await).await;
        assert_eq!((mine.len(), total), (0, 0));
        let (album, total) = listing(
            app.api_as(Method::GET, "/api/albums/a1/tokens", BOB, None)
                .await,
        )
        .await;
        assert_eq!((album.len(), total), (0, 0));
        refused(
            app.api_as(Method::GET, &format!("/api/tokens/{id}"), BOB, None)
                .await,
            404,
            "not_found",
            "no token",
        )
        .await;

        expect(delete(app, ALICE, &format!("/api/tokens/{id}")).await, 204).await;
        let (items, _) = listing(
            app.api_as(Method::GET, "/api/tokens?status=revoked", ALICE, None)
                .await,
        )
        .await;
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
        refused(r, 400, "invalid_grant", "").await;
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
    cli_round_trip_is_audited(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("t.db").display()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_creates_lists_and_revokes_tokens_on_postgres() {
    let Some(base) = crate::helpers::postgres_base_url() else {
        return;
    };
    let (url, name) = crate::helpers::create_pg_database(&base).await;
    let result = tokio::spawn(cli_round_trip_is_audited(url)).await;
    crate::helpers::drop_pg_database(&base, &name).await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}

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

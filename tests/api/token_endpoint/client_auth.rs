//! Client authentication at the token endpoint, and refresh tokens bound to a client.

use serde_json::json;

use crate::db_test;
use crate::helpers::{assert_token_error, claims, expect_token, ALICE};

db_test!(
    confidential_client_authenticates_with_client_secret_basic,
    |app| {
        app.alice_with_album().await;
        let secret = app.add_confidential("app", None, None).await;
        let (_, rt) = app.alice_token("user", json!({})).await;
        let v = expect_token(app.exchange_with(&rt, &[], Some(("app", &secret))).await).await;
        let c = claims(v["access_token"].as_str().unwrap());
        assert_eq!(
            c["client_id"], "app",
            "the authenticated client is named in the token"
        );
        assert_eq!(c["sub"], "alice");
    }
);

db_test!(
    confidential_client_authenticates_with_client_secret_post,
    |app| {
        app.alice_with_album().await;
        let secret = app.add_confidential("app", None, None).await;
        let (_, rt) = app.alice_token("user", json!({})).await;
        let v = expect_token(
            app.exchange_with(
                &rt,
                &[("client_id", "app"), ("client_secret", &secret)],
                None,
            )
            .await,
        )
        .await;
        assert_eq!(
            claims(v["access_token"].as_str().unwrap())["client_id"],
            "app"
        );
    }
);

db_test!(public_client_identifies_with_client_id_only, |app| {
    app.alice_with_album().await;
    assert!(app
        .add_client("cli", true, None, None, false)
        .await
        .is_none());
    let (_, rt) = app.alice_token("user", json!({})).await;
    let v = expect_token(app.exchange_with(&rt, &[("client_id", "cli")], None).await).await;
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["client_id"],
        "cli"
    );
});

db_test!(failed_client_authentication_is_401_invalid_client, |app| {
    app.alice_with_album().await;
    app.add_confidential("app", None, None).await;
    app.add_client("cli", true, None, None, false).await;
    let (_, rt) = app.alice_token("user", json!({})).await;
    type Form<'a> = Vec<(&'a str, &'a str)>;
    let attempts: Vec<(Form, Option<(&str, &str)>)> = vec![
        (vec![], Some(("app", "wrong-secret"))),
        (
            vec![("client_id", "app"), ("client_secret", "wrong-secret")],
            None,
        ),
        (vec![], Some(("nobody", "secret"))),
        (vec![("client_id", "app")], None),
        (
            vec![],
            Some(("cli", "a-secret-a-public-client-does-not-have")),
        ),
    ];
    for (extra, basic) in attempts {
        let r = app.exchange_with(&rt, &extra, basic).await;
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .map(|h| h.to_str().unwrap()),
            Some("Basic realm=\"tessera\"")
        );
        assert_token_error(r, 401, "invalid_client").await;
    }
});

db_test!(
    two_client_authentication_methods_at_once_are_invalid_request,
    |app| {
        app.alice_with_album().await;
        let secret = app.add_confidential("app", None, None).await;
        let (_, rt) = app.alice_token("user", json!({})).await;
        let r = app
            .exchange_with(&rt, &[("client_secret", &secret)], Some(("app", &secret)))
            .await;
        assert_token_error(r, 400, "invalid_request").await;
    }
);

db_test!(client_token_is_bound_to_its_client_and_rotates, |app| {
    app.alice_with_album().await;
    let secret = app.add_confidential("app", None, None).await;
    let v = app
        .create_token(
            ALICE,
            json!({ "name": "app", "scope": "user", "client_id": "app", "rotating": false }),
        )
        .await;
    assert_eq!(v["kind"], "client");
    assert_eq!(
        v["rotating"], true,
        "tokens held by an OAuth client always rotate"
    );
    let rt = v["token"].as_str().unwrap();
    let out = expect_token(app.exchange_with(rt, &[], Some(("app", &secret))).await).await;
    let next = out["refresh_token"]
        .as_str()
        .expect("a rotated refresh token");
    assert!(next.starts_with("tsr_") && next != rt);
    assert_eq!(
        claims(out["access_token"].as_str().unwrap())["client_id"],
        "app"
    );
});

db_test!(
    bound_token_presented_by_another_client_is_invalid_grant,
    |app| {
        app.alice_with_album().await;
        app.add_confidential("app", None, None).await;
        let other = app.add_confidential("other", None, None).await;
        app.add_client("cli", true, None, None, false).await;
        let v = app
            .create_token(
                ALICE,
                json!({ "name": "app", "scope": "user", "client_id": "app" }),
            )
            .await;
        let rt = v["token"].as_str().unwrap();
        let d = assert_token_error(
            app.exchange_with(rt, &[], Some(("other", &other))).await,
            400,
            "invalid_grant",
        )
        .await;
        assert!(d.contains("another client"), "{d}");
        assert!(!d.contains("alice"), "does not say whose token it is: {d}");
        assert_token_error(
            app.exchange_with(rt, &[("client_id", "cli")], None).await,
            400,
            "invalid_grant",
        )
        .await;
    }
);

db_test!(
    token_bound_to_confidential_client_needs_its_authentication,
    |app| {
        app.alice_with_album().await;
        app.add_confidential("app", None, None).await;
        let v = app
            .create_token(
                ALICE,
                json!({ "name": "app", "scope": "user", "client_id": "app" }),
            )
            .await;
        let r = app
            .exchange_with(v["token"].as_str().unwrap(), &[], None)
            .await;
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"tessera\"");
        assert_token_error(r, 401, "invalid_client").await;
    }
);

db_test!(
    client_without_refresh_token_grant_is_unauthorized_client,
    |app| {
        app.alice_with_album().await;
        let secret = app
            .add_confidential("svc", Some("client_credentials"), None)
            .await;
        let (_, rt) = app.alice_token("user", json!({})).await;
        let d = assert_token_error(
            app.exchange_with(&rt, &[], Some(("svc", &secret))).await,
            400,
            "unauthorized_client",
        )
        .await;
        assert!(d.contains("refresh_token"), "{d}");
    }
);

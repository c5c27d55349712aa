//! The client_credentials grant.

use serde_json::Value;

use crate::db_test;
use crate::helpers::{assert_token_error, claims, expect_token};

db_test!(
    client_credentials_issues_token_for_the_client_itself,
    |app| {
        let secret = app
            .add_confidential("svc", Some("client_credentials"), Some("album:a1:read"))
            .await;
        let r = app.client_credentials(&[], Some(("svc", &secret))).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 900);
        assert_eq!(
            v["scope"], "album:a1:read",
            "without a scope parameter: the registered scopes"
        );
        assert!(
            v.get("refresh_token").is_none(),
            "client_credentials never issues a refresh token: {v}"
        );
        let c = claims(v["access_token"].as_str().unwrap());
        assert_eq!(c["sub"], "svc");
        assert_eq!(c["client_id"], "svc");
        assert_eq!(c["scope"], "album:a1:read");
        assert!(c.get("rtid").is_none(), "{c}");
    }
);

db_test!(
    /// Client rows are cached after a successful lookup; the cache must neither hide a client
    /// registered after a failed attempt nor turn a cached row into a pass for a wrong secret.
    client_cache_sees_new_clients_and_still_checks_secrets,
    |app| {
        let r = app
            .client_credentials(&[],
                Some(("late", "tsc_not-yet-registered")),
            )
            .await;
        assert_eq!(r.status(), 401, "unknown client");
        let secret = app
            .add_confidential("late", Some("client_credentials"), None).await;
        let r = app
            .client_credentials(&[],
                Some(("late", &secret)),
            )
            .await;
        assert_eq!(r.status(), 200, "a client registered after a miss works at once");
        let r = app
            .client_credentials(&[],
                Some(("late", "tsc_wrong-secret-for-a-cached-client")),
            )
            .await;
        assert_eq!(r.status(), 401, "a cached row does not skip the secret check");
        let r = app
            .client_credentials(&[],
                Some(("late", &secret)),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
);

db_test!(client_credentials_accepts_client_secret_post, |app| {
    let secret = app
        .add_confidential("svc", Some("client_credentials"), None)
        .await;
    let r = app
        .client_credentials(&[("client_id", "svc"), ("client_secret", &secret)], None)
        .await;
    let v = expect_token(r).await;
    assert_eq!(claims(v["access_token"].as_str().unwrap())["sub"], "svc");
});

db_test!(client_credentials_scope_follows_the_client_policy, |app| {
    let secret = app
        .add_confidential("svc", Some("client_credentials"), Some("album:*:read"))
        .await;
    let basic = Some(("svc", secret.as_str()));
    let v = expect_token(
        app.client_credentials(&[("scope", "album:x9:read album:b2:read")], basic)
            .await,
    )
    .await;
    assert_eq!(v["scope"], "album:b2:read album:x9:read");
    let d = assert_token_error(
        app.client_credentials(&[("scope", "album:x9:write")], basic)
            .await,
        400,
        "invalid_scope",
    )
    .await;
    assert!(d.contains("album:x9:write"), "{d}");
    assert_token_error(
        app.client_credentials(&[("scope", "album:x9:bogus")], basic)
            .await,
        400,
        "invalid_scope",
    )
    .await;
});

db_test!(client_credentials_never_grants_user_scope, |app| {
    let secret = app
        .add_confidential("svc", Some("client_credentials"), None)
        .await;
    let d = assert_token_error(
        app.client_credentials(&[("scope", "user")], Some(("svc", &secret)))
            .await,
        400,
        "invalid_scope",
    )
    .await;
    assert!(d.contains("user"), "{d}");
});

db_test!(
    client_credentials_without_a_registered_scope_grants_no_album,
    |app| {
        // No user stands behind a client_credentials token: a client registered without --scope
        // must not be able to name itself into any album.
        let secret = app
            .add_confidential("svc", Some("client_credentials"), None)
            .await;
        let basic = Some(("svc", secret.as_str()));
        for scope in [
            "album:a1:read",
            "album:a1:read album:a1:write",
            "album:other:read",
        ] {
            let d = assert_token_error(
                app.client_credentials(&[("scope", scope)], basic).await,
                400,
                "invalid_scope",
            )
            .await;
            assert!(d.contains("no registered scope"), "{scope}: {d}");
        }
        // Without a scope parameter it still gets a token, with an empty scope.
        let v = expect_token(app.client_credentials(&[], basic).await).await;
        assert_eq!(v["scope"], "");
        assert_eq!(claims(v["access_token"].as_str().unwrap())["sub"], "svc");
    }
);

db_test!(public_client_cannot_use_client_credentials, |app| {
    app.add_client("cli", true, None, None, false).await;
    let r = app.client_credentials(&[("client_id", "cli")], None).await;
    assert_token_error(r, 400, "unauthorized_client").await;
});

db_test!(client_credentials_needs_the_registered_grant_type, |app| {
    let secret = app
        .add_confidential("app", Some("refresh_token"), None)
        .await;
    let d = assert_token_error(
        app.client_credentials(&[], Some(("app", &secret))).await,
        400,
        "unauthorized_client",
    )
    .await;
    assert!(d.contains("client_credentials"), "{d}");
});

db_test!(
    client_credentials_without_authentication_is_invalid_client,
    |app| {
        let secret = app
            .add_confidential("svc", Some("client_credentials"), None)
            .await;
        let r = app.client_credentials(&[], None).await;
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"tessera\"");
        assert_token_error(r, 401, "invalid_client").await;
        let r = app
            .client_credentials(&[], Some(("svc", &format!("{secret}x"))))
            .await;
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"tessera\"");
        assert_token_error(r, 401, "invalid_client").await;
    }
);

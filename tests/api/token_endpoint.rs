//! POST /oauth/token: both grants, the scope rules, client authentication, rotation with reuse
//! detection, the RFC 6749 §5 response shapes and the RFC 9068 access token.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::db_test;
use crate::helpers::{TestApp, ALICE};

// ----- helpers for this module -----

/// Creates a personal token for alice with `scope` plus `extra` fields; returns (secret, id).
async fn alice_token(app: &TestApp, scope: &str, extra: Value) -> (String, String) {
    let mut body = json!({ "name": "t", "scope": scope });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let v = app.create_token(ALICE, body).await;
    (
        v["token"].as_str().expect("token").to_string(),
        v["id"].as_str().expect("id").to_string(),
    )
}

/// Creates an album token on a1 for alice with the given permissions; returns its secret.
async fn album_token(app: &TestApp, permissions: &[&str]) -> String {
    let r = app
        .api_as(
            Method::POST,
            "/api/albums/a1/tokens",
            ALICE,
            Some(json!({ "name": "album", "permissions": permissions })),
        )
        .await;
    let status = r.status();
    let v: Value = r.json().await.expect("JSON");
    assert_eq!(status, 201, "create album token failed: {v}");
    v["token"].as_str().expect("token").to_string()
}

/// A refresh-token request with extra form fields.
async fn exchange_with(
    app: &TestApp,
    rt: &str,
    extra: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Response {
    let mut form: Vec<(&str, &str)> = vec![("grant_type", "refresh_token"), ("refresh_token", rt)];
    form.extend_from_slice(extra);
    app.token(&form, basic).await
}

/// Asserts an RFC 6749 §5.2 error with this status and code; returns the description.
async fn expect_error(r: Response, status: u16, code: &str) -> String {
    assert_eq!(r.status(), status, "status");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().await.expect("error JSON");
    assert_eq!(v["error"], code, "{v}");
    let d = v["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("no error_description: {v}"));
    assert!(!d.is_empty(), "{v}");
    d.to_string()
}

/// Asserts a successful token response; returns its JSON.
async fn expect_ok(r: Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.expect("token JSON");
    assert_eq!(status, 200, "{v}");
    v
}

/// The JWT's payload, decoded without verification (verification has its own test).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("claims JSON")
}

// ----- the refresh_token grant and the response -----

db_test!(
    refresh_grant_answers_bearer_token_with_no_store_headers,
    |app| {
        app.alice_with_album().await;
        let (rt, _) = alice_token(app, "user", json!({})).await;
        let r = app
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                None,
            )
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["pragma"], "no-cache");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 900, "default access_token_ttl is 15m");
        assert_eq!(v["scope"], "user");
        assert!(
            v["access_token"]
                .as_str()
                .is_some_and(|t| t.split('.').count() == 3),
            "{v}"
        );
        assert!(
            v.get("refresh_token").is_none(),
            "a non-rotating token is not replaced: {v}"
        );
    }
);

db_test!(access_token_ttl_follows_configuration, ["TESSERA_ACCESS_TOKEN_TTL" => "5m"], |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
    let v = app.exchange(&rt).await;
    assert_eq!(v["expires_in"], 300);
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 300);
});

/// What a resource server does with an ordinary JWT library: find the header's `kid` in the
/// served JWKS, and validate signature, `typ`, `iss`, `aud` and `exp` with the key's algorithm.
async fn validates_with_jsonwebtoken(app: &TestApp, expected: jsonwebtoken::Algorithm) {
    use jsonwebtoken::jwk::JwkSet;
    use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};

    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "album:a1:read user", json!({})).await;
    let at = app.exchange(&rt).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = decode_header(&at).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, expected);
    let kid = header.kid.expect("kid in the header");
    let jwk = jwks
        .find(&kid)
        .expect("the header's kid is published in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(expected);
    validation.set_issuer(&["http://tessera.test"]);
    validation.set_audience(&["http://tessera.test"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let data =
        decode::<Value>(&at, &key, &validation).expect("a resource server validates the token");
    assert_eq!(data.claims["sub"], "alice");
    assert_eq!(data.claims["scope"], "album:a1:read user");

    // The same library refuses it for another audience.
    let mut other = Validation::new(expected);
    other.set_issuer(&["http://tessera.test"]);
    other.set_audience(&["http://elsewhere.test"]);
    assert!(decode::<Value>(&at, &key, &other).is_err());
}

db_test!(
    access_token_validates_with_jsonwebtoken_against_served_jwks,
    |app| {
        validates_with_jsonwebtoken(app, jsonwebtoken::Algorithm::ES256).await;
    }
);

db_test!(eddsa_access_token_validates_against_served_jwks, ["TESSERA_SIGNING_ALG" => "EdDSA"], |app| {
    validates_with_jsonwebtoken(app, jsonwebtoken::Algorithm::EdDSA).await;
});

db_test!(rs256_access_token_validates_against_served_jwks, ["TESSERA_SIGNING_ALG" => "RS256"], |app| {
    validates_with_jsonwebtoken(app, jsonwebtoken::Algorithm::RS256).await;
});

db_test!(access_token_carries_rfc9068_claims, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
    let first = claims(app.exchange(&rt).await["access_token"].as_str().unwrap());
    let second = claims(app.exchange(&rt).await["access_token"].as_str().unwrap());
    assert_eq!(first["iss"], "http://tessera.test");
    assert_eq!(first["aud"], "http://tessera.test");
    assert_eq!(first["sub"], "alice");
    assert_eq!(
        first["client_id"], "tessera",
        "no client authentication: the built-in public client"
    );
    assert_eq!(first["scope"], "user");
    let now = app.clock.now().timestamp();
    let iat = first["iat"].as_i64().unwrap();
    assert!((now - 5..=now).contains(&iat), "iat {iat} vs now {now}");
    assert_eq!(first["exp"].as_i64().unwrap(), iat + 900);
    assert!(first["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_ne!(
        first["jti"], second["jti"],
        "jti is unique per access token"
    );
    assert!(
        first["rtid"].as_str().is_some_and(|r| !r.is_empty()),
        "names its refresh token: {first}"
    );
    assert_eq!(first["rtid"], second["rtid"]);
});

db_test!(access_token_never_outlives_its_refresh_token, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({ "expires_in": 120 })).await;
    let v = app.exchange(&rt).await;
    let expires_in = v["expires_in"].as_i64().unwrap();
    assert!(
        (118..=120).contains(&expires_in),
        "capped at the refresh token's 120s: {expires_in}"
    );
    let c = claims(v["access_token"].as_str().unwrap());
    let exp = c["exp"].as_i64().unwrap();
    assert!(exp - c["iat"].as_i64().unwrap() <= 120, "{c}");
    // Closer to the refresh token's expiry, the cap shrinks with it.
    app.clock.advance(chrono::Duration::seconds(100));
    let v = app.exchange(&rt).await;
    assert!(v["expires_in"].as_i64().unwrap() <= 20, "{v}");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["exp"],
        exp,
        "same refresh-token expiry"
    );
});

db_test!(scope_in_response_and_jwt_is_sorted, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user album:a1:write album:a1:read", json!({})).await;
    let v = app.exchange(&rt).await;
    assert_eq!(v["scope"], "album:a1:read album:a1:write user");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["scope"],
        "album:a1:read album:a1:write user"
    );
    let v = expect_ok(
        exchange_with(
            app,
            &rt,
            &[("scope", "album:a1:write user  album:a1:read")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(v["scope"], "album:a1:read album:a1:write user");
});

db_test!(album_token_exchanges_for_its_album_scopes, |app| {
    app.alice_with_album().await;
    let rt = album_token(app, &["download", "read"]).await;
    let v = app.exchange(&rt).await;
    assert_eq!(v["scope"], "album:a1:download album:a1:read");
    assert!(
        v.get("refresh_token").is_none(),
        "album tokens do not rotate by default: {v}"
    );
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(
        c["sub"], "alice",
        "an album token acts for the user who created it"
    );
    assert_eq!(c["client_id"], "tessera");
});

// ----- scopes -----

db_test!(user_token_narrows_to_album_scopes_the_owner_holds, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
    let v = expect_ok(
        exchange_with(app, &rt, &[("scope", "album:a1:read album:a1:share")], None).await,
    )
    .await;
    assert_eq!(v["scope"], "album:a1:read album:a1:share");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["scope"],
        "album:a1:read album:a1:share"
    );
});

db_test!(
    user_token_cannot_narrow_to_permissions_the_owner_lacks,
    |app| {
        app.alice_with_album().await;
        app.add_album("a2").await;
        app.grant("a2", "alice", "read").await;
        let (rt, _) = alice_token(app, "user", json!({})).await;
        let d = expect_error(
            exchange_with(app, &rt, &[("scope", "album:a2:write")], None).await,
            400,
            "invalid_scope",
        )
        .await;
        assert!(d.contains("album:a2:write"), "{d}");
        app.add_album("a3").await;
        expect_error(
            exchange_with(app, &rt, &[("scope", "album:a3:read")], None).await,
            400,
            "invalid_scope",
        )
        .await;
    }
);

db_test!(
    downscoping_never_asks_for_more_than_the_token_holds,
    |app| {
        app.alice_with_album().await;
        let (rt, _) = alice_token(app, "album:a1:read album:a1:write", json!({})).await;
        let v = expect_ok(exchange_with(app, &rt, &[("scope", "album:a1:read")], None).await).await;
        assert_eq!(v["scope"], "album:a1:read");
        // Alice holds download on a1, but this token does not.
        let d = expect_error(
            exchange_with(
                app,
                &rt,
                &[("scope", "album:a1:read album:a1:download")],
                None,
            )
            .await,
            400,
            "invalid_scope",
        )
        .await;
        assert!(d.contains("album:a1:download"), "{d}");
        expect_error(
            exchange_with(app, &rt, &[("scope", "user")], None).await,
            400,
            "invalid_scope",
        )
        .await;

        let album = album_token(app, &["read"]).await;
        expect_error(
            exchange_with(app, &album, &[("scope", "album:a1:write")], None).await,
            400,
            "invalid_scope",
        )
        .await;
    }
);

db_test!(unknown_or_malformed_scope_is_invalid_scope, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
    for bad in [
        "admin",
        "album:a1:admin",
        "album:a1:delete",
        "album:bad!id:read",
        "album::read",
        "album:a1",
        "openid",
    ] {
        expect_error(
            exchange_with(app, &rt, &[("scope", bad)], None).await,
            400,
            "invalid_scope",
        )
        .await;
    }
    let long_id = format!("album:{}:read", "a".repeat(65));
    expect_error(
        exchange_with(app, &rt, &[("scope", &long_id)], None).await,
        400,
        "invalid_scope",
    )
    .await;
});

db_test!(download_and_share_need_read_in_the_same_scope, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
    for bad in [
        "album:a1:download",
        "album:a1:share",
        "album:a1:write album:a1:share",
    ] {
        let d = expect_error(
            exchange_with(app, &rt, &[("scope", bad)], None).await,
            400,
            "invalid_scope",
        )
        .await;
        assert!(d.contains("album:a1:read"), "{d}");
    }
    let v = expect_ok(
        exchange_with(
            app,
            &rt,
            &[("scope", "album:a1:download album:a1:read")],
            None,
        )
        .await,
    )
    .await;
    assert_eq!(v["scope"], "album:a1:download album:a1:read");
});

db_test!(album_token_loses_permissions_its_creator_lost, |app| {
    app.alice_with_album().await;
    let rt = album_token(app, &["read", "write", "download"]).await;
    assert_eq!(
        app.exchange(&rt).await["scope"],
        "album:a1:download album:a1:read album:a1:write"
    );
    app.grant("a1", "alice", "read,share").await;
    assert_eq!(app.exchange(&rt).await["scope"], "album:a1:read");
    // Permissions regained are granted again: the check is against current membership.
    app.grant("a1", "alice", "read,write,download,share").await;
    assert_eq!(
        app.exchange(&rt).await["scope"],
        "album:a1:download album:a1:read album:a1:write"
    );
});

db_test!(
    album_token_drops_download_when_its_creator_lost_read,
    |app| {
        app.alice_with_album().await;
        let rt = album_token(app, &["read", "write", "download"]).await;
        app.grant("a1", "alice", "write,download").await;
        let v = app.exchange(&rt).await;
        assert_eq!(
            v["scope"], "album:a1:write",
            "download without read is meaningless"
        );
    }
);

db_test!(
    album_token_whose_creator_lost_everything_is_invalid_grant,
    |app| {
        app.alice_with_album().await;
        let rt = album_token(app, &["read", "download"]).await;
        app.grant("a1", "alice", "write").await;
        let d = expect_error(
            app.token(
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
                None,
            )
            .await,
            400,
            "invalid_grant",
        )
        .await;
        assert!(d.contains("no longer holds"), "{d}");
    }
);

db_test!(personal_album_scopes_follow_current_membership, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user album:a1:read album:a1:write", json!({})).await;
    app.grant("a1", "alice", "read").await;
    assert_eq!(app.exchange(&rt).await["scope"], "album:a1:read user");
});

db_test!(client_scope_policy_limits_what_a_client_gets, |app| {
    app.alice_with_album().await;
    let secret = app
        .add_client(
            "gallery",
            false,
            Some("refresh_token"),
            Some("album:*:read"),
            false,
        )
        .await
        .unwrap();
    let basic = Some(("gallery", secret.as_str()));
    let (rt, _) = alice_token(app, "user", json!({})).await;
    let d = expect_error(
        exchange_with(app, &rt, &[], basic).await,
        400,
        "invalid_scope",
    )
    .await;
    assert!(d.contains("gallery") && d.contains("user"), "{d}");
    expect_error(
        exchange_with(
            app,
            &rt,
            &[("scope", "album:a1:read album:a1:write")],
            basic,
        )
        .await,
        400,
        "invalid_scope",
    )
    .await;
    let v = expect_ok(exchange_with(app, &rt, &[("scope", "album:a1:read")], basic).await).await;
    assert_eq!(v["scope"], "album:a1:read");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["client_id"],
        "gallery"
    );
});

// ----- client authentication -----

db_test!(
    confidential_client_authenticates_with_client_secret_basic,
    |app| {
        app.alice_with_album().await;
        let secret = app
            .add_client("app", false, None, None, false)
            .await
            .unwrap();
        let (rt, _) = alice_token(app, "user", json!({})).await;
        let v = expect_ok(exchange_with(app, &rt, &[], Some(("app", &secret))).await).await;
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
        let secret = app
            .add_client("app", false, None, None, false)
            .await
            .unwrap();
        let (rt, _) = alice_token(app, "user", json!({})).await;
        let v = expect_ok(
            exchange_with(
                app,
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
    let (rt, _) = alice_token(app, "user", json!({})).await;
    let v = expect_ok(exchange_with(app, &rt, &[("client_id", "cli")], None).await).await;
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["client_id"],
        "cli"
    );
});

db_test!(failed_client_authentication_is_401_invalid_client, |app| {
    app.alice_with_album().await;
    app.add_client("app", false, None, None, false)
        .await
        .unwrap();
    app.add_client("cli", true, None, None, false).await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
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
        let r = exchange_with(app, &rt, &extra, basic).await;
        assert_eq!(
            r.headers()
                .get("www-authenticate")
                .map(|h| h.to_str().unwrap()),
            Some("Basic realm=\"tessera\"")
        );
        expect_error(r, 401, "invalid_client").await;
    }
});

db_test!(
    two_client_authentication_methods_at_once_are_invalid_request,
    |app| {
        app.alice_with_album().await;
        let secret = app
            .add_client("app", false, None, None, false)
            .await
            .unwrap();
        let (rt, _) = alice_token(app, "user", json!({})).await;
        let r = exchange_with(
            app,
            &rt,
            &[("client_secret", &secret)],
            Some(("app", &secret)),
        )
        .await;
        expect_error(r, 400, "invalid_request").await;
    }
);

db_test!(client_token_is_bound_to_its_client_and_rotates, |app| {
    app.alice_with_album().await;
    let secret = app
        .add_client("app", false, None, None, false)
        .await
        .unwrap();
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
    let out = expect_ok(exchange_with(app, rt, &[], Some(("app", &secret))).await).await;
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
        app.add_client("app", false, None, None, false)
            .await
            .unwrap();
        let other = app
            .add_client("other", false, None, None, false)
            .await
            .unwrap();
        app.add_client("cli", true, None, None, false).await;
        let v = app
            .create_token(
                ALICE,
                json!({ "name": "app", "scope": "user", "client_id": "app" }),
            )
            .await;
        let rt = v["token"].as_str().unwrap();
        let d = expect_error(
            exchange_with(app, rt, &[], Some(("other", &other))).await,
            400,
            "invalid_grant",
        )
        .await;
        assert!(d.contains("another client"), "{d}");
        assert!(!d.contains("alice"), "does not say whose token it is: {d}");
        expect_error(
            exchange_with(app, rt, &[("client_id", "cli")], None).await,
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
        app.add_client("app", false, None, None, false)
            .await
            .unwrap();
        let v = app
            .create_token(
                ALICE,
                json!({ "name": "app", "scope": "user", "client_id": "app" }),
            )
            .await;
        let r = exchange_with(app, v["token"].as_str().unwrap(), &[], None).await;
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"tessera\"");
        expect_error(r, 401, "invalid_client").await;
    }
);

db_test!(
    client_without_refresh_token_grant_is_unauthorized_client,
    |app| {
        app.alice_with_album().await;
        let secret = app
            .add_client("svc", false, Some("client_credentials"), None, false)
            .await
            .unwrap();
        let (rt, _) = alice_token(app, "user", json!({})).await;
        let d = expect_error(
            exchange_with(app, &rt, &[], Some(("svc", &secret))).await,
            400,
            "unauthorized_client",
        )
        .await;
        assert!(d.contains("refresh_token"), "{d}");
    }
);

// ----- the client_credentials grant -----

db_test!(
    client_credentials_issues_token_for_the_client_itself,
    |app| {
        let secret = app
            .add_client(
                "svc",
                false,
                Some("client_credentials"),
                Some("album:a1:read"),
                false,
            )
            .await
            .unwrap();
        let r = app
            .token(
                &[("grant_type", "client_credentials")],
                Some(("svc", &secret)),
            )
            .await;
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
            .token(
                &[("grant_type", "client_credentials")],
                Some(("late", "tsc_not-yet-registered")),
            )
            .await;
        assert_eq!(r.status(), 401, "unknown client");
        let secret = app
            .add_client("late", false, Some("client_credentials"), None, false)
            .await
            .unwrap();
        let r = app
            .token(
                &[("grant_type", "client_credentials")],
                Some(("late", &secret)),
            )
            .await;
        assert_eq!(r.status(), 200, "a client registered after a miss works at once");
        let r = app
            .token(
                &[("grant_type", "client_credentials")],
                Some(("late", "tsc_wrong-secret-for-a-cached-client")),
            )
            .await;
        assert_eq!(r.status(), 401, "a cached row does not skip the secret check");
        let r = app
            .token(
                &[("grant_type", "client_credentials")],
                Some(("late", &secret)),
            )
            .await;
        assert_eq!(r.status(), 200);
    }
);

db_test!(client_credentials_accepts_client_secret_post, |app| {
    let secret = app
        .add_client("svc", false, Some("client_credentials"), None, false)
        .await
        .unwrap();
    let r = app
        .token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "svc"),
                ("client_secret", &secret),
            ],
            None,
        )
        .await;
    let v = expect_ok(r).await;
    assert_eq!(claims(v["access_token"].as_str().unwrap())["sub"], "svc");
});

db_test!(client_credentials_scope_follows_the_client_policy, |app| {
    let secret = app
        .add_client(
            "svc",
            false,
            Some("client_credentials"),
            Some("album:*:read"),
            false,
        )
        .await
        .unwrap();
    let basic = Some(("svc", secret.as_str()));
    let v = expect_ok(
        app.token(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "album:x9:read album:b2:read"),
            ],
            basic,
        )
        .await,
    )
    .await;
    assert_eq!(v["scope"], "album:b2:read album:x9:read");
    let d = expect_error(
        app.token(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "album:x9:write"),
            ],
            basic,
        )
        .await,
        400,
        "invalid_scope",
    )
    .await;
    assert!(d.contains("album:x9:write"), "{d}");
    expect_error(
        app.token(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "album:x9:bogus"),
            ],
            basic,
        )
        .await,
        400,
        "invalid_scope",
    )
    .await;
});

db_test!(client_credentials_never_grants_user_scope, |app| {
    let secret = app
        .add_client("svc", false, Some("client_credentials"), None, false)
        .await
        .unwrap();
    let d = expect_error(
        app.token(
            &[("grant_type", "client_credentials"), ("scope", "user")],
            Some(("svc", &secret)),
        )
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
            .add_client("svc", false, Some("client_credentials"), None, false)
            .await
            .unwrap();
        let basic = Some(("svc", secret.as_str()));
        for scope in [
            "album:a1:read",
            "album:a1:read album:a1:write",
            "album:other:read",
        ] {
            let d = expect_error(
                app.token(
                    &[("grant_type", "client_credentials"), ("scope", scope)],
                    basic,
                )
                .await,
                400,
                "invalid_scope",
            )
            .await;
            assert!(d.contains("no registered scope"), "{scope}: {d}");
        }
        // Without a scope parameter it still gets a token, with an empty scope.
        let v = expect_ok(
            app.token(&[("grant_type", "client_credentials")], basic)
                .await,
        )
        .await;
        assert_eq!(v["scope"], "");
        assert_eq!(claims(v["access_token"].as_str().unwrap())["sub"], "svc");
    }
);

db_test!(public_client_cannot_use_client_credentials, |app| {
    app.add_client("cli", true, None, None, false).await;
    let r = app
        .token(
            &[("grant_type", "client_credentials"), ("client_id", "cli")],
            None,
        )
        .await;
    expect_error(r, 400, "unauthorized_client").await;
});

db_test!(client_credentials_needs_the_registered_grant_type, |app| {
    let secret = app
        .add_client("app", false, Some("refresh_token"), None, false)
        .await
        .unwrap();
    let d = expect_error(
        app.token(
            &[("grant_type", "client_credentials")],
            Some(("app", &secret)),
        )
        .await,
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
            .add_client("svc", false, Some("client_credentials"), None, false)
            .await
            .unwrap();
        let r = app
            .token(&[("grant_type", "client_credentials")], None)
            .await;
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"tessera\"");
        expect_error(r, 401, "invalid_client").await;
        let r = app
            .token(
                &[("grant_type", "client_credentials")],
                Some(("svc", &format!("{secret}x"))),
            )
            .await;
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"tessera\"");
        expect_error(r, 401, "invalid_client").await;
    }
);

// ----- malformed requests -----

db_test!(unsupported_grant_types_are_refused, |app| {
    for g in [
        "password",
        "authorization_code",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        let d = expect_error(
            app.token(&[("grant_type", g)], None).await,
            400,
            "unsupported_grant_type",
        )
        .await;
        assert!(
            d.contains("refresh_token") && d.contains("client_credentials"),
            "{d}"
        );
    }
});

db_test!(missing_required_parameters_are_invalid_request, |app| {
    let d = expect_error(
        app.token(&[("refresh_token", "tsr_x")], None).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(d.contains("grant_type"), "{d}");
    let d = expect_error(
        app.token(&[("grant_type", "refresh_token")], None).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(d.contains("refresh_token"), "{d}");
    let d = expect_error(
        app.token(
            &[("grant_type", "refresh_token"), ("refresh_token", "")],
            None,
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        d.contains("refresh_token"),
        "an empty parameter counts as missing: {d}"
    );
});

db_test!(repeated_parameter_is_invalid_request, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
    let body = format!("grant_type=refresh_token&refresh_token={rt}&refresh_token={rt}");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let d = expect_error(r, 400, "invalid_request").await;
    assert!(d.contains("repeated"), "{d}");
    let body = format!("grant_type=refresh_token&refresh_token={rt}&scope=user&scope=user");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request").await;
});

db_test!(non_form_bodies_are_invalid_request, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({ "grant_type": "refresh_token", "refresh_token": rt }))
        .send()
        .await
        .unwrap();
    let d = expect_error(r, 400, "invalid_request").await;
    assert!(d.contains("application/x-www-form-urlencoded"), "{d}");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .body(format!("grant_type=refresh_token&refresh_token={rt}"))
        .send()
        .await
        .unwrap();
    expect_error(r, 400, "invalid_request").await;
});

db_test!(form_content_type_with_charset_is_accepted, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({})).await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=UTF-8",
        )
        .body(format!("grant_type=refresh_token&refresh_token={rt}"))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_ok(r).await["scope"], "user");
});

// ----- invalid_grant for each kind of bad refresh token -----

db_test!(malformed_refresh_token_is_invalid_grant, |app| {
    use tessera::tokens::secret::{Secret, SecretKind};
    let client_secret = Secret::generate(SecretKind::ClientSecret)
        .expose()
        .to_string();
    let real = Secret::generate(SecretKind::RefreshToken)
        .expose()
        .to_string();
    let last = if real.ends_with('A') { 'B' } else { 'A' };
    let mistyped = format!("{}{last}", &real[..real.len() - 1]);
    for bad in ["not-a-token", "tsr_short", &client_secret, &mistyped] {
        let d = expect_error(
            app.token(
                &[("grant_type", "refresh_token"), ("refresh_token", bad)],
                None,
            )
            .await,
            400,
            "invalid_grant",
        )
        .await;
        assert!(d.contains("malformed"), "{bad}: {d}");
    }
});

db_test!(unknown_refresh_token_is_invalid_grant, |app| {
    let never_issued = tessera::tokens::secret::Secret::generate(
        tessera::tokens::secret::SecretKind::RefreshToken,
    );
    let d = expect_error(
        app.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", never_issued.expose()),
            ],
            None,
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(d.contains("unknown"), "{d}");
});

db_test!(revoked_refresh_token_is_invalid_grant, |app| {
    app.alice_with_album().await;
    let (rt, id) = alice_token(app, "user", json!({})).await;
    app.exchange(&rt).await;
    let r = app
        .api_as(Method::DELETE, &format!("/api/tokens/{id}"), ALICE, None)
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let d = expect_error(
        app.token(
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            None,
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(d.contains("revoked"), "{d}");
    assert!(!d.contains("alice"), "does not say whose token it was: {d}");
});

db_test!(expired_refresh_token_is_invalid_grant, |app| {
    app.alice_with_album().await;
    let (rt, _) = alice_token(app, "user", json!({ "expires_in": 3600 })).await;
    app.exchange(&rt).await;
    app.clock.advance(chrono::Duration::seconds(3601));
    let d = expect_error(
        app.token(
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            None,
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(d.contains("expired"), "{d}");
    assert!(!d.contains("alice"), "{d}");
});

// ----- rotation -----

db_test!(rotating_token_is_replaced_on_each_use, |app| {
    app.alice_with_album().await;
    let (r1, id) = alice_token(app, "user", json!({ "rotating": true })).await;
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
        .api_as(Method::GET, &format!("/api/tokens/{id}"), ALICE, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["rotating"], true);
});

db_test!(replay_inside_grace_window_gets_access_token_only, |app| {
    app.alice_with_album().await;
    let (r1, _) = alice_token(app, "user", json!({ "rotating": true })).await;
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
    let (r1, id) = alice_token(app, "user", json!({ "rotating": true })).await;
    let v = app.exchange(&r1).await;
    let r2 = v["refresh_token"].as_str().unwrap().to_string();
    let at2 = v["access_token"].as_str().unwrap().to_string();
    app.clock.advance(chrono::Duration::seconds(11));
    let d = expect_error(
        app.token(
            &[("grant_type", "refresh_token"), ("refresh_token", &r1)],
            None,
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(d.contains("already used") && d.contains("revoked"), "{d}");
    // The legitimate successor stops working too, and its access token is inactive.
    let d = expect_error(
        app.token(
            &[("grant_type", "refresh_token"), ("refresh_token", &r2)],
            None,
        )
        .await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(d.contains("revoked"), "{d}");
    assert_eq!(app.introspect(&at2, (&rs.0, &rs.1)).await["active"], false);
    let shown: Value = app
        .api_as(Method::GET, &format!("/api/tokens/{id}"), ALICE, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "revoked");
    // The reuse is audited.
    let r = app
        .api_as(
            Method::GET,
            "/api/audit?action=refresh_token.reuse_detected",
            ("root", "root-pw"),
            None,
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
    let (r1, _) = alice_token(app, "user", json!({ "rotating": true })).await;
    let r2 = app.exchange(&r1).await["refresh_token"].as_str().unwrap().to_string();
    app.clock.advance(chrono::Duration::seconds(90));
    let dup = app.exchange(&r1).await;
    assert!(dup.get("refresh_token").is_none(), "{dup}");
    app.clock.advance(chrono::Duration::seconds(31));
    expect_error(app.token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)], None).await, 400, "invalid_grant").await;
    expect_error(app.token(&[("grant_type", "refresh_token"), ("refresh_token", &r2)], None).await, 400, "invalid_grant").await;
});

db_test!(fifty_concurrent_refreshes_leave_one_live_successor, |app| {
    app.alice_with_album().await;
    let (r1, _) = alice_token(app, "user", json!({ "rotating": true })).await;
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
        let r = app
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", rt)],
                None,
            )
            .await;
        if r.status() == 200 {
            live += 1;
        }
    }
    assert_eq!(successors.len(), 1, "exactly one successor was issued");
    assert_eq!(live, 1, "and it works");
});

// ----- bookkeeping -----

db_test!(last_used_at_is_written_at_most_once_per_minute, |app| {
    app.alice_with_album().await;
    let (rt, id) = alice_token(app, "user", json!({})).await;
    let path = format!("/api/tokens/{id}");
    let last_used = || async {
        let v: Value = app
            .api_as(Method::GET, &path, ALICE, None)
            .await
            .json()
            .await
            .unwrap();
        v["last_used_at"].clone()
    };
    assert_eq!(last_used().await, Value::Null);
    app.exchange(&rt).await;
    let first = last_used().await;
    assert!(first.is_string(), "{first}");
    app.clock.advance(chrono::Duration::seconds(30));
    app.exchange(&rt).await;
    assert_eq!(
        last_used().await,
        first,
        "not written again within the minute"
    );
    app.clock.advance(chrono::Duration::seconds(31));
    app.exchange(&rt).await;
    let later = last_used().await;
    assert_ne!(later, first, "written again after a minute");
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    assert!(parse(&later) - parse(&first) >= chrono::Duration::seconds(61));
});

db_test!(last_used_resolution_is_configurable, ["TESSERA_LAST_USED_RESOLUTION" => "10m"], |app| {
    app.alice_with_album().await;
    let (rt, id) = alice_token(app, "user", json!({})).await;
    let path = format!("/api/tokens/{id}");
    app.exchange(&rt).await;
    let first: Value = app.api_as(Method::GET, &path, ALICE, None).await.json().await.unwrap();
    app.clock.advance(chrono::Duration::minutes(5));
    app.exchange(&rt).await;
    let again: Value = app.api_as(Method::GET, &path, ALICE, None).await.json().await.unwrap();
    assert!(first["last_used_at"].is_string());
    assert_eq!(again["last_used_at"], first["last_used_at"]);
});

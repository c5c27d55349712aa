//! The RFC 9068 access token: its lifetime, its claims, and validation by an ordinary JWT library
//! against the served JWKS.

use serde_json::{json, Value};

use crate::db_test;
use crate::helpers::{claims, TestApp};

db_test!(access_token_ttl_follows_configuration, ["TESSERA_ACCESS_TOKEN_TTL" => "5m"], |app| {
    app.alice_with_album().await;
    let (_, rt) = app.alice_token("user", json!({})).await;
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
    let (_, rt) = app.alice_token("album:a1:read user", json!({})).await;
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
    let (_, rt) = app.alice_token("user", json!({})).await;
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
    let (_, rt) = app.alice_token("user", json!({ "expires_in": 120 })).await;
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

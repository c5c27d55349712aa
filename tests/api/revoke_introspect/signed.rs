//! Signed introspection answers (RFC 9701), and offline validation of access tokens as
//! docs/resource-servers.md shows it.

use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::forgeries::{forged_jwts, Forgeries};
use super::{assert_inactive, assert_revoke_ok, revoke, ISSUER};
use crate::db_test;
use crate::helpers::{claims, TestApp, ALICE};

/// POST /oauth/introspect as the resource server `rs` with the given Accept header.
async fn introspect_with_accept(
    app: &TestApp,
    rs: (&str, &str),
    token: &str,
    accept: &str,
) -> Response {
    app.http
        .post(app.url("/oauth/introspect"))
        .basic_auth(rs.0, Some(rs.1))
        .header("accept", accept)
        .form(&[("token", token)])
        .send()
        .await
        .expect("introspection request")
}

async fn jwk_set(app: &TestApp) -> JwkSet {
    serde_json::from_value(
        app.get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap(),
    )
    .expect("a JWK Set")
}

db_test!(signed_jwt_answers_per_rfc_9701, |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let album = app
        .create_album_token(ALICE, "a1", "viewer", &["read"])
        .await;
    let tsr = album["token"].as_str().unwrap();
    let jwks = jwk_set(app).await;

    for token in [
        tsr.to_string(),
        app.access_token(tsr).await,
        "garbage".to_string(),
    ] {
        let plain = app.introspect(&token, rs).await;
        let r = introspect_with_accept(
            app,
            rs,
            &token,
            "application/json;q=0.5, application/token-introspection+jwt",
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["content-type"],
            "application/token-introspection+jwt"
        );
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body = r.text().await.unwrap();

        let header = decode_header(&body).unwrap();
        assert_eq!(header.typ.as_deref(), Some("token-introspection+jwt"));
        let jwk = jwks
            .find(header.kid.as_deref().unwrap())
            .expect("signed with a published key");
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&["rs"]);
        v.set_required_spec_claims(&["iss", "aud", "iat"]);
        v.validate_exp = false;
        let data = decode::<Value>(&body, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .expect("a valid signature for this resource server");
        assert_eq!(
            data.claims["token_introspection"], plain,
            "the JWT carries the same answer"
        );
        assert!(data.claims["iat"].is_i64());

        // The signed answer is no access token: it never introspects as one.
        assert_inactive(app, rs, &body, "an introspection JWT presented as a token").await;
    }
});

/// The claims a resource server reads (docs/resource-servers.md, kept identical).
#[derive(Debug, serde::Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub client_id: String,
    pub scope: String,
    pub exp: i64,
    pub jti: String,
}

/// The offline validator of docs/resource-servers.md, kept identical to it.
pub fn validate(
    token: &str,
    jwks: &JwkSet,
    issuer: &str,
    audience: &str,
) -> Result<AccessClaims, String> {
    let header = decode_header(token).map_err(|e| format!("not a JWT: {e}"))?;
    // RFC 9068: access tokens only; this refuses ID tokens and signed introspection answers.
    if !matches!(header.typ.as_deref(), Some("at+jwt" | "application/at+jwt")) {
        return Err("typ is not at+jwt".into());
    }
    let kid = header.kid.as_deref().ok_or("no kid")?;
    // Unknown kid: refetch the JWKS once (keys may have rotated), then refuse.
    let jwk = jwks.find(kid).ok_or("unknown kid")?;
    // The algorithm comes from the key, never from the token: no `none`, no HMAC.
    let alg = match jwk.common.key_algorithm {
        Some(KeyAlgorithm::ES256) => Algorithm::ES256,
        Some(KeyAlgorithm::EdDSA) => Algorithm::EdDSA,
        Some(KeyAlgorithm::RS256) => Algorithm::RS256,
        _ => return Err("key with an unexpected algorithm".into()),
    };
    let mut v = Validation::new(alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = 30;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    decode::<AccessClaims>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

db_test!(
    offline_validation_as_documented_accepts_only_genuine_access_tokens,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());
        let jwks = jwk_set(app).await;
        let Forgeries {
            genuine,
            hand_built,
            forged,
        } = forged_jwts(app).await;
        for token in [&genuine, &hand_built] {
            let c = validate(token, &jwks, ISSUER, ISSUER).expect("the controls validate");
            assert_eq!(
                (c.sub.as_str(), c.scope.as_str(), c.client_id.as_str()),
                ("alice", "user", "tessera")
            );
        }
        for (what, token) in &forged {
            // jsonwebtoken does not look at iat (only tessera's own check refuses a future one).
            if *what == "iat far in the future" {
                continue;
            }
            assert!(
                validate(token, &jwks, ISSUER, ISSUER).is_err(),
                "{what} must fail offline validation"
            );
        }

        // A real access token validates; a signed introspection answer about it does not.
        let (_, rt) = app.alice_token("user", json!({})).await;
        let at = app.access_token(&rt).await;
        let c = validate(&at, &jwks, ISSUER, ISSUER).expect("a real access token validates");
        assert_eq!(c.jti, claims(&at)["jti"]);
        let answer = introspect_with_accept(app, rs, &at, "application/token-introspection+jwt")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            validate(&answer, &jwks, ISSUER, ISSUER).is_err(),
            "an introspection JWT is no access token"
        );

        // The trade-off the docs state: after revocation, introspection says inactive at once, but
        // the JWT still validates offline until its exp, 15 minutes after issue by default.
        assert_revoke_ok(revoke(app, &rt, None, None).await, "the refresh token").await;
        assert_inactive(app, rs, &at, "an access token of a revoked refresh token").await;
        let c = validate(&at, &jwks, ISSUER, ISSUER).expect("still valid offline");
        assert_eq!(c.exp - claims(&at)["iat"].as_i64().unwrap(), 15 * 60);
    }
);

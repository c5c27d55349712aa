//! Forged access tokens, each differing from genuine ones in one respect.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use tessera::tokens::jwt::{self, AT_TYP};

use super::ISSUER;
use crate::helpers::TestApp;

/// A compact JWS of `header` and `claims`, its signature made by `sign` over the signing input.
pub(super) fn compact(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(claims).unwrap())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

/// Claims a genuine access token for alice would carry, valid now.
pub(super) fn good_claims(app: &TestApp) -> Value {
    let now = app.clock.now().timestamp();
    json!({
        "iss": ISSUER, "sub": "alice", "aud": ISSUER, "exp": now + 600, "iat": now,
        "jti": "forged-jti", "client_id": "tessera", "scope": "user",
    })
}

pub(super) fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut c = claims.clone();
    c[key] = value;
    c
}

pub(super) fn without(claims: &Value, key: &str) -> Value {
    let mut c = claims.clone();
    c.as_object_mut().unwrap().remove(key);
    c
}

/// Access tokens made from one set of claims: signed by the server's key with `jwt::sign` and
/// assembled by hand as the forgeries are (the two controls), and forgeries, each differing
/// from the controls in one respect, labelled with that respect.
pub(super) struct Forgeries {
    pub(super) genuine: String,
    pub(super) hand_built: String,
    pub(super) forged: Vec<(&'static str, String)>,
}

pub(super) async fn forged_jwts(app: &TestApp) -> Forgeries {
    forged_jwts_over(app, good_claims(app)).await
}

/// Forgeries of an access token whose genuine claims are `good`.
pub(super) async fn forged_jwts_over(app: &TestApp, good: Value) -> Forgeries {
    let keys = app.state.keys();
    let ours = keys.signing().clone();
    let kid = ours.kid.clone();
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid });
    let genuine = jwt::sign(&ours, AT_TYP, &good).unwrap();
    let hand_built = compact(&header, &good, |m| ours.sign(m).unwrap());
    let mut forged: Vec<(&'static str, String)> = Vec::new();

    // alg none, with and without a signature part.
    let none = json!({ "alg": "none", "typ": "at+jwt", "kid": kid });
    forged.push(("alg none", compact(&none, &good, |_| Vec::new())));
    forged.push((
        "alg none, our signature",
        compact(&none, &good, |m| ours.sign(m).unwrap()),
    ));

    // HS256 keyed with our public key, in every form an attacker can fetch it.
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let jwk = &jwks["keys"][0];
    let x = B64.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = B64.decode(jwk["y"].as_str().unwrap()).unwrap();
    let point = [&[4u8][..], &x, &y].concat();
    let spki = [
        hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap(),
        point.clone(),
    ]
    .concat();
    let pem_crlf = pem::encode(&pem::Pem::new("PUBLIC KEY", spki.clone()));
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("HS256 with the public PEM", pem_crlf.clone().into_bytes()),
        (
            "HS256 with the public PEM (LF)",
            pem_crlf.replace("\r\n", "\n").into_bytes(),
        ),
        ("HS256 with the public key DER", spki),
        ("HS256 with the public point", point),
        ("HS256 with x||y", [x, y].concat()),
        ("HS256 with the JWK JSON", serde_json::to_vec(jwk).unwrap()),
    ];
    for (what, secret) in secrets {
        let mut h = jsonwebtoken::Header::new(Algorithm::HS256);
        h.typ = Some(AT_TYP.into());
        h.kid = Some(kid.clone());
        let t = jsonwebtoken::encode(&h, &good, &jsonwebtoken::EncodingKey::from_secret(&secret))
            .unwrap();
        forged.push((what, t));
    }

    // Another key: unknown kid, or our kid over a signature our key did not make.
    let other_dir = tempfile::tempdir().unwrap();
    let other = tessera::tokens::keys::KeyDir::new(other_dir.path())
        .load_or_init(tessera::tokens::keys::Algorithm::Es256, app.clock.now())
        .unwrap();
    let other = other.signing().clone();
    forged.push((
        "a key we never had (unknown kid)",
        jwt::sign(&other, AT_TYP, &good).unwrap(),
    ));
    forged.push((
        "our kid, another key's signature",
        compact(&header, &good, |m| other.sign(m).unwrap()),
    ));
    let unknown_kid = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "no-such-kid" });
    forged.push((
        "our signature, unknown kid",
        compact(&unknown_kid, &good, |m| ours.sign(m).unwrap()),
    ));
    let no_kid = json!({ "alg": "ES256", "typ": "at+jwt" });
    forged.push((
        "our signature, no kid",
        compact(&no_kid, &good, |m| ours.sign(m).unwrap()),
    ));
    let es384 = json!({ "alg": "ES384", "typ": "at+jwt", "kid": kid });
    forged.push((
        "alg not the key's own",
        compact(&es384, &good, |m| ours.sign(m).unwrap()),
    ));

    // Our own signature over claims that must not pass.
    let now = app.clock.now().timestamp();
    let signed = |claims: &Value| jwt::sign(&ours, AT_TYP, claims).unwrap();
    forged.push((
        "wrong issuer",
        signed(&with(&good, "iss", json!("http://evil.test"))),
    ));
    forged.push((
        "wrong audience",
        signed(&with(&good, "aud", json!("http://other.test"))),
    ));
    forged.push(("expired", signed(&with(&good, "exp", json!(now - 120)))));
    forged.push((
        "nbf in the future",
        signed(&with(&good, "nbf", json!(now + 300))),
    ));
    forged.push((
        "iat far in the future",
        signed(&with(&good, "iat", json!(now + 3600))),
    ));
    forged.push(("no exp", signed(&without(&good, "exp"))));
    forged.push(("no sub", signed(&without(&good, "sub"))));
    forged.push(("typ JWT", jwt::sign(&ours, "JWT", &good).unwrap()));
    let no_typ = json!({ "alg": "ES256", "kid": kid });
    forged.push(("no typ", compact(&no_typ, &good, |m| ours.sign(m).unwrap())));

    // A genuine token with its claims edited, and one with its signature cut off.
    let mut parts: Vec<String> = genuine.split('.').map(str::to_string).collect();
    parts[1] =
        B64.encode(serde_json::to_vec(&with(&good, "scope", json!("user album:a1:read"))).unwrap());
    forged.push(("edited claims", parts.join(".")));
    forged.push((
        "no signature",
        format!("{}.{}.", parts[0], genuine.split('.').nth(1).unwrap()),
    ));
    Forgeries {
        genuine,
        hand_built,
        forged,
    }
}

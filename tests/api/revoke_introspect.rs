//! Revocation (RFC 7009), introspection (RFC 7662, and RFC 9701 signed answers) and the cleanup
//! of stale rows, as a resource server and a token holder see them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::Duration;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};
use tessera::store::{refresh_tokens, revoked_access_tokens};
use tessera::tokens::jwt::{self, AT_TYP};
use tessera::tokens::secret::{Secret, SecretKind};

use crate::db_test;
use crate::helpers::{TestApp, ALICE};

const ISSUER: &str = "http://tessera.test";

// ----- helpers of this module -----

/// Creates a personal token for alice (`extra` adds fields to the request); returns (id, token).
async fn personal(app: &TestApp, scope: &str, extra: Value) -> (String, String) {
    let mut body = json!({ "name": "t", "scope": scope });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let v = app.create_token(ALICE, body).await;
    (
        v["id"].as_str().unwrap().to_string(),
        v["token"].as_str().unwrap().to_string(),
    )
}

/// Creates an album token on a1 for alice with a password; returns the created JSON.
async fn album_token(app: &TestApp, permissions: &[&str]) -> Value {
    let r = app
        .api_as(
            Method::POST,
            "/api/albums/a1/tokens",
            ALICE,
            Some(json!({ "name": "viewer", "permissions": permissions })),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    r.json().await.unwrap()
}

/// Creates a token under the Bearer credential `access`; returns the created JSON.
async fn child_token(app: &TestApp, access: &str, body: Value) -> Value {
    let r = app
        .api_bearer(Method::POST, "/api/tokens", access, Some(body))
        .await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

fn access_of(exchange: &Value) -> String {
    exchange["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// POST /oauth/revoke with an optional hint and optional HTTP Basic client credentials.
async fn revoke(
    app: &TestApp,
    token: &str,
    hint: Option<&str>,
    basic: Option<(&str, &str)>,
) -> Response {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    app.post_form("/oauth/revoke", &form, basic).await
}

/// Asserts the RFC 7009 success answer: 200, empty body, not cacheable.
async fn assert_revoke_ok(r: Response, what: &str) {
    assert_eq!(r.status(), StatusCode::OK, "revoking {what}");
    assert_eq!(r.headers()["cache-control"], "no-store", "revoking {what}");
    assert_eq!(
        r.text().await.unwrap(),
        "",
        "revoking {what}: the body must be empty"
    );
}

/// Asserts an OAuth error answer with the given status and `error` code.
async fn assert_oauth_error(r: Response, status: StatusCode, code: &str) {
    assert_eq!(r.status(), status);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], code, "{v}");
    assert!(
        v.get("active").is_none(),
        "an error answer must not carry token data: {v}"
    );
}

async fn assert_inactive(app: &TestApp, rs: (&str, &str), token: &str, what: &str) {
    assert_eq!(
        app.introspect(token, rs).await,
        json!({ "active": false }),
        "{what} must be inactive"
    );
}

async fn assert_active(app: &TestApp, rs: (&str, &str), token: &str, what: &str) -> Value {
    let v = app.introspect(token, rs).await;
    assert_eq!(v["active"], true, "{what} must be active: {v}");
    v
}

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

/// The (unverified) claims of a compact JWS.
fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&B64.decode(part).expect("base64url")).expect("JSON claims")
}

/// A compact JWS of `header` and `claims`, its signature made by `sign` over the signing input.
fn compact(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(serde_json::to_vec(header).unwrap()),
        B64.encode(serde_json::to_vec(claims).unwrap())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", B64.encode(sig))
}

/// Claims a genuine access token for alice would carry, valid now.
fn good_claims(app: &TestApp) -> Value {
    let now = app.clock.now().timestamp();
    json!({
        "iss": ISSUER, "sub": "alice", "aud": ISSUER, "exp": now + 600, "iat": now,
        "jti": "forged-jti", "client_id": "tessera", "scope": "user",
    })
}

fn with(claims: &Value, key: &str, value: Value) -> Value {
    let mut c = claims.clone();
    c[key] = value;
    c
}

fn without(claims: &Value, key: &str) -> Value {
    let mut c = claims.clone();
    c.as_object_mut().unwrap().remove(key);
    c
}

/// The same token with one character of its body changed, so the checksum no longer matches.
fn bad_checksum(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    chars[6] = if chars[6] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn unknown_refresh_token() -> String {
    Secret::generate(SecretKind::RefreshToken)
        .expose()
        .to_string()
}

// ----- introspection -----

db_test!(introspection_needs_a_resource_server_client, |app| {
    app.alice_with_album().await;
    let (_, token) = personal(app, "user", json!({})).await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let plain = app
        .add_client("plain", false, Some("client_credentials"), None, false)
        .await
        .unwrap();
    app.add_client("spa", true, Some("refresh_token"), None, false)
        .await;

    let r = app
        .post_form("/oauth/introspect", &[("token", &token)], None)
        .await;
    assert!(r.headers().contains_key("www-authenticate"));
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let r = app
        .post_form(
            "/oauth/introspect",
            &[("token", &token)],
            Some(("rs", "tsc_wrong")),
        )
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // A public client proves nothing about itself.
    let r = app
        .post_form(
            "/oauth/introspect",
            &[("token", &token), ("client_id", "spa")],
            None,
        )
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = app
        .post_form(
            "/oauth/introspect",
            &[("token", &token)],
            Some(("tessera", "")),
        )
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // A confidential client registered without the introspect permission.
    let r = app
        .post_form(
            "/oauth/introspect",
            &[("token", &token)],
            Some(("plain", &plain)),
        )
        .await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_oauth_error(r, StatusCode::FORBIDDEN, "unauthorized_client").await;

    // The resource server, with either authentication method, gets the answer.
    assert_active(app, (&rs_id, &rs_secret), &token, "the token").await;
    let r = app
        .post_form(
            "/oauth/introspect",
            &[
                ("token", &token),
                ("client_id", &rs_id),
                ("client_secret", &rs_secret),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);

    for form in [
        &[("token_type_hint", "access_token")][..],
        &[("token", "")][..],
    ] {
        let r = app
            .post_form("/oauth/introspect", form, Some((&rs_id, &rs_secret)))
            .await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
});

db_test!(active_access_and_refresh_tokens_answer_every_field, |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let created = app
        .create_token(
            ALICE,
            json!({ "name": "laptop", "scope": "user album:a1:read" }),
        )
        .await;
    let rt = created["token"].as_str().unwrap();

    let t = app.exchange(rt).await;
    let at = access_of(&t);
    let r = app
        .post_form("/oauth/introspect", &[("token", &at)], Some(rs))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    let c = payload(&at);
    assert_eq!(
        v,
        json!({
            "active": true, "scope": "album:a1:read user", "client_id": "tessera", "username": "alice",
            "token_type": "Bearer", "exp": c["exp"], "iat": c["iat"], "sub": "alice",
            "aud": ISSUER, "iss": ISSUER, "jti": c["jti"],
        })
    );
    assert_eq!(
        c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(),
        15 * 60
    );

    // The refresh token itself, as a resource server accepting tsr_ tokens directly sees it.
    let ts = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(created[k].as_str().unwrap())
            .unwrap()
            .timestamp()
    };
    assert_eq!(
        app.introspect(rt, rs).await,
        json!({
            "active": true, "scope": "album:a1:read user", "client_id": "tessera", "username": "alice",
            "token_type": "refresh_token", "exp": ts("expires_at"), "iat": ts("created_at"), "sub": "alice",
            "aud": ISSUER, "iss": ISSUER, "jti": created["id"],
        })
    );
});

db_test!(album_tokens_answer_album_id_and_permissions, |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let album = album_token(app, &["read", "download"]).await;
    let tsr = album["token"].as_str().unwrap();

    let v = assert_active(app, rs, tsr, "the album token").await;
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(v["album_id"], "a1");
    assert_eq!(v["permissions"], json!(["read", "download"]));
    assert_eq!(v["scope"], "album:a1:download album:a1:read");
    assert_eq!(v["username"], "alice");
    assert_eq!(v["jti"], album["id"]);

    let at = access_of(&app.exchange(tsr).await);
    let v = assert_active(app, rs, &at, "the album token's access token").await;
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["album_id"], "a1");
    assert_eq!(v["permissions"], json!(["read", "download"]));

    // The token holds only what its creator still holds.
    app.grant("a1", "alice", "read").await;
    let v = assert_active(app, rs, tsr, "the album token after alice lost download").await;
    assert_eq!(v["permissions"], json!(["read"]));
    assert_eq!(v["scope"], "album:a1:read");
    // An access token minted before the change answers only what is still held, too.
    let v = assert_active(app, rs, &at, "the access token minted before the change").await;
    assert_eq!(v["permissions"], json!(["read"]));
    assert_eq!(v["scope"], "album:a1:read");
    let at2 = access_of(&app.exchange(tsr).await);
    assert_eq!(
        app.introspect(&at2, rs).await["permissions"],
        json!(["read"]),
        "the next exchange narrows"
    );
    app.grant("a1", "alice", "").await;
    assert_inactive(app, rs, tsr, "an album token whose creator lost the album").await;
});

db_test!(
    /// Finding 7: after `album grant scans alice none`, an access token minted earlier still
    /// answered active with the lost scope. Introspection now re-checks album permissions of
    /// the token's user, like the refresh grant.
    access_tokens_introspect_only_album_permissions_still_held,
    |app| {
        app.alice_with_album().await;
        app.add_album("a2").await;
        app.grant("a2", "alice", "read").await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());
        let (_, personal) = personal(app, "user", json!({})).await;
        let both = app
            .token(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &personal),
                    ("scope", "album:a1:read album:a1:write album:a2:read"),
                ],
                None,
            )
            .await
            .json::<Value>()
            .await
            .unwrap();
        let at = access_of(&both);
        let album = album_token(app, &["read", "write"]).await;
        let album_at = access_of(&app.exchange(album["token"].as_str().unwrap()).await);

        app.grant("a1", "alice", "none").await;
        let v = assert_active(app, rs, &at, "a token that still holds a2").await;
        assert_eq!(v["scope"], "album:a2:read", "{v}");
        assert_eq!(v["album_id"], "a2");
        assert_inactive(app, rs, &album_at, "an album JWT whose user lost the album").await;
        app.grant("a2", "alice", "none").await;
        assert_inactive(app, rs, &at, "a JWT whose user lost every album it names").await;
        // Regained permissions count again (the check is against current membership).
        app.grant("a1", "alice", "read").await;
        let v = assert_active(app, rs, &album_at, "after read was granted again").await;
        assert_eq!(v["scope"], "album:a1:read");
    }
);

db_test!(client_credentials_tokens_answer_as_the_client, |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let svc = app
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
            &[
                ("grant_type", "client_credentials"),
                ("scope", "album:a1:read"),
            ],
            Some(("svc", &svc)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let at = access_of(&r.json().await.unwrap());
    let v = assert_active(app, (&rs_id, &rs_secret), &at, "a client_credentials token").await;
    assert_eq!(v["client_id"], "svc");
    assert_eq!(v["sub"], "svc");
    assert!(
        v.get("username").is_none(),
        "no user behind a client_credentials token: {v}"
    );
    assert_eq!(v["album_id"], "a1");
    assert_eq!(v["permissions"], json!(["read"]));
});

db_test!(expired_rotated_and_revoked_tokens_are_inactive, |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let (_, long) = personal(app, "user", json!({})).await;
    let (_, short) = personal(app, "user", json!({ "expires_in": 600 })).await;
    let (_, rotating) = personal(app, "user", json!({ "rotating": true })).await;
    let (deleted_id, deleted) = personal(app, "user", json!({})).await;
    let at_long = access_of(&app.exchange(&long).await);
    let at_short = access_of(&app.exchange(&short).await);
    let at_deleted = access_of(&app.exchange(&deleted).await);
    let next = app.exchange(&rotating).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    assert_inactive(app, rs, &rotating, "a rotated-away refresh token").await;
    assert_active(app, rs, &next, "its successor").await;

    let r = app
        .api_as(
            Method::DELETE,
            &format!("/api/tokens/{deleted_id}"),
            ALICE,
            None,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_inactive(app, rs, &deleted, "a token revoked through the API").await;
    assert_inactive(
        app,
        rs,
        &at_deleted,
        "an access token of a token revoked through the API",
    )
    .await;
    assert_inactive(
        app,
        rs,
        &unknown_refresh_token(),
        "a well-formed unknown refresh token",
    )
    .await;

    // The short token expires after 600 s, and its access token with it.
    app.clock.advance(Duration::seconds(601));
    assert_inactive(app, rs, &short, "an expired refresh token").await;
    assert_inactive(
        app,
        rs,
        &at_short,
        "an access token capped at its refresh token's expiry",
    )
    .await;
    assert_active(app, rs, &at_long, "an access token within its 15 minutes").await;
    app.clock.advance(Duration::seconds(15 * 60));
    assert_inactive(app, rs, &at_long, "an expired access token").await;
    assert_active(app, rs, &long, "the long-lived refresh token").await;
});

/// Access tokens made from one set of claims: signed by the server's key with `jwt::sign` and
/// assembled by hand as the forgeries are (the two controls), and forgeries, each differing
/// from the controls in one respect, labelled with that respect.
struct Forgeries {
    genuine: String,
    hand_built: String,
    forged: Vec<(&'static str, String)>,
}

async fn forged_jwts(app: &TestApp) -> Forgeries {
    forged_jwts_over(app, good_claims(app)).await
}

/// Forgeries of an access token whose genuine claims are `good`.
async fn forged_jwts_over(app: &TestApp, good: Value) -> Forgeries {
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

db_test!(forged_and_malformed_tokens_are_inactive, |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let Forgeries {
        genuine,
        hand_built,
        mut forged,
    } = forged_jwts(app).await;

    // Controls: the claims every forgery starts from, signed properly, are accepted; so each
    // rejection below is due to the one thing that forgery changes.
    assert_active(app, rs, &genuine, "the genuine control token").await;
    assert_active(app, rs, &hand_built, "the hand-built control").await;

    // Garbage, and refresh-token look-alikes.
    let (_, rt) = personal(app, "user", json!({})).await;
    assert_active(app, rs, &rt, "the refresh token the look-alikes come from").await;
    forged.push(("tsr_ with a bad checksum", bad_checksum(&rt)));
    forged.push(("tsr_ truncated", rt[..rt.len() - 1].to_string()));
    forged.push(("tsr_ alone", "tsr_".into()));
    forged.push((
        "a client secret",
        app.add_client("c2", false, Some("client_credentials"), None, false)
            .await
            .unwrap(),
    ));
    for g in [
        "garbage",
        "a.b.c",
        "..",
        "eyJhbGciOiJub25lIn0.e30.",
        "é.ü.ß",
        &"x".repeat(4000),
    ] {
        forged.push(("garbage", g.to_string()));
    }

    for (what, token) in &forged {
        assert_inactive(app, rs, token, what).await;
    }
});

db_test!(
    forged_access_tokens_are_refused_at_api_revoke_and_token,
    |app| {
        app.alice_with_album().await;
        // The forgeries start from the claims of a real access token (with its refresh-token row),
        // so the controls are accepted as Bearer credentials at /api and each refusal below is due
        // to the one thing that forgery changes.
        let (_, rt) = personal(app, "user", json!({})).await;
        let real = access_of(&app.exchange(&rt).await);
        let real_claims: Value =
            serde_json::from_slice(&B64.decode(real.split('.').nth(1).unwrap()).unwrap()).unwrap();
        let good = with(&good_claims(app), "rtid", real_claims["rtid"].clone());
        let Forgeries {
            genuine,
            hand_built,
            forged,
        } = forged_jwts_over(app, good).await;
        for control in [&genuine, &hand_built] {
            let r = app.api_bearer(Method::GET, "/api/me", control, None).await;
            assert_eq!(
                r.status(),
                StatusCode::OK,
                "a control token is accepted at /api"
            );
        }
        let before = crate::hostile_input::snapshot(app).await;
        for (what, token) in &forged {
            for (method, path, body) in [
                (Method::GET, "/api/me", None),
                (Method::GET, "/api/tokens", None),
                (
                    Method::POST,
                    "/api/tokens",
                    Some(json!({ "name": "forged", "scope": "user" })),
                ),
            ] {
                let r = app.api_bearer(method.clone(), path, token, body).await;
                assert_eq!(
                    r.status(),
                    StatusCode::UNAUTHORIZED,
                    "{what} at {method} {path}"
                );
                assert!(
                    r.headers().contains_key("www-authenticate"),
                    "{what} at {path}"
                );
                let v: Value = r.json().await.unwrap();
                assert!(v["error"].is_string(), "{what} at {path}: {v}");
            }
            // RFC 7009: revoking an invalid token answers 200 and changes nothing.
            assert_revoke_ok(revoke(app, token, Some("access_token"), None).await, what).await;
            // Presented as a refresh token it is no refresh token at all.
            let r = app
                .token(
                    &[("grant_type", "refresh_token"), ("refresh_token", token)],
                    None,
                )
                .await;
            assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
        }
        assert_eq!(
            crate::hostile_input::snapshot(app).await,
            before,
            "forged tokens changed stored state"
        );
        let r = app.api_bearer(Method::GET, "/api/me", &genuine, None).await;
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "the forgeries revoked nothing of the genuine token"
        );
    }
);

db_test!(signed_jwt_answers_per_rfc_9701, |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let album = album_token(app, &["read"]).await;
    let tsr = album["token"].as_str().unwrap();
    let jwks = jwk_set(app).await;

    for token in [
        tsr.to_string(),
        access_of(&app.exchange(tsr).await),
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

// ----- offline validation, as docs/resource-servers.md shows it -----

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
        let (_, rt) = personal(app, "user", json!({})).await;
        let at = access_of(&app.exchange(&rt).await);
        let c = validate(&at, &jwks, ISSUER, ISSUER).expect("a real access token validates");
        assert_eq!(c.jti, payload(&at)["jti"]);
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
        assert_eq!(c.exp - payload(&at)["iat"].as_i64().unwrap(), 15 * 60);
    }
);

// ----- revocation -----

db_test!(
    revoking_a_refresh_token_revokes_its_family_children_and_access_tokens,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());

        // A rotating parent exchanged twice: its access tokens come from rows rotated away since.
        let (parent_id, p1) =
            personal(app, "user album:a1:read", json!({ "rotating": true })).await;
        let t = app.exchange(&p1).await;
        let (p2, at_p1) = (
            t["refresh_token"].as_str().unwrap().to_string(),
            access_of(&t),
        );
        let t = app.exchange(&p2).await;
        let (head, at_p2) = (
            t["refresh_token"].as_str().unwrap().to_string(),
            access_of(&t),
        );

        // A child made with the parent's access token, a grandchild and an album token under the child.
        let child = child_token(
            app,
            &at_p2,
            json!({ "name": "child", "scope": "user album:a1:read" }),
        )
        .await;
        assert_eq!(child["parent_id"], Value::from(parent_id.as_str()));
        let child_rt = child["token"].as_str().unwrap();
        let at_child = access_of(&app.exchange(child_rt).await);
        let grand = child_token(
            app,
            &at_child,
            json!({ "name": "grandchild", "scope": "album:a1:read" }),
        )
        .await;
        assert_eq!(grand["parent_id"], child["id"]);
        let grand_rt = grand["token"].as_str().unwrap();
        let at_grand = access_of(&app.exchange(grand_rt).await);
        let r = app
            .api_bearer(
                Method::POST,
                "/api/albums/a1/tokens",
                &at_child,
                Some(json!({ "name": "a", "permissions": ["read"] })),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let album: Value = r.json().await.unwrap();
        assert_eq!(album["parent_id"], child["id"]);
        let album_rt = album["token"].as_str().unwrap();

        // A sibling made with the password belongs to no one else: it must survive.
        let (_, sibling) = personal(app, "user", json!({})).await;
        let at_sibling = access_of(&app.exchange(&sibling).await);

        let child_subtree = [
            (child_rt, "the child"),
            (at_child.as_str(), "the child's access token"),
            (grand_rt, "the grandchild"),
            (at_grand.as_str(), "the grandchild's access token"),
            (album_rt, "the child's album token"),
        ];
        let parent_family = [
            (head.as_str(), "the parent"),
            (
                at_p1.as_str(),
                "an access token from the parent's first row",
            ),
            (
                at_p2.as_str(),
                "an access token from the parent's second row",
            ),
        ];
        for (t, what) in child_subtree.iter().chain(&parent_family) {
            assert_active(app, rs, t, what).await;
        }

        // Revoking the child takes its subtree and leaves the parent alone.
        assert_revoke_ok(
            revoke(app, child_rt, Some("refresh_token"), None).await,
            "the child",
        )
        .await;
        for (t, what) in child_subtree {
            assert_inactive(app, rs, t, what).await;
        }
        for (t, what) in parent_family {
            assert_active(app, rs, t, what).await;
        }

        // Revoking the parent (by its current token) takes everything under it.
        assert_revoke_ok(revoke(app, &head, None, None).await, "the parent").await;
        for (t, what) in parent_family {
            assert_inactive(app, rs, t, what).await;
        }
        assert_active(app, rs, &sibling, "an unrelated token").await;
        assert_active(app, rs, &at_sibling, "an unrelated access token").await;

        // What the holders see: the exchange fails, the API shows the tokens revoked.
        let r = app
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", grand_rt)],
                None,
            )
            .await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
        let r = app.api_bearer(Method::GET, "/api/me", &at_p2, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        for id in [
            parent_id.as_str(),
            grand["id"].as_str().unwrap(),
            album["id"].as_str().unwrap(),
        ] {
            let v: Value = app
                .api_as(Method::GET, &format!("/api/tokens/{id}"), ALICE, None)
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(v["status"], "revoked", "{v}");
        }
    }
);

db_test!(
    revoking_an_access_token_records_its_jti_until_expiry,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());
        let (_, rt) = personal(app, "user", json!({})).await;
        let at = access_of(&app.exchange(&rt).await);
        let other_at = access_of(&app.exchange(&rt).await);
        let jti = payload(&at)["jti"].as_str().unwrap().to_string();
        assert!(!revoked_access_tokens::is_revoked(&app.state.db, &jti)
            .await
            .unwrap());

        assert_revoke_ok(
            revoke(app, &at, Some("access_token"), None).await,
            "an access token",
        )
        .await;
        assert_inactive(app, rs, &at, "the revoked access token").await;
        assert!(revoked_access_tokens::is_revoked(&app.state.db, &jti)
            .await
            .unwrap());
        let r = app.api_bearer(Method::GET, "/api/me", &at, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        // Only that one token: its refresh token and its sibling live on.
        assert_active(
            app,
            rs,
            &other_at,
            "another access token of the same refresh token",
        )
        .await;
        assert_active(app, rs, &rt, "the refresh token").await;
        assert_revoke_ok(
            revoke(app, &at, None, None).await,
            "an already revoked access token",
        )
        .await;

        // Once the token has expired on its own, its jti is no longer needed.
        app.clock.advance(Duration::minutes(16));
        let c = tessera::domain::gc::run_once(&app.state).await.unwrap();
        assert_eq!(c.revoked_access_tokens, 1);
        assert!(!revoked_access_tokens::is_revoked(&app.state.db, &jti)
            .await
            .unwrap());
        assert_inactive(app, rs, &at, "the expired access token after cleanup").await;
        // Revoking an expired access token records nothing.
        assert_revoke_ok(
            revoke(app, &other_at, None, None).await,
            "an expired access token",
        )
        .await;
        let other_jti = payload(&other_at)["jti"].as_str().unwrap().to_string();
        assert!(
            !revoked_access_tokens::is_revoked(&app.state.db, &other_jti)
                .await
                .unwrap()
        );
    }
);

db_test!(a_wrong_or_unknown_hint_changes_nothing, |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let (_, a) = personal(app, "user", json!({})).await;
    let (_, b) = personal(app, "user", json!({})).await;
    let at = access_of(&app.exchange(&b).await);
    let (_, c) = personal(app, "user", json!({})).await;

    assert_revoke_ok(
        revoke(app, &a, Some("access_token"), None).await,
        "a refresh token hinted as access",
    )
    .await;
    assert_inactive(app, rs, &a, "a refresh token revoked under a wrong hint").await;
    assert_revoke_ok(
        revoke(app, &at, Some("refresh_token"), None).await,
        "an access token hinted as refresh",
    )
    .await;
    assert_inactive(app, rs, &at, "an access token revoked under a wrong hint").await;
    assert_active(app, rs, &b, "the refresh token behind that access token").await;
    assert_revoke_ok(
        revoke(app, &c, Some("id_token"), None).await,
        "a token with an unknown hint",
    )
    .await;
    assert_inactive(app, rs, &c, "a refresh token revoked under an unknown hint").await;
});

db_test!(
    revocation_answers_200_for_any_token_and_errors_only_for_bad_requests,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());
        let (_, revoked) = personal(app, "user", json!({})).await;
        assert_revoke_ok(
            revoke(app, &revoked, None, None).await,
            "a live refresh token",
        )
        .await;
        let (_, expired) = personal(app, "user", json!({ "expires_in": 60 })).await;
        let expired_at = access_of(&app.exchange(&expired).await);
        let (_, live) = personal(app, "user", json!({})).await;
        app.clock.advance(Duration::seconds(61));

        let alg_none = compact(
            &json!({ "alg": "none", "typ": "at+jwt" }),
            &good_claims(app),
            |_| Vec::new(),
        );
        let cases = [
            (revoked.clone(), "an already revoked refresh token"),
            (expired.clone(), "an expired refresh token"),
            (expired_at, "an expired access token"),
            (unknown_refresh_token(), "an unknown refresh token"),
            (bad_checksum(&live), "a refresh token with a bad checksum"),
            (alg_none, "an alg-none JWT"),
            ("garbage".into(), "garbage"),
            ("a.b.c".into(), "a three-part garbage string"),
        ];
        for (token, what) in &cases {
            assert_revoke_ok(revoke(app, token, None, None).await, what).await;
            assert_revoke_ok(
                revoke(app, token, Some("refresh_token"), Some(rs)).await,
                what,
            )
            .await;
        }
        assert_active(app, rs, &live, "the token whose look-alike was revoked").await;

        // Errors: no token parameter (an empty one counts as omitted, RFC 6749 §3.1), a body that is
        // not a form, bad client credentials.
        for form in [
            &[("token_type_hint", "refresh_token")][..],
            &[("token", "")][..],
        ] {
            let r = app.post_form("/oauth/revoke", form, None).await;
            assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        }
        let r = app
            .http
            .post(app.url("/oauth/revoke"))
            .json(&json!({ "token": live }))
            .send()
            .await
            .unwrap();
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        let r = revoke(app, &live, None, Some((rs.0, "tsc_wrong"))).await;
        assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
        assert_active(app, rs, &live, "a token named in a refused revocation").await;
    }
);

db_test!(
    only_its_client_revokes_a_bound_token_and_any_holder_a_personal_one,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());
        let app_secret = app
            .add_client("app", false, Some("refresh_token"), None, false)
            .await
            .unwrap();
        let other_secret = app
            .add_client("other", false, Some("refresh_token"), None, false)
            .await
            .unwrap();
        app.add_client("spa", true, Some("refresh_token"), None, false)
            .await;
        let me = ("app", app_secret.as_str());
        let other = ("other", other_secret.as_str());

        // A token bound to the confidential client "app", exchanged by it (bound tokens rotate).
        let (_, bound) = personal(app, "user", json!({ "client_id": "app" })).await;
        let r = app
            .token(
                &[("grant_type", "refresh_token"), ("refresh_token", &bound)],
                Some(me),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let t: Value = r.json().await.unwrap();
        let (bound, bound_at) = (
            t["refresh_token"].as_str().unwrap().to_string(),
            access_of(&t),
        );

        for token in [&bound, &bound_at] {
            let r = revoke(app, token, None, Some(other)).await;
            assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
            let r = app
                .post_form(
                    "/oauth/revoke",
                    &[("token", token), ("client_id", "spa")],
                    None,
                )
                .await;
            assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
            let r = revoke(app, token, None, None).await;
            assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
            assert_active(app, rs, token, "a bound token after refused revocations").await;
        }
        // Its own client, with client_secret_post and then client_secret_basic.
        let r = app
            .post_form(
                "/oauth/revoke",
                &[
                    ("token", &bound_at),
                    ("client_id", "app"),
                    ("client_secret", &app_secret),
                ],
                None,
            )
            .await;
        assert_revoke_ok(r, "a bound access token by its client").await;
        assert_inactive(
            app,
            rs,
            &bound_at,
            "a bound access token revoked by its client",
        )
        .await;
        assert_revoke_ok(
            revoke(app, &bound, None, Some(me)).await,
            "a bound refresh token by its client",
        )
        .await;
        assert_inactive(
            app,
            rs,
            &bound,
            "a bound refresh token revoked by its client",
        )
        .await;

        // Bound to a public client: presenting it, with or without the client id, is enough.
        let (_, spa1) = personal(app, "user", json!({ "client_id": "spa" })).await;
        let (_, spa2) = personal(app, "user", json!({ "client_id": "spa" })).await;
        assert_revoke_ok(
            revoke(app, &spa1, None, None).await,
            "a public client's token",
        )
        .await;
        let r = app
            .post_form(
                "/oauth/revoke",
                &[("token", &spa2), ("client_id", "spa")],
                None,
            )
            .await;
        assert_revoke_ok(r, "a public client's token, naming the client").await;
        assert_inactive(
            app,
            rs,
            &spa1,
            "a public client's token revoked by its holder",
        )
        .await;
        assert_inactive(
            app,
            rs,
            &spa2,
            "a public client's token revoked naming the client",
        )
        .await;

        // Personal and album refresh tokens belong to no client: whoever holds them may revoke them,
        // naming a client or not. Their access tokens were issued to the built-in client `tessera`:
        // the holder revokes them without naming a client; another client is refused.
        let (_, p) = personal(app, "user", json!({})).await;
        let p_at = access_of(&app.exchange(&p).await);
        let album = album_token(app, &["read"]).await;
        let album_rt = album["token"].as_str().unwrap();
        let album_at = access_of(&app.exchange(album_rt).await);
        let r = revoke(app, &p_at, None, Some(other)).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "unauthorized_client").await;
        assert_active(
            app,
            rs,
            &p_at,
            "a personal access token another client tried to revoke",
        )
        .await;
        assert_revoke_ok(
            revoke(app, &p_at, None, None).await,
            "a personal access token by its holder",
        )
        .await;
        assert_revoke_ok(
            revoke(app, &p, None, Some(other)).await,
            "a personal token by a client",
        )
        .await;
        assert_revoke_ok(
            revoke(app, &album_at, None, None).await,
            "an album access token by its holder",
        )
        .await;
        assert_revoke_ok(
            revoke(app, album_rt, None, None).await,
            "an album token by its holder",
        )
        .await;
        for (t, what) in [
            (&p_at, "personal access"),
            (&p, "personal"),
            (&album_at, "album access"),
        ] {
            assert_inactive(app, rs, t, what).await;
        }
        assert_inactive(app, rs, album_rt, "album").await;
    }
);

// Two instances on one database (with copies of one key directory): a revocation through one
// is seen at the very next introspection through the other. This is the deployment the issue
// names on PostgreSQL; on SQLite it is two instances on one host sharing the file.
db_test!(
    a_revocation_through_one_instance_is_seen_at_once_by_another,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());

        let second_dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(second_dir.path().join("keys")).unwrap();
        for entry in std::fs::read_dir(app.dir.path().join("keys")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(
                entry.path(),
                second_dir.path().join("keys").join(entry.file_name()),
            )
            .unwrap();
        }
        let settings = crate::helpers::test_settings(second_dir.path(), &app.database_url, &[]);
        let second = tessera::app::Application::build(settings, tessera::clock::Clock::default())
            .await
            .unwrap();
        let second_base = format!("http://127.0.0.1:{}", second.port());
        let second_state = second.state().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(second.run_until(async move {
            let _ = stopped.await;
        }));
        let call = |base: &str, path: &str, token: &str, basic: Option<(&str, &str)>| {
            let mut req = app
                .http
                .post(format!("{base}{path}"))
                .form(&[("token", token.to_string())]);
            if let Some((u, p)) = basic {
                req = req.basic_auth(u, Some(p));
            }
            req.send()
        };
        let introspect_at = |base: &str, token: &str| {
            let req = call(base, "/oauth/introspect", token, Some(rs));
            async move { req.await.unwrap().json::<Value>().await.unwrap() }
        };

        let (_, rt) = personal(app, "user", json!({})).await;
        let at = access_of(&app.exchange(&rt).await);
        let (_, rt2) = personal(app, "user", json!({})).await;
        let at2 = access_of(&app.exchange(&rt2).await);
        for (base, name) in [
            (app.base.as_str(), "first"),
            (second_base.as_str(), "second"),
        ] {
            for t in [&rt, &at, &rt2, &at2] {
                assert_eq!(
                    introspect_at(base, t).await["active"],
                    true,
                    "active at the {name} instance"
                );
            }
        }

        // Refresh token revoked at the first, asked about at the second; then the other way round
        // for an access token.
        assert_revoke_ok(
            call(&app.base, "/oauth/revoke", &rt, None).await.unwrap(),
            "at the first",
        )
        .await;
        assert_eq!(
            introspect_at(&second_base, &rt).await,
            json!({ "active": false })
        );
        assert_eq!(
            introspect_at(&second_base, &at).await,
            json!({ "active": false })
        );
        assert_revoke_ok(
            call(&second_base, "/oauth/revoke", &at2, None)
                .await
                .unwrap(),
            "at the second",
        )
        .await;
        assert_eq!(
            introspect_at(&app.base, &at2).await,
            json!({ "active": false })
        );
        assert_eq!(
            introspect_at(&second_base, &rt2).await["active"],
            true,
            "only the access token was revoked"
        );

        let _ = stop.send(());
        server.await.unwrap();
        second_state.db.clone().close().await.unwrap();
    }
);

// ----- cleanup -----

db_test!(gc_deletes_stale_rows_in_batches_and_never_a_live_token,
    ["TESSERA_GC_BATCH_SIZE" => "2", "TESSERA_ALLOW_NON_EXPIRING_TOKENS" => "true"], |app| {
    use tessera::domain::gc::run_once;
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let (live_id, live) = personal(app, "user", json!({})).await;
    let (forever_id, forever) = personal(app, "user", json!({ "never_expires": true })).await;
    let (short_id, _) = personal(app, "user", json!({ "expires_in": 3600 })).await;
    let (gone_id, gone) = personal(app, "user", json!({})).await;
    assert_revoke_ok(revoke(app, &gone, None, None).await, "a token to be collected").await;
    let (rotating_id, first) = personal(app, "user", json!({ "rotating": true })).await;
    let current = app.exchange(&first).await["refresh_token"].as_str().unwrap().to_string();
    let revoked_at = access_of(&app.exchange(&live).await);
    assert_revoke_ok(revoke(app, &revoked_at, None, None).await, "an access token").await;
    let jti = payload(&revoked_at)["jti"].as_str().unwrap().to_string();
    let first_hash = Secret::parse(SecretKind::RefreshToken, &first).unwrap().hash();
    let head = |id: &str| {
        let (db, id) = (app.state.db.clone(), id.to_string());
        async move { refresh_tokens::find_head(&db, &id).await.unwrap().is_some() }
    };

    // Nothing is stale yet: revoked and rotated rows are kept for the retention period.
    let c = run_once(&app.state).await.unwrap();
    assert_eq!((c.refresh_tokens, c.revoked_access_tokens), (0, 0));
    assert!(head(&gone_id).await && head(&short_id).await);
    assert!(refresh_tokens::find_by_hash(&app.state.db, &first_hash).await.unwrap().is_some());

    // The revoked jti goes when its token would have expired anyway.
    app.clock.advance(Duration::minutes(16));
    let c = run_once(&app.state).await.unwrap();
    assert_eq!((c.refresh_tokens, c.revoked_access_tokens), (0, 1));
    assert!(!revoked_access_tokens::is_revoked(&app.state.db, &jti).await.unwrap());

    // Past the 30-day retention: the revoked token, the expired one and the rotated-away row go,
    // in batches of two.
    app.clock.advance(Duration::days(31));
    let c = run_once(&app.state).await.unwrap();
    assert_eq!((c.refresh_tokens, c.revoked_access_tokens), (3, 0));
    assert!(!head(&gone_id).await && !head(&short_id).await);
    assert!(refresh_tokens::find_by_hash(&app.state.db, &first_hash).await.unwrap().is_none());
    let c = run_once(&app.state).await.unwrap();
    assert_eq!((c.refresh_tokens, c.revoked_access_tokens), (0, 0), "a second pass finds nothing");

    assert!(app.introspect(&forever, rs).await.get("exp").is_none(), "no exp for a token that never expires");
    // Live tokens are untouched and still work.
    for (id, token) in [(&live_id, &live), (&forever_id, &forever), (&rotating_id, &current)] {
        assert!(head(id).await, "live token {id} kept");
        assert_active(app, rs, token, "a live token after cleanup").await;
        let at = access_of(&app.exchange(token).await);
        assert_active(app, rs, &at, "an access token minted after cleanup").await;
    }
});

db_test!(gc_keeps_a_rotated_row_while_access_tokens_minted_from_it_live,
    ["TESSERA_REVOKED_RETENTION" => "1s"], |app| {
    app.alice_with_album().await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let (_, first) = personal(app, "user", json!({ "rotating": true })).await;
    let at = access_of(&app.exchange(&first).await);

    // The retention is shorter than the access token's life; the row it came from must stay.
    app.clock.advance(Duration::seconds(5));
    let c = tessera::domain::gc::run_once(&app.state).await.unwrap();
    assert_eq!(c.refresh_tokens, 0);
    assert_active(app, rs, &at, "an access token of a rotated-away row after cleanup").await;
    let r = app.api_bearer(Method::GET, "/api/me", &at, None).await;
    assert_eq!(r.status(), StatusCode::OK);

    app.clock.advance(Duration::minutes(16));
    let c = tessera::domain::gc::run_once(&app.state).await.unwrap();
    assert_eq!(c.refresh_tokens, 1, "the rotated row goes once its access tokens have expired");
});

db_test!(
    the_gc_command_deletes_what_is_stale_by_the_wall_clock,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        // Rows made 40 days ago (by the test clock) are stale now for the command's real clock.
        app.clock.advance(-Duration::days(40));
        let (old_id, _) = personal(app, "user", json!({ "expires_in": 3600 })).await;
        let (live_id, live) = personal(app, "user", json!({})).await;
        let old_at = access_of(&app.exchange(&live).await);
        assert_revoke_ok(revoke(app, &old_at, None, None).await, "an access token").await;
        app.clock.advance(Duration::days(40));

        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("gc")
            .current_dir(app.dir.path())
            .env("TESSERA_DATABASE_URL", &app.database_url)
            .env("TESSERA_KEYS_DIR", app.dir.path().join("keys"))
            .env("TESSERA_ISSUER", ISSUER)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v,
            json!({ "refresh_tokens": 1, "revoked_access_tokens": 1 })
        );
        assert!(refresh_tokens::find_head(&app.state.db, &old_id)
            .await
            .unwrap()
            .is_none());
        assert!(refresh_tokens::find_head(&app.state.db, &live_id)
            .await
            .unwrap()
            .is_some());
        assert_active(
            app,
            (&rs_id, &rs_secret),
            &live,
            "a 40-day-old token with 20 days to live",
        )
        .await;
    }
);

db_test!(serve_collects_in_the_background, ["TESSERA_GC_INTERVAL" => "1s"], |app| {
    app.alice_with_album().await;
    let (short_id, _) = personal(app, "user", json!({ "expires_in": 60 })).await;
    let (live_id, _) = personal(app, "user", json!({})).await;
    app.clock.advance(Duration::days(31));
    let mut gone = false;
    for _ in 0..50 {
        if refresh_tokens::find_head(&app.state.db, &short_id).await.unwrap().is_none() {
            gone = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(gone, "the background task deleted the long-expired token within 10 s");
    assert!(refresh_tokens::find_head(&app.state.db, &live_id).await.unwrap().is_some());
});

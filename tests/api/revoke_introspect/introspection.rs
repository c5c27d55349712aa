//! Introspection (RFC 7662): who may ask, and what it answers for each kind of token.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{assert_active, assert_inactive, introspect_form, unknown_refresh_token, ISSUER};
use crate::db_test;
use crate::helpers::{access_of, assert_oauth_error, claims, ALICE};

db_test!(introspection_needs_a_resource_server_client, |app| {
    app.alice_with_album().await;
    let (_, token) = app.alice_token("user", json!({})).await;
    let (rs_id, rs_secret) = app.add_resource_server().await;
    let plain = app
        .add_confidential("plain", Some("client_credentials"), None)
        .await;
    app.add_client("spa", true, Some("refresh_token"), None, false)
        .await;

    let r = introspect_form(app, &[("token", &token)], None).await;
    assert!(r.headers().contains_key("www-authenticate"));
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let r = introspect_form(app, &[("token", &token)], Some(("rs", "tsc_wrong"))).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // A public client proves nothing about itself.
    let r = introspect_form(app, &[("token", &token), ("client_id", "spa")], None).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let r = introspect_form(app, &[("token", &token)], Some(("tessera", ""))).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;

    // A confidential client registered without the introspect permission.
    let r = introspect_form(app, &[("token", &token)], Some(("plain", &plain))).await;
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_oauth_error(r, StatusCode::FORBIDDEN, "unauthorized_client").await;

    // The resource server, with either authentication method, gets the answer.
    assert_active(app, (&rs_id, &rs_secret), &token, "the token").await;
    let r = introspect_form(
        app,
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
        let r = introspect_form(app, form, Some((&rs_id, &rs_secret))).await;
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
    let r = introspect_form(app, &[("token", &at)], Some(rs)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().await.unwrap();
    let c = claims(&at);
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
    let album = app
        .create_album_token(ALICE, "a1", "viewer", &["read", "download"])
        .await;
    let tsr = album["token"].as_str().unwrap();

    let v = assert_active(app, rs, tsr, "the album token").await;
    assert_eq!(v["token_type"], "refresh_token");
    assert_eq!(v["album_id"], "a1");
    assert_eq!(v["permissions"], json!(["read", "download"]));
    assert_eq!(v["scope"], "album:a1:download album:a1:read");
    assert_eq!(v["username"], "alice");
    assert_eq!(v["jti"], album["id"]);

    let at = app.access_token(tsr).await;
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
    let at2 = app.access_token(tsr).await;
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
        let (_, personal) = app.alice_token("user", json!({})).await;
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
        let album = app.create_album_token(ALICE, "a1", "viewer", &["read", "write"]).await;
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
        .add_confidential("svc", Some("client_credentials"), Some("album:a1:read"))
        .await;
    let r = app
        .client_credentials(&[("scope", "album:a1:read")], Some(("svc", &svc)))
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
    let (_, long) = app.alice_token("user", json!({})).await;
    let (_, short) = app.alice_token("user", json!({ "expires_in": 600 })).await;
    let (_, rotating) = app.alice_token("user", json!({ "rotating": true })).await;
    let (deleted_id, deleted) = app.alice_token("user", json!({})).await;
    let at_long = app.access_token(&long).await;
    let at_short = app.access_token(&short).await;
    let at_deleted = app.access_token(&deleted).await;
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

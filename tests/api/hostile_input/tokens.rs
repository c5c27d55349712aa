//! Refresh tokens with a bad checksum, and one client's refresh token presented by another.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{fixture, refused};
use crate::db_test;
use crate::helpers::{assert_unchanged, snapshot, ALICE};

db_test!(tokens_with_a_bad_checksum_are_refused, |app| {
    use tessera::tokens::secret::{Secret, SecretFormatError, SecretKind};
    let (rt, _, rs) = fixture(app).await;
    let before = snapshot(app).await;
    let mut bad = rt.clone();
    let last = bad.pop().expect("non-empty");
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(
        Secret::parse(SecretKind::RefreshToken, &bad).err(),
        Some(SecretFormatError::Checksum)
    );

    let r = app.refresh(&bad).await;
    let (status, v) = refused(r, "exchange").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let r = app.api_bearer(Method::GET, "/api/me", &bad, None).await;
    assert_eq!(
        refused(r, "as a Bearer credential").await.0,
        StatusCode::UNAUTHORIZED
    );
    // A client secret with a bad checksum fails client authentication.
    let mut bad_secret = rs.clone();
    let last = bad_secret.pop().expect("non-empty");
    bad_secret.push(if last == 'A' { 'B' } else { 'A' });
    let r = app
        .post_form(
            "/oauth/introspect",
            &[("token", &rt)],
            Some(("rs", &bad_secret)),
        )
        .await;
    let (status, v) = refused(r, "bad client secret").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_client"))
    );
    // Revocation and introspection of an invalid token are not errors (RFC 7009 §2.2,
    // RFC 7662 §2.2): they must answer as for any unknown token and touch nothing.
    let r = app
        .post_form("/oauth/revoke", &[("token", &bad)], None)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "");
    assert_eq!(
        app.introspect(&bad, ("rs", &rs)).await,
        json!({ "active": false })
    );
    assert_unchanged(app, &before, "bad-checksum tokens").await;
    assert_eq!(
        app.introspect(&rt, ("rs", &rs)).await["active"],
        true,
        "the real token is untouched"
    );
});

db_test!(a_refresh_token_of_one_client_is_refused_to_another, |app| {
    app.alice_with_album().await;
    let s1 = app
        .add_client("c1", false, Some("refresh_token"), None, false)
        .await
        .expect("secret");
    let s2 = app
        .add_client("c2", false, Some("refresh_token"), None, false)
        .await
        .expect("secret");
    app.add_client("p1", true, Some("refresh_token"), None, false)
        .await;
    let v = app
        .create_token(
            ALICE,
            json!({ "name": "bound", "scope": "user", "client_id": "c1" }),
        )
        .await;
    let rt = v["token"].as_str().expect("token").to_string();
    let before = snapshot(app).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let r = app.token(&form, Some(("c2", &s2))).await;
    let (status, v) = refused(r, "exchange by another confidential client").await;
    assert_eq!(
        (status, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let r = app
        .token(
            &[
                form[0],
                form[1],
                ("client_id", "c2"),
                ("client_secret", &s2),
            ],
            None,
        )
        .await;
    refused(r, "exchange by another client, secret in the body").await;
    let r = app
        .token(&[form[0], form[1], ("client_id", "p1")], None)
        .await;
    refused(r, "exchange by a public client").await;
    let r = app.token(&form, None).await;
    refused(r, "exchange without client authentication").await;
    let r = app
        .post_form("/oauth/revoke", &[("token", &rt)], Some(("c2", &s2)))
        .await;
    refused(r, "revocation by another client").await;
    assert_unchanged(app, &before, "another client's refresh token").await;
    // The token was good all along: its own client may use it.
    let r = app.token(&form, Some(("c1", &s1))).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
});

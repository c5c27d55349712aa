//! Malformed requests (`invalid_request`, `unsupported_grant_type`), and `invalid_grant` for each
//! kind of bad refresh token.

use reqwest::Method;
use serde_json::json;

use crate::db_test;
use crate::helpers::{assert_token_error, expect_token, ALICE};

// ----- malformed requests -----

db_test!(unsupported_grant_types_are_refused, |app| {
    for g in [
        "password",
        "authorization_code",
        "implicit",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        let d = assert_token_error(
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
    let d = assert_token_error(
        app.token(&[("refresh_token", "tsr_x")], None).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(d.contains("grant_type"), "{d}");
    let d = assert_token_error(
        app.token(&[("grant_type", "refresh_token")], None).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(d.contains("refresh_token"), "{d}");
    let d = assert_token_error(app.refresh("").await, 400, "invalid_request").await;
    assert!(
        d.contains("refresh_token"),
        "an empty parameter counts as missing: {d}"
    );
});

db_test!(repeated_parameter_is_invalid_request, |app| {
    app.alice_with_album().await;
    let (_, rt) = app.alice_token("user", json!({})).await;
    let body = format!("grant_type=refresh_token&refresh_token={rt}&refresh_token={rt}");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let d = assert_token_error(r, 400, "invalid_request").await;
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
    assert_token_error(r, 400, "invalid_request").await;
});

db_test!(non_form_bodies_are_invalid_request, |app| {
    app.alice_with_album().await;
    let (_, rt) = app.alice_token("user", json!({})).await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({ "grant_type": "refresh_token", "refresh_token": rt }))
        .send()
        .await
        .unwrap();
    let d = assert_token_error(r, 400, "invalid_request").await;
    assert!(d.contains("application/x-www-form-urlencoded"), "{d}");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .body(format!("grant_type=refresh_token&refresh_token={rt}"))
        .send()
        .await
        .unwrap();
    assert_token_error(r, 400, "invalid_request").await;
});

db_test!(form_content_type_with_charset_is_accepted, |app| {
    app.alice_with_album().await;
    let (_, rt) = app.alice_token("user", json!({})).await;
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
    assert_eq!(expect_token(r).await["scope"], "user");
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
        let d = assert_token_error(app.refresh(bad).await, 400, "invalid_grant").await;
        assert!(d.contains("malformed"), "{bad}: {d}");
    }
});

db_test!(unknown_refresh_token_is_invalid_grant, |app| {
    let never_issued = tessera::tokens::secret::Secret::generate(
        tessera::tokens::secret::SecretKind::RefreshToken,
    );
    let d = assert_token_error(
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
    let (id, rt) = app.alice_token("user", json!({})).await;
    app.exchange(&rt).await;
    let r = app
        .api_as(Method::DELETE, &format!("/api/tokens/{id}"), ALICE, None)
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let d = assert_token_error(app.refresh(&rt).await, 400, "invalid_grant").await;
    assert!(d.contains("revoked"), "{d}");
    assert!(!d.contains("alice"), "does not say whose token it was: {d}");
});

db_test!(expired_refresh_token_is_invalid_grant, |app| {
    app.alice_with_album().await;
    let (_, rt) = app.alice_token("user", json!({ "expires_in": 3600 })).await;
    app.exchange(&rt).await;
    app.clock.advance(chrono::Duration::seconds(3601));
    let d = assert_token_error(app.refresh(&rt).await, 400, "invalid_grant").await;
    assert!(d.contains("expired"), "{d}");
    assert!(!d.contains("alice"), "{d}");
});

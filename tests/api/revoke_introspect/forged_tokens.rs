//! Forged and malformed tokens: inactive at introspection, refused everywhere else.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::forgeries::{forged_jwts, forged_jwts_over, good_claims, with, Forgeries};
use super::{assert_active, assert_inactive, assert_revoke_ok, bad_checksum, revoke};
use crate::db_test;
use crate::helpers::{assert_oauth_error, claims};

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
    let (_, rt) = app.alice_token("user", json!({})).await;
    assert_active(app, rs, &rt, "the refresh token the look-alikes come from").await;
    forged.push(("tsr_ with a bad checksum", bad_checksum(&rt)));
    forged.push(("tsr_ truncated", rt[..rt.len() - 1].to_string()));
    forged.push(("tsr_ alone", "tsr_".into()));
    forged.push((
        "a client secret",
        app.add_confidential("c2", Some("client_credentials"), None)
            .await,
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
        let (_, rt) = app.alice_token("user", json!({})).await;
        let real = app.access_token(&rt).await;
        let real_claims = claims(&real);
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
        let before = crate::helpers::snapshot(app).await;
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
            let r = app.refresh(token).await;
            assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
        }
        assert_eq!(
            crate::helpers::snapshot(app).await,
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

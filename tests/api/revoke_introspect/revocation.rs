//! Revocation (RFC 7009): what a revocation takes with it, and what it answers.

use chrono::Duration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tessera::store::revoked_access_tokens;

use super::forgeries::{compact, good_claims};
use super::{
    assert_active, assert_inactive, assert_revoke_ok, bad_checksum, revoke, unknown_refresh_token,
};
use crate::db_test;
use crate::helpers::{access_of, assert_oauth_error, claims, ALICE};

db_test!(
    revoking_a_refresh_token_revokes_its_family_children_and_access_tokens,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());

        // A rotating parent exchanged twice: its access tokens come from rows rotated away since.
        let (parent_id, p1) = app
            .alice_token("user album:a1:read", json!({ "rotating": true }))
            .await;
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
        let child = app
            .create_token_with(
                &at_p2,
                json!({ "name": "child", "scope": "user album:a1:read" }),
            )
            .await;
        assert_eq!(child["parent_id"], Value::from(parent_id.as_str()));
        let child_rt = child["token"].as_str().unwrap();
        let at_child = app.access_token(child_rt).await;
        let grand = app
            .create_token_with(
                &at_child,
                json!({ "name": "grandchild", "scope": "album:a1:read" }),
            )
            .await;
        assert_eq!(grand["parent_id"], child["id"]);
        let grand_rt = grand["token"].as_str().unwrap();
        let at_grand = app.access_token(grand_rt).await;
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
        let (_, sibling) = app.alice_token("user", json!({})).await;
        let at_sibling = app.access_token(&sibling).await;

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
        let r = app.refresh(grand_rt).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
        let r = app.api_bearer(Method::GET, "/api/me", &at_p2, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        for id in [
            parent_id.as_str(),
            grand["id"].as_str().unwrap(),
            album["id"].as_str().unwrap(),
        ] {
            let v: Value = app
                .get_as(&format!("/api/tokens/{id}"), ALICE)
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
        let (_, rt) = app.alice_token("user", json!({})).await;
        let at = app.access_token(&rt).await;
        let other_at = app.access_token(&rt).await;
        let jti = claims(&at)["jti"].as_str().unwrap().to_string();
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
        let other_jti = claims(&other_at)["jti"].as_str().unwrap().to_string();
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
    let (_, a) = app.alice_token("user", json!({})).await;
    let (_, b) = app.alice_token("user", json!({})).await;
    let at = app.access_token(&b).await;
    let (_, c) = app.alice_token("user", json!({})).await;

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
        let (_, revoked) = app.alice_token("user", json!({})).await;
        assert_revoke_ok(
            revoke(app, &revoked, None, None).await,
            "a live refresh token",
        )
        .await;
        let (_, expired) = app.alice_token("user", json!({ "expires_in": 60 })).await;
        let expired_at = app.access_token(&expired).await;
        let (_, live) = app.alice_token("user", json!({})).await;
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

//! Who may revoke: only its client a token bound to a confidential client, any holder a
//! personal or album token.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{assert_active, assert_inactive, assert_revoke_ok, revoke};
use crate::db_test;
use crate::helpers::{access_of, assert_oauth_error, ALICE};

db_test!(
    only_its_client_revokes_a_bound_token_and_any_holder_a_personal_one,
    |app| {
        app.alice_with_album().await;
        let (rs_id, rs_secret) = app.add_resource_server().await;
        let rs = (rs_id.as_str(), rs_secret.as_str());
        let app_secret = app
            .add_confidential("app", Some("refresh_token"), None)
            .await;
        let other_secret = app
            .add_confidential("other", Some("refresh_token"), None)
            .await;
        app.add_client("spa", true, Some("refresh_token"), None, false)
            .await;
        let me = ("app", app_secret.as_str());
        let other = ("other", other_secret.as_str());

        // A token bound to the confidential client "app", exchanged by it (bound tokens rotate).
        let (_, bound) = app.alice_token("user", json!({ "client_id": "app" })).await;
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
        let (_, spa1) = app.alice_token("user", json!({ "client_id": "spa" })).await;
        let (_, spa2) = app.alice_token("user", json!({ "client_id": "spa" })).await;
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
        let (_, p) = app.alice_token("user", json!({})).await;
        let p_at = app.access_token(&p).await;
        let album = app
            .create_album_token(ALICE, "a1", "viewer", &["read"])
            .await;
        let album_rt = album["token"].as_str().unwrap();
        let album_at = app.access_token(album_rt).await;
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

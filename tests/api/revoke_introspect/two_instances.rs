//! Two instances on one database.

use serde_json::{json, Value};

use super::assert_revoke_ok;
use crate::db_test;
use crate::helpers::{test_settings, Server};

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
        let settings = test_settings(second_dir.path(), &app.database_url, &[]);
        let second = Server::start(settings, tessera::clock::Clock::default()).await;
        let second_base = second.base.clone();
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

        let (_, rt) = app.alice_token("user", json!({})).await;
        let at = app.access_token(&rt).await;
        let (_, rt2) = app.alice_token("user", json!({})).await;
        let at2 = app.access_token(&rt2).await;
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

        second.stop().await;
    }
);

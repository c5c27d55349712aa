//! Scopes at the token endpoint: narrowing, what the owner and the token hold, and client policies.

use serde_json::json;

use super::album_secret;
use crate::db_test;
use crate::helpers::{assert_token_error, claims, expect_token};

db_test!(user_token_narrows_to_album_scopes_the_owner_holds, |app| {
    app.alice_with_album().await;
    let (_, rt) = app.alice_token("user", json!({})).await;
    let v = expect_token(
        app.exchange_with(&rt, &[("scope", "album:a1:read album:a1:share")], None)
            .await,
    )
    .await;
    assert_eq!(v["scope"], "album:a1:read album:a1:share");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["scope"],
        "album:a1:read album:a1:share"
    );
});

db_test!(
    user_token_cannot_narrow_to_permissions_the_owner_lacks,
    |app| {
        app.alice_with_album().await;
        app.add_album("a2").await;
        app.grant("a2", "alice", "read").await;
        let (_, rt) = app.alice_token("user", json!({})).await;
        let d = assert_token_error(
            app.exchange_with(&rt, &[("scope", "album:a2:write")], None)
                .await,
            400,
            "invalid_scope",
        )
        .await;
        assert!(d.contains("album:a2:write"), "{d}");
        app.add_album("a3").await;
        assert_token_error(
            app.exchange_with(&rt, &[("scope", "album:a3:read")], None)
                .await,
            400,
            "invalid_scope",
        )
        .await;
    }
);

db_test!(
    downscoping_never_asks_for_more_than_the_token_holds,
    |app| {
        app.alice_with_album().await;
        let (_, rt) = app
            .alice_token("album:a1:read album:a1:write", json!({}))
            .await;
        let v = expect_token(
            app.exchange_with(&rt, &[("scope", "album:a1:read")], None)
                .await,
        )
        .await;
        assert_eq!(v["scope"], "album:a1:read");
        // Alice holds download on a1, but this token does not.
        let d = assert_token_error(
            app.exchange_with(&rt, &[("scope", "album:a1:read album:a1:download")], None)
                .await,
            400,
            "invalid_scope",
        )
        .await;
        assert!(d.contains("album:a1:download"), "{d}");
        assert_token_error(
            app.exchange_with(&rt, &[("scope", "user")], None).await,
            400,
            "invalid_scope",
        )
        .await;

        let album = album_secret(app, &["read"]).await;
        assert_token_error(
            app.exchange_with(&album, &[("scope", "album:a1:write")], None)
                .await,
            400,
            "invalid_scope",
        )
        .await;
    }
);

db_test!(unknown_or_malformed_scope_is_invalid_scope, |app| {
    app.alice_with_album().await;
    let (_, rt) = app.alice_token("user", json!({})).await;
    for bad in [
        "admin",
        "album:a1:admin",
        "album:a1:delete",
        "album:bad!id:read",
        "album::read",
        "album:a1",
        "openid",
    ] {
        assert_token_error(
            app.exchange_with(&rt, &[("scope", bad)], None).await,
            400,
            "invalid_scope",
        )
        .await;
    }
    let long_id = format!("album:{}:read", "a".repeat(65));
    assert_token_error(
        app.exchange_with(&rt, &[("scope", &long_id)], None).await,
        400,
        "invalid_scope",
    )
    .await;
});

db_test!(download_and_share_need_read_in_the_same_scope, |app| {
    app.alice_with_album().await;
    let (_, rt) = app.alice_token("user", json!({})).await;
    for bad in [
        "album:a1:download",
        "album:a1:share",
        "album:a1:write album:a1:share",
    ] {
        let d = assert_token_error(
            app.exchange_with(&rt, &[("scope", bad)], None).await,
            400,
            "invalid_scope",
        )
        .await;
        assert!(d.contains("album:a1:read"), "{d}");
    }
    let v = expect_token(
        app.exchange_with(&rt, &[("scope", "album:a1:download album:a1:read")], None)
            .await,
    )
    .await;
    assert_eq!(v["scope"], "album:a1:download album:a1:read");
});

db_test!(album_token_loses_permissions_its_creator_lost, |app| {
    app.alice_with_album().await;
    let rt = album_secret(app, &["read", "write", "download"]).await;
    assert_eq!(
        app.exchange(&rt).await["scope"],
        "album:a1:download album:a1:read album:a1:write"
    );
    app.grant("a1", "alice", "read,share").await;
    assert_eq!(app.exchange(&rt).await["scope"], "album:a1:read");
    // Permissions regained are granted again: the check is against current membership.
    app.grant("a1", "alice", "read,write,download,share").await;
    assert_eq!(
        app.exchange(&rt).await["scope"],
        "album:a1:download album:a1:read album:a1:write"
    );
});

db_test!(
    album_token_drops_download_when_its_creator_lost_read,
    |app| {
        app.alice_with_album().await;
        let rt = album_secret(app, &["read", "write", "download"]).await;
        app.grant("a1", "alice", "write,download").await;
        let v = app.exchange(&rt).await;
        assert_eq!(
            v["scope"], "album:a1:write",
            "download without read is meaningless"
        );
    }
);

db_test!(
    album_token_whose_creator_lost_everything_is_invalid_grant,
    |app| {
        app.alice_with_album().await;
        let rt = album_secret(app, &["read", "download"]).await;
        app.grant("a1", "alice", "write").await;
        let d = assert_token_error(app.refresh(&rt).await, 400, "invalid_grant").await;
        assert!(d.contains("no longer holds"), "{d}");
    }
);

db_test!(personal_album_scopes_follow_current_membership, |app| {
    app.alice_with_album().await;
    let (_, rt) = app
        .alice_token("user album:a1:read album:a1:write", json!({}))
        .await;
    app.grant("a1", "alice", "read").await;
    assert_eq!(app.exchange(&rt).await["scope"], "album:a1:read user");
});

db_test!(client_scope_policy_limits_what_a_client_gets, |app| {
    app.alice_with_album().await;
    let secret = app
        .add_confidential("gallery", Some("refresh_token"), Some("album:*:read"))
        .await;
    let basic = Some(("gallery", secret.as_str()));
    let (_, rt) = app.alice_token("user", json!({})).await;
    let d = assert_token_error(
        app.exchange_with(&rt, &[], basic).await,
        400,
        "invalid_scope",
    )
    .await;
    assert!(d.contains("gallery") && d.contains("user"), "{d}");
    assert_token_error(
        app.exchange_with(&rt, &[("scope", "album:a1:read album:a1:write")], basic)
            .await,
        400,
        "invalid_scope",
    )
    .await;
    let v = expect_token(
        app.exchange_with(&rt, &[("scope", "album:a1:read")], basic)
            .await,
    )
    .await;
    assert_eq!(v["scope"], "album:a1:read");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["client_id"],
        "gallery"
    );
});

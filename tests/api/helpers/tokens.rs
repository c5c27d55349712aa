//! Tokens as their holders get them, through the API: personal and album tokens made with a
//! password or a Bearer access token, and their exchange at `/oauth/token`.

use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::json::{s, string};
use super::jwt::access_of;
use super::server::TestApp;
use super::ALICE;

/// `base` with the fields of the object `extra` added (replacing any of the same name).
fn merged(mut base: Value, extra: Value) -> Value {
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    base
}

impl TestApp {
    /// Creates a personal token through the API with a password; returns the JSON (with `token`).
    pub async fn create_token(&self, user: (&str, &str), body: Value) -> Value {
        let r = self
            .api_as(Method::POST, "/api/tokens", user, Some(body))
            .await;
        let status = r.status();
        let v: Value = r.json().await.expect("JSON");
        assert_eq!(status, 201, "create token failed: {v}");
        v
    }

    /// Creates a personal token for alice named "t" with `scope` plus the fields of `extra`;
    /// returns (id, secret).
    pub async fn alice_token(&self, scope: &str, extra: Value) -> (String, String) {
        let body = merged(json!({ "name": "t", "scope": scope }), extra);
        let v = self.create_token(ALICE, body).await;
        (string(&v, "id"), string(&v, "token"))
    }

    /// Creates an album token on `album` as `user` with a password; returns the created JSON.
    pub async fn create_album_token(
        &self,
        user: (&str, &str),
        album: &str,
        name: &str,
        permissions: &[&str],
    ) -> Value {
        let body = json!({ "name": name, "permissions": permissions });
        let path = format!("/api/albums/{album}/tokens");
        let r = self.api_as(Method::POST, &path, user, Some(body)).await;
        let status = r.status();
        let v: Value = r.json().await.expect("JSON");
        assert_eq!(status, 201, "create album token failed: {v}");
        v
    }

    /// Creates a personal token with the Bearer credential `access`; returns the created JSON.
    pub async fn create_token_with(&self, access: &str, body: Value) -> Value {
        let r = self
            .api_bearer(Method::POST, "/api/tokens", access, Some(body))
            .await;
        let status = r.status();
        let v: Value = r.json().await.expect("JSON");
        assert_eq!(
            status, 201,
            "create token with a Bearer credential failed: {v}"
        );
        v
    }

    /// An access token with scope `user`, from a fresh personal token of `user` named "session"
    /// (plus the fields of `extra`); returns (access token, the personal token's record).
    pub async fn session(&self, user: (&str, &str), extra: Value) -> (String, Value) {
        let body = merged(json!({ "name": "session", "scope": "user" }), extra);
        let parent = self.create_token(user, body).await;
        let at = self.access_token(s(&parent, "token")).await;
        (at, parent)
    }

    /// A refresh-token request with extra form fields and optional HTTP Basic.
    pub async fn exchange_with(
        &self,
        refresh_token: &str,
        extra: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend_from_slice(extra);
        self.token(&form, basic).await
    }

    /// A refresh-token request without client authentication.
    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.exchange_with(refresh_token, &[], None).await
    }

    /// [`TestApp::refresh`]'s status and JSON (`Null` when there is none).
    pub async fn refresh_status(&self, refresh_token: &str) -> (StatusCode, Value) {
        let r = self.refresh(refresh_token).await;
        (r.status(), r.json().await.unwrap_or_default())
    }

    /// Exchanges a refresh token without client authentication; returns the JSON (asserting 200).
    pub async fn exchange(&self, refresh_token: &str) -> Value {
        let r = self.refresh(refresh_token).await;
        let status = r.status();
        let body: Value = r.json().await.expect("token JSON");
        assert_eq!(status, 200, "exchange failed: {body}");
        body
    }

    /// The access token of an [`TestApp::exchange`].
    pub async fn access_token(&self, refresh_token: &str) -> String {
        access_of(&self.exchange(refresh_token).await)
    }

    /// Asserts that a refresh token no longer exchanges: 400 `invalid_grant` with a description.
    pub async fn assert_refresh_refused(&self, refresh_token: &str, what: &str) {
        let (status, body) = self.refresh_status(refresh_token).await;
        assert_eq!(status, 400, "{what} still exchanges: {body}");
        assert_eq!(body["error"], "invalid_grant", "{what}: {body}");
        assert!(
            body["error_description"].is_string(),
            "{what}: no error_description: {body}"
        );
    }

    /// A client_credentials request with extra form fields and optional HTTP Basic.
    pub async fn client_credentials(
        &self,
        extra: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Response {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        self.token(&form, basic).await
    }
}

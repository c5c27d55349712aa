//! HTTP requests to a [`TestApp`]: forms to the OAuth endpoints, `/api` calls with a password or
//! a Bearer token, and clients bound to other loopback addresses.

use reqwest::{Client, Method, Response};
use serde_json::Value;

use super::server::TestApp;

/// A client bound to one loopback source address (the whole 127.0.0.0/8 range is local).
pub fn from_address(ip: [u8; 4]) -> Client {
    Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("client")
}

/// POST a form with `http` (e.g. one from [`from_address`]), optionally with HTTP Basic.
pub async fn post_form_from(
    http: &Client,
    url: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Response {
    let mut req = http.post(url).form(form);
    if let Some((u, p)) = basic {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.expect("POST form")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// POST a form, optionally with HTTP Basic client credentials.
    pub async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> Response {
        post_form_from(&self.http, &self.url(path), form, basic).await
    }

    pub async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Response {
        self.post_form("/oauth/token", form, basic).await
    }

    pub async fn introspect(&self, token: &str, client: (&str, &str)) -> Value {
        let r = self
            .post_form("/oauth/introspect", &[("token", token)], Some(client))
            .await;
        assert_eq!(r.status(), 200, "introspection status");
        r.json().await.expect("introspection JSON")
    }

    /// An /api request as a user with a password.
    pub async fn api_as(
        &self,
        method: Method,
        path: &str,
        user: (&str, &str),
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .basic_auth(user.0, Some(user.1));
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("api request")
    }

    /// A GET of an /api path as a user with a password.
    pub async fn get_as(&self, path: &str, user: (&str, &str)) -> Response {
        self.api_as(Method::GET, path, user, None).await
    }

    /// An /api request with a Bearer access token.
    pub async fn api_bearer(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("api request")
    }

    /// The `kid`s of the JWKS this server publishes.
    pub async fn served_kids(&self) -> Vec<String> {
        crate::process::served_kids(&self.http, &self.base).await
    }
}

//! POST /oauth/token: both grants, the scope rules, client authentication, rotation with reuse
//! detection, the RFC 6749 §5 response shapes and the RFC 9068 access token.

use crate::helpers::{string, TestApp, ALICE};

mod access_token;
mod client_auth;
mod client_credentials;
mod errors;
mod refresh;
mod rotation;
mod scopes;

/// Creates an album token on a1 for alice with the given permissions; returns its secret.
async fn album_secret(app: &TestApp, permissions: &[&str]) -> String {
    let v = app
        .create_album_token(ALICE, "a1", "album", permissions)
        .await;
    string(&v, "token")
}

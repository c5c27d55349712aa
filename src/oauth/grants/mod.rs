//! The token endpoint's grants. The request arrives parsed ([`TokenRequest`]); the client is
//! authenticated once, here; then one handler per grant, each in its own file, decides and
//! issues. A new grant is a new variant of `GrantRequest`, a file here, and one match arm.

pub mod client_credentials;
pub mod refresh_token;

use serde::Serialize;

use super::client_auth;
use super::request::{GrantRequest, TokenRequest};
use super::OAuthError;
use crate::domain::minting::AccessToken;
use crate::domain::AppState;
use crate::model::Scope;
use crate::tokens::secret::Secret;

/// What a grant issued.
pub struct Issued {
    pub access: AccessToken,
    pub refresh: Option<Secret>,
    pub scope: Scope,
}

/// The successful token response (RFC 6749 §5.1). Fields in alphabetical order, as the JSON
/// has always been written.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Space-separated, sorted.
    pub scope: String,
    /// Always `Bearer` (RFC 6750), capitalised as RFC 6749's examples write it.
    pub token_type: &'static str,
}

/// Runs one token request: authenticate the client, then the grant's handler.
pub async fn exchange(
    state: &AppState,
    req: TokenRequest,
    source: &str,
) -> Result<TokenResponse, OAuthError> {
    // No limiter check before the secret is checked: a correct client is never refused.
    let client = client_auth::authenticate(state, &req.client, source).await?;
    let now = state.clock.now();
    let grant_type = req.grant.grant_type();
    let issued = match req.grant {
        GrantRequest::RefreshToken {
            refresh_token,
            scope,
        } => {
            refresh_token::exchange(state, client.as_ref(), &refresh_token, scope.as_ref(), now)
                .await?
        }
        GrantRequest::ClientCredentials { scope } => {
            let client = client.ok_or_else(|| {
                OAuthError::invalid_client("client_credentials needs client authentication")
            })?;
            client_credentials::exchange(state, &client, scope.as_ref(), now)?
        }
    };
    state.metrics.issued(grant_type.as_str());
    Ok(TokenResponse {
        expires_in: (issued.access.expires_at.timestamp() - now.timestamp()).max(0),
        access_token: issued.access.jwt,
        refresh_token: issued.refresh.map(|s| s.expose().to_string()),
        scope: issued.scope.to_string(),
        token_type: "Bearer",
    })
}

//! Client authentication (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, and
//! `none` for public clients. Secrets are high-entropy, stored as SHA-256 and compared in
//! constant time, so a check costs microseconds.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::percent_decode_str;

use super::scope::ClientScopePolicy;
use super::{OAuthError, BUILTIN_PUBLIC_CLIENT};
use crate::domain::clients::MAX_ID_LEN;
use crate::domain::limiter::{self, Blocked};
use crate::state::AppState;
use crate::store::clients::Client;
use crate::tokens::secret::matches_hash;

/// How the request identified its client, before any database lookup.
pub enum ClientCredentials {
    /// No client identification at all.
    None,
    /// A client id and secret, from the `Authorization: Basic` header or the form body.
    Secret {
        client_id: String,
        secret: String,
        via_header: bool,
    },
    /// Only a `client_id` form parameter: a public client (`none` authentication).
    PublicId { client_id: String },
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCredentials::None => f.write_str("None"),
            ClientCredentials::Secret {
                client_id,
                via_header,
                ..
            } => f
                .debug_struct("Secret")
                .field("client_id", client_id)
                .field("secret", &"[redacted]")
                .field("via_header", via_header)
                .finish(),
            ClientCredentials::PublicId { client_id } => f
                .debug_struct("PublicId")
                .field("client_id", client_id)
                .finish(),
        }
    }
}

impl ClientCredentials {
    /// Reads the credentials from the `Authorization` header and the form's `client_id` and
    /// `client_secret`. Using two methods at once is an error (RFC 6749 §2.3).
    pub fn from_request(
        authorization: Option<&str>,
        form_client_id: Option<&str>,
        form_client_secret: Option<&str>,
    ) -> Result<Self, OAuthError> {
        if let Some(header) = authorization {
            let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client(
                    "unsupported Authorization scheme; use HTTP Basic with the client id and secret",
                ));
            }
            let bad = || OAuthError::invalid_client("malformed HTTP Basic credentials");
            let decoded = STANDARD.decode(rest.trim()).map_err(|_| bad())?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            let id = form_decode(id).ok_or_else(bad)?;
            let secret = form_decode(secret).ok_or_else(bad)?;
            if form_client_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "client credentials in both the Authorization header and the body; use one method",
                ));
            }
            if let Some(body_id) = form_client_id {
                if body_id != id {
                    return Err(OAuthError::invalid_request(
                        "client_id in the body differs from the Authorization header",
                    ));
                }
            }
            if id.is_empty() {
                return Err(bad());
            }
            bounded(&id)?;
            return Ok(ClientCredentials::Secret {
                client_id: id,
                secret,
                via_header: true,
            });
        }
        if let Some(id) = form_client_id {
            bounded(id)?;
        }
        match (form_client_id, form_client_secret) {
            (Some(id), Some(secret)) if !id.is_empty() => Ok(ClientCredentials::Secret {
                client_id: id.to_string(),
                secret: secret.to_string(),
                via_header: false,
            }),
            (None, Some(_)) | (Some(_), Some(_)) => Err(OAuthError::invalid_request(
                "client_secret given without a client_id",
            )),
            (Some(id), None) if !id.is_empty() => Ok(ClientCredentials::PublicId {
                client_id: id.to_string(),
            }),
            (Some(_), None) => Err(OAuthError::invalid_request("client_id is empty")),
            (None, None) => Ok(ClientCredentials::None),
        }
    }
}

/// No client has a longer id, and the id must not become a limiter key of any length.
fn bounded(client_id: &str) -> Result<(), OAuthError> {
    if client_id.len() > MAX_ID_LEN {
        return Err(OAuthError::invalid_request(format!(
            "client ids are at most {MAX_ID_LEN} characters"
        )));
    }
    Ok(())
}

fn form_decode(s: &str) -> Option<String> {
    let plus = s.replace('+', " ");
    percent_decode_str(&plus)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// A client as the protocol needs it.
#[derive(Clone, Debug)]
pub struct KnownClient {
    pub id: String,
    pub is_public: bool,
    pub grant_types: Vec<String>,
    pub policy: ClientScopePolicy,
    pub may_introspect: bool,
}

impl KnownClient {
    pub fn builtin() -> Self {
        KnownClient {
            id: BUILTIN_PUBLIC_CLIENT.to_string(),
            is_public: true,
            grant_types: vec!["refresh_token".into()],
            policy: ClientScopePolicy::Any,
            may_introspect: false,
        }
    }
    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }
    fn from_row(c: &Client) -> Self {
        KnownClient {
            id: c.id.clone(),
            is_public: c.is_public,
            grant_types: c
                .grant_types
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            // Stored policies were validated when the client was registered.
            policy: ClientScopePolicy::parse(c.scope.as_deref()).unwrap_or(
                ClientScopePolicy::Only {
                    exact: Default::default(),
                    any_album: Default::default(),
                },
            ),
            may_introspect: c.may_introspect,
        }
    }
}

/// Why a client check failed: the flow only needs to know "unauthorized" or "broken".
#[derive(Debug)]
pub enum CheckFailure {
    Rejected,
    Store(OAuthError),
}

/// Verifies a client id and optional secret. A confidential client needs its secret; a public
/// client must not send one (an empty one is tolerated: some libraries send `id:`).
pub async fn check(
    state: &AppState,
    client_id: &str,
    secret: Option<&[u8]>,
) -> Result<KnownClient, CheckFailure> {
    if client_id == BUILTIN_PUBLIC_CLIENT {
        return match secret {
            None | Some(b"") => Ok(KnownClient::builtin()),
            Some(_) => Err(CheckFailure::Rejected),
        };
    }
    let row = state
        .clients
        .find(&state.db, client_id)
        .await
        .map_err(|e| CheckFailure::Store(e.into()))?;
    let Some(row) = row else {
        // Spend the same hash as a real check so timing does not reveal unknown ids.
        let _ = matches_hash("", &"0".repeat(64));
        return Err(CheckFailure::Rejected);
    };
    match (&row.secret_hash, secret) {
        (None, None) | (None, Some(b"")) => Ok(KnownClient::from_row(&row)),
        (Some(hash), Some(s)) => match std::str::from_utf8(s) {
            Ok(s) if matches_hash(s, hash) => Ok(KnownClient::from_row(&row)),
            _ => Err(CheckFailure::Rejected),
        },
        _ => Err(CheckFailure::Rejected),
    }
}

/// Authenticates the request's client, if it named one. Right credentials are never refused;
/// wrong ones get [`refusal`]. `Ok(None)`: no client named.
pub async fn authenticate(
    state: &AppState,
    creds: &ClientCredentials,
    source: &str,
) -> Result<Option<KnownClient>, OAuthError> {
    let (id, secret): (&str, Option<&[u8]>) = match creds {
        ClientCredentials::None => return Ok(None),
        ClientCredentials::Secret {
            client_id, secret, ..
        } => (client_id, Some(secret.as_bytes())),
        ClientCredentials::PublicId { client_id } => (client_id, None),
    };
    match check(state, id, secret).await {
        Ok(c) => Ok(Some(c)),
        Err(CheckFailure::Store(e)) => Err(e),
        Err(CheckFailure::Rejected) => Err(refusal(state, id, source)),
    }
}

/// The answer to wrong client credentials: 401, counted per (client id, source address) and per
/// source address; once either is blocked, 429 with `Retry-After` (nothing more is counted).
/// Limiting a client id as a whole would let anyone lock out any client, and the secret is
/// checked first because a 128-bit secret cannot be guessed anyway: the limit only tells a
/// misconfigured or hostile caller to slow down.
pub fn refusal(state: &AppState, client_id: &str, source: &str) -> OAuthError {
    let keys = [
        limiter::client_key(client_id, source),
        limiter::client_address_key(source),
    ];
    match state.limiter.fail_unless_blocked(&[&keys[0], &keys[1]]) {
        Ok(()) => OAuthError::invalid_client("client authentication failed"),
        Err(Blocked(wait)) => OAuthError::rate_limited(wait),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_client_secret() {
        let c = ClientCredentials::Secret {
            client_id: "svc".into(),
            secret: "tsc_SuperSecretValue123".into(),
            via_header: true,
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("svc") && shown.contains("[redacted]"),
            "{shown}"
        );
        assert!(!shown.contains("SuperSecretValue"), "{shown}");
    }
}

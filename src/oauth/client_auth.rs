//! Client authentication (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, and
//! `none` for public clients. Secrets are high-entropy, stored as SHA-256 and compared in
//! constant time, so a check costs microseconds.

use std::fmt;

use percent_encoding::percent_decode_str;

use super::OAuthError;
use crate::domain::limiter::{self, Blocked};
use crate::domain::{clients, AppState};
use crate::model::{basic, Client, MAX_CLIENT_ID_LEN};

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
            let (id, secret) = basic::decode(rest).ok_or_else(bad)?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            let id = form_decode(&id).ok_or_else(bad)?;
            let secret = form_decode(&secret).ok_or_else(bad)?;
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
    if client_id.len() > MAX_CLIENT_ID_LEN {
        return Err(OAuthError::invalid_request(format!(
            "client ids are at most {MAX_CLIENT_ID_LEN} characters"
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

/// Authenticates the request's client, if it named one: the one place every OAuth endpoint
/// authenticates clients. Right credentials are never refused; wrong ones get [`refusal`].
/// `Ok(None)`: no client named.
pub async fn authenticate(
    state: &AppState,
    creds: &ClientCredentials,
    source: &str,
) -> Result<Option<Client>, OAuthError> {
    let (id, secret): (&str, Option<&[u8]>) = match creds {
        ClientCredentials::None => return Ok(None),
        ClientCredentials::Secret {
            client_id, secret, ..
        } => (client_id, Some(secret.as_bytes())),
        ClientCredentials::PublicId { client_id } => (client_id, None),
    };
    match clients::verify(state, id, secret).await? {
        Some(c) => Ok(Some(c)),
        None => Err(refusal(state, id, source)),
    }
}

/// The answer to wrong client credentials: 401, counted per (client id, source address) and per
/// source address; once either is blocked, 429 with `Retry-After` (nothing more is counted).
/// Limiting a client id as a whole would let anyone lock out any client, and the secret is
/// checked first because a 128-bit secret cannot be guessed anyway: the limit only tells a
/// misconfigured or hostile caller to slow down.
fn refusal(state: &AppState, client_id: &str, source: &str) -> OAuthError {
    let keys = limiter::client_keys(client_id, source);
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

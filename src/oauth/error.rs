//! RFC 6749 §5.2 (and RFC 7009/7662) error codes, each with when it is used.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// The request is missing a required parameter, includes an unsupported parameter value,
    /// repeats a parameter, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed (unknown client, no client authentication included, or
    /// unsupported authentication method). Answered with 401.
    InvalidClient,
    /// The refresh token is invalid, expired, revoked, or was issued to another client.
    InvalidGrant,
    /// The authenticated client is not authorized to use this grant type (or operation).
    UnauthorizedClient,
    /// The grant type is not supported by tessera.
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown, malformed, or exceeds what was granted.
    InvalidScope,
    /// RFC 7009 §2.2.1: the token type is not supported (unused: tessera revokes both kinds).
    UnsupportedTokenType,
    /// Too many failed attempts (not an RFC code; answered with 429).
    TooManyRequests,
    /// The database is unavailable, or too many password checks are running and waiting
    /// (RFC 6749 §4.1.2.1 `temporarily_unavailable`; 503).
    TemporarilyUnavailable,
    /// Anything else; details are logged, never sent (500).
    ServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::TooManyRequests => "too_many_requests",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::ServerError => "server_error",
        }
    }
}

/// An OAuth error as the client will see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
    /// Seconds to wait, for `TooManyRequests`.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "internal error; see the server log")
    }
    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the database is unavailable; retry shortly",
        )
    }
    /// Too many password checks at once (`temporarily_unavailable`, 503 with `Retry-After`).
    pub fn busy(secs: u64) -> Self {
        Self {
            code: ErrorCode::TemporarilyUnavailable,
            description: "too many authentication checks at once; retry shortly".into(),
            retry_after: Some(secs),
        }
    }
    pub fn rate_limited(secs: u64) -> Self {
        Self {
            code: ErrorCode::TooManyRequests,
            description: "too many failed authentication attempts; retry later".into(),
            retry_after: Some(secs),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(_) => OAuthError::unavailable(),
            other => {
                tracing::error!(error = %other, "storage error");
                OAuthError::server_error()
            }
        }
    }
}

impl From<crate::domain::Error> for OAuthError {
    fn from(e: crate::domain::Error) -> Self {
        use crate::domain::Error as E;
        match e {
            E::InvalidRequest(d) => OAuthError::invalid_request(d),
            E::InvalidScope(d) => OAuthError::invalid_scope(d),
            E::Unauthenticated(d) => OAuthError::invalid_client(d),
            E::RateLimited(s) => OAuthError::rate_limited(s),
            E::Forbidden(d) | E::InsufficientScope { description: d, .. } | E::QuotaExceeded(d) => {
                OAuthError::unauthorized_client(d)
            }
            E::NotFound(d) | E::Conflict(d) => OAuthError::invalid_request(d),
            E::Busy(s) => OAuthError::busy(s),
            E::Unavailable => OAuthError::unavailable(),
            E::Internal(d) => {
                tracing::error!(error = %d, "internal error");
                OAuthError::server_error()
            }
        }
    }
}

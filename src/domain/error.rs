//! The domain's one error type. Only `http::error` maps it to status codes.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// A valid Bearer token whose scope does not cover the request (RFC 6750 §3.1: 403 with
    /// an `insufficient_scope` challenge).
    #[error("{description}")]
    InsufficientScope {
        /// The scope item the request needs, for the challenge's `scope` parameter.
        needed: &'static str,
        description: String,
    },
    #[error("{0}")]
    Conflict(String),
    /// A limit on how many tokens may exist (per user, per parent token) was reached.
    #[error("{0}")]
    QuotaExceeded(String),
    /// Credentials missing or wrong; the edge answers 401 with a challenge.
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many failed attempts; retry after the given seconds.
    #[error("too many failed attempts; retry later")]
    RateLimited(u64),
    /// Too many password checks running and waiting; retry after the given seconds.
    #[error("too many password checks at once; retry shortly")]
    Busy(u64),
    #[error("the database is unavailable")]
    Unavailable,
    /// Details are logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Error::Unavailable,
            StoreError::Conflict => Error::Conflict("already exists".into()),
            StoreError::Database(d) => Error::Internal(d.to_string()),
            StoreError::Corrupt(d) => Error::Internal(d),
        }
    }
}

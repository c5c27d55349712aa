//! The one place that turns errors into HTTP: status, `WWW-Authenticate`, `Retry-After`, and the
//! JSON body `{"error", "error_description"}`. Rejections from routing end here too, so warp's
//! plain-text answers never reach a client.

use std::convert::Infallible;

use warp::http::{header, HeaderValue, StatusCode};
use warp::reply::Response;
use warp::Rejection;

use crate::domain::Error;
use crate::oauth::{ErrorCode, OAuthError};

pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    // Serialising our own types cannot fail; an empty body would show the bug at once.
    let mut r = Response::new(serde_json::to_vec(body).unwrap_or_default().into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Responses that may carry tokens or token data must never be cached (RFC 6749 §5.1).
pub fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn error_body(code: &str, description: &str) -> serde_json::Value {
    serde_json::json!({ "error": code, "error_description": description })
}

/// An OAuth endpoint's error (RFC 6749 §5.2).
pub fn oauth(e: &OAuthError) -> Response {
    let status = match e.code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut r = json_response(status, &error_body(e.code.as_str(), &e.description));
    if e.code == ErrorCode::InvalidClient {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tessera\""),
        );
    }
    add_retry_after(&mut r, e.retry_after);
    no_store(r)
}

fn add_retry_after(r: &mut Response, secs: Option<u64>) {
    if let Some(s) = secs {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
}

/// A management API error.
pub fn api(e: Error) -> Response {
    let (status, code) = match &e {
        Error::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
        Error::InvalidScope(_) => (StatusCode::BAD_REQUEST, "invalid_scope"),
        Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        Error::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        Error::InsufficientScope { .. } => (StatusCode::FORBIDDEN, "insufficient_scope"),
        Error::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        Error::QuotaExceeded(_) => (StatusCode::FORBIDDEN, "quota_exceeded"),
        Error::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
        Error::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
        Error::Busy(_) | Error::Unavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
        Error::Internal(detail) => {
            tracing::error!(error = %detail, "internal error");
            (StatusCode::INTERNAL_SERVER_ERROR, "server_error")
        }
    };
    let description = match &e {
        Error::Internal(_) => "internal error; see the server log".to_string(),
        other => other.to_string(),
    };
    let mut r = json_response(status, &error_body(code, &description));
    if status == StatusCode::UNAUTHORIZED {
        let h = r.headers_mut();
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tessera\""),
        );
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tessera\""),
        );
    }
    if let Error::InsufficientScope { needed, .. } = e {
        let challenge =
            format!("Bearer realm=\"tessera\", error=\"insufficient_scope\", scope=\"{needed}\"");
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    if let Error::RateLimited(s) | Error::Busy(s) = e {
        add_retry_after(&mut r, Some(s));
    }
    no_store(r)
}

/// Why a request body was refused before any handler saw it.
#[derive(Debug)]
pub enum BodyRejection {
    TooLarge(u64),
    Unreadable,
    /// The body did not arrive within `body_read_timeout`.
    TimedOut(std::time::Duration),
}

impl warp::reject::Reject for BodyRejection {}

/// Maps every rejection to a JSON error.
pub async fn recover(rej: Rejection) -> Result<Response, Infallible> {
    let (status, code, description) = if rej.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint".to_string(),
        )
    } else if let Some(b) = rej.find::<BodyRejection>() {
        match b {
            BodyRejection::TooLarge(max) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("request body is larger than {max} bytes"),
            ),
            BodyRejection::Unreadable => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "request body could not be read".into(),
            ),
            BodyRejection::TimedOut(limit) => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!(
                    "the request body did not arrive within {} s",
                    limit.as_secs()
                ),
            ),
        }
    } else if rej.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "method not allowed on this endpoint".into(),
        )
    } else if rej.find::<warp::reject::InvalidQuery>().is_some() {
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "invalid query string".into(),
        )
    } else if rej.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "request body too large".into(),
        )
    } else if rej.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "unsupported content type".into(),
        )
    } else if rej.find::<warp::reject::InvalidHeader>().is_some()
        || rej.find::<warp::reject::MissingHeader>().is_some()
    {
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "invalid or missing header".into(),
        )
    } else {
        tracing::warn!(rejection = ?rej, "unhandled rejection");
        (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the request could not be processed".into(),
        )
    };
    let mut r = no_store(json_response(status, &error_body(code, &description)));
    if status == StatusCode::REQUEST_TIMEOUT {
        // The rest of that body may still be trickling in: hyper closes the connection after
        // this answer instead of reading it.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(r)
}

//! Assertions on answers: a status with its JSON body, and the OAuth error shape (RFC 6749 §5.2,
//! which `/api` errors share): `{"error": code, "error_description": text}`.

use reqwest::{Response, StatusCode};
use serde_json::Value;

/// Asserts the status and returns the JSON body (`Null` for an empty body).
pub async fn expect_status(r: Response, status: u16) -> Value {
    let got = r.status();
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

/// Asserts a successful token response (200 with a JSON body); returns its JSON.
pub async fn expect_token(r: Response) -> Value {
    let status = r.status();
    let v: Value = r.json().await.expect("token JSON");
    assert_eq!(status, 200, "{v}");
    v
}

/// Asserts an OAuth error answer: this status, a JSON body whose `error` is `code`, and no token
/// data in it. `status` is a `StatusCode` or a number. Returns the body.
pub async fn assert_oauth_error<S>(r: Response, status: S, code: &str) -> Value
where
    StatusCode: PartialEq<S>,
    S: std::fmt::Debug,
{
    let got = r.status();
    let text = r.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("error body not JSON ({e}): {text}"));
    assert_eq!(v["error"], code, "{v}");
    assert!(
        v.get("active").is_none(),
        "an error answer must not carry token data: {v}"
    );
    v
}

/// The `error_description` of an error body, which must be there.
pub fn error_description(v: &Value) -> &str {
    v["error_description"]
        .as_str()
        .unwrap_or_else(|| panic!("no error_description: {v}"))
}

/// [`assert_oauth_error`] whose description mentions `about` (ignoring case).
pub async fn assert_error_mentions(r: Response, status: u16, code: &str, about: &str) {
    let v = assert_oauth_error(r, status, code).await;
    let d = error_description(&v);
    assert!(
        d.to_lowercase().contains(&about.to_lowercase()),
        "description should mention {about:?}: {v}"
    );
}

/// An error of the token endpoint (RFC 6749 §5.2): [`assert_oauth_error`], served as JSON that
/// must not be stored, with a non-empty description; returns the description.
pub async fn assert_token_error(r: Response, status: u16, code: &str) -> String {
    assert_eq!(r.status(), status, "status");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v = assert_oauth_error(r, status, code).await;
    let d = error_description(&v);
    assert!(!d.is_empty(), "{v}");
    d.to_string()
}

/// A refusal by the rate limiter: 429 `too_many_requests`, with a `Retry-After` of a number of
/// seconds within `retry_after`.
pub async fn assert_too_many_requests(r: Response, retry_after: std::ops::RangeInclusive<u64>) {
    assert_eq!(r.status(), 429, "not rate limited");
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        retry_after.contains(&retry),
        "Retry-After {retry} is not within {retry_after:?}"
    );
    assert_oauth_error(r, 429, "too_many_requests").await;
}

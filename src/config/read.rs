//! How each kind of setting is read and checked: the functions named by `deserialize_with` on
//! [`Settings`](super::Settings)' fields.
//!
//! A value is first taken as it was written (a TOML value from the file, a string from the
//! environment) and turned into text, then parsed, so `"500"` and `500` mean the same. A refusal
//! carries the value as shown to the operator (a URL's password hidden) and the reason, which
//! `error.rs` puts into the one-line message.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde::de::{Deserialize, Deserializer, Error as _, Unexpected};

use super::database_url::{redact_url_password, DatabaseUrl};
use super::duration::{DurationError, HumanDuration};
use crate::tokens::keys::Algorithm;

/// A setting type that can be read from a TOML value or an environment string.
pub(super) trait FromSetting: Sized {
    fn from_setting(v: &toml::Value) -> Result<Self, String>;
}

fn as_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value as error messages show it.
pub(super) fn shown(v: &toml::Value) -> String {
    redact_url_password(&as_text(v))
}

macro_rules! from_str_setting {
    ($($t:ty => $what:expr),* $(,)?) => {$(
        impl FromSetting for $t {
            fn from_setting(v: &toml::Value) -> Result<Self, String> {
                as_text(v).parse::<$t>().map_err(|_| $what.to_string())
            }
        }
    )*};
}
from_str_setting!(
    SocketAddr => "not an address like 127.0.0.1:8080",
    u32 => "not a whole number",
    u64 => "not a whole number",
    bool => "not true or false",
    String => "not text",
    PathBuf => "not a path",
    Algorithm => "not one of ES256, EdDSA, RS256",
);

/// A bare non-negative TOML integer is seconds; anything else must be `<number><unit>`.
impl FromSetting for HumanDuration {
    fn from_setting(v: &toml::Value) -> Result<Self, String> {
        match v {
            toml::Value::Integer(i) if *i >= 0 => Ok(HumanDuration::from_secs(*i as u64)),
            other => as_text(other)
                .parse()
                .map_err(|e: DurationError| e.to_string()),
        }
    }
}

/// Reads a `T`, then applies `check`.
fn checked<'de, D: Deserializer<'de>, T: FromSetting, U>(
    d: D,
    check: impl FnOnce(T) -> Result<U, String>,
) -> Result<U, D::Error> {
    let raw = toml::Value::deserialize(d)?;
    T::from_setting(&raw)
        .and_then(check)
        .map_err(|reason| D::Error::invalid_value(Unexpected::Str(&shown(&raw)), &reason.as_str()))
}

/// Any value of its type.
pub(super) fn value<'de, D: Deserializer<'de>, T: FromSetting>(d: D) -> Result<T, D::Error> {
    checked(d, Ok)
}

/// A value of `T` inside `range`; `reason` says why one outside is refused.
fn within<'de, D: Deserializer<'de>, T: FromSetting + PartialOrd>(
    d: D,
    range: RangeInclusive<T>,
    reason: &'static str,
) -> Result<T, D::Error> {
    checked(d, |v: T| {
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(reason.into())
        }
    })
}

pub(super) fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    within(d, 1..=u32::MAX, "zero; it must be at least 1")
}

/// A timeout of zero would drop every connection at once rather than disable the timeout.
pub(super) fn not_zero<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    within(d, ONE_SECOND..=FOREVER, "zero; it must be at least 1s")
}

pub(super) fn lifetime<'de, D: Deserializer<'de>>(d: D) -> Result<HumanDuration, D::Error> {
    within(
        d,
        ONE_SECOND..=FOREVER,
        "zero; access tokens need a lifetime",
    )
}

const ONE_SECOND: HumanDuration = HumanDuration::from_secs(1);
const FOREVER: HumanDuration = HumanDuration::from_secs(u64::MAX);

pub(super) fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: String| {
        if v.trim().is_empty() {
            Err("empty".into())
        } else {
            Ok(v)
        }
    })
}

/// An http(s) URL without query or fragment (RFC 8414 §2), kept without a trailing `/`.
pub(super) fn issuer<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    checked(d, |v: String| {
        let url = url::Url::parse(&v).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err("not an http(s) URL without query or fragment (RFC 8414 §2)".into());
        }
        Ok(v.trim_end_matches('/').to_string())
    })
}

pub(super) fn database_url<'de, D: Deserializer<'de>>(d: D) -> Result<DatabaseUrl, D::Error> {
    checked(d, DatabaseUrl::parse)
}

pub(super) fn body_limit<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    within(d, 256..=1 << 20, "outside 256..=1048576")
}

pub(super) fn password_concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    within(d, 1..=1024, "outside 1..=1024")
}

pub(super) fn password_queue<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    within(d, 0..=100_000, "above 100000")
}

//! The one line a refused setting prints before tessera exits with status 2.

use figment::error::{Actual, Kind};
use figment::{Figment, Profile};
use serde::Deserialize;

use super::read;

/// One setting that could not be accepted; printed as one line before exiting with status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid setting {key} ({source_name}): {value:?} is {reason}")]
    Invalid {
        key: &'static str,
        source_name: String,
        value: String,
        reason: String,
    },
    #[error("cannot read configuration file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("unknown setting {key:?} in {source_name}")]
    Unknown { key: String, source_name: String },
}

impl ConfigError {
    /// Turns figment's error for one field into ours. `read.rs` reports every refusal as an
    /// invalid value carrying the shown value; `keys` are the known settings, so that `key` can
    /// stay `&'static str`.
    pub(super) fn from_figment(e: figment::Error, keys: &'static [&'static str]) -> Self {
        let path = e.path.join(".");
        let source_name = e
            .metadata
            .as_ref()
            .map(|m| m.interpolate(&Profile::Default, &e.path))
            .unwrap_or_else(|| "default".into());
        let Some(key) = keys.iter().copied().find(|k| *k == path) else {
            return ConfigError::Unknown {
                key: path,
                source_name,
            };
        };
        let (value, reason) = match e.kind {
            Kind::InvalidValue(Actual::Str(value), reason) => (value, reason),
            other => (String::new(), other.to_string()),
        };
        ConfigError::Invalid {
            key,
            source_name,
            value,
            reason,
        }
    }

    /// A value refused for what other settings say, named with its source (`default`, with an
    /// empty value, when it was not set).
    pub(super) fn against_others(figment: &Figment, key: &'static str, reason: &str) -> Self {
        let (source_name, value) = match figment.find_value(key) {
            Ok(v) => (
                figment
                    .get_metadata(v.tag())
                    .map(|m| m.interpolate(&Profile::Default, &[key]))
                    .unwrap_or_else(|| "default".into()),
                toml::Value::deserialize(&v)
                    .map(|raw| read::shown(&raw))
                    .unwrap_or_default(),
            ),
            Err(_) => ("default".to_string(), String::new()),
        };
        ConfigError::Invalid {
            key,
            source_name,
            value,
            reason: reason.to_string(),
        }
    }
}

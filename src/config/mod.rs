//! Settings: defaults, then an optional TOML file, then `TESSERA_*` environment variables.
//! Everything is parsed and checked here, once, into [`Settings`]; the rest of tessera trusts it.
//!
//! Each setting is declared once, as a field of [`Settings`] naming its default and its check;
//! figment layers the sources (`sources.rs`) and serde reads each value (`read.rs`). What a value
//! is checked against beyond itself (other settings) is in [`Settings::from_sources`].

mod database_url;
mod defaults;
mod duration;
mod error;
mod read;
mod sources;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use database_url::{redact_url_password, DatabaseUrl};
pub use duration::{DurationError, HumanDuration};
pub use error::ConfigError;

use crate::tokens::keys::Algorithm;

/// Validated settings. See docs/configuration.md for each one.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default = "defaults::listen", deserialize_with = "read::value")]
    pub listen: SocketAddr,
    #[serde(
        default = "defaults::database_url",
        deserialize_with = "read::database_url"
    )]
    pub database_url: DatabaseUrl,
    #[serde(default = "defaults::count::<8>", deserialize_with = "read::positive")]
    pub database_max_connections: u32,
    /// When not set, `http://<listen>` (filled in by [`Settings::from_sources`]).
    #[serde(default, deserialize_with = "read::issuer")]
    pub issuer: String,
    #[serde(default = "defaults::keys_dir", deserialize_with = "read::value")]
    pub keys_dir: PathBuf,
    #[serde(default = "defaults::signing_alg", deserialize_with = "read::value")]
    pub signing_alg: Algorithm,
    #[serde(default = "defaults::secs::<900>", deserialize_with = "read::lifetime")]
    pub access_token_ttl: HumanDuration,
    /// When not set, the issuer (filled in by [`Settings::from_sources`]).
    #[serde(default, deserialize_with = "read::non_empty")]
    pub audience: String,
    #[serde(default = "defaults::days::<60>", deserialize_with = "read::value")]
    pub personal_token_default_ttl: HumanDuration,
    #[serde(default = "defaults::days::<366>", deserialize_with = "read::value")]
    pub personal_token_max_ttl: HumanDuration,
    #[serde(default = "defaults::days::<90>", deserialize_with = "read::value")]
    pub album_token_default_ttl: HumanDuration,
    #[serde(default, deserialize_with = "read::value")]
    pub allow_non_expiring_tokens: bool,
    #[serde(default = "defaults::secs::<10>", deserialize_with = "read::value")]
    pub rotation_grace: HumanDuration,
    #[serde(default = "defaults::secs::<60>", deserialize_with = "read::value")]
    pub last_used_resolution: HumanDuration,
    #[serde(default = "defaults::days::<30>", deserialize_with = "read::value")]
    pub revoked_retention: HumanDuration,
    #[serde(default = "defaults::secs::<3600>", deserialize_with = "read::value")]
    pub gc_interval: HumanDuration,
    #[serde(
        default = "defaults::count::<500>",
        deserialize_with = "read::positive"
    )]
    pub gc_batch_size: u32,
    #[serde(default = "defaults::secs::<60>", deserialize_with = "read::value")]
    pub key_reload_interval: HumanDuration,
    #[serde(
        default = "defaults::bytes::<16384>",
        deserialize_with = "read::body_limit"
    )]
    pub max_body_bytes: u64,
    #[serde(default = "defaults::count::<10>", deserialize_with = "read::positive")]
    pub auth_failure_limit: u32,
    #[serde(default = "defaults::secs::<300>", deserialize_with = "read::value")]
    pub auth_failure_window: HumanDuration,
    #[serde(default = "defaults::secs::<60>", deserialize_with = "read::value")]
    pub client_cache_ttl: HumanDuration,
    #[serde(
        default = "defaults::count::<1000>",
        deserialize_with = "read::positive"
    )]
    pub max_live_tokens_per_user: u32,
    #[serde(
        default = "defaults::count::<100>",
        deserialize_with = "read::positive"
    )]
    pub max_children_per_token: u32,
    #[serde(default = "defaults::secs::<10>", deserialize_with = "read::not_zero")]
    pub header_read_timeout: HumanDuration,
    #[serde(default = "defaults::secs::<30>", deserialize_with = "read::not_zero")]
    pub body_read_timeout: HumanDuration,
    #[serde(default = "defaults::secs::<60>", deserialize_with = "read::not_zero")]
    pub idle_timeout: HumanDuration,
    #[serde(default = "defaults::secs::<20>", deserialize_with = "read::not_zero")]
    pub shutdown_drain_timeout: HumanDuration,
    // Password checks (argon2): how many run at once, how many more may wait.
    #[serde(
        default = "defaults::available_cores",
        deserialize_with = "read::password_concurrency"
    )]
    pub password_check_concurrency: u32,
    #[serde(
        default = "defaults::count::<64>",
        deserialize_with = "read::password_queue"
    )]
    pub password_check_queue: u32,
}

impl Settings {
    /// Loads the settings as the binary does: `config_path` if given (it must exist), else
    /// `tessera.toml` in the working directory if present; then the process environment.
    pub fn load(config_path: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match config_path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("tessera.toml")).filter(|p| p.exists()),
        };
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with("TESSERA_") && !k.starts_with("TESSERA_TEST_"))
            .collect();
        Self::from_sources(file.as_deref(), env)
    }

    /// Builds settings from a file and an explicit list of `TESSERA_*` variables (tests use this).
    pub fn from_sources(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let keys = sources::field_names::<Settings>();
        let figment = sources::figment(file, env, keys)?;
        let mut s: Settings = figment
            .extract()
            .map_err(|e| ConfigError::from_figment(e, keys))?;
        if !figment.contains("issuer") {
            s.issuer = format!("http://{}", s.listen);
        }
        if !figment.contains("audience") {
            s.audience = s.issuer.clone();
        }
        for (key, ttl) in [
            ("personal_token_default_ttl", s.personal_token_default_ttl),
            ("album_token_default_ttl", s.album_token_default_ttl),
        ] {
            if ttl > s.personal_token_max_ttl {
                return Err(ConfigError::against_others(
                    &figment,
                    key,
                    "longer than personal_token_max_ttl",
                ));
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests;

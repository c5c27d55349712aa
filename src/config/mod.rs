//! Settings: defaults, then an optional TOML file, then `TESSERA_*` environment variables.
//! Everything is parsed and checked here, once, into [`Settings`]; the rest of tessera trusts it.

mod duration;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use duration::{DurationError, HumanDuration};

use crate::tokens::keys::Algorithm;

/// Validated settings. See docs/configuration.md for each one.
#[derive(Clone, Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database_url: DatabaseUrl,
    pub database_max_connections: u32,
    pub issuer: String,
    pub keys_dir: PathBuf,
    pub signing_alg: Algorithm,
    pub access_token_ttl: HumanDuration,
    pub audience: String,
    pub personal_token_default_ttl: HumanDuration,
    pub personal_token_max_ttl: HumanDuration,
    pub album_token_default_ttl: HumanDuration,
    pub allow_non_expiring_tokens: bool,
    pub rotation_grace: HumanDuration,
    pub last_used_resolution: HumanDuration,
    pub revoked_retention: HumanDuration,
    pub gc_interval: HumanDuration,
    pub gc_batch_size: u32,
    pub key_reload_interval: HumanDuration,
    pub max_body_bytes: u64,
    pub auth_failure_limit: u32,
    pub auth_failure_window: HumanDuration,
    pub client_cache_ttl: HumanDuration,
    pub max_live_tokens_per_user: u32,
    pub max_children_per_token: u32,
    pub header_read_timeout: HumanDuration,
    pub body_read_timeout: HumanDuration,
    pub idle_timeout: HumanDuration,
    pub shutdown_drain_timeout: HumanDuration,
    // Password checks (argon2): how many run at once, how many more may wait.
    pub password_check_concurrency: u32,
    pub password_check_queue: u32,
}

/// A database URL. Its `Debug` hides the password a PostgreSQL URL may carry, so `Settings` can
/// derive `Debug` and every field added later is printed without a second place to update.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&redact_url_password(&self.0), f)
    }
}

/// `scheme://user:secret@host/db` → `scheme://user:***@host/db`; other strings unchanged.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

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

/// Where a raw value came from, to name it in errors.
#[derive(Clone)]
struct RawValue {
    value: toml::Value,
    source_name: String,
}

/// Every known key, so typos in the file are reported instead of silently ignored.
const KEYS: &[&str] = &[
    "listen",
    "database_url",
    "database_max_connections",
    "issuer",
    "keys_dir",
    "signing_alg",
    "access_token_ttl",
    "audience",
    "personal_token_default_ttl",
    "personal_token_max_ttl",
    "album_token_default_ttl",
    "allow_non_expiring_tokens",
    "rotation_grace",
    "last_used_resolution",
    "revoked_retention",
    "gc_interval",
    "gc_batch_size",
    "key_reload_interval",
    "max_body_bytes",
    "auth_failure_limit",
    "auth_failure_window",
    "client_cache_ttl",
    "max_live_tokens_per_user",
    "max_children_per_token",
    "header_read_timeout",
    "body_read_timeout",
    "idle_timeout",
    "shutdown_drain_timeout",
    // Password checks.
    "password_check_concurrency",
    "password_check_queue",
];

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
        let mut raw: BTreeMap<String, RawValue> = BTreeMap::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            let table: toml::Table =
                text.parse()
                    .map_err(|e: toml::de::Error| ConfigError::File {
                        path: path.display().to_string(),
                        reason: e.message().to_string(),
                    })?;
            for (k, v) in table {
                if !KEYS.contains(&k.as_str()) {
                    return Err(ConfigError::Unknown {
                        key: k,
                        source_name: path.display().to_string(),
                    });
                }
                let source_name = path.display().to_string();
                raw.insert(
                    k,
                    RawValue {
                        value: v,
                        source_name,
                    },
                );
            }
        }
        for (k, v) in env {
            let Some(key) = k.strip_prefix("TESSERA_") else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            if !KEYS.contains(&key.as_str()) {
                // Unknown variables are other tools' business (for example TESSERA_LOG).
                continue;
            }
            raw.insert(
                key,
                RawValue {
                    value: toml::Value::String(v),
                    source_name: k,
                },
            );
        }
        let r = Reader { raw };

        let listen: SocketAddr = r.get("listen", "127.0.0.1:8080".parse().ok())?;
        let issuer: String =
            r.get_with("issuer", Some(format!("http://{listen}")), parse_issuer)?;
        let audience: String = r.get_with("audience", Some(issuer.clone()), non_empty)?;
        let personal_token_max_ttl = r.get("personal_token_max_ttl", Some(days(366)))?;
        let personal_token_default_ttl: HumanDuration =
            r.get("personal_token_default_ttl", Some(days(60)))?;
        if personal_token_default_ttl > personal_token_max_ttl {
            return Err(r.invalid(
                "personal_token_default_ttl",
                "longer than personal_token_max_ttl",
            ));
        }
        let album_token_default_ttl: HumanDuration =
            r.get("album_token_default_ttl", Some(days(90)))?;
        if album_token_default_ttl > personal_token_max_ttl {
            return Err(r.invalid(
                "album_token_default_ttl",
                "longer than personal_token_max_ttl",
            ));
        }
        let access_token_ttl: HumanDuration =
            r.get("access_token_ttl", Some(HumanDuration::from_secs(15 * 60)))?;
        if access_token_ttl.as_secs() == 0 {
            return Err(r.invalid("access_token_ttl", "zero; access tokens need a lifetime"));
        }
        Ok(Settings {
            listen,
            database_url: r.get_with(
                "database_url",
                Some(DatabaseUrl("sqlite://tessera.db?mode=rwc".into())),
                parse_database_url,
            )?,
            database_max_connections: r.get_with("database_max_connections", Some(8), positive)?,
            issuer,
            keys_dir: r.get("keys_dir", Some(PathBuf::from("keys")))?,
            signing_alg: r.get("signing_alg", Some(Algorithm::Es256))?,
            access_token_ttl,
            audience,
            personal_token_default_ttl,
            personal_token_max_ttl,
            album_token_default_ttl,
            allow_non_expiring_tokens: r.get("allow_non_expiring_tokens", Some(false))?,
            rotation_grace: r.get("rotation_grace", Some(HumanDuration::from_secs(10)))?,
            last_used_resolution: r
                .get("last_used_resolution", Some(HumanDuration::from_secs(60)))?,
            revoked_retention: r.get("revoked_retention", Some(days(30)))?,
            gc_interval: r.get("gc_interval", Some(HumanDuration::from_secs(3600)))?,
            gc_batch_size: r.get_with("gc_batch_size", Some(500), positive)?,
            key_reload_interval: r
                .get("key_reload_interval", Some(HumanDuration::from_secs(60)))?,
            max_body_bytes: r.get_with("max_body_bytes", Some(16 * 1024), |v: u64| {
                if (256..=1 << 20).contains(&v) {
                    Ok(v)
                } else {
                    Err("outside 256..=1048576".into())
                }
            })?,
            auth_failure_limit: r.get_with("auth_failure_limit", Some(10), positive)?,
            auth_failure_window: r
                .get("auth_failure_window", Some(HumanDuration::from_secs(300)))?,
            client_cache_ttl: r.get("client_cache_ttl", Some(HumanDuration::from_secs(60)))?,
            max_live_tokens_per_user: r.get_with(
                "max_live_tokens_per_user",
                Some(1000),
                positive,
            )?,
            max_children_per_token: r.get_with("max_children_per_token", Some(100), positive)?,
            header_read_timeout: r.get_with(
                "header_read_timeout",
                Some(HumanDuration::from_secs(10)),
                not_zero,
            )?,
            body_read_timeout: r.get_with(
                "body_read_timeout",
                Some(HumanDuration::from_secs(30)),
                not_zero,
            )?,
            idle_timeout: r.get_with(
                "idle_timeout",
                Some(HumanDuration::from_secs(60)),
                not_zero,
            )?,
            shutdown_drain_timeout: r.get_with(
                "shutdown_drain_timeout",
                Some(HumanDuration::from_secs(20)),
                not_zero,
            )?,
            // Password checks.
            password_check_concurrency: r.get_with(
                "password_check_concurrency",
                Some(available_cores()),
                |v: u32| {
                    if (1..=1024).contains(&v) {
                        Ok(v)
                    } else {
                        Err("outside 1..=1024".into())
                    }
                },
            )?,
            password_check_queue: r.get_with("password_check_queue", Some(64), |v: u32| {
                if v <= 100_000 {
                    Ok(v)
                } else {
                    Err("above 100000".into())
                }
            })?,
        })
    }
}

/// One argon2 check per core: more at once only adds memory, not throughput.
fn available_cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1024).min(1024))
        .unwrap_or(1)
}

fn days(n: u64) -> HumanDuration {
    HumanDuration::from_secs(n * 86_400)
}

fn positive(v: u32) -> Result<u32, String> {
    if v == 0 {
        Err("zero; it must be at least 1".into())
    } else {
        Ok(v)
    }
}

/// A timeout of zero would drop every connection at once rather than disable the timeout.
fn not_zero(v: HumanDuration) -> Result<HumanDuration, String> {
    if v.as_secs() == 0 {
        Err("zero; it must be at least 1s".into())
    } else {
        Ok(v)
    }
}

fn non_empty(v: String) -> Result<String, String> {
    if v.trim().is_empty() {
        Err("empty".into())
    } else {
        Ok(v)
    }
}

fn parse_issuer(v: String) -> Result<String, String> {
    let url = url::Url::parse(&v).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err("not an http(s) URL without query or fragment (RFC 8414 §2)".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

fn parse_database_url(v: String) -> Result<DatabaseUrl, String> {
    if v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://") {
        Ok(DatabaseUrl(v))
    } else {
        Err("not a sqlite: or postgres:// URL".into())
    }
}

struct Reader {
    raw: BTreeMap<String, RawValue>,
}

/// A setting type that can be read from a TOML value or an environment string.
trait FromSetting: Sized {
    fn from_setting(v: &toml::Value) -> Result<Self, String>;
}

fn as_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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

impl Reader {
    fn get<T: FromSetting>(&self, key: &'static str, default: Option<T>) -> Result<T, ConfigError> {
        self.get_with(key, default, Ok)
    }

    fn get_with<T: FromSetting, U>(
        &self,
        key: &'static str,
        default: Option<U>,
        check: impl FnOnce(T) -> Result<U, String>,
    ) -> Result<U, ConfigError> {
        match self.raw.get(key) {
            None => default.ok_or_else(|| self.invalid(key, "required")),
            Some(raw) => T::from_setting(&raw.value)
                .and_then(check)
                .map_err(|reason| ConfigError::Invalid {
                    key,
                    source_name: raw.source_name.clone(),
                    value: redact_url_password(&as_text(&raw.value)),
                    reason,
                }),
        }
    }

    fn invalid(&self, key: &'static str, reason: &str) -> ConfigError {
        let (source_name, value) = match self.raw.get(key) {
            Some(raw) => (
                raw.source_name.clone(),
                redact_url_password(&as_text(&raw.value)),
            ),
            None => ("default".to_string(), String::new()),
        };
        ConfigError::Invalid {
            key,
            source_name,
            value,
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_errors_hide_the_database_password() {
        let s = Settings::from_sources(
            None,
            env(&[(
                "TESSERA_DATABASE_URL",
                "postgres://tessera:hunter2@db.internal:5432/t",
            )]),
        )
        .unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("postgres://tessera:***@db.internal:5432/t"),
            "{shown}"
        );
        let e = Settings::from_sources(
            None,
            env(&[("TESSERA_DATABASE_URL", "mysql://tessera:hunter2@db/t")]),
        )
        .expect_err("mysql is refused");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(
            redact_url_password("sqlite://t.db?mode=rwc"),
            "sqlite://t.db?mode=rwc"
        );
        assert_eq!(redact_url_password("postgres://u@h/d"), "postgres://u@h/d");
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_follow_the_listen_address() {
        let s = Settings::from_sources(None, env(&[("TESSERA_LISTEN", "127.0.0.1:9000")])).unwrap();
        assert_eq!(s.issuer, "http://127.0.0.1:9000");
        assert_eq!(s.audience, s.issuer);
        assert_eq!(s.access_token_ttl.as_secs(), 900);
        assert_eq!(s.signing_alg, Algorithm::Es256);
    }

    #[test]
    fn env_overrides_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            "access_token_ttl = \"5m\"\nsigning_alg = \"EdDSA\"\n",
        )
        .unwrap();
        let s = Settings::from_sources(Some(&path), env(&[("TESSERA_ACCESS_TOKEN_TTL", "90s")]))
            .unwrap();
        assert_eq!(s.access_token_ttl.as_secs(), 90);
        assert_eq!(s.signing_alg, Algorithm::EdDsa);
    }

    #[test]
    fn bad_value_names_setting_and_value() {
        let err = Settings::from_sources(None, env(&[("TESSERA_ACCESS_TOKEN_TTL", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("access_token_ttl"), "{err}");
        assert!(err.contains("TESSERA_ACCESS_TOKEN_TTL"), "{err}");
        assert!(err.contains("\"soon\""), "{err}");
    }

    #[test]
    fn connection_timeouts_default_and_refuse_zero() {
        let s = Settings::from_sources(None, env(&[])).unwrap();
        assert_eq!(s.header_read_timeout.as_secs(), 10);
        assert_eq!(s.body_read_timeout.as_secs(), 30);
        assert_eq!(s.idle_timeout.as_secs(), 60);
        assert_eq!(s.shutdown_drain_timeout.as_secs(), 20);
        for key in [
            "TESSERA_HEADER_READ_TIMEOUT",
            "TESSERA_BODY_READ_TIMEOUT",
            "TESSERA_IDLE_TIMEOUT",
            "TESSERA_SHUTDOWN_DRAIN_TIMEOUT",
        ] {
            let err = Settings::from_sources(None, env(&[(key, "0s")]))
                .expect_err("zero is refused")
                .to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn password_checks_default_to_one_per_core_and_refuse_zero() {
        let s = Settings::from_sources(None, env(&[])).unwrap();
        assert_eq!(s.password_check_concurrency, available_cores());
        assert!(s.password_check_concurrency >= 1);
        assert_eq!(s.password_check_queue, 64);
        let zero = env(&[("TESSERA_PASSWORD_CHECK_CONCURRENCY", "0")]);
        assert!(Settings::from_sources(None, zero).is_err());
        let no_queue = env(&[("TESSERA_PASSWORD_CHECK_QUEUE", "0")]);
        assert_eq!(
            Settings::from_sources(None, no_queue)
                .unwrap()
                .password_check_queue,
            0
        );
    }

    #[test]
    fn unknown_file_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "acess_token_ttl = \"5m\"\n").unwrap();
        assert!(matches!(
            Settings::from_sources(Some(&path), env(&[])),
            Err(ConfigError::Unknown { .. })
        ));
    }
}

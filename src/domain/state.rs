//! What every request handler shares: settings, database, clock, keys, throttles.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use super::limiter::FailureLimiter;
use super::passwords::PasswordGate;
use crate::clock::Clock;
use crate::config::Settings;
use crate::store::Db;
use crate::tokens::jwt::{self, AccessClaims, JwtRejection, VerifyContext};
use crate::tokens::keys::{KeyDir, KeyError, KeySet};

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub clock: Clock,
    keys: Arc<RwLock<Arc<KeySet>>>,
    last_used: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
    pub limiter: FailureLimiter,
    /// Caps concurrent argon2 computations (hashing and verifying).
    pub passwords: PasswordGate,
    pub metrics: crate::metrics::Metrics,
    /// Client rows for authentication, cached (see `ClientCache` for why that is safe).
    pub clients: Arc<crate::store::clients::ClientCache>,
}

impl AppState {
    pub fn new(settings: Settings, db: Db, clock: Clock, keys: KeySet) -> Self {
        let limiter = FailureLimiter::new(
            settings.auth_failure_limit,
            settings.auth_failure_window.to_std(),
        );
        let passwords = PasswordGate::new(
            settings.password_check_concurrency as usize,
            settings.password_check_queue as usize,
        );
        let clients = Arc::new(crate::store::clients::ClientCache::new(
            settings.client_cache_ttl.to_std(),
        ));
        AppState {
            clients,
            settings: Arc::new(settings),
            db,
            clock,
            keys: Arc::new(RwLock::new(Arc::new(keys))),
            last_used: Arc::default(),
            limiter,
            passwords,
            metrics: crate::metrics::Metrics::default(),
        }
    }

    /// The key set as of the last (re)load; cheap to clone.
    pub fn keys(&self) -> Arc<KeySet> {
        match self.keys.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the key directory, so a rotation done elsewhere takes effect here.
    pub fn reload_keys(&self) -> Result<(), KeyError> {
        let dir = KeyDir::new(&self.settings.keys_dir);
        if let Some(set) = dir.load()? {
            let mut guard = match self.keys.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            *guard = Arc::new(set);
        }
        Ok(())
    }

    /// Verifies one of our access tokens (signature with a current or recently retired key,
    /// issuer, audience, times) as of `now`.
    pub fn verify_access_token(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<AccessClaims, JwtRejection> {
        let keys = self.keys();
        jwt::verify_access_token(
            token,
            &VerifyContext {
                keys: &keys,
                issuer: &self.settings.issuer,
                audience: &self.settings.audience,
                now,
                key_grace: self.key_grace(),
            },
        )
    }

    /// How long a retired key keeps verifying: the longest an access token it signed can live,
    /// plus the time another instance may keep signing with it until its next key reload, plus a
    /// margin for clock skew between instances.
    pub fn key_grace(&self) -> chrono::Duration {
        self.settings.access_token_ttl.to_chrono()
            + self.settings.key_reload_interval.to_chrono()
            + chrono::Duration::minutes(5)
    }

    /// Whether `last_used_at` of this row should be written now: at most once per row per
    /// `last_used_resolution`, so the hot path does not write on every request.
    pub fn should_touch(&self, row_id: &str, now: DateTime<Utc>) -> bool {
        let resolution = self.settings.last_used_resolution.to_chrono();
        let mut map = match self.last_used.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.len() > 100_000 {
            map.retain(|_, t| now - *t < resolution);
        }
        match map.get(row_id) {
            Some(t) if now - *t < resolution => false,
            _ => {
                map.insert(row_id.to_string(), now);
                true
            }
        }
    }
}

//! argon2id password hashing, always off the async executor (each check costs tens of ms).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;

use super::Error;

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt = new_salt()?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Verifies a password against a PHC string. With `None` it checks against a fixed dummy hash
/// of the same cost and answers false, so an unknown user costs the same as a wrong password.
pub async fn verify(stored: Option<String>, password: String) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let (phc, real) = match stored {
            Some(s) => (s, true),
            None => (dummy_hash().to_string(), false),
        };
        let parsed =
            PasswordHash::new(&phc).map_err(|e| Error::Internal(format!("argon2: {e}")))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Computes the dummy hash ahead of the first unknown-user login (blocking: tens of ms).
pub fn prepare_dummy_hash() {
    let _ = dummy_hash();
}

fn dummy_hash() -> &'static str {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let Ok(salt) = new_salt() else {
            return String::new();
        };
        Argon2::default()
            .hash_password(b"tessera-dummy-password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

fn new_salt() -> Result<SaltString, Error> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    SaltString::encode_b64(&bytes).map_err(|e| Error::Internal(format!("argon2 salt: {e}")))
}

//! Signing keys: PKCS#8 PEM files in the key directory, each with a small JSON sidecar holding its
//! algorithm and life-cycle times, parsed once into key pairs held in memory.
//!
//! States: the newest key without `retired_at` signs; a retired key stays published in the JWKS
//! until every token it can have signed has expired (`retired_at` + the longest token lifetime);
//! after that it is `expired` and no longer served. Instances that share the directory pick up a
//! rotation on their next reload.

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
    ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};

pub use super::key_dir::KeyDir;

/// Signature algorithms tessera can generate keys for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    #[serde(rename = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    EdDsa,
    #[serde(rename = "RS256")]
    Rs256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
        }
    }
    pub fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::Es256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            Algorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }
}

impl FromStr for Algorithm {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "ES256" | "es256" => Ok(Algorithm::Es256),
            "EdDSA" | "eddsa" | "EDDSA" => Ok(Algorithm::EdDsa),
            "RS256" | "rs256" => Ok(Algorithm::Rs256),
            _ => Err(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} is not a usable {alg} PKCS#8 key")]
    BadKey { path: String, alg: &'static str },
    #[error("key metadata {path}: {reason}")]
    BadMeta { path: String, reason: String },
    #[error("key generation failed")]
    Generate,
}

/// The sidecar `<kid>.json` next to `<kid>.pem`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct KeyMeta {
    pub(super) alg: Algorithm,
    pub(super) created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) retired_at: Option<DateTime<Utc>>,
}

enum Signer {
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// One key, parsed once: its private half (to sign) and public half (JWK and verifier).
pub struct Key {
    pub kid: String,
    pub alg: Algorithm,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub jwk: Jwk,
    pub decoding: DecodingKey,
    signer: Signer,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Life-cycle state of a key at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Signing,
    Verifying,
    Expired,
}

impl Key {
    pub(super) fn from_pkcs8(der: &[u8], meta: &KeyMeta, path: &Path) -> Result<Self, KeyError> {
        let bad = || KeyError::BadKey {
            path: path.display().to_string(),
            alg: meta.alg.as_str(),
        };
        let (signer, jwk_json) = match meta.alg {
            Algorithm::Es256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| bad())?;
                let point = kp.public_key().as_ref();
                if point.len() != 65 {
                    return Err(bad());
                }
                let jwk = serde_json::json!({
                    "kty": "EC", "crv": "P-256",
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
                });
                (Signer::Ec(kp), jwk)
            }
            Algorithm::EdDsa => {
                let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| bad())?;
                let jwk = serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "x": B64.encode(kp.public_key().as_ref()),
                });
                (Signer::Ed(kp), jwk)
            }
            Algorithm::Rs256 => {
                let kp = RsaKeyPair::from_pkcs8(der).map_err(|_| bad())?;
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                let jwk = serde_json::json!({
                    "kty": "RSA", "n": B64.encode(&c.n), "e": B64.encode(&c.e),
                });
                (Signer::Rsa(kp), jwk)
            }
        };
        let mut jwk: Jwk = serde_json::from_value(jwk_json).map_err(|_| bad())?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|_| bad())?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(match meta.alg {
            Algorithm::Es256 => jsonwebtoken::jwk::KeyAlgorithm::ES256,
            Algorithm::EdDsa => jsonwebtoken::jwk::KeyAlgorithm::EdDSA,
            Algorithm::Rs256 => jsonwebtoken::jwk::KeyAlgorithm::RS256,
        });
        let decoding = DecodingKey::from_jwk(&jwk).map_err(|_| bad())?;
        Ok(Key {
            kid,
            alg: meta.alg,
            created_at: meta.created_at,
            retired_at: meta.retired_at,
            jwk,
            decoding,
            signer,
        })
    }

    /// Signs `message` (the JWS signing input) with the key parsed at load time.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.signer {
            Signer::Ec(kp) => kp
                .sign(&SystemRandom::new(), message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Generate),
            Signer::Ed(kp) => Ok(kp.sign(message).as_ref().to_vec()),
            Signer::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig)
                    .map_err(|_| KeyError::Generate)?;
                Ok(sig)
            }
        }
    }

    pub fn state(&self, now: DateTime<Utc>, max_token_lifetime: chrono::Duration) -> KeyState {
        match self.retired_at {
            None => KeyState::Signing,
            Some(r) if now < r + max_token_lifetime => KeyState::Verifying,
            Some(_) => KeyState::Expired,
        }
    }
}

/// All keys of the directory at one moment; replaced whole on reload.
pub struct KeySet {
    /// Sorted newest first.
    pub(super) keys: Vec<Arc<Key>>,
    pub(super) signing: Arc<Key>,
}

impl KeySet {
    pub fn signing(&self) -> &Arc<Key> {
        &self.signing
    }

    /// A key that may verify tokens now: signing or still within its verification window.
    pub fn verifying(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        max_token_lifetime: chrono::Duration,
    ) -> Option<&Arc<Key>> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.state(now, max_token_lifetime) != KeyState::Expired)
    }

    pub fn all(&self) -> &[Arc<Key>] {
        &self.keys
    }

    /// The RFC 7517 JWK Set of every key that is signing or still verifying.
    pub fn jwks(
        &self,
        now: DateTime<Utc>,
        max_token_lifetime: chrono::Duration,
    ) -> serde_json::Value {
        let keys: Vec<&Jwk> = self
            .keys
            .iter()
            .filter(|k| k.state(now, max_token_lifetime) != KeyState::Expired)
            .map(|k| &k.jwk)
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Base64url (no padding) as JWS uses it.
pub fn b64url(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_private_pkcs8_and_debug_shows_no_key_material() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path());
        for alg in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
            let kid = keys.rotate(alg, Utc::now()).unwrap();
            let pem_path = dir.path().join(format!("{kid}.pem"));
            let mode = std::fs::metadata(&pem_path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{alg:?} key file mode {mode:o}");
            let text = std::fs::read_to_string(&pem_path).unwrap();
            assert!(
                text.starts_with("-----BEGIN PRIVATE KEY-----"),
                "PKCS#8 PEM"
            );
            let set = keys.load().unwrap().unwrap();
            let key = set.signing();
            assert_eq!(key.kid, kid);
            let shown = format!("{key:?}");
            let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
            assert!(!shown.contains(&body[..40]), "{shown}");
            assert!(
                !shown.contains("signer") && !shown.contains("decoding"),
                "{shown}"
            );
        }
    }
}

//! Signing keys: PKCS#8 PEM files in the key directory, each with a small JSON sidecar holding its
//! algorithm and life-cycle times, parsed once into key pairs held in memory.
//!
//! States: the newest key without `retired_at` signs; a retired key stays published in the JWKS
//! until every token it can have signed has expired (`retired_at` + the longest token lifetime);
//! after that it is `expired` and no longer served. Instances that share the directory pick up a
//! rotation on their next reload.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
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
struct KeyMeta {
    alg: Algorithm,
    created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retired_at: Option<DateTime<Utc>>,
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
    fn from_pkcs8(der: &[u8], meta: &KeyMeta, path: &Path) -> Result<Self, KeyError> {
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
    keys: Vec<Arc<Key>>,
    signing: Arc<Key>,
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

/// The key directory.
pub struct KeyDir {
    dir: PathBuf,
}

impl KeyDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn io(&self, e: std::io::Error) -> KeyError {
        KeyError::Io {
            path: self.dir.display().to_string(),
            source: e,
        }
    }

    /// Loads every key; generates one of `alg` first if the directory holds none.
    pub fn load_or_init(&self, alg: Algorithm, now: DateTime<Utc>) -> Result<KeySet, KeyError> {
        if let Some(set) = self.load()? {
            return Ok(set);
        }
        let kid = self.generate(alg, now)?;
        tracing::info!(kid = %kid, alg = alg.as_str(), dir = %self.dir.display(),
            "generated a new signing key (the key directory was empty)");
        self.load()?.ok_or(KeyError::Generate)
    }

    /// Loads every key, or `None` if there is no usable key yet.
    pub fn load(&self) -> Result<Option<KeySet>, KeyError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(e)),
        };
        let mut keys: BTreeMap<(DateTime<Utc>, String), Arc<Key>> = BTreeMap::new();
        for entry in entries {
            let path = entry.map_err(|e| self.io(e))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let pem_path = path.with_extension("pem");
            let meta_text = std::fs::read_to_string(&path).map_err(|e| self.io(e))?;
            let meta: KeyMeta =
                serde_json::from_str(&meta_text).map_err(|e| KeyError::BadMeta {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            let pem_text = match std::fs::read(&pem_path) {
                Ok(t) => t,
                // A sidecar without its key is a rotation still being written by another
                // instance, or debris: skip it rather than refuse to start.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io(e)),
            };
            let bad = || KeyError::BadKey {
                path: pem_path.display().to_string(),
                alg: meta.alg.as_str(),
            };
            let pem = pem::parse(pem_text).map_err(|_| bad())?;
            if pem.tag() != "PRIVATE KEY" {
                return Err(bad());
            }
            let key = Key::from_pkcs8(pem.contents(), &meta, &pem_path)?;
            keys.insert((key.created_at, key.kid.clone()), Arc::new(key));
        }
        let keys: Vec<Arc<Key>> = keys.into_values().rev().collect();
        let Some(signing) = keys.iter().find(|k| k.retired_at.is_none()).cloned() else {
            return Ok(None);
        };
        Ok(Some(KeySet { keys, signing }))
    }

    /// Generates a key, writes it (mode 0600) and its sidecar, and returns its kid.
    pub fn generate(&self, alg: Algorithm, now: DateTime<Utc>) -> Result<String, KeyError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        let der: Vec<u8> = match alg {
            Algorithm::Es256 => {
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                    .map_err(|_| KeyError::Generate)?
                    .as_ref()
                    .to_vec()
            }
            Algorithm::EdDsa => Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec(),
            Algorithm::Rs256 => {
                use aws_lc_rs::encoding::AsDer;
                let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError::Generate)?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der =
                    kp.as_der().map_err(|_| KeyError::Generate)?;
                der.as_ref().to_vec()
            }
        };
        let meta = KeyMeta {
            alg,
            created_at: now,
            retired_at: None,
        };
        let key = Key::from_pkcs8(&der, &meta, &self.dir)?;
        let pem_text = pem::encode(&pem::Pem::new("PRIVATE KEY", der));
        self.write_private(
            &self.dir.join(format!("{}.pem", key.kid)),
            pem_text.as_bytes(),
        )?;
        self.write_meta(&key.kid, &meta)?;
        Ok(key.kid)
    }

    /// Makes a new key the signing key and retires every other one.
    pub fn rotate(&self, alg: Algorithm, now: DateTime<Utc>) -> Result<String, KeyError> {
        let old = self.load()?;
        let kid = self.generate(alg, now)?;
        if let Some(old) = old {
            for k in old.all().iter().filter(|k| k.retired_at.is_none()) {
                let meta = KeyMeta {
                    alg: k.alg,
                    created_at: k.created_at,
                    retired_at: Some(now),
                };
                self.write_meta(&k.kid, &meta)?;
            }
        }
        Ok(kid)
    }

    fn write_meta(&self, kid: &str, meta: &KeyMeta) -> Result<(), KeyError> {
        let text = serde_json::to_vec_pretty(meta).map_err(|e| KeyError::BadMeta {
            path: kid.to_string(),
            reason: e.to_string(),
        })?;
        self.write_atomic(&self.dir.join(format!("{kid}.json")), &text, 0o644)
    }

    fn write_private(&self, path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
        self.write_atomic(path, bytes, 0o600)
    }

    /// Writes to a temporary file with the final mode, then renames: a reader never sees half a
    /// key, and a private key is never readable by others, not even for a moment.
    fn write_atomic(&self, path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyError> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(|e| self.io(e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| self.io(e))?;
        std::fs::rename(&tmp, path).map_err(|e| self.io(e))
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

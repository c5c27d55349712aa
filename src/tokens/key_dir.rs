//! The key directory: `<kid>.pem` (PKCS#8) and `<kid>.json` (algorithm and life-cycle times)
//! per key, written atomically, loaded into a [`KeySet`]; generation and rotation.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use chrono::{DateTime, Utc};

use super::keys::{Algorithm, Key, KeyError, KeyMeta, KeySet};

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

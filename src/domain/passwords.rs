//! argon2id password hashing, always off the async executor (each check costs tens of ms and
//! `Params::default()`'s 19 MiB of memory), and never more at once than the [`PasswordGate`]
//! allows.
//!
//! The 19 MiB are not allocated per check: each running check borrows a buffer from the gate's
//! pool (at most one per allowed concurrent check, kept for reuse). Allocating per check let the
//! allocator keep freed buffers per thread: with checks capped at 2, a server still grew to
//! about 490 MB after a few bursts.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{self, Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Error;

/// Caps the argon2 computations running at once (`password_check_concurrency`, so memory stays
/// near that many times 19 MiB however many requests arrive) and the requests waiting for a turn
/// (`password_check_queue`). Past both, callers are told to come back instead of piling up.
#[derive(Clone)]
pub struct PasswordGate {
    /// One permit per computation that may run.
    running: Arc<Semaphore>,
    /// One permit per computation that may run or wait.
    admitted: Arc<Semaphore>,
    /// argon2's working memory, one buffer per computation that has run at once.
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
}

impl PasswordGate {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            running: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))),
            memory: Arc::default(),
        }
    }

    /// A place in line, or `Error::Busy` when the line is full. Nothing waits or allocates, so a
    /// refusal changes nothing.
    pub fn admit(&self) -> Result<Admission, Error> {
        match self.admitted.clone().try_acquire_owned() {
            Ok(place) => Ok(Admission {
                place,
                gate: self.clone(),
            }),
            // A check takes tens of milliseconds: the line moves within a second.
            Err(_) => Err(Error::Busy(1)),
        }
    }
}

/// A place in the [`PasswordGate`]'s line, used for one hash or one verification.
pub struct Admission {
    place: OwnedSemaphorePermit,
    gate: PasswordGate,
}

impl Admission {
    /// Hashes a password into a PHC string (argon2id, default parameters).
    pub async fn hash(self, password: String) -> Result<String, Error> {
        self.run(move |memory| hash_with(memory, password.as_bytes()).map_err(argon2_error))
            .await
    }

    /// Verifies a password against a PHC string. With `None` it checks against a fixed dummy
    /// hash of the same cost and answers false, so an unknown user costs the same as a wrong
    /// password.
    pub async fn verify(self, stored: Option<String>, password: String) -> Result<bool, Error> {
        self.run(move |memory| {
            let (phc, real) = match stored {
                Some(s) => (s, true),
                None => (dummy_hash().to_string(), false),
            };
            let ok = verify_with(memory, &phc, password.as_bytes()).map_err(argon2_error)?;
            Ok(ok && real)
        })
        .await
    }

    /// Waits for a turn, then computes on the blocking pool with a pooled buffer. Both permits
    /// move into the blocking task: if the request is cancelled meanwhile, the computation still
    /// holds its turn (and its memory) until it ends, so the cap counts what really runs.
    async fn run<T: Send + 'static>(
        self,
        f: impl FnOnce(&mut Vec<Block>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let turn = self
            .gate
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Internal(format!("password gate: {e}")))?;
        let (place, pool) = (self.place, self.gate.memory);
        tokio::task::spawn_blocking(move || {
            let _held = (place, turn);
            // Holding a turn means fewer buffers are out than turns exist.
            let mut memory = lock(&pool).pop().unwrap_or_default();
            let out = f(&mut memory);
            lock(&pool).push(memory);
            out
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }
}

fn lock(pool: &Mutex<Vec<Vec<Block>>>) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
    pool.lock().unwrap_or_else(|p| p.into_inner())
}

fn argon2_error(e: password_hash::Error) -> Error {
    Error::Internal(format!("argon2: {e}"))
}

/// What `Argon2::default().hash_password` computes, in the given memory.
fn hash_with(memory: &mut Vec<Block>, password: &[u8]) -> password_hash::Result<String> {
    let salt = new_salt().map_err(|_| password_hash::Error::Crypto)?;
    let params = Params::default();
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes)?;
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let hash = argon2_into(
        memory,
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
        password,
        salt_bytes,
        len,
    )?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into()?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    };
    Ok(phc.to_string())
}

/// What `PasswordHash::verify_password` checks, in the given memory: the stored parameters
/// and salt give the stored output (compared in constant time by `Output`'s `==`).
fn verify_with(memory: &mut Vec<Block>, phc: &str, password: &[u8]) -> password_hash::Result<bool> {
    let parsed = PasswordHash::new(phc)?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Err(password_hash::Error::PhcStringField);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(&parsed)?;
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let computed = argon2_into(
        memory,
        Argon2::new(algorithm, version, params),
        password,
        salt_bytes,
        expected.len(),
    )?;
    Ok(computed == expected)
}

fn argon2_into(
    memory: &mut Vec<Block>,
    argon2: Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    len: usize,
) -> password_hash::Result<Output> {
    let blocks = argon2.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Output::init_with(len, |out| {
        Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..])?)
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_line_is_refused_and_a_finished_check_frees_its_place() {
        let gate = PasswordGate::new(1, 1);
        let first = gate.admit().expect("runs");
        let second = gate.admit().expect("waits");
        assert!(matches!(gate.admit(), Err(Error::Busy(1))));
        drop(second);
        let hash = first.hash("pw".into()).await.expect("hash");
        let third = gate.admit().expect("a place is free again");
        assert!(third.verify(Some(hash), "pw".into()).await.expect("verify"));
        assert!(gate.admit().is_ok());
    }

    #[test]
    fn pooled_hashes_match_the_argon2_crate() {
        use argon2::password_hash::PasswordVerifier;
        let mut memory = Vec::new();
        let ours = hash_with(&mut memory, b"pw").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("PHC string");
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"px", &parsed).is_err());
        let salt = new_salt().expect("salt");
        let theirs = Argon2::default()
            .hash_password(b"pw", &salt)
            .expect("hash")
            .to_string();
        assert_eq!(verify_with(&mut memory, &theirs, b"pw"), Ok(true));
        assert_eq!(verify_with(&mut memory, &theirs, b"px"), Ok(false));
        assert_eq!(memory.len(), Params::DEFAULT_M_COST as usize);
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let gate = PasswordGate::new(1, 0);
        let admission = gate.admit().expect("admitted");
        assert!(!admission
            .verify(None, "tessera-dummy-password".into())
            .await
            .expect("verify"));
    }
}

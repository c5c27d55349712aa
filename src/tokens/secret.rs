//! Secret strings tessera hands out: refresh tokens (`tsr_`) and client secrets (`tsc_`).
//!
//! Format: prefix, 22 base62 characters encoding 128 bits read straight from the
//! operating system's CSPRNG (`getrandom`, not a user-space generator), then a 6-character base62
//! CRC32 of those 22 characters. The prefix lets secret scanners find leaked tokens; the checksum
//! lets tessera reject a mistyped token without a database lookup. Only the SHA-256 of the
//! whole string is ever stored.

use std::fmt;

use rand::{Rng, TryRng};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BODY_LEN: usize = 22;
const CHECK_LEN: usize = 6;

/// The kind of secret, told by its prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    RefreshToken,
    ClientSecret,
}

impl SecretKind {
    fn prefix(self) -> &'static str {
        match self {
            SecretKind::RefreshToken => "tsr_",
            SecretKind::ClientSecret => "tsc_",
        }
    }
}

/// A secret string. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why a string is not a well-formed secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretFormatError {
    #[error("it does not have the expected prefix")]
    Prefix,
    #[error("it does not have the expected length or characters")]
    Shape,
    #[error("its checksum does not match (mistyped or truncated)")]
    Checksum,
}

impl Secret {
    /// A fresh random secret of the given kind.
    pub fn generate(kind: SecretKind) -> Self {
        let mut bytes = [0u8; 16];
        // A failing OS generator leaves nothing safe to hand out; no fallback on purpose.
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes)
            .expect("the operating system's random generator failed");
        let body = base62_fixed(u128::from_be_bytes(bytes), BODY_LEN);
        let check = base62_fixed(u128::from(crc32fast::hash(body.as_bytes())), CHECK_LEN);
        Secret(format!("{}{body}{check}", kind.prefix()))
    }

    /// Checks prefix, shape and checksum: everything that can be known without the database.
    pub fn parse(kind: SecretKind, s: &str) -> Result<Self, SecretFormatError> {
        let rest = s
            .strip_prefix(kind.prefix())
            .ok_or(SecretFormatError::Prefix)?;
        if rest.len() != BODY_LEN + CHECK_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SecretFormatError::Shape);
        }
        let (body, check) = rest.split_at(BODY_LEN);
        let expected = base62_fixed(u128::from(crc32fast::hash(body.as_bytes())), CHECK_LEN);
        if expected != check {
            return Err(SecretFormatError::Checksum);
        }
        Ok(Secret(s.to_string()))
    }

    /// The string to show once to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: the hex SHA-256 of the whole string.
    pub fn hash(&self) -> String {
        hash_hex(&self.0)
    }
}

/// Hex SHA-256 of a high-entropy secret; a password-hash function would add nothing but cost.
pub fn hash_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

/// Constant-time comparison of a presented secret with a stored hash.
pub fn matches_hash(presented: &str, stored_hex: &str) -> bool {
    let h = hash_hex(presented);
    h.as_bytes().ct_eq(stored_hex.as_bytes()).into()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A short random public identifier: 71 random bits in 12 base62 characters (62^12 > 2^71).
pub fn public_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base62_fixed(u128::from_be_bytes(bytes) >> (128 - 71), 12)
}

/// A random identifier for JWT `jti`s (22 base62 characters).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base62_fixed(u128::from_be_bytes(bytes), BODY_LEN)
}

/// Base62 with a fixed width (left-padded with '0'); the value must fit.
fn base62_fixed(mut n: u128, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    debug_assert_eq!(n, 0, "value wider than {width} base62 digits");
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_parse() {
        let t = Secret::generate(SecretKind::RefreshToken);
        assert!(t.expose().starts_with("tsr_"));
        assert_eq!(t.expose().len(), 4 + BODY_LEN + CHECK_LEN);
        assert_eq!(
            Secret::parse(SecretKind::RefreshToken, t.expose()),
            Ok(t.clone())
        );
        assert_eq!(
            Secret::parse(SecretKind::ClientSecret, t.expose()),
            Err(SecretFormatError::Prefix)
        );
    }

    #[test]
    fn debug_and_display_redact() {
        let t = Secret::generate(SecretKind::ClientSecret);
        assert!(!format!("{t:?}").contains(t.expose()));
        assert!(!format!("{t}").contains(t.expose()));
    }

    #[test]
    fn hash_matches_only_its_secret() {
        let a = Secret::generate(SecretKind::ClientSecret);
        let b = Secret::generate(SecretKind::ClientSecret);
        assert!(matches_hash(a.expose(), &a.hash()));
        assert!(!matches_hash(b.expose(), &a.hash()));
    }

    #[test]
    fn widest_values_fit_their_width() {
        // The largest value each generator can produce must fit without overflow.
        assert_eq!(base62_fixed(u128::MAX >> (128 - 71), 12).len(), 12);
        assert_eq!(base62_fixed(u128::MAX, BODY_LEN).len(), BODY_LEN);
        assert_eq!(
            base62_fixed(u128::from(u32::MAX), CHECK_LEN).len(),
            CHECK_LEN
        );
        for _ in 0..10_000 {
            assert_eq!(public_id().len(), 12);
        }
    }

    proptest! {
        /// Any single-character change in the body or checksum is caught.
        #[test]
        fn single_typo_is_detected(pos in 4usize..32, c in proptest::sample::select(ALPHABET.to_vec())) {
            let t = Secret::generate(SecretKind::RefreshToken);
            let mut s = t.expose().as_bytes().to_vec();
            prop_assume!(s[pos] != c);
            s[pos] = c;
            let s = String::from_utf8(s).unwrap();
            prop_assert!(Secret::parse(SecretKind::RefreshToken, &s).is_err());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,64}") {
            let _ = Secret::parse(SecretKind::RefreshToken, &s);
        }

        #[test]
        fn base62_is_fixed_width(n in any::<u64>()) {
            prop_assert_eq!(base62_fixed(u128::from(n), 11).len(), 11);
        }
    }
}

//! HTTP Basic credentials (RFC 7617): `base64(user ":" password)`. Shared by the `/api` (user
//! name and password) and client authentication (client id and secret, which RFC 6749 §2.3.1
//! form-encodes first; that decoding is the caller's).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Splits the part after `Basic ` into its two halves; `None` if it is not base64 of UTF-8
/// text with a colon.
pub fn decode(encoded: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_colon_and_refuses_garbage() {
        let e = STANDARD.encode("alice:pa:ss");
        assert_eq!(decode(&e), Some(("alice".into(), "pa:ss".into())));
        assert_eq!(
            decode(&format!("  {e} ")),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(decode(&STANDARD.encode("no-colon")), None);
        assert_eq!(decode("%%%"), None);
        assert_eq!(decode(&STANDARD.encode([0xff, b':', b'x'])), None);
    }
}

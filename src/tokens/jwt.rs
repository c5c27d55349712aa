//! JWT access tokens (RFC 9068) and signed introspection responses (RFC 9701).
//!
//! Signing uses the key pair parsed once at load time (see `keys`); verification goes through
//! `jsonwebtoken` with an allow-list of exactly the key's own algorithm, so `alg: none` and
//! HMAC-with-our-public-key forgeries fail before any signature math.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};

use super::keys::{b64url, Key, KeyError, KeySet};

/// `typ` of access tokens (RFC 9068 §2.1).
pub const AT_TYP: &str = "at+jwt";

/// Claims of a tessera access token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The user's name, or the client id for client_credentials.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    /// The refresh-token row this access token was minted from (absent for client_credentials):
    /// introspection answers inactive once that token is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtid: Option<String>,
}

/// Serializes `claims` and signs them with `key` as a compact JWS with the given `typ`.
pub fn sign<T: Serialize>(key: &Key, typ: &str, claims: &T) -> Result<String, KeyError> {
    let mut header = Header::new(key.alg.to_jsonwebtoken());
    header.typ = Some(typ.to_string());
    header.kid = Some(key.kid.clone());
    let header = serde_json::to_vec(&header).map_err(|_| KeyError::Generate)?;
    let claims = serde_json::to_vec(claims).map_err(|_| KeyError::Generate)?;
    let mut out = String::with_capacity(512);
    out.push_str(&b64url(&header));
    out.push('.');
    out.push_str(&b64url(&claims));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64url(&sig));
    Ok(out)
}

/// Why a JWT is not an acceptable tessera access token. Never shown to callers in detail
/// (introspection answers only `{"active": false}`), but logged at debug level.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum JwtRejection {
    #[error("not a JWT")]
    Malformed,
    #[error("typ is not at+jwt")]
    WrongType,
    #[error("no kid, or no current key with that kid")]
    UnknownKey,
    #[error("signature, algorithm, issuer or audience check failed: {0}")]
    Invalid(String),
    #[error("expired")]
    Expired,
    #[error("not yet valid")]
    NotYetValid,
}

/// What verification needs to know besides the token.
pub struct VerifyContext<'a> {
    pub keys: &'a KeySet,
    pub issuer: &'a str,
    pub audience: &'a str,
    pub now: DateTime<Utc>,
    /// How long a retired key keeps verifying.
    pub key_grace: chrono::Duration,
}

/// Verifies signature, `typ`, `kid`, `alg`, `iss`, `aud`, `exp` and `nbf` (against tessera's
/// clock, not the system's, so tests can move time).
pub fn verify_access_token(
    token: &str,
    ctx: &VerifyContext<'_>,
) -> Result<AccessClaims, JwtRejection> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| JwtRejection::Malformed)?;
    match header.typ.as_deref() {
        Some(t)
            if t.eq_ignore_ascii_case(AT_TYP) || t.eq_ignore_ascii_case("application/at+jwt") => {}
        _ => return Err(JwtRejection::WrongType),
    }
    let kid = header.kid.as_deref().ok_or(JwtRejection::UnknownKey)?;
    let key = ctx
        .keys
        .verifying(kid, ctx.now, ctx.key_grace)
        .ok_or(JwtRejection::UnknownKey)?;
    let mut v = Validation::new(key.alg.to_jsonwebtoken());
    v.algorithms = vec![key.alg.to_jsonwebtoken()];
    v.set_issuer(&[ctx.issuer]);
    v.set_audience(&[ctx.audience]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.validate_exp = false;
    v.validate_nbf = false;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key.decoding, &v)
        .map_err(|e| JwtRejection::Invalid(e.to_string()))?;
    let now = ctx.now.timestamp();
    if let Some(nbf) = data.claims.get("nbf").and_then(serde_json::Value::as_i64) {
        if nbf > now {
            return Err(JwtRejection::NotYetValid);
        }
    }
    let claims: AccessClaims =
        serde_json::from_value(data.claims).map_err(|e| JwtRejection::Invalid(e.to_string()))?;
    if claims.exp <= now {
        return Err(JwtRejection::Expired);
    }
    if claims.iat > now + 60 {
        return Err(JwtRejection::NotYetValid);
    }
    Ok(claims)
}

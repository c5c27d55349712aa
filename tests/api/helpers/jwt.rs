//! Access tokens as a test reads them: the JWT's claims and header, decoded without
//! verification (verification has its own tests).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

/// The JWT's payload, decoded without verification.
pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("claims JSON")
}

/// The `kid` of a JWT's header.
pub fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt)
        .expect("a JWT header")
        .kid
        .expect("a kid")
}

/// The `access_token` of a token response.
pub fn access_of(exchange: &Value) -> String {
    exchange["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

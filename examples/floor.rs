//! The performance floor of tessera's stack: a minimal warp server built from the same crates,
//! with no database and no OAuth logic. `scripts/bench.sh` measures it next to tessera so that
//! tessera's figures can be read as a fraction of what these crates allow on the machine.
//!
//! - `POST /sign`: reads the form body and answers a JSON body with an ES256 JWT of tessera's
//!   shape, signed with an aws-lc-rs key pair parsed once at start-up (as `src/tokens/keys.rs`).
//! - `POST /verify`: reads `token=` from the form body, verifies it with jsonwebtoken (ES256,
//!   `iss`, `aud`, `exp`) and answers the claims as JSON.
//!
//! Usage: `floor ADDR [KEY.pem]` (for example `floor 127.0.0.1:8091 keys/abc.pem`); without a PEM
//! file a fresh P-256 key is generated.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use bytes::Bytes;
use jsonwebtoken::{DecodingKey, Validation};
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::Filter;

const ISSUER: &str = "http://127.0.0.1:8090";

struct Floor {
    key: EcdsaKeyPair,
    header_b64: String,
    decoding: DecodingKey,
    validation: Validation,
    rng: SystemRandom,
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn sign(f: &Floor, _body: Bytes) -> Response {
    let mut jti = [0u8; 16];
    if f.rng.fill(&mut jti).is_err() {
        return json(StatusCode::INTERNAL_SERVER_ERROR, b"{}".to_vec());
    }
    let iat = now();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "alice", "aud": ISSUER, "exp": iat + 600, "iat": iat,
        "jti": B64.encode(jti), "client_id": "tessera-cli", "scope": "user",
    });
    let Ok(claims) = serde_json::to_vec(&claims) else {
        return json(StatusCode::INTERNAL_SERVER_ERROR, b"{}".to_vec());
    };
    let mut jwt = String::with_capacity(512);
    jwt.push_str(&f.header_b64);
    jwt.push('.');
    jwt.push_str(&B64.encode(claims));
    let Ok(sig) = f.key.sign(&f.rng, jwt.as_bytes()) else {
        return json(StatusCode::INTERNAL_SERVER_ERROR, b"{}".to_vec());
    };
    jwt.push('.');
    jwt.push_str(&B64.encode(sig.as_ref()));
    let body = serde_json::json!({
        "access_token": jwt, "token_type": "Bearer", "expires_in": 600, "scope": "user",
    });
    json(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn verify(f: &Floor, body: Bytes) -> Response {
    let token = form_urlencoded_token(&body);
    match jsonwebtoken::decode::<serde_json::Value>(&token, &f.decoding, &f.validation) {
        Ok(data) => {
            let mut claims = data.claims;
            claims["active"] = true.into();
            json(
                StatusCode::OK,
                serde_json::to_vec(&claims).unwrap_or_default(),
            )
        }
        Err(_) => json(StatusCode::OK, br#"{"active":false}"#.to_vec()),
    }
}

fn form_urlencoded_token(body: &[u8]) -> String {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn load_key(path: Option<&str>) -> Result<EcdsaKeyPair, String> {
    let der = match path {
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| format!("{p}: {e}"))?;
            pem::parse(text)
                .map_err(|e| format!("{p}: {e}"))?
                .contents()
                .to_vec()
        }
        None => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| "key generation failed".to_string())?
                .as_ref()
                .to_vec()
        }
    };
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der)
        .map_err(|_| "not a P-256 PKCS#8 key (the floor signs ES256 only)".to_string())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr: std::net::SocketAddr = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("127.0.0.1:8091")
        .parse()
        .unwrap_or_else(|e| panic!("bad address: {e}"));
    let key = load_key(args.get(2).map(String::as_str)).unwrap_or_else(|e| panic!("{e}"));
    let point = key.public_key().as_ref();
    let decoding =
        DecodingKey::from_ec_components(&B64.encode(&point[1..33]), &B64.encode(&point[33..65]))
            .unwrap_or_else(|e| panic!("public key: {e}"));
    let mut validation = Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[ISSUER]);
    let header = serde_json::json!({ "typ": "at+jwt", "alg": "ES256", "kid": "floor" });
    let floor = Arc::new(Floor {
        key,
        header_b64: B64.encode(header.to_string()),
        decoding,
        validation,
        rng: SystemRandom::new(),
    });

    let f1 = floor.clone();
    // POST /sign
    let sign_route = warp::path!("sign")
        .and(warp::post())
        .and(warp::body::bytes())
        .map(move |b: Bytes| sign(&f1, b));
    let f2 = floor.clone();
    // POST /verify
    let verify_route = warp::path!("verify")
        .and(warp::post())
        .and(warp::body::bytes())
        .map(move |b: Bytes| verify(&f2, b));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    eprintln!("floor listening on {addr}");
    warp::serve(sign_route.or(verify_route))
        .incoming(listener)
        .run()
        .await;
}

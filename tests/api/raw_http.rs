#![allow(dead_code)]
//! HTTP/1.1 by hand over a raw TCP stream, for tests about connections themselves (partial
//! heads, stalled bodies, keep-alive), which an HTTP client library would not let us send.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub async fn connect(addr: &str) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

pub async fn send(conn: &mut TcpStream, bytes: &str) {
    conn.write_all(bytes.as_bytes()).await.expect("write");
}

/// A `GET path` with keep-alive (the HTTP/1.1 default).
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: tessera.test\r\n\r\n")
}

/// One response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Reads one response (head and a `Content-Length` body); None if the connection closed first or
/// `within` passed.
pub async fn read_response(conn: &mut TcpStream, within: Duration) -> Option<RawResponse> {
    let deadline = Instant::now() + within;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let mut r = RawResponse {
                status,
                head,
                body: String::new(),
            };
            let len: usize = r.header("content-length").and_then(|v| v.parse().ok())?;
            if buf.len() >= end + 4 + len {
                r.body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                return Some(r);
            }
        }
        match tokio::time::timeout_at(deadline, conn.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Reads (and discards) until the server closes the connection (end of stream or reset);
/// returns how long that took, or None if it is still open after `within`.
pub async fn closed_within(conn: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(start + within, conn.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Some(start.elapsed()),
        }
    }
}

/// Whether the connection is still open: nothing arrives and it does not close for `wait`.
pub async fn still_open(conn: &mut TcpStream, wait: Duration) -> bool {
    let mut chunk = [0u8; 1];
    tokio::time::timeout(wait, conn.read(&mut chunk))
        .await
        .is_err()
}

//! Slow clients cannot hold connections: an unfinished request head is cut off after
//! `header_read_timeout`, an idle keep-alive connection after `idle_timeout`, a stalled body gets
//! 408 after `body_read_timeout`, and SIGTERM ends the process within `shutdown_drain_timeout`
//! whatever clients are still connected.

use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use crate::db_test;
use crate::helpers::{self, Backend};
use crate::process::{self, ServerProcess};
use crate::raw_http::{self, closed_within, connect, read_response, send};

const PARTIAL_HEAD: &str = "POST /oauth/token HTTP/1.1\r\nHost: tessera.test\r\n";

fn addr(base: &str) -> &str {
    base.trim_start_matches("http://")
}

db_test!(a_request_head_that_never_ends_is_cut_off_while_others_are_served, ["TESSERA_HEADER_READ_TIMEOUT" => "1s", "TESSERA_IDLE_TIMEOUT" => "60s"], |app| {
    // One client stops after part of its head; another trickles a header line every 300 ms,
    // which must not extend its deadline.
    let mut silent = connect(addr(&app.base)).await;
    send(&mut silent, PARTIAL_HEAD).await;
    let mut trickling = connect(addr(&app.base)).await;
    send(&mut trickling, PARTIAL_HEAD).await;
    let started = Instant::now();
    let trickler = tokio::spawn(async move {
        while started.elapsed() < Duration::from_secs(10) {
            if trickling.write_all(b"X-Slow: 1\r\n").await.is_err()
                || closed_within(&mut trickling, Duration::from_millis(300)).await.is_some()
            {
                return Some(started.elapsed());
            }
        }
        None
    });

    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200, "another client is served meanwhile");

    let silent_closed = closed_within(&mut silent, Duration::from_secs(8))
        .await
        .map(|_| started.elapsed());
    let trickle_closed = trickler.await.unwrap();
    for (who, closed) in [("silent", silent_closed), ("trickling", trickle_closed)] {
        let t = closed.unwrap_or_else(|| panic!("the {who} partial head kept its connection"));
        assert!(
            t >= Duration::from_millis(800) && t < Duration::from_secs(6),
            "the {who} connection closed after {t:?}, not after the 1 s header timeout"
        );
    }
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200, "the server still serves after cutting them off");
});

db_test!(an_idle_keep_alive_connection_outlives_the_header_timeout_then_closes, ["TESSERA_HEADER_READ_TIMEOUT" => "1s", "TESSERA_IDLE_TIMEOUT" => "6s"], |app| {
    let mut conn = connect(addr(&app.base)).await;
    send(&mut conn, &raw_http::get("/healthz")).await;
    let r = read_response(&mut conn, Duration::from_secs(5)).await.expect("first answer");
    assert_eq!(r.status, 200);

    // Waiting between requests is not a slow head: past the 1 s header timeout the connection
    // still takes a request.
    tokio::time::sleep(Duration::from_secs(2)).await;
    send(&mut conn, &raw_http::get("/healthz")).await;
    let r = read_response(&mut conn, Duration::from_secs(5))
        .await
        .expect("the keep-alive connection was closed before the idle timeout");
    assert_eq!(r.status, 200);
    let answered = Instant::now();

    // Meanwhile, on another keep-alive connection, the first byte of a later request starts the
    // header timeout again: a partial head after 2 s idle is cut off after 1 s, not at the idle
    // deadline 4 s later.
    let mut other = connect(addr(&app.base)).await;
    send(&mut other, &raw_http::get("/healthz")).await;
    let r = read_response(&mut other, Duration::from_secs(5)).await.expect("answer");
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    send(&mut other, PARTIAL_HEAD).await;
    let cut = closed_within(&mut other, Duration::from_secs(8))
        .await
        .expect("a partial head on a keep-alive connection kept it open");
    assert!(
        cut >= Duration::from_millis(800) && cut < Duration::from_secs(3),
        "a partial head on a keep-alive connection was cut off after {cut:?}, not after 1 s"
    );

    assert!(
        closed_within(&mut conn, Duration::from_secs(14)).await.is_some(),
        "an idle connection stayed open past the 6 s idle timeout"
    );
    let closed = answered.elapsed();
    assert!(
        closed >= Duration::from_secs(5) && closed < Duration::from_secs(12),
        "the idle connection closed {closed:?} after its last answer, not after the 6 s idle timeout"
    );
});

db_test!(a_stalled_body_gets_408_and_the_connection_closes, ["TESSERA_BODY_READ_TIMEOUT" => "1s"], |app| {
    let mut conn = connect(addr(&app.base)).await;
    // 10 of the 100 announced bytes, then nothing.
    send(
        &mut conn,
        "POST /oauth/token HTTP/1.1\r\nHost: tessera.test\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\n\
         grant_type",
    )
    .await;
    let started = Instant::now();
    let r = read_response(&mut conn, Duration::from_secs(8))
        .await
        .expect("no answer to a stalled body");
    let waited = started.elapsed();
    assert_eq!(r.status, 408, "{r:?}");
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(6),
        "answered after {waited:?}, not after the 1 s body timeout"
    );
    let body: Value = r.json();
    assert_eq!(body["error"], "request_timeout", "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        closed_within(&mut conn, Duration::from_secs(3)).await.is_some(),
        "the connection stays open after the 408"
    );
});

/// The real binary with a partial head (which the 60 s header timeout would not end in time), an
/// idle keep-alive connection and a request in flight: SIGTERM answers the request, closes the
/// idle connection at once, and exits within the 2 s drain deadline.
async fn sigterm_exits_within_the_drain_deadline(dir: tempfile::TempDir, db: String) {
    let log = dir.path().join("tessera.log");
    let mut env = process::env_for(dir.path(), &db, process::free_port());
    for (k, v) in [
        ("TESSERA_SHUTDOWN_DRAIN_TIMEOUT", "2s"),
        ("TESSERA_HEADER_READ_TIMEOUT", "60s"),
        ("TESSERA_IDLE_TIMEOUT", "60s"),
        ("TESSERA_BODY_READ_TIMEOUT", "60s"),
    ] {
        env.push((k.into(), v.into()));
    }
    let rt = process::alice_with_token(&env, &log);
    let mut server = ServerProcess::start(&env, &log).await;
    let addr = server.addr();

    let mut idle = connect(&addr).await;
    send(&mut idle, &raw_http::get("/healthz")).await;
    let r = read_response(&mut idle, Duration::from_secs(5))
        .await
        .expect("answer");
    assert_eq!(r.status, 200);
    let mut partial = connect(&addr).await;
    send(&mut partial, PARTIAL_HEAD).await;
    let body = format!("grant_type=refresh_token&refresh_token={rt}");
    let (first, rest) = body.split_at(20);
    let mut in_flight = connect(&addr).await;
    send(
        &mut in_flight,
        &format!(
            "POST /oauth/token HTTP/1.1\r\nHost: tessera.test\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
            body.len()
        ),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.send_sigterm();
    let signalled = Instant::now();
    let idle_closed =
        tokio::spawn(async move { closed_within(&mut idle, Duration::from_secs(15)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&mut in_flight, rest).await;
    let r = read_response(&mut in_flight, Duration::from_secs(5))
        .await
        .expect("no answer to the request in flight at SIGTERM");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["access_token"].is_string(), "{r:?}");

    let status = server.wait_exit(Duration::from_secs(15)).await;
    let exited_after = signalled.elapsed();
    let status =
        status.expect("tessera still running 15 s after SIGTERM: a slow client blocks shutdown");
    assert!(status.success(), "exit status {status:?}");
    assert!(
        exited_after < Duration::from_secs(8),
        "exited {exited_after:?} after SIGTERM, not within the 2 s drain deadline"
    );
    let idle_closed = idle_closed
        .await
        .unwrap()
        .expect("the idle connection stayed open");
    assert!(
        idle_closed < Duration::from_millis(1800),
        "the idle connection closed after {idle_closed:?}, not at once"
    );
    assert!(
        closed_within(&mut partial, Duration::from_secs(1))
            .await
            .is_some(),
        "the partial head's connection is still open"
    );
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "still accepting connections after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_drain_deadline_on_sqlite() {
    helpers::with_database_dir(Backend::Sqlite, sigterm_exits_within_the_drain_deadline).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_within_the_drain_deadline_on_postgres() {
    helpers::with_database_dir(Backend::Postgres, sigterm_exits_within_the_drain_deadline).await;
}

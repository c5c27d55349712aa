//! Failed authentication is rate limited, and login timing does not reveal which users exist.

use std::time::{Duration, Instant};

use crate::db_test;
use crate::helpers::{assert_too_many_requests, from_address, TestApp, ALICE};

db_test!(failed_client_auth_is_rate_limited, ["TESSERA_AUTH_FAILURE_LIMIT" => "3"], |app| {
    let secret = app.add_confidential("svc", Some("client_credentials"), None).await;
    // Successful traffic never counts.
    for _ in 0..20 {
        let r = app.client_credentials(&[], Some(("svc", &secret))).await;
        assert_eq!(r.status(), 200);
    }
    for _ in 0..3 {
        let r = app.client_credentials(&[], Some(("svc", "wrong"))).await;
        assert_eq!(r.status(), 401);
    }
    let r = app.client_credentials(&[], Some(("svc", "wrong"))).await;
    assert_too_many_requests(r, 1..=300).await;
    // The secret is checked first: the right one is never refused, even while blocked.
    let r = app.client_credentials(&[], Some(("svc", &secret))).await;
    assert_eq!(r.status(), 200);
});

db_test!(failed_password_checks_are_rate_limited, ["TESSERA_AUTH_FAILURE_LIMIT" => "3"], |app| {
    app.add_user("alice", "alice-pw", false).await;
    assert_eq!(app.get_as("/api/me", ALICE).await.status(), 200);
    for _ in 0..3 {
        let r = app.get_as("/api/me", ("alice", "guess")).await;
        assert_eq!(r.status(), 401);
    }
    let r = app.get_as("/api/me", ("alice", "guess")).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    // An unknown user is limited the same way (no hint that the name exists).
    for _ in 0..4 {
        let _ = app.get_as("/api/me", ("nobody", "guess")).await;
    }
    assert_eq!(app.get_as("/api/me", ("nobody", "guess")).await.status(), 429);
});

db_test!(failures_are_counted_per_source_address_and_per_user_and_expire, ["TESSERA_AUTH_FAILURE_LIMIT" => "3", "TESSERA_AUTH_FAILURE_WINDOW" => "2s"], |app| {
    app.add_user("alice", "alice-pw", false).await;
    app.add_user("bob", "bob-pw", false).await;
    let me = app.url("/api/me");
    let attacker = from_address([127, 0, 0, 2]);
    let other = from_address([127, 0, 0, 3]);
    // Per source address: three failures against three different names block the address...
    for name in ["x1", "x2", "x3"] {
        let r = attacker.get(&me).basic_auth(name, Some("guess")).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = attacker.get(&me).basic_auth("x4", Some("guess")).send().await.unwrap();
    assert_eq!(r.status(), 429, "the address is blocked whatever name it tries");
    // Retry-After within the 2 s window.
    assert_too_many_requests(r, 1..=2).await;
    // ...but not other addresses, nor users it never tried.
    let r = other.get(&me).basic_auth("alice", Some("alice-pw")).send().await.unwrap();
    assert_eq!(r.status(), 200, "another address is not slowed");
    let r = other.get(&me).basic_auth("x5", Some("guess")).send().await.unwrap();
    assert_eq!(r.status(), 401, "another address still gets a plain 401");
    // Per user: failures for bob spread over addresses block bob, from any address.
    for ip in [[127, 0, 0, 4], [127, 0, 0, 5], [127, 0, 0, 6]] {
        let r = from_address(ip).get(&me).basic_auth("bob", Some("guess")).send().await.unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = from_address([127, 0, 0, 7]).get(&me).basic_auth("bob", Some("guess")).send().await.unwrap();
    assert_eq!(r.status(), 429, "bob is blocked after failures from several addresses");
    assert_eq!(app.get_as("/api/me", ALICE).await.status(), 200, "alice is not");
    // Blocks end with their window.
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let r = attacker.get(&me).basic_auth("alice", Some("alice-pw")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the address is unblocked after the window");
    let r = other.get(&me).basic_auth("bob", Some("bob-pw")).send().await.unwrap();
    assert_eq!(r.status(), 200, "bob is unblocked after the window");
});

db_test!(login_timing_does_not_reveal_whether_a_user_exists, ["TESSERA_AUTH_FAILURE_LIMIT" => "1000"], |app| {
    // A wrong password costs one argon2 check (tens of ms); an unknown user must cost the same,
    // not a fast "no such row". Interleaved samples and a wide band keep this robust on a
    // noisy machine: skipping argon2 would make unknown users 10 to 100 times faster.
    app.add_user("alice", "alice-pw", false).await;
    async fn timed(app: &TestApp, name: &str) -> Duration {
        let t = Instant::now();
        let r = app.get_as("/api/me", (name, "guess")).await;
        assert_eq!(r.status(), 401);
        t.elapsed()
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..12 {
        known.push(timed(app, "alice").await);
        unknown.push(timed(app, &format!("nobody{i}")).await);
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[6].as_secs_f64(), unknown[6].as_secs_f64());
    let ratio = u / k;
    assert!(
        (0.5..2.0).contains(&ratio),
        "median wrong-password {:.1} ms vs unknown-user {:.1} ms",
        k * 1e3,
        u * 1e3
    );
});

use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn fail_n(l: &FailureLimiter, keys: &[&str], n: u32, now: Instant) {
    for _ in 0..n {
        l.begin_at(keys, now).expect("admitted").fail();
    }
}

#[test]
fn blocks_after_limit_only_for_that_key() {
    let l = FailureLimiter::new(3, MINUTE);
    let now = Instant::now();
    fail_n(&l, &["user:a", "ip:1"], 2, now);
    l.begin_at(&["user:a"], now)
        .expect("below the limit")
        .refund();
    fail_n(&l, &["user:a", "ip:1"], 1, now);
    assert_eq!(l.begin_at(&["user:a"], now).err(), Some(Blocked(60)));
    assert!(l.begin_at(&["ip:1"], now).is_err());
    assert!(l.begin_at(&["user:b", "ip:2"], now).is_ok());
    // The block ends with its window (failures are settled at the real time, so later than
    // `now`).
    assert!(l.begin_at(&["user:a"], Instant::now() + MINUTE).is_ok());
}

#[test]
fn successes_leave_nothing_behind() {
    let l = FailureLimiter::new(3, MINUTE);
    for _ in 0..10 {
        l.begin(&["user:a", "ip:1"]).expect("admitted").refund();
    }
    assert_eq!(l.len(), 0);
    fail_n(&l, &["user:a"], 1, Instant::now());
    l.begin(&["user:a"]).expect("admitted").refund();
    assert_eq!(l.len(), 1, "a success does not erase earlier failures");
}

#[test]
fn an_abandoned_attempt_counts_as_a_failure() {
    let l = FailureLimiter::new(1, MINUTE);
    drop(l.begin(&["user:a"]).expect("admitted"));
    assert!(l.begin(&["user:a"]).is_err());
}

#[test]
fn concurrent_reservations_never_admit_more_than_the_limit() {
    for _ in 0..20 {
        let l = FailureLimiter::new(10, MINUTE);
        let start = std::sync::Barrier::new(64);
        let admitted = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|s| {
            for _ in 0..64 {
                s.spawn(|| {
                    start.wait();
                    if let Ok(a) = l.begin(&["user:a", "ip:1"]) {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(5));
                        a.fail();
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), 10);
        assert!(l.begin(&["user:a"]).is_err());
    }
}

#[test]
fn attempts_in_flight_are_refused_for_a_second_only() {
    let l = FailureLimiter::new(2, MINUTE);
    let now = Instant::now();
    let a = l.begin_at(&["user:a"], now).expect("admitted");
    let b = l.begin_at(&["user:a"], now).expect("admitted");
    assert_eq!(l.begin_at(&["user:a"], now).err(), Some(Blocked(1)));
    a.refund();
    b.refund();
    assert!(l.begin_at(&["user:a"], now).is_ok());
}

#[test]
fn client_failures_count_until_blocked_and_not_after() {
    let l = FailureLimiter::new(2, MINUTE);
    let now = Instant::now();
    assert_eq!(l.fail_unless_blocked_at(&["c"], now), Ok(()));
    assert_eq!(l.fail_unless_blocked_at(&["c"], now), Ok(()));
    assert_eq!(l.fail_unless_blocked_at(&["c"], now), Err(Blocked(60)));
    assert_eq!(l.fail_unless_blocked_at(&["c"], now + MINUTE), Ok(()));
}

#[test]
fn the_hard_cap_holds_when_every_entry_is_blocked() {
    let l = FailureLimiter::with_max_entries(2, MINUTE, 100);
    let now = Instant::now();
    for i in 0..100 {
        let k = format!("user:{i}");
        fail_n(&l, &[&k], 2, now);
    }
    assert_eq!(l.len(), 100);
    // Full of blocks: a new key is refused until the oldest window ends, nothing is stored,
    // and every block holds.
    assert_eq!(l.begin_at(&["user:new"], now).err(), Some(Blocked(60)));
    assert_eq!(
        l.fail_unless_blocked_at(&["client:new"], now),
        Err(Blocked(60))
    );
    assert_eq!(l.len(), 100);
    assert!(l.begin_at(&["user:7"], now).is_err());
    // A key already tracked is still answered, and expired windows make room.
    let later = Instant::now() + MINUTE;
    l.begin_at(&["user:new"], later)
        .expect("room after the window")
        .fail();
    assert!(l.len() <= 100);
}

#[test]
fn at_the_cap_partial_counts_are_forgotten_before_blocks() {
    let l = FailureLimiter::with_max_entries(2, MINUTE, 10);
    let now = Instant::now();
    fail_n(&l, &["user:blocked"], 2, now);
    for i in 0..9 {
        let k = format!("user:{i}");
        fail_n(&l, &[&k], 1, now);
    }
    let held = l.begin_at(&["user:held"], now);
    assert!(held.is_ok(), "room is made by forgetting partial counts");
    assert!(l.len() <= 10);
    assert!(
        l.begin_at(&["user:blocked"], now).is_err(),
        "blocks survive"
    );
}

#[test]
fn ipv6_sources_count_by_their_64() {
    assert_eq!(
        login_keys("u", "2001:db8:1:2:aaaa::1")[1],
        login_keys("u", "2001:db8:1:2:bbbb::2")[1]
    );
    assert_ne!(
        login_keys("u", "2001:db8:1:2::1")[1],
        login_keys("u", "2001:db8:1:3::1")[1]
    );
    assert_eq!(
        login_keys("u", "::ffff:10.0.0.1")[1],
        login_keys("u", "10.0.0.1")[1]
    );
    assert_eq!(login_keys("u", "10.0.0.1")[1], "ip:10.0.0.1");
}

//! Brute-force protection: counts failed authentications per key (a user name, a source
//! address, a client id from one address) in a fixed window, in memory, per instance.
//!
//! Passwords are slow to check (argon2), so a password check first reserves an [`Attempt`]:
//! under one lock, a key whose failures plus checks still in flight have reached the limit is
//! refused, otherwise the attempt is counted in flight until it is resolved. Concurrent guesses
//! therefore get no more answers than sequential ones. Client secrets are checked in
//! microseconds before the limiter is asked ([`FailureLimiter::fail_unless_blocked`]), so a
//! correct secret is never refused.
//!
//! Only failures count: a successful attempt is refunded and leaves no entry behind. The number
//! of entries has a hard cap; see [`FailureLimiter::new`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many keys are tracked at most. An entry costs about 250 bytes (keys are short because
/// every name is bounded before it gets here), so the limiter stays under about 15 MB.
pub const MAX_ENTRIES: usize = 50_000;

/// Seconds to wait before trying again: the key is blocked, busy, or cannot be tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocked(pub u64);

/// A user name's key. Callers bound the name (`accounts::MAX_NAME_LEN`).
pub fn user_key(name: &str) -> String {
    format!("user:{name}")
}

/// A source address's key for password checks.
pub fn address_key(source: &str) -> String {
    format!("ip:{}", address_block(source))
}

/// A client id's key, from one source address: a client is never limited as a whole, since
/// anyone can name any client id. Callers bound the id (`clients::MAX_ID_LEN`).
pub fn client_key(client_id: &str, source: &str) -> String {
    format!("client:{}:{client_id}", address_block(source))
}

/// A source address's key for client authentication, apart from the password one so that a
/// misconfigured service does not lock out people logging in from the same address.
pub fn client_address_key(source: &str) -> String {
    format!("client-ip:{}", address_block(source))
}

/// IPv6 sources count by their /64: one host is usually given a whole /64, and counting each of
/// its 2^64 addresses apart would let it guess without limit (and fill the table).
fn address_block(source: &str) -> String {
    match source.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => source.to_string(),
    }
}

#[derive(Clone)]
pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    max_entries: usize,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

struct Entry {
    /// Start of the current window; set by the window's first failure.
    start: Instant,
    failures: u32,
    /// Reserved attempts not yet resolved. Never evicted, so resolving always finds its entry.
    in_flight: u32,
}

impl Entry {
    fn expired(&self, now: Instant, window: Duration) -> bool {
        now.duration_since(self.start) >= window
    }

    /// Forgets the failures of a window that has ended.
    fn roll(&mut self, now: Instant, window: Duration) {
        if self.expired(now, window) {
            self.failures = 0;
            self.start = now;
        }
    }
}

/// A reserved password check. Resolve it with [`Attempt::refund`] or [`Attempt::fail`]; dropped
/// unresolved (the request was cancelled while argon2 ran) it counts as a failure, so cancelling
/// requests never buys free guesses.
#[must_use = "an attempt is resolved with refund() or fail()"]
pub struct Attempt {
    limiter: FailureLimiter,
    keys: Vec<String>,
}

impl Attempt {
    /// The credentials were right, or were never checked (busy, database down): no trace left.
    pub fn refund(mut self) {
        self.settle(false);
    }

    /// The credentials were wrong: the failure counts in each key's window.
    pub fn fail(mut self) {
        self.settle(true);
    }

    fn settle(&mut self, failed: bool) {
        let keys = std::mem::take(&mut self.keys);
        self.limiter.settle(&keys, failed, Instant::now());
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        if !self.keys.is_empty() {
            self.settle(true);
        }
    }
}

impl FailureLimiter {
    /// A limiter of `limit` failures per key per `window`, tracking at most [`MAX_ENTRIES`] keys.
    /// At the cap, expired entries are dropped first, then the partial counts of keys that are
    /// neither blocked nor in flight; if every entry is still blocked or in flight, a key that is
    /// not yet tracked is refused (429) until room is made: failing closed, because forgetting a
    /// block would hand its attacker a fresh budget.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_max_entries(limit, window, MAX_ENTRIES)
    }

    fn with_max_entries(limit: u32, window: Duration, max_entries: usize) -> Self {
        Self {
            limit,
            window,
            max_entries,
            entries: Arc::default(),
        }
    }

    /// How many keys are tracked now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reserves one attempt against every key, or says how long to wait: a key's failures plus
    /// attempts in flight have reached the limit, or a key cannot be tracked (see [`Self::new`]).
    pub fn begin(&self, keys: &[&str]) -> Result<Attempt, Blocked> {
        self.begin_at(keys, Instant::now())
    }

    fn begin_at(&self, keys: &[&str], now: Instant) -> Result<Attempt, Blocked> {
        let mut map = self.lock();
        if let Some(wait) = self.wait(&mut map, keys, now, true) {
            return Err(Blocked(wait));
        }
        self.make_room(&mut map, keys, now)?;
        for k in keys {
            map.entry((*k).to_string())
                .or_insert(Entry {
                    start: now,
                    failures: 0,
                    in_flight: 0,
                })
                .in_flight += 1;
        }
        Ok(Attempt {
            limiter: self.clone(),
            keys: keys.iter().map(|k| (*k).to_string()).collect(),
        })
    }

    /// Counts one failure for every key, unless one of them is already blocked: then nothing is
    /// counted and the answer is how long the block lasts. For checks cheap enough to run before
    /// the limiter is asked (client secrets).
    pub fn fail_unless_blocked(&self, keys: &[&str]) -> Result<(), Blocked> {
        self.fail_unless_blocked_at(keys, Instant::now())
    }

    fn fail_unless_blocked_at(&self, keys: &[&str], now: Instant) -> Result<(), Blocked> {
        let mut map = self.lock();
        if let Some(wait) = self.wait(&mut map, keys, now, false) {
            return Err(Blocked(wait));
        }
        self.make_room(&mut map, keys, now)?;
        for k in keys {
            let e = map.entry((*k).to_string()).or_insert(Entry {
                start: now,
                failures: 0,
                in_flight: 0,
            });
            Self::count_failure(e, now, self.window);
        }
        Ok(())
    }

    fn settle(&self, keys: &[String], failed: bool, now: Instant) {
        let mut map = self.lock();
        for k in keys {
            let Some(e) = map.get_mut(k) else { continue };
            e.in_flight = e.in_flight.saturating_sub(1);
            if failed {
                Self::count_failure(e, now, self.window);
            } else if e.in_flight == 0 && (e.failures == 0 || e.expired(now, self.window)) {
                map.remove(k);
            }
        }
    }

    fn count_failure(e: &mut Entry, now: Instant, window: Duration) {
        e.roll(now, window);
        if e.failures == 0 {
            e.start = now;
        }
        e.failures = e.failures.saturating_add(1);
    }

    /// The longest wait any key imposes; `in_flight` says whether reservations count.
    fn wait(
        &self,
        map: &mut HashMap<String, Entry>,
        keys: &[&str],
        now: Instant,
        in_flight: bool,
    ) -> Option<u64> {
        let mut wait = None;
        for k in keys {
            let Some(e) = map.get_mut(*k) else { continue };
            e.roll(now, self.window);
            let w = if e.failures >= self.limit {
                remaining(e.start, now, self.window)
            } else if in_flight && e.failures.saturating_add(e.in_flight) >= self.limit {
                // Blocked only by checks still running, which end within a second or so.
                1
            } else {
                continue;
            };
            wait = wait.max(Some(w));
        }
        wait
    }

    /// Makes room for the keys not yet tracked, or refuses when every entry must be kept.
    fn make_room(
        &self,
        map: &mut HashMap<String, Entry>,
        keys: &[&str],
        now: Instant,
    ) -> Result<(), Blocked> {
        let needed = keys.iter().filter(|k| !map.contains_key(**k)).count();
        if map.len() + needed <= self.max_entries {
            return Ok(());
        }
        let window = self.window;
        map.retain(|_, e| e.in_flight > 0 || (e.failures > 0 && !e.expired(now, window)));
        if map.len() + needed <= self.max_entries {
            return Ok(());
        }
        // A flood of distinct names inside one window: forget the partial counts, keeping every
        // block already reached and every attempt in flight.
        let limit = self.limit;
        map.retain(|_, e| e.in_flight > 0 || e.failures >= limit);
        if map.len() + needed <= self.max_entries {
            return Ok(());
        }
        let soonest = map
            .values()
            .filter(|e| e.in_flight == 0)
            .map(|e| remaining(e.start, now, window))
            .min()
            .unwrap_or(1);
        Err(Blocked(soonest))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whole seconds left in a window, at least 1 (a `Retry-After` of 0 invites a busy loop).
fn remaining(start: Instant, now: Instant, window: Duration) -> u64 {
    window
        .saturating_sub(now.duration_since(start))
        .as_secs()
        .max(1)
}

#[cfg(test)]
mod tests {
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
            address_key("2001:db8:1:2:aaaa::1"),
            address_key("2001:db8:1:2:bbbb::2")
        );
        assert_ne!(
            address_key("2001:db8:1:2::1"),
            address_key("2001:db8:1:3::1")
        );
        assert_eq!(address_key("::ffff:10.0.0.1"), address_key("10.0.0.1"));
        assert_eq!(address_key("10.0.0.1"), "ip:10.0.0.1");
    }
}

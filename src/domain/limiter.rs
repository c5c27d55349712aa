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

/// The keys a password check counts against: the user name (callers bound it,
/// `caller::MAX_NAME_LEN`) and the source address.
pub fn login_keys(name: &str, source: &str) -> [String; 2] {
    [
        format!("user:{name}"),
        format!("ip:{}", address_block(source)),
    ]
}

/// The keys a client authentication counts against: the client id from this source address (a
/// client is never limited as a whole, since anyone can name any client id; callers bound the
/// id, `model::MAX_CLIENT_ID_LEN`), and the source address, apart from the password one so that
/// a misconfigured service does not lock out people logging in from the same address.
pub fn client_keys(client_id: &str, source: &str) -> [String; 2] {
    let block = address_block(source);
    [
        format!("client:{block}:{client_id}"),
        format!("client-ip:{block}"),
    ]
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
mod tests;

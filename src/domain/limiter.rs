//! Brute-force protection: counts failed authentications per key (a client id, a user name, a
//! source address) in a fixed window, in memory. Only failures count, so successful traffic is
//! never slowed. Per instance: behind a load balancer each instance limits on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many keys are tracked before the limiter starts forgetting partial counts.
const MAX_ENTRIES: usize = 50_000;

#[derive(Clone)]
pub struct FailureLimiter {
    limit: u32,
    window: Duration,
    entries: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
}

impl FailureLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            entries: Arc::default(),
        }
    }

    /// `Some(seconds to wait)` if any of the keys has reached the limit in its current window.
    pub fn blocked(&self, keys: &[&str]) -> Option<u64> {
        let now = Instant::now();
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .filter_map(|k| map.get(*k))
            .filter(|(start, n)| *n >= self.limit && now.duration_since(*start) < self.window)
            .map(|(start, _)| (self.window - now.duration_since(*start)).as_secs().max(1))
            .max()
    }

    /// Records one failure for each key.
    pub fn fail(&self, keys: &[&str]) {
        let now = Instant::now();
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > MAX_ENTRIES {
            map.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        if map.len() > MAX_ENTRIES {
            // Still full inside one window (a flood of distinct names): forget the keys that are
            // not blocked, so memory stays bounded and every block already reached holds.
            let limit = self.limit;
            map.retain(|_, (_, n)| *n >= limit);
        }
        for k in keys {
            let e = map.entry((*k).to_string()).or_insert((now, 0));
            if now.duration_since(e.0) >= self.window {
                *e = (now, 0);
            }
            e.1 += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_only_for_that_key() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            l.fail(&["client:a", "ip:1"]);
        }
        assert_eq!(l.blocked(&["client:a"]), None);
        l.fail(&["client:a", "ip:1"]);
        assert!(l.blocked(&["client:a"]).is_some());
        assert!(l.blocked(&["ip:1"]).is_some());
        assert_eq!(l.blocked(&["client:b", "ip:2"]), None);
    }
}

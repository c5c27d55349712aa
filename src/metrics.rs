//! Prometheus metrics, rendered as text at `GET /metrics`: requests and latency per route and
//! status, tokens issued per grant, introspections by result, revocations, reuse detections,
//! and database pool usage (read when rendered).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Latency bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Inner {
    requests: Mutex<BTreeMap<(&'static str, u16), Histogram>>,
    issued: Mutex<BTreeMap<&'static str, u64>>,
    introspect_active: AtomicU64,
    introspect_inactive: AtomicU64,
    revocations: AtomicU64,
    reuse: AtomicU64,
}

#[derive(Clone, Default)]
pub struct Metrics(Arc<Inner>);

impl Metrics {
    pub fn observe(&self, route: &'static str, status: u16, seconds: f64) {
        let mut map = self.0.requests.lock().unwrap_or_else(|p| p.into_inner());
        let h = map.entry((route, status)).or_default();
        h.count += 1;
        h.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
    }
    pub fn issued(&self, grant: &'static str) {
        *self
            .0
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(grant)
            .or_default() += 1;
    }
    pub fn introspected(&self, active: bool) {
        let c = if active {
            &self.0.introspect_active
        } else {
            &self.0.introspect_inactive
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub fn revoked(&self, n: u64) {
        self.0.revocations.fetch_add(n, Ordering::Relaxed);
    }
    pub fn reuse_detected(&self) {
        self.0.reuse.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition; `pool` is (connections open, idle).
    pub fn render(&self, pool: Option<(u32, usize)>) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP tessera_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE tessera_http_requests_total counter\n");
        let requests = self.0.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((route, status), h) in requests.iter() {
            let _ = writeln!(
                out,
                "tessera_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP tessera_http_request_duration_seconds Request latency by route and status.\n",
        );
        out.push_str("# TYPE tessera_http_request_duration_seconds histogram\n");
        for ((route, status), h) in requests.iter() {
            let labels = format!("route=\"{route}\",status=\"{status}\"");
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{{labels},le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "tessera_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        drop(requests);
        out.push_str("# HELP tessera_tokens_issued_total Access tokens issued by grant type.\n");
        out.push_str("# TYPE tessera_tokens_issued_total counter\n");
        for (grant, n) in self
            .0
            .issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tessera_tokens_issued_total{{grant_type=\"{grant}\"}} {n}"
            );
        }
        out.push_str("# HELP tessera_introspections_total Introspections by result.\n");
        out.push_str("# TYPE tessera_introspections_total counter\n");
        let _ = writeln!(
            out,
            "tessera_introspections_total{{active=\"true\"}} {}",
            self.0.introspect_active.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "tessera_introspections_total{{active=\"false\"}} {}",
            self.0.introspect_inactive.load(Ordering::Relaxed)
        );
        out.push_str(
            "# HELP tessera_revocations_total Tokens (families or access-token ids) revoked.\n",
        );
        out.push_str("# TYPE tessera_revocations_total counter\n");
        let _ = writeln!(
            out,
            "tessera_revocations_total {}",
            self.0.revocations.load(Ordering::Relaxed)
        );
        out.push_str("# HELP tessera_refresh_token_reuse_total Rotated refresh tokens replayed after the grace window.\n");
        out.push_str("# TYPE tessera_refresh_token_reuse_total counter\n");
        let _ = writeln!(
            out,
            "tessera_refresh_token_reuse_total {}",
            self.0.reuse.load(Ordering::Relaxed)
        );
        if let Some((size, idle)) = pool {
            out.push_str(
                "# HELP tessera_db_pool_connections Database pool connections by state.\n",
            );
            out.push_str("# TYPE tessera_db_pool_connections gauge\n");
            let _ = writeln!(out, "tessera_db_pool_connections{{state=\"open\"}} {size}");
            let _ = writeln!(out, "tessera_db_pool_connections{{state=\"idle\"}} {idle}");
        }
        out
    }
}

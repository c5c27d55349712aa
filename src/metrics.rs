//! Prometheus metrics, rendered in the text format (0.0.4) at `GET /metrics`: requests and
//! latency per route and status, tokens issued per grant, introspections by result,
//! revocations, reuse detections, and database pool usage (read when rendered).
//!
//! Through the `prometheus` crate rather than `prometheus-client`: the latter writes only the
//! OpenMetrics format (counter families named without `_total`, a closing `# EOF`), which the
//! endpoint's `text/plain; version=0.0.4` promises not to be.

use std::sync::Arc;

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Latency bucket bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

struct Inner {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    issued: IntCounterVec,
    introspections: IntCounterVec,
    revocations: IntCounter,
    reuse: IntCounter,
    /// Not registered: shown only when `render` is given the pool's figures.
    pool: IntGaugeVec,
}

#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Self {
        // The names and labels are constants, so creating and registering cannot fail.
        Self::new().expect("metric definitions are valid")
    }
}

impl Metrics {
    fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "tessera_http_requests_total",
                "HTTP requests by route and status.",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "tessera_http_request_duration_seconds",
                "Request latency by route and status.",
            )
            .buckets(BUCKETS.to_vec()),
            &["route", "status"],
        )?;
        let issued = IntCounterVec::new(
            Opts::new(
                "tessera_tokens_issued_total",
                "Access tokens issued by grant type.",
            ),
            &["grant_type"],
        )?;
        let introspections = IntCounterVec::new(
            Opts::new("tessera_introspections_total", "Introspections by result."),
            &["active"],
        )?;
        // Both results are shown from the start, at zero.
        for active in ["true", "false"] {
            introspections.with_label_values(&[active]);
        }
        let revocations = IntCounter::new(
            "tessera_revocations_total",
            "Tokens (families or access-token ids) revoked.",
        )?;
        let reuse = IntCounter::new(
            "tessera_refresh_token_reuse_total",
            "Rotated refresh tokens replayed after the grace window.",
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "tessera_db_pool_connections",
                "Database pool connections by state.",
            ),
            &["state"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(issued.clone()))?;
        registry.register(Box::new(introspections.clone()))?;
        registry.register(Box::new(revocations.clone()))?;
        registry.register(Box::new(reuse.clone()))?;
        Ok(Self(Arc::new(Inner {
            registry,
            requests,
            latency,
            issued,
            introspections,
            revocations,
            reuse,
            pool,
        })))
    }

    pub fn observe(&self, route: &'static str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [route, status.as_str()];
        self.0.requests.with_label_values(&labels).inc();
        self.0.latency.with_label_values(&labels).observe(seconds);
    }
    pub fn issued(&self, grant: &'static str) {
        self.0.issued.with_label_values(&[grant]).inc();
    }
    pub fn introspected(&self, active: bool) {
        let active = if active { "true" } else { "false" };
        self.0.introspections.with_label_values(&[active]).inc();
    }
    pub fn revoked(&self, n: u64) {
        self.0.revocations.inc_by(n);
    }
    pub fn reuse_detected(&self) {
        self.0.reuse.inc();
    }

    /// The Prometheus text exposition; `pool` is (connections open, idle).
    pub fn render(&self, pool: Option<(u32, usize)>) -> String {
        let mut families = self.0.registry.gather();
        if let Some((size, idle)) = pool {
            let gauge = &self.0.pool;
            gauge.with_label_values(&["open"]).set(i64::from(size));
            gauge
                .with_label_values(&["idle"])
                .set(i64::try_from(idle).unwrap_or(i64::MAX));
            families.extend(gauge.collect());
        }
        let mut out = Vec::with_capacity(4096);
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::warn!(error = %e, "rendering metrics failed");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<&str> {
        text.lines().collect()
    }

    #[test]
    fn renders_names_labels_types_and_help() {
        let m = Metrics::default();
        m.observe("token", 200, 0.00390625);
        m.observe("token", 200, 0.25);
        m.observe("token", 400, 0.0001);
        m.issued("refresh_token");
        m.introspected(true);
        m.revoked(3);
        m.reuse_detected();
        let text = m.render(Some((4, 3)));
        let l = lines(&text);
        for want in [
            "# HELP tessera_http_requests_total HTTP requests by route and status.",
            "# TYPE tessera_http_requests_total counter",
            "tessera_http_requests_total{route=\"token\",status=\"200\"} 2",
            "tessera_http_requests_total{route=\"token\",status=\"400\"} 1",
            "# HELP tessera_http_request_duration_seconds Request latency by route and status.",
            "# TYPE tessera_http_request_duration_seconds histogram",
            "tessera_http_request_duration_seconds_bucket{route=\"token\",status=\"200\",le=\"0.0025\"} 0",
            "tessera_http_request_duration_seconds_bucket{route=\"token\",status=\"200\",le=\"0.005\"} 1",
            "tessera_http_request_duration_seconds_bucket{route=\"token\",status=\"200\",le=\"0.25\"} 2",
            "tessera_http_request_duration_seconds_bucket{route=\"token\",status=\"200\",le=\"1\"} 2",
            "tessera_http_request_duration_seconds_bucket{route=\"token\",status=\"200\",le=\"+Inf\"} 2",
            "tessera_http_request_duration_seconds_sum{route=\"token\",status=\"200\"} 0.25390625",
            "tessera_http_request_duration_seconds_count{route=\"token\",status=\"200\"} 2",
            "tessera_http_request_duration_seconds_bucket{route=\"token\",status=\"400\",le=\"0.0005\"} 1",
            "# HELP tessera_tokens_issued_total Access tokens issued by grant type.",
            "# TYPE tessera_tokens_issued_total counter",
            "tessera_tokens_issued_total{grant_type=\"refresh_token\"} 1",
            "# HELP tessera_introspections_total Introspections by result.",
            "# TYPE tessera_introspections_total counter",
            "tessera_introspections_total{active=\"true\"} 1",
            "tessera_introspections_total{active=\"false\"} 0",
            "# HELP tessera_revocations_total Tokens (families or access-token ids) revoked.",
            "# TYPE tessera_revocations_total counter",
            "tessera_revocations_total 3",
            "# HELP tessera_refresh_token_reuse_total Rotated refresh tokens replayed after the grace window.",
            "# TYPE tessera_refresh_token_reuse_total counter",
            "tessera_refresh_token_reuse_total 1",
            "# HELP tessera_db_pool_connections Database pool connections by state.",
            "# TYPE tessera_db_pool_connections gauge",
            "tessera_db_pool_connections{state=\"open\"} 4",
            "tessera_db_pool_connections{state=\"idle\"} 3",
        ] {
            assert!(l.contains(&want), "missing {want:?} in:\n{text}");
        }
        // 12 bounds and +Inf per series.
        let buckets = |status: &str| {
            l.iter()
                .filter(|s| {
                    s.starts_with("tessera_http_request_duration_seconds_bucket")
                        && s.contains(&format!("status=\"{status}\""))
                })
                .count()
        };
        assert_eq!((buckets("200"), buckets("400")), (13, 13));
    }

    #[test]
    fn counters_start_at_zero_and_the_pool_is_shown_only_when_known() {
        let text = Metrics::default().render(None);
        let l = lines(&text);
        for want in [
            "tessera_introspections_total{active=\"true\"} 0",
            "tessera_introspections_total{active=\"false\"} 0",
            "tessera_revocations_total 0",
            "tessera_refresh_token_reuse_total 0",
        ] {
            assert!(l.contains(&want), "missing {want:?} in:\n{text}");
        }
        assert!(!text.contains("tessera_db_pool_connections"), "{text}");
    }
}

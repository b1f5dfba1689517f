//! Counters for `/metrics`, in Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the sync latency histogram.
const BUCKETS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

/// The relay's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    sync_requests: AtomicU64,
    sync_failures: AtomicU64,
    docs_accepted: AtomicU64,
    docs_refused: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    enrollments: AtomicU64,
    office_actions: AtomicU64,
    /// Kept by the listener.
    pub connections: std::sync::Arc<ConnectionCounters>,
}

/// What the listener counts: connections open now, and those it closed for
/// being over their address's limit or too slow with their headers.
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    /// Open now.
    pub open: AtomicU64,
    /// Closed at once: their address had too many open.
    pub over_address_limit: AtomicU64,
    /// Closed because a request's headers (or the TLS handshake) did not
    /// arrive in time.
    pub too_slow: AtomicU64,
}

impl Metrics {
    /// Records one sync request.
    pub fn sync(&self, took: Duration, accepted: u64, refused: u64, ok: bool) {
        self.sync_requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.sync_failures.fetch_add(1, Ordering::Relaxed);
        }
        self.docs_accepted.fetch_add(accepted, Ordering::Relaxed);
        self.docs_refused.fetch_add(refused, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Records an enrollment.
    pub fn enrolled(&self) {
        self.enrollments.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a head-office action.
    pub fn office_action(&self) {
        self.office_actions.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters in Prometheus text format.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut s = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            "fieldsync_sync_requests_total",
            "Sync requests handled.",
            g(&self.sync_requests),
        );
        counter(
            "fieldsync_sync_failures_total",
            "Sync requests answered with an error.",
            g(&self.sync_failures),
        );
        counter(
            "fieldsync_documents_accepted_total",
            "Pushed documents accepted.",
            g(&self.docs_accepted),
        );
        counter(
            "fieldsync_documents_refused_total",
            "Pushed documents refused.",
            g(&self.docs_refused),
        );
        counter(
            "fieldsync_enrollments_total",
            "Devices enrolled.",
            g(&self.enrollments),
        );
        counter(
            "fieldsync_office_actions_total",
            "Head-office actions applied.",
            g(&self.office_actions),
        );
        counter(
            "fieldsync_connections_over_address_limit_total",
            "Connections closed at once because their address had too many open.",
            g(&self.connections.over_address_limit),
        );
        counter(
            "fieldsync_connections_too_slow_total",
            "Connections closed because a request's headers or TLS handshake came too slowly.",
            g(&self.connections.too_slow),
        );
        let _ = writeln!(
            s,
            "# HELP fieldsync_open_connections Connections open now.\n# TYPE fieldsync_open_connections gauge\nfieldsync_open_connections {}",
            g(&self.connections.open)
        );
        let _ = writeln!(
            s,
            "# HELP fieldsync_sync_seconds Sync request latency.\n# TYPE fieldsync_sync_seconds histogram"
        );
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "fieldsync_sync_seconds_bucket{{le=\"{b}\"}} {}",
                g(&self.latency_buckets[i])
            );
        }
        let count = g(&self.latency_count);
        let _ = writeln!(s, "fieldsync_sync_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            s,
            "fieldsync_sync_seconds_sum {}",
            g(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(s, "fieldsync_sync_seconds_count {count}");
        s
    }
}

//! Relay counters, rendered as Prometheus text by [`RelayMetrics::render_prometheus`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic counters and gauges of one relay; all relaxed atomics (statistics only).
#[derive(Debug, Default)]
pub struct RelayMetrics {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    pub events_received: AtomicU64,
    pub events_stored: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub events_rejected: AtomicU64,
    pub events_ephemeral: AtomicU64,
    pub reqs: AtomicU64,
    pub subscriptions_open: AtomicU64,
    pub events_sent: AtomicU64,
    pub ilp_prepares: AtomicU64,
    pub ilp_fulfilled: AtomicU64,
    pub ilp_rejected: AtomicU64,
    pub ilp_amount_received: AtomicU64,
    pub store_errors: AtomicU64,
}

impl RelayMetrics {
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn dec(c: &AtomicU64) {
        c.fetch_sub(1, Ordering::Relaxed);
    }

    /// Prometheus text exposition (format 0.0.4) of every counter, prefixed `tollcast_nostr_`.
    pub fn render_prometheus(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 15] = [
            (
                "connections_total",
                "counter",
                "WebSocket connections accepted",
                &self.connections_total,
            ),
            (
                "connections_open",
                "gauge",
                "WebSocket connections open now",
                &self.connections_open,
            ),
            (
                "events_received_total",
                "counter",
                "EVENT messages and ILP writes received",
                &self.events_received,
            ),
            (
                "events_stored_total",
                "counter",
                "events durably stored",
                &self.events_stored,
            ),
            (
                "events_duplicate_total",
                "counter",
                "events already stored",
                &self.events_duplicate,
            ),
            (
                "events_rejected_total",
                "counter",
                "events refused (OK false / ILP reject)",
                &self.events_rejected,
            ),
            (
                "events_ephemeral_total",
                "counter",
                "ephemeral events fanned out without storing",
                &self.events_ephemeral,
            ),
            ("reqs_total", "counter", "REQ messages handled", &self.reqs),
            (
                "subscriptions_open",
                "gauge",
                "live subscriptions",
                &self.subscriptions_open,
            ),
            (
                "events_sent_total",
                "counter",
                "EVENT messages sent to subscribers",
                &self.events_sent,
            ),
            (
                "ilp_prepares_total",
                "counter",
                "pay-to-write ILP PREPAREs handled",
                &self.ilp_prepares,
            ),
            (
                "ilp_fulfilled_total",
                "counter",
                "pay-to-write PREPAREs fulfilled",
                &self.ilp_fulfilled,
            ),
            (
                "ilp_rejected_total",
                "counter",
                "pay-to-write PREPAREs rejected",
                &self.ilp_rejected,
            ),
            (
                "ilp_amount_received_total",
                "counter",
                "sum of fulfilled PREPARE amounts (base units)",
                &self.ilp_amount_received,
            ),
            (
                "store_errors_total",
                "counter",
                "store failures",
                &self.store_errors,
            ),
        ];
        let mut out = String::new();
        for (name, ty, help, v) in rows {
            let _ = writeln!(out, "# HELP tollcast_nostr_{name} {help}");
            let _ = writeln!(out, "# TYPE tollcast_nostr_{name} {ty}");
            let _ = writeln!(out, "tollcast_nostr_{name} {}", v.load(Ordering::Relaxed));
        }
        out
    }
}

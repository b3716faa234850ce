//! Services the creator hires by the hour (a moderator, a recorder): paid from the creator's
//! wallet over STREAM to the service's SPSP endpoint, a little ahead of time, for as long as
//! the stream runs.
//!
//! What is owed is computed from the elapsed time (`price_per_hour × elapsed`, plus one
//! interval ahead), never from a running sum of rounded instalments, so rounding never
//! accumulates and a failed payment is simply part of the next one. Payments stop when the
//! task is dropped (the stream ended); the service stops working once its grace runs out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use tollcast_net::connector::IlpService;
use tollcast_net::stream::{SenderConfig, StreamSender, spsp_http};

/// `[[hire]]`: one service paid per stream-hour.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HireSection {
    /// What it does, for status and logs (`moderator`, `recorder`, ...).
    pub role: String,
    /// Its SPSP endpoint (`http://host:port/.well-known/pay` or `$host/path`).
    pub spsp: String,
    /// Base units of the wallet's asset per stream-hour.
    pub price_per_hour: u64,
    /// Seconds between payments (default 10).
    #[serde(default = "default_every")]
    pub every_secs: u64,
    /// The wallet node's account the service is paid from (default `streamer`, as for
    /// `[transcode]`).
    #[serde(default = "default_from")]
    pub pay_from: String,
}

fn default_every() -> u64 {
    10
}

fn default_from() -> String {
    "streamer".into()
}

/// A hire's standing, for `/api/status`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HireStatus {
    pub role: String,
    pub price_per_hour: u64,
    pub sent: u64,
    pub delivered: u64,
    pub failures: u64,
}

impl HireStatus {
    pub fn of(h: &HireSection, t: &HireTotals) -> Self {
        Self {
            role: h.role.clone(),
            price_per_hour: h.price_per_hour,
            sent: t.sent.load(Ordering::Relaxed),
            delivered: t.delivered.load(Ordering::Relaxed),
            failures: t.failures.load(Ordering::Relaxed),
        }
    }
}

/// What a hire has paid so far (shared with the status page).
#[derive(Debug, Default)]
pub struct HireTotals {
    /// Source units fulfilled.
    pub sent: AtomicU64,
    /// Units the service reported receiving.
    pub delivered: AtomicU64,
    /// Payments that failed (retried as part of the next one).
    pub failures: AtomicU64,
}

/// Owed after `elapsed` at `price_per_hour`, paying `ahead` in advance.
pub fn owed(price_per_hour: u64, elapsed: Duration, ahead: Duration) -> u64 {
    let ms = (elapsed + ahead).as_millis();
    (price_per_hour as u128 * ms / 3_600_000).min(u64::MAX as u128) as u64
}

/// Pay `hire` from `wallet` until dropped. Connection failures are retried every interval.
pub async fn pay(wallet: Arc<dyn IlpService>, hire: HireSection, totals: Arc<HireTotals>) {
    let every = Duration::from_secs(hire.every_secs.max(1));
    let started = Instant::now();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sender: Option<StreamSender> = None;
    // Totals of earlier (failed) connections: a new connection's totals start at zero.
    let (mut done_sent, mut done_delivered) = (0u64, 0u64);
    loop {
        tick.tick().await;
        if sender.is_none() {
            sender = match connect(wallet.clone(), &hire.spsp).await {
                Ok(s) => Some(s),
                Err(e) => {
                    totals.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(role = %hire.role, "cannot reach {}: {e}", hire.spsp);
                    continue;
                }
            };
        }
        let Some(s) = sender.as_mut() else { continue };
        let due = owed(hire.price_per_hour, started.elapsed(), every);
        let paid = done_sent + s.totals().sent;
        if due <= paid {
            continue;
        }
        let result = s.send(due - paid).await;
        // Whatever was fulfilled counts, even when the send as a whole failed.
        let t = s.totals();
        totals.sent.store(done_sent + t.sent, Ordering::Relaxed);
        totals
            .delivered
            .store(done_delivered + t.delivered, Ordering::Relaxed);
        if let Err(e) = result {
            totals.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(role = %hire.role, "payment failed (retried next time): {e}");
            done_sent += t.sent;
            done_delivered += t.delivered;
            sender = None;
        }
    }
}

async fn connect(wallet: Arc<dyn IlpService>, spsp: &str) -> Result<StreamSender, String> {
    let d = spsp_http::query(spsp, Duration::from_secs(5))
        .await
        .map_err(|e| format!("SPSP: {e}"))?;
    let cfg = SenderConfig::new(d.destination_account, d.shared_secret);
    StreamSender::connect(wallet, cfg)
        .await
        .map_err(|e| format!("STREAM: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owed_follows_elapsed_time_without_rounding_drift() {
        let h = Duration::from_secs(3600);
        assert_eq!(owed(3600, Duration::ZERO, Duration::from_secs(10)), 10);
        assert_eq!(owed(3600, h, Duration::ZERO), 3600);
        // 1 unit per hour, paid every 10 s: nothing until the hour is reached, then exactly 1.
        let mut paid = 0;
        for i in 1..=360 {
            let due = owed(1, Duration::from_secs(i * 10), Duration::ZERO);
            paid = paid.max(due);
        }
        assert_eq!(paid, 1);
        assert_eq!(owed(u64::MAX, h * 2, Duration::ZERO), u64::MAX);
    }

    #[test]
    fn section_parses_with_default_interval() {
        let h: HireSection = toml::from_str(
            "role = \"moderator\"\nspsp = \"http://127.0.0.1:9/.well-known/pay\"\nprice_per_hour = 10000\n",
        )
        .unwrap();
        assert_eq!(h.every_secs, 10);
        assert!(
            toml::from_str::<HireSection>(
                "role = \"x\"\nspsp = \"y\"\nprice_per_hour = 1\nbogus = 1\n"
            )
            .is_err()
        );
    }
}

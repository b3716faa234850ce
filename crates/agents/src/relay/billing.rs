//! Credit-mode billing: each viewer streams money over ILP STREAM; money buys time at
//! `price_per_second`, and the relay serves a viewer while its paid time lasts, plus a grace
//! window that absorbs payment jitter. Past it the relay answers HTTP 402 with a JSON reason the
//! player page can show; paying again resumes service (time used during the grace window is
//! charged if the viewer comes back within it, so grace is not free viewing).
//!
//! Viewers are identified by the tag of their STREAM credentials (the SPSP path
//! `/.well-known/pay/{viewer}` hands out credentials tagged with `{viewer}`), and present the
//! same id on HTTP (`Authorization: Bearer <viewer>` or `?viewer=<viewer>`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tollcast_net::stream::{ReceiverEvent, StreamReceiver};

use super::RelayError;
use super::billing_store::{BillingStore, Saved};

/// Prices and windows of credit mode.
#[derive(Debug, Clone)]
pub struct BillingConfig {
    /// Base units (of `asset_code`/`asset_scale`) one second of service costs; at least 1.
    pub price_per_second: u64,
    /// Service continues this long after the paid time ran out.
    pub grace: Duration,
    pub asset_code: String,
    pub asset_scale: u8,
    /// Where to pay (SPSP URL or payment pointer), shown in 402 answers; `{viewer}` in it is
    /// replaced by the viewer's id.
    pub pay_to: Option<String>,
}

#[derive(Debug, Default)]
struct Account {
    /// Money received in total (base units).
    received: u128,
    /// Paid service lasts until then (None: never paid).
    paid_until: Option<Instant>,
    /// Per STREAM connection: the connection total already credited (so a lagging event
    /// subscriber credits missed packets later from the running total, never twice).
    connections: HashMap<Arc<str>, u64>,
}

/// Why a viewer is not served.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The request names no viewer.
    NoViewer,
    /// The viewer never paid.
    NoPayment,
    /// Paid time and grace window are used up.
    CreditExhausted,
}

/// The body of a 402 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRequired {
    pub error: &'static str,
    pub reason: Reason,
    /// For people: what happened and what to do.
    pub message: String,
    pub viewer: Option<String>,
    pub price_per_second: u64,
    pub asset_code: String,
    pub asset_scale: u8,
    pub pay_to: Option<String>,
    /// Money received from this viewer so far (decimal string: may exceed 2^53).
    pub received: String,
    /// How long ago the paid time ran out, ms.
    pub expired_ms_ago: Option<u64>,
}

/// A viewer's standing, for status pages and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub received: u128,
    /// Paid time left (zero once it ran out).
    pub remaining: Duration,
    /// When paid time runs out (None: never paid).
    pub paid_until: Option<Instant>,
}

/// Per-viewer credit balances. Share it (`Arc`).
pub struct Billing {
    cfg: BillingConfig,
    accounts: Mutex<HashMap<String, Account>>,
    store: Option<BillingStore>,
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Billing {
    pub fn new(mut cfg: BillingConfig) -> Self {
        cfg.price_per_second = cfg.price_per_second.max(1);
        Self {
            cfg,
            accounts: Mutex::new(HashMap::new()),
            store: None,
        }
    }

    /// Balances kept in the redb file at `path` (created if missing): viewers keep the time
    /// they paid for across restarts. STREAM connection totals start afresh (the receiver's
    /// do too).
    pub fn open(cfg: BillingConfig, path: &std::path::Path) -> Result<Self, RelayError> {
        let (store, saved) = BillingStore::open(path)?;
        let mut b = Self::new(cfg);
        let (now, now_ms) = (Instant::now(), unix_ms());
        let accounts = b.accounts.get_mut().unwrap_or_else(|e| e.into_inner());
        for (viewer, s) in saved {
            let delta = Duration::from_millis(s.paid_until_ms.abs_diff(now_ms));
            let paid_until = if s.paid_until_ms >= now_ms {
                now + delta
            } else {
                now.checked_sub(delta).unwrap_or(now)
            };
            accounts.insert(
                viewer,
                Account {
                    received: s.received,
                    paid_until: Some(paid_until),
                    connections: HashMap::new(),
                },
            );
        }
        b.store = Some(store);
        Ok(b)
    }

    /// Wait until every balance change so far is on disk (no-op without a store).
    pub fn flush(&self) {
        if let Some(s) = &self.store {
            s.flush();
        }
    }

    pub fn config(&self) -> &BillingConfig {
        &self.cfg
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Account>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Paid time `amount` buys.
    pub fn time_for(&self, amount: u64) -> Duration {
        let nanos = amount as u128 * 1_000_000_000 / self.cfg.price_per_second as u128;
        Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
    }

    /// Credit `amount` to `viewer` now.
    pub fn credit(&self, viewer: &str, amount: u64) {
        self.credit_at(viewer, amount, Instant::now());
    }

    /// Credit `amount` to `viewer` at `now`: it extends the paid time from where it ends if the
    /// viewer is still within the grace window, else from `now`.
    pub fn credit_at(&self, viewer: &str, amount: u64, now: Instant) {
        if amount == 0 {
            return;
        }
        let add = self.time_for(amount);
        let mut map = self.lock();
        let acc = map.entry(viewer.to_string()).or_default();
        acc.received += amount as u128;
        let base = match acc.paid_until {
            Some(t) if now <= t + self.cfg.grace => t,
            _ => now,
        };
        let until = base + add;
        acc.paid_until = Some(until);
        if let Some(store) = &self.store {
            let ahead = until.saturating_duration_since(Instant::now()).as_millis() as i64;
            let behind = Instant::now().saturating_duration_since(until).as_millis() as i64;
            store.save(
                viewer,
                Saved {
                    received: acc.received,
                    paid_until_ms: unix_ms() + ahead - behind,
                },
            );
        }
    }

    /// Credit what a STREAM connection of `viewer` received, given the connection's running
    /// total: only the part not credited yet counts.
    pub fn credit_connection_total(&self, viewer: &str, connection: Arc<str>, total: u64) {
        let delta = {
            let mut map = self.lock();
            let acc = map.entry(viewer.to_string()).or_default();
            let seen = acc.connections.entry(connection).or_insert(0);
            let d = total.saturating_sub(*seen);
            *seen = (*seen).max(total);
            d
        };
        self.credit(viewer, delta);
    }

    /// May `viewer` be served now?
    pub fn check(&self, viewer: Option<&str>) -> Result<(), Box<PaymentRequired>> {
        self.check_at(viewer, Instant::now())
    }

    pub fn check_at(&self, viewer: Option<&str>, now: Instant) -> Result<(), Box<PaymentRequired>> {
        // The common case (every chunk of every paying viewer) first, without building the
        // refusal's strings.
        if let Some(v) = viewer
            && self
                .lock()
                .get(v)
                .and_then(|a| a.paid_until)
                .is_some_and(|t| now <= t + self.cfg.grace)
        {
            return Ok(());
        }
        let pay_to = self
            .cfg
            .pay_to
            .as_ref()
            .map(|p| p.replace("{viewer}", viewer.unwrap_or("{viewer}")));
        let refuse = |reason: Reason, message: String, received: u128, ago: Option<u64>| {
            Box::new(PaymentRequired {
                error: "payment_required",
                reason,
                message,
                viewer: viewer.map(str::to_string),
                price_per_second: self.cfg.price_per_second,
                asset_code: self.cfg.asset_code.clone(),
                asset_scale: self.cfg.asset_scale,
                pay_to: pay_to.clone(),
                received: received.to_string(),
                expired_ms_ago: ago,
            })
        };
        let pay_hint = match &pay_to {
            Some(p) => format!(" at {p}"),
            None => String::new(),
        };
        let Some(viewer) = viewer else {
            return Err(refuse(
                Reason::NoViewer,
                "this relay is paid: send your viewer id (Authorization: Bearer <id>) and stream \
                 money to it over ILP STREAM"
                    .into(),
                0,
                None,
            ));
        };
        let map = self.lock();
        let acc = map.get(viewer);
        match acc.and_then(|a| a.paid_until) {
            None => Err(refuse(
                Reason::NoPayment,
                format!(
                    "no payment received from `{viewer}` yet: open a STREAM connection{pay_hint} \
                     and pay {} {} (scale {}) per second",
                    self.cfg.price_per_second, self.cfg.asset_code, self.cfg.asset_scale
                ),
                acc.map(|a| a.received).unwrap_or(0),
                None,
            )),
            Some(t) if now <= t + self.cfg.grace => Ok(()),
            Some(t) => {
                let ago = now.saturating_duration_since(t).as_millis() as u64;
                Err(refuse(
                    Reason::CreditExhausted,
                    format!(
                        "paid time ran out {:.1} s ago: keep streaming money{pay_hint} to resume",
                        ago as f64 / 1000.0
                    ),
                    acc.map(|a| a.received).unwrap_or(0),
                    Some(ago),
                ))
            }
        }
    }

    /// `viewer`'s standing at `now`.
    pub fn standing_at(&self, viewer: &str, now: Instant) -> Option<Standing> {
        let map = self.lock();
        let a = map.get(viewer)?;
        Some(Standing {
            received: a.received,
            remaining: a
                .paid_until
                .map(|t| t.saturating_duration_since(now))
                .unwrap_or_default(),
            paid_until: a.paid_until,
        })
    }

    /// Viewers served now (paid time or grace left).
    pub fn active_viewers(&self) -> u64 {
        let now = Instant::now();
        self.lock()
            .values()
            .filter(|a| a.paid_until.is_some_and(|t| now <= t + self.cfg.grace))
            .count() as u64
    }

    /// Credit viewers from `receiver`'s money events (connections tagged with a viewer id);
    /// runs until the receiver is dropped.
    pub fn follow(self: &Arc<Self>, receiver: &StreamReceiver) -> tokio::task::JoinHandle<()> {
        let mut rx = receiver.subscribe();
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ReceiverEvent::Money {
                        connection,
                        tag: Some(viewer),
                        connection_total,
                        ..
                    }) => me.credit_connection_total(&viewer, connection, connection_total),
                    Ok(_) => {}
                    // Missed events are recovered by the next running total of that connection.
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!("billing missed {n} STREAM events; totals catch up")
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn billing() -> Billing {
        Billing::new(BillingConfig {
            price_per_second: 1_000,
            grace: Duration::from_secs(2),
            asset_code: "USD".into(),
            asset_scale: 6,
            pay_to: Some("http://127.0.0.1/.well-known/pay/{viewer}".into()),
        })
    }

    #[test]
    fn paid_time_grace_and_resume() {
        let b = billing();
        let t0 = Instant::now();
        let r = b.check_at(Some("v"), t0).unwrap_err();
        assert_eq!(r.reason, Reason::NoPayment);
        assert_eq!(
            r.pay_to.as_deref(),
            Some("http://127.0.0.1/.well-known/pay/v"),
            "the viewer's own SPSP URL"
        );
        assert_eq!(b.check_at(None, t0).unwrap_err().reason, Reason::NoViewer);
        b.credit_at("v", 5_000, t0); // 5 s
        assert!(b.check_at(Some("v"), t0 + Duration::from_secs(5)).is_ok());
        assert!(
            b.check_at(Some("v"), t0 + Duration::from_secs(7)).is_ok(),
            "grace"
        );
        let r = b
            .check_at(Some("v"), t0 + Duration::from_millis(7_001))
            .unwrap_err();
        assert_eq!(r.reason, Reason::CreditExhausted);
        assert_eq!(r.expired_ms_ago, Some(2_001));
        assert_eq!(r.received, "5000");
        let json = serde_json::to_value(&*r).unwrap();
        assert_eq!(json["reason"], "credit_exhausted");
        // Long after: paid time restarts from now.
        let t1 = t0 + Duration::from_secs(60);
        b.credit_at("v", 1_000, t1);
        assert!(b.check_at(Some("v"), t1 + Duration::from_secs(3)).is_ok());
        assert!(
            b.check_at(Some("v"), t1 + Duration::from_millis(3_001))
                .is_err()
        );
    }

    #[test]
    fn paying_within_grace_pays_for_the_grace_used() {
        let b = billing();
        let t0 = Instant::now();
        b.credit_at("v", 1_000, t0); // until t0+1s
        b.credit_at("v", 1_000, t0 + Duration::from_millis(2_500)); // in grace: until t0+2s
        let s = b.standing_at("v", t0).unwrap();
        assert_eq!(s.paid_until, Some(t0 + Duration::from_secs(2)));
        assert_eq!(s.received, 2_000);
    }

    #[test]
    fn balances_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("billing.redb");
        let cfg = billing().config().clone();
        {
            let b = Billing::open(cfg.clone(), &path).unwrap();
            b.credit("v", 60_000); // one minute
            b.credit("w", 1);
            b.credit("w", 2);
            b.flush();
        }
        let b = Billing::open(cfg, &path).unwrap();
        let now = Instant::now();
        let v = b.standing_at("v", now).unwrap();
        assert_eq!(v.received, 60_000);
        assert!(
            v.remaining > Duration::from_secs(58) && v.remaining <= Duration::from_secs(60),
            "{:?}",
            v.remaining
        );
        assert!(b.check_at(Some("v"), now).is_ok());
        assert_eq!(b.standing_at("w", now).unwrap().received, 3);
    }

    #[test]
    fn connection_totals_credit_each_unit_once() {
        let b = billing();
        let c: Arc<str> = Arc::from("conn");
        b.credit_connection_total("v", c.clone(), 300);
        b.credit_connection_total("v", c.clone(), 300); // duplicate
        b.credit_connection_total("v", c.clone(), 1_000); // a missed event caught up
        b.credit_connection_total("v", c.clone(), 900); // stale
        b.credit_connection_total("v", Arc::from("other"), 50);
        assert_eq!(b.standing_at("v", Instant::now()).unwrap().received, 1_050);
    }
}

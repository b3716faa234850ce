//! Paid VOD, per GB like live: a viewer's STREAM payments buy bytes at `price_per_gb` base units
//! per 10^9 bytes; each chunk served is charged against what was paid, and a chunk the credit
//! does not cover is answered `402 Payment Required` with a JSON reason (playlists are free, so a
//! player learns the price before paying). Viewers are identified as in live credit mode: the tag
//! of their STREAM credentials (`/.well-known/pay/{viewer}`) and `Authorization: Bearer
//! <viewer>` (or `?viewer=`) on HTTP. With [`GbBilling::open`] accounts survive restarts
//! ([`per_gb_store`](super::per_gb_store)).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tollcast_net::stream::{ReceiverEvent, StreamReceiver};

use super::per_gb_store::{GbStore, SavedAccount};

/// Bytes per GB in prices (decimal, like relay offers).
pub const GB: u128 = 1_000_000_000;

/// Price of VOD bytes.
#[derive(Debug, Clone)]
pub struct GbPrice {
    /// Base units per 10^9 bytes; at least 1.
    pub price_per_gb: u64,
    pub asset_code: String,
    pub asset_scale: u8,
    /// Where to pay (shown in 402 answers); `{viewer}` is replaced by the viewer id.
    pub pay_to: Option<String>,
}

#[derive(Debug, Default, Clone)]
struct Account {
    received: u128,
    bytes_served: u128,
    connections: HashMap<Arc<str>, u64>,
}

/// The body of a 402 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRequired {
    pub error: &'static str,
    /// `no_viewer`, `no_payment` or `credit_exhausted`.
    pub reason: &'static str,
    pub message: String,
    pub viewer: Option<String>,
    pub price_per_gb: u64,
    pub asset_code: String,
    pub asset_scale: u8,
    pub pay_to: Option<String>,
    /// Money received from this viewer (decimal string).
    pub received: String,
    /// Bytes already served to this viewer.
    pub bytes_served: String,
    /// Size of the chunk asked for.
    pub bytes_needed: u64,
}

/// A viewer's account, for tests and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub received: u128,
    pub bytes_served: u128,
    /// Bytes the money received pays for.
    pub bytes_paid: u128,
}

/// Per-viewer byte credit. Share it (`Arc`).
pub struct GbBilling {
    price: GbPrice,
    accounts: Mutex<HashMap<String, Account>>,
    store: Option<GbStore>,
}

impl GbBilling {
    pub fn new(mut price: GbPrice) -> Self {
        price.price_per_gb = price.price_per_gb.max(1);
        Self {
            price,
            accounts: Mutex::new(HashMap::new()),
            store: None,
        }
    }

    /// Accounts kept in the redb file at `path` (created if missing), reloaded on restart.
    pub fn open(price: GbPrice, path: &std::path::Path) -> Result<Self, super::RecorderError> {
        let (store, saved) = GbStore::open(path)?;
        let mut b = Self::new(price);
        let map = b.accounts.get_mut().unwrap_or_else(|e| e.into_inner());
        for (viewer, s) in saved {
            map.insert(
                viewer,
                Account {
                    received: s.received,
                    bytes_served: s.bytes_served,
                    connections: HashMap::new(),
                },
            );
        }
        b.store = Some(store);
        Ok(b)
    }

    /// Wait until every account change so far is on disk (no-op without a store).
    pub fn flush(&self) {
        if let Some(s) = &self.store {
            s.flush();
        }
    }

    fn save(&self, viewer: &str, a: &Account) {
        if let Some(s) = &self.store {
            s.save(
                viewer,
                SavedAccount {
                    received: a.received,
                    bytes_served: a.bytes_served,
                },
            );
        }
    }

    pub fn price(&self) -> &GbPrice {
        &self.price
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Account>> {
        self.accounts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes `amount` base units pay for (rounded down).
    pub fn bytes_for(&self, amount: u128) -> u128 {
        amount.saturating_mul(GB) / self.price.price_per_gb as u128
    }

    /// Credit `amount` to `viewer`.
    pub fn credit(&self, viewer: &str, amount: u64) {
        if amount > 0 {
            let mut map = self.lock();
            let acc = map.entry(viewer.to_string()).or_default();
            acc.received += amount as u128;
            self.save(viewer, acc);
        }
    }

    /// Credit what a STREAM connection of `viewer` received in total (only the new part).
    pub fn credit_connection_total(&self, viewer: &str, connection: Arc<str>, total: u64) {
        let mut map = self.lock();
        let acc = map.entry(viewer.to_string()).or_default();
        let seen = acc.connections.entry(connection).or_insert(0);
        let d = total.saturating_sub(*seen);
        *seen = (*seen).max(total);
        if d > 0 {
            acc.received += d as u128;
            self.save(viewer, acc);
        }
    }

    /// Charge `bytes` to `viewer` if what it paid covers them (all or nothing).
    pub fn charge(&self, viewer: Option<&str>, bytes: u64) -> Result<(), Box<PaymentRequired>> {
        let pay_to = self
            .price
            .pay_to
            .as_ref()
            .map(|p| p.replace("{viewer}", viewer.unwrap_or("{viewer}")));
        let refuse = |reason: &'static str, message: String, acc: Option<&Account>| {
            Box::new(PaymentRequired {
                error: "payment_required",
                reason,
                message,
                viewer: viewer.map(str::to_string),
                price_per_gb: self.price.price_per_gb,
                asset_code: self.price.asset_code.clone(),
                asset_scale: self.price.asset_scale,
                pay_to: pay_to.clone(),
                received: acc.map_or(0, |a| a.received).to_string(),
                bytes_served: acc.map_or(0, |a| a.bytes_served).to_string(),
                bytes_needed: bytes,
            })
        };
        let Some(viewer) = viewer else {
            return Err(refuse(
                "no_viewer",
                "this recording is paid per GB: send your viewer id (Authorization: Bearer <id>) \
                 and stream money to it over ILP STREAM"
                    .into(),
                None,
            ));
        };
        let mut map = self.lock();
        let acc = map.get(viewer);
        let received = acc.map_or(0, |a| a.received);
        if received == 0 {
            return Err(refuse(
                "no_payment",
                format!(
                    "no payment received from `{viewer}` yet: pay {} {} (scale {}) per GB{}",
                    self.price.price_per_gb,
                    self.price.asset_code,
                    self.price.asset_scale,
                    pay_to
                        .as_ref()
                        .map(|p| format!(" at {p}"))
                        .unwrap_or_default()
                ),
                acc,
            ));
        }
        let paid = self.bytes_for(received);
        let served = acc.map_or(0, |a| a.bytes_served);
        if served + bytes as u128 > paid {
            return Err(refuse(
                "credit_exhausted",
                format!(
                    "your payments cover {paid} bytes, {served} served; this chunk needs {bytes} more: pay again to continue"
                ),
                acc,
            ));
        }
        if let Some(a) = map.get_mut(viewer) {
            a.bytes_served += bytes as u128;
            let a = a.clone();
            self.save(viewer, &a);
        }
        Ok(())
    }

    pub fn usage(&self, viewer: &str) -> Option<Usage> {
        self.lock().get(viewer).map(|a| Usage {
            received: a.received,
            bytes_served: a.bytes_served,
            bytes_paid: self.bytes_for(a.received),
        })
    }

    /// Money received from all viewers.
    pub fn total_received(&self) -> u128 {
        self.lock().values().map(|a| a.received).sum()
    }

    /// Credit viewers from `receiver`'s money events; runs until the receiver is dropped.
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
                    Err(RecvError::Lagged(n)) => {
                        tracing::warn!("VOD billing missed {n} STREAM events; totals catch up")
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

    #[test]
    fn bytes_bought_and_spent() {
        let b = GbBilling::new(GbPrice {
            price_per_gb: 1_000_000, // 1 unit buys 1000 bytes
            asset_code: "USD".into(),
            asset_scale: 6,
            pay_to: Some("http://x/.well-known/pay/{viewer}".into()),
        });
        assert_eq!(b.charge(None, 1).unwrap_err().reason, "no_viewer");
        let r = b.charge(Some("v"), 1).unwrap_err();
        assert_eq!(r.reason, "no_payment");
        assert_eq!(r.pay_to.as_deref(), Some("http://x/.well-known/pay/v"));
        b.credit("v", 3); // 3000 bytes
        b.charge(Some("v"), 2000).unwrap();
        let r = b.charge(Some("v"), 1001).unwrap_err();
        assert_eq!(r.reason, "credit_exhausted");
        b.charge(Some("v"), 1000).unwrap();
        let u = b.usage("v").unwrap();
        assert_eq!((u.received, u.bytes_served, u.bytes_paid), (3, 3000, 3000));
        // Connection totals credit each unit once.
        let c: Arc<str> = Arc::from("c");
        b.credit_connection_total("w", c.clone(), 5);
        b.credit_connection_total("w", c.clone(), 5);
        b.credit_connection_total("w", c, 7);
        assert_eq!(b.usage("w").unwrap().received, 7);
        assert_eq!(b.total_received(), 10);
    }

    #[test]
    fn accounts_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vod.redb");
        let price = GbPrice {
            price_per_gb: 1_000_000,
            asset_code: "USD".into(),
            asset_scale: 6,
            pay_to: None,
        };
        {
            let b = GbBilling::open(price.clone(), &path).unwrap();
            b.credit("v", 5);
            b.charge(Some("v"), 4_500).unwrap();
            b.flush();
        }
        let b = GbBilling::open(price, &path).unwrap();
        let u = b.usage("v").unwrap();
        assert_eq!((u.received, u.bytes_served), (5, 4_500));
        assert_eq!(
            b.charge(Some("v"), 501).unwrap_err().reason,
            "credit_exhausted"
        );
        b.charge(Some("v"), 500).unwrap();
    }
}

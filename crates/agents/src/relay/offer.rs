//! The relay's advertisement: a kind-31312 relay offer (stream, price per minute and per GB,
//! ILP address, SPSP endpoints, URL, upstream, load), re-signed and re-published periodically
//! so its load stays current and its NIP-40 expiry never lapses while the relay runs.

use std::time::Duration;

use tollcast_events::Price;
use tollcast_events::nostr::prelude::Keys;
use tollcast_events::offer::{Load, RelayOffer};
use tollcast_net::nostr_relay::client::RelayClient;

use super::Relay;

/// What the relay says about itself beyond what it knows already.
#[derive(Debug, Clone)]
pub struct OfferSettings {
    /// ILP address viewers pay (the STREAM receiver's).
    pub ilp_address: String,
    /// SPSP endpoints (`http://host/.well-known/pay`).
    pub spsp: Vec<String>,
    /// Public base URL of this relay's LL-HLS routes.
    pub url: Option<String>,
    /// Price per 10^9 bytes, if the relay also sells by volume.
    pub price_per_gb: Option<Price>,
    /// Viewers served at most (advertised in `load`).
    pub capacity: u64,
    /// How often the offer is re-published; it expires after three periods.
    pub every: Duration,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Relay {
    /// The offer as of now. Credit mode's price per second is advertised per minute.
    pub fn offer(&self, s: &OfferSettings) -> RelayOffer {
        let billing = self.billing();
        let price_per_minute = billing.map(|b| {
            let c = b.config();
            Price::new(
                c.price_per_second.saturating_mul(60),
                c.asset_code.clone(),
                c.asset_scale,
            )
        });
        let viewers = billing.map(|b| b.active_viewers()).unwrap_or(0);
        RelayOffer {
            stream: Some(self.manifests().stream().clone()),
            price_per_minute,
            price_per_gb: s.price_per_gb.clone(),
            ilp_address: s.ilp_address.clone(),
            spsp: s.spsp.clone(),
            url: s.url.clone(),
            upstream: Some(self.config().upstream.clone()),
            load: Some(Load {
                viewers,
                capacity: s.capacity,
            }),
            expires_at: Some(unix_now() + 3 * s.every.as_secs().max(1)),
        }
    }

    /// Sign and publish the offer on every client now and then every `s.every`; the task runs
    /// until aborted. Failures are logged and retried at the next period.
    pub fn advertise(
        &self,
        keys: Keys,
        clients: Vec<RelayClient>,
        s: OfferSettings,
    ) -> tokio::task::JoinHandle<()> {
        let relay = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(s.every.max(Duration::from_millis(100)));
            loop {
                tick.tick().await;
                let ev = match relay.offer(&s).sign(&keys, None) {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::error!("relay offer not signed: {e}");
                        continue;
                    }
                };
                for c in &clients {
                    match c.publish(&ev, Duration::from_secs(5)).await {
                        Ok(ack) if ack.accepted => {}
                        Ok(ack) => {
                            tracing::warn!("{} refused the relay offer: {}", c.url(), ack.message)
                        }
                        Err(e) => tracing::warn!("relay offer not published on {}: {e}", c.url()),
                    }
                }
            }
        })
    }
}

//! Counting viewers without a central server: relays advertise their load for the stream in
//! their kind-31312 offers (`load` = viewers, capacity); the streamer follows those offers on
//! its Nostr relays and sums the viewers of every unexpired offer (the newest per relay key).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tollcast_events::StreamAddress;
use tollcast_events::nostr::prelude::{Filter, Kind, PublicKey, SingleLetterTag};
use tollcast_events::offer::{KIND_RELAY_OFFER, RelayOffer};
use tollcast_net::nostr_relay::client::{RelayClient, SubItem};

/// What one relay last said about itself.
#[derive(Debug, Clone)]
pub struct RelaySeen {
    pub viewers: u64,
    pub capacity: u64,
    pub url: Option<String>,
    pub expires_at: Option<u64>,
    pub created_at: u64,
}

/// The viewers of a stream, as relays report them.
#[derive(Clone)]
pub struct Audience {
    stream: StreamAddress,
    relays: Arc<Mutex<HashMap<PublicKey, RelaySeen>>>,
    total: watch::Sender<u64>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Audience {
    pub fn new(stream: StreamAddress) -> Self {
        Self {
            stream,
            relays: Arc::new(Mutex::new(HashMap::new())),
            total: watch::channel(0).0,
        }
    }

    /// Current viewers (sum over relays with an unexpired offer).
    pub fn viewers(&self) -> u64 {
        let now = unix_now();
        let m = self.relays.lock().unwrap_or_else(|e| e.into_inner());
        m.values()
            .filter(|r| r.expires_at.is_none_or(|e| e > now))
            .map(|r| r.viewers)
            .sum()
    }

    /// Relays currently serving the stream.
    pub fn relays(&self) -> Vec<(PublicKey, RelaySeen)> {
        let now = unix_now();
        let m = self.relays.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|(_, r)| r.expires_at.is_none_or(|e| e > now))
            .map(|(k, r)| (*k, r.clone()))
            .collect()
    }

    /// A receiver that changes whenever the total changes (and on expiry sweeps).
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.total.subscribe()
    }

    /// Take one offer event into account; offers for other streams, forged or older than the
    /// one known for that relay are ignored. Returns true if it was used.
    pub fn observe(&self, ev: &tollcast_events::nostr::prelude::Event) -> bool {
        let Ok(offer) = RelayOffer::from_event(ev) else {
            return false;
        };
        if offer.stream.as_ref() != Some(&self.stream) {
            return false;
        }
        let created_at = ev.created_at.as_secs();
        let load = offer.load.unwrap_or(tollcast_events::offer::Load {
            viewers: 0,
            capacity: 0,
        });
        {
            let mut m = self.relays.lock().unwrap_or_else(|e| e.into_inner());
            if m.get(&ev.pubkey).is_some_and(|r| r.created_at > created_at) {
                return false;
            }
            m.insert(
                ev.pubkey,
                RelaySeen {
                    viewers: load.viewers,
                    capacity: load.capacity,
                    url: offer.url.clone(),
                    expires_at: offer.expires_at,
                    created_at,
                },
            );
        }
        self.refresh();
        true
    }

    /// Recompute the total (drops expired offers from the sum) and notify watchers.
    pub fn refresh(&self) {
        let v = self.viewers();
        self.total.send_if_modified(|t| {
            let changed = *t != v;
            *t = v;
            changed
        });
    }

    /// Follow offers for the stream on `client`; the task runs until the client closes.
    pub async fn follow(
        &self,
        client: &RelayClient,
    ) -> Result<tokio::task::JoinHandle<()>, tollcast_net::nostr_relay::client::ClientError> {
        let filter = Filter::new()
            .kind(Kind::from(KIND_RELAY_OFFER))
            .custom_tag(SingleLetterTag::LOWERCASE_A, self.stream.to_string());
        let mut sub = client.subscribe(vec![filter]).await?;
        let me = self.clone();
        Ok(tokio::spawn(async move {
            let mut sweep = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tokio::select! {
                    item = sub.recv() => match item {
                        Some(SubItem::Event(ev)) => {
                            me.observe(&ev);
                        }
                        Some(SubItem::Eose) => {}
                        Some(SubItem::Closed(why)) => {
                            tracing::warn!("relay-offer subscription closed: {why}");
                            break;
                        }
                        None => break,
                    },
                    _ = sweep.tick() => me.refresh(),
                }
            }
        }))
    }
}

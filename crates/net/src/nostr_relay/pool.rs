//! A pool of relays: publish to all of them, subscribe to all of them with deduplication.
//!
//! The node's agents use one pool over their own relay, other tollcast nodes and ordinary
//! Nostr relays (a configurable list). Each relay keeps its own reconnecting
//! [`RelayClient`]; a subscription merges their streams, drops events already seen (by id,
//! across relays) and reports EOSE per relay and once all relays have sent it.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use nostr::prelude::{Event, EventId, Filter};
use tokio::sync::mpsc;

use super::client::{ClientError, ClientOptions, PublishAck, RelayClient, SubItem};

/// Most event ids remembered for deduplication per subscription (oldest forgotten first).
const DEDUP_WINDOW: usize = 100_000;

/// What a pool subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolItem {
    /// A new event (first relay to deliver it).
    Event { relay: String, event: Box<Event> },
    /// One relay finished sending stored events.
    Eose { relay: String },
    /// Every relay has sent EOSE (or closed the subscription).
    AllEose,
    /// A relay closed the subscription.
    Closed { relay: String, message: String },
}

/// Whether a [`RelayPool::publish`] got the event anywhere: Ok when at least one relay
/// accepted it, else why none did (`url: reason` per relay, `; `-separated).
pub fn any_accepted(acks: &[(String, Result<PublishAck, ClientError>)]) -> Result<(), String> {
    if acks
        .iter()
        .any(|(_, a)| a.as_ref().is_ok_and(|a| a.accepted))
    {
        return Ok(());
    }
    let why: Vec<String> = acks
        .iter()
        .map(|(u, a)| match a {
            Ok(a) => format!("{u}: {}", a.message),
            Err(e) => format!("{u}: {e}"),
        })
        .collect();
    Err(why.join("; "))
}

/// Relays to publish to and read from.
#[derive(Clone)]
pub struct RelayPool {
    relays: Vec<RelayClient>,
}

/// A merged, deduplicated subscription over all relays of a pool.
pub struct PoolSubscription {
    rx: mpsc::Receiver<PoolItem>,
    _task: tokio::task::JoinHandle<()>,
}

impl PoolSubscription {
    pub async fn recv(&mut self) -> Option<PoolItem> {
        self.rx.recv().await
    }
}

impl Drop for PoolSubscription {
    fn drop(&mut self) {
        self._task.abort();
    }
}

impl RelayPool {
    /// A pool over `urls` (each `ws://` or `wss://`).
    pub fn new<I, S>(urls: I, opts: ClientOptions) -> Result<Self, ClientError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut relays = Vec::new();
        for u in urls {
            let u = u.as_ref();
            if relays.iter().any(|r: &RelayClient| r.url() == u) {
                continue;
            }
            relays.push(RelayClient::connect(u, opts.clone())?);
        }
        Ok(Self { relays })
    }

    /// A pool over clients already connected (e.g. one the caller also uses alone).
    pub fn from_clients(relays: Vec<RelayClient>) -> Self {
        Self { relays }
    }

    /// The relay URLs in this pool.
    pub fn urls(&self) -> Vec<String> {
        self.relays.iter().map(|r| r.url().to_string()).collect()
    }

    /// Publish to every relay at once; one result per relay, in pool order.
    pub async fn publish(
        &self,
        event: &Event,
        timeout: Duration,
    ) -> Vec<(String, Result<PublishAck, ClientError>)> {
        let futs = self
            .relays
            .iter()
            .map(|r| async move { (r.url().to_string(), r.publish(event, timeout).await) });
        futures::future::join_all(futs).await
    }

    /// Subscribe on every relay; items are merged and deduplicated by event id.
    pub async fn subscribe(&self, filters: Vec<Filter>) -> Result<PoolSubscription, ClientError> {
        let (tx, rx) = mpsc::channel(4096);
        let (merged_tx, mut merged_rx) = mpsc::channel::<(String, SubItem)>(4096);
        let mut subs = Vec::new();
        for r in &self.relays {
            subs.push((r.url().to_string(), r.subscribe(filters.clone()).await?));
        }
        let n = subs.len();
        for (url, mut sub) in subs {
            let mtx = merged_tx.clone();
            tokio::spawn(async move {
                while let Some(item) = sub.recv().await {
                    if mtx.send((url.clone(), item)).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(merged_tx);
        let task = tokio::spawn(async move {
            let mut seen: HashSet<EventId> = HashSet::new();
            let mut order: VecDeque<EventId> = VecDeque::new();
            let mut eosed: HashSet<String> = HashSet::new();
            let mut all_sent = n == 0;
            if all_sent {
                let _ = tx.send(PoolItem::AllEose).await;
            }
            while let Some((relay, item)) = merged_rx.recv().await {
                let out = match item {
                    SubItem::Event(event) => {
                        if !seen.insert(event.id) {
                            continue;
                        }
                        order.push_back(event.id);
                        if order.len() > DEDUP_WINDOW
                            && let Some(old) = order.pop_front()
                        {
                            seen.remove(&old);
                        }
                        PoolItem::Event { relay, event }
                    }
                    SubItem::Eose => {
                        // After a reconnect a relay sends EOSE again: report it only once.
                        if !eosed.insert(relay.clone()) {
                            continue;
                        }
                        PoolItem::Eose { relay }
                    }
                    SubItem::Closed(message) => {
                        eosed.insert(relay.clone());
                        PoolItem::Closed { relay, message }
                    }
                };
                if tx.send(out).await.is_err() {
                    return;
                }
                if !all_sent && eosed.len() == n {
                    all_sent = true;
                    if tx.send(PoolItem::AllEose).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(PoolSubscription { rx, _task: task })
    }

    /// Stored events from all relays (deduplicated, newest first) until every relay sent
    /// EOSE or `timeout` passes (then returns what arrived; unreachable relays are skipped).
    pub async fn fetch(&self, filters: Vec<Filter>, timeout: Duration) -> Vec<Event> {
        let Ok(mut sub) = self.subscribe(filters).await else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while let Ok(Some(item)) = tokio::time::timeout_at(deadline, sub.recv()).await {
            match item {
                PoolItem::Event { event, .. } => out.push(*event),
                PoolItem::AllEose => break,
                _ => {}
            }
        }
        super::filter::sort_newest_first(&mut out);
        out
    }
}

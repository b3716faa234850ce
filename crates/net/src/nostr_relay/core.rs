//! The transport-independent heart of the relay: validate an event, store it or fan it out,
//! and tell the writer what happened with a NIP-01 machine-readable prefix.
//!
//! Both the WebSocket front end (`relay.rs`) and pay-to-write over ILP (`pay_to_write.rs`)
//! call [`RelayCore::ingest`], so an event is judged the same way whichever way it arrives.
//! The id and the signature are verified before anything else touches the store.

use std::fmt;
use std::sync::Arc;

use nostr::prelude::{Event, Timestamp};
use tokio::sync::broadcast;

use super::config::RelayConfig;
use super::metrics::RelayMetrics;
use super::store::{Charge, EventStore, SaveOutcome, StoreError};

/// Machine-readable prefixes of NIP-01 `OK`/`CLOSED` messages (plus NIP-42 `auth-required`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    Duplicate,
    Blocked,
    RateLimited,
    Invalid,
    Restricted,
    AuthRequired,
    Mute,
    Error,
}

impl Prefix {
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Duplicate => "duplicate",
            Prefix::Blocked => "blocked",
            Prefix::RateLimited => "rate-limited",
            Prefix::Invalid => "invalid",
            Prefix::Restricted => "restricted",
            Prefix::AuthRequired => "auth-required",
            Prefix::Mute => "mute",
            Prefix::Error => "error",
        }
    }
}

/// A refusal: `"<prefix>: <message>"` on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub prefix: Prefix,
    pub message: String,
}

impl Refusal {
    pub fn new(prefix: Prefix, message: impl Into<String>) -> Self {
        Self {
            prefix,
            message: message.into(),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.prefix.as_str(), self.message)
    }
}

/// Result of [`RelayCore::ingest`]: what goes into `["OK", id, accepted, message]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Durably stored (replacing `replaced` older versions).
    Stored { replaced: usize },
    /// Ephemeral: fanned out to live subscribers, not stored.
    Broadcast,
    /// Already stored: accepted, nothing changed.
    Duplicate,
    /// Refused; nothing changed.
    Refused(Refusal),
}

impl Ingested {
    /// The `accepted` flag of the OK message.
    pub fn accepted(&self) -> bool {
        !matches!(self, Ingested::Refused(_))
    }

    /// The message string of the OK message.
    pub fn message(&self) -> String {
        match self {
            Ingested::Stored { .. } | Ingested::Broadcast => String::new(),
            Ingested::Duplicate => "duplicate: already have this event".to_string(),
            Ingested::Refused(r) => r.to_string(),
        }
    }
}

/// An extra judgement of events published over the WebSocket, installed by a higher layer
/// (e.g. the paid-chat gate of `tollcast-agents`, which makes chat go through pay-to-write).
/// `Err` refuses the event with that reason; nothing is stored or charged.
pub trait WebSocketWriteGuard: Send + Sync + 'static {
    fn check<'a>(&'a self, ev: &'a Event) -> futures::future::BoxFuture<'a, Result<(), Refusal>>;
}

/// Shared relay state: configuration, store, live fan-out and metrics.
pub struct RelayCore {
    pub config: RelayConfig,
    pub store: EventStore,
    pub metrics: Arc<RelayMetrics>,
    live: broadcast::Sender<Arc<Event>>,
    ws_guard: std::sync::OnceLock<Arc<dyn WebSocketWriteGuard>>,
}

impl RelayCore {
    pub fn new(config: RelayConfig, store: EventStore) -> Self {
        let (live, _) = broadcast::channel(4096);
        Self {
            config,
            store,
            metrics: Arc::new(RelayMetrics::default()),
            live,
            ws_guard: std::sync::OnceLock::new(),
        }
    }

    /// Install the WebSocket write guard (once; later calls return false and change nothing).
    pub fn set_websocket_guard(&self, guard: Arc<dyn WebSocketWriteGuard>) -> bool {
        self.ws_guard.set(guard).is_ok()
    }

    /// The installed WebSocket write guard, if any.
    pub fn websocket_guard(&self) -> Option<&Arc<dyn WebSocketWriteGuard>> {
        self.ws_guard.get()
    }

    /// Receive every newly accepted event (stored or ephemeral) for live subscriptions.
    pub fn subscribe_live(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    /// Checks that need no store: limits, id, signature, author block list, time bounds,
    /// NIP-40 expiration. Cheap checks first; the signature is verified before the caller
    /// may store or charge anything.
    pub fn validate(&self, ev: &Event) -> Result<(), Refusal> {
        let lim = &self.config.limits;
        if ev.tags.len() > lim.max_event_tags {
            return Err(Refusal::new(
                Prefix::Invalid,
                format!("too many tags ({} > {})", ev.tags.len(), lim.max_event_tags),
            ));
        }
        let chars = ev.content.chars().count();
        if chars > lim.max_content_length {
            return Err(Refusal::new(
                Prefix::Invalid,
                format!(
                    "content too long ({chars} > {} characters)",
                    lim.max_content_length
                ),
            ));
        }
        if !ev.verify_id() {
            return Err(Refusal::new(
                Prefix::Invalid,
                "event id does not match the hash of its content",
            ));
        }
        if !ev.verify_signature() {
            return Err(Refusal::new(Prefix::Invalid, "bad signature"));
        }
        if self.config.blocked_authors.contains(&ev.pubkey) {
            return Err(Refusal::new(
                Prefix::Blocked,
                "this author is blocked on this relay",
            ));
        }
        let now = Timestamp::now().as_secs();
        let t = ev.created_at.as_secs();
        if lim.created_at_upper_limit > 0 && t > now.saturating_add(lim.created_at_upper_limit) {
            return Err(Refusal::new(
                Prefix::Invalid,
                format!(
                    "created_at is more than {} s in the future",
                    lim.created_at_upper_limit
                ),
            ));
        }
        if lim.created_at_lower_limit > 0 && t < now.saturating_sub(lim.created_at_lower_limit) {
            return Err(Refusal::new(
                Prefix::Invalid,
                format!(
                    "created_at is more than {} s in the past",
                    lim.created_at_lower_limit
                ),
            ));
        }
        if ev.is_expired_at(Timestamp::from_secs(now)) {
            return Err(Refusal::new(
                Prefix::Invalid,
                "event has expired (NIP-40 expiration tag is in the past)",
            ));
        }
        Ok(())
    }

    /// Validate and then store (or fan out, for ephemeral kinds) `ev`. With `charge`, the
    /// payer's prepaid account is debited in the same durable transaction.
    pub async fn ingest(&self, ev: Event, charge: Option<Charge>) -> Ingested {
        RelayMetrics::inc(&self.metrics.events_received);
        if let Err(r) = self.validate(&ev) {
            RelayMetrics::inc(&self.metrics.events_rejected);
            return Ingested::Refused(r);
        }
        self.accept_valid(ev, charge).await
    }

    /// Store or fan out an event that already passed [`RelayCore::validate`].
    pub(crate) async fn accept_valid(&self, ev: Event, charge: Option<Charge>) -> Ingested {
        let m = &self.metrics;
        if ev.kind.is_ephemeral() {
            if let Some(c) = charge
                && c.price > 0
            {
                match self.store.debit(c.payer, c.price).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(balance)) => {
                        RelayMetrics::inc(&m.events_rejected);
                        return Ingested::Refused(insufficient(balance, c.price));
                    }
                    Err(e) => return self.store_failed(e),
                }
            }
            RelayMetrics::inc(&m.events_ephemeral);
            let _ = self.live.send(Arc::new(ev));
            return Ingested::Broadcast;
        }
        let shared = Arc::new(ev);
        match self.store.save((*shared).clone(), charge).await {
            Ok(SaveOutcome::Stored { replaced }) => {
                RelayMetrics::inc(&m.events_stored);
                let _ = self.live.send(shared);
                Ingested::Stored { replaced }
            }
            Ok(SaveOutcome::Duplicate) => {
                RelayMetrics::inc(&m.events_duplicate);
                Ingested::Duplicate
            }
            Ok(SaveOutcome::Stale) => {
                RelayMetrics::inc(&m.events_rejected);
                Ingested::Refused(Refusal::new(
                    Prefix::Duplicate,
                    "a newer version of this replaceable event is already stored",
                ))
            }
            Ok(SaveOutcome::Deleted) => {
                RelayMetrics::inc(&m.events_rejected);
                Ingested::Refused(Refusal::new(
                    Prefix::Blocked,
                    "the author deleted this event (NIP-09)",
                ))
            }
            Ok(SaveOutcome::InsufficientBalance { balance, price }) => {
                RelayMetrics::inc(&m.events_rejected);
                Ingested::Refused(insufficient(balance, price))
            }
            Err(e) => self.store_failed(e),
        }
    }

    fn store_failed(&self, e: StoreError) -> Ingested {
        RelayMetrics::inc(&self.metrics.store_errors);
        RelayMetrics::inc(&self.metrics.events_rejected);
        tracing::error!(error = %e, "nostr relay store failure");
        Ingested::Refused(Refusal::new(Prefix::Error, format!("could not store: {e}")))
    }
}

fn insufficient(balance: u64, price: u64) -> Refusal {
    Refusal::new(
        Prefix::Restricted,
        format!(
            "prepaid balance {balance} does not cover the price {price}; top up with an ILP payment to this relay"
        ),
    )
}

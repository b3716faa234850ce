//! The relay side of paid chat: an ILP service that judges pay-to-write PREPAREs carrying
//! chat (kind 1311) and reactions (kind 7) by the stream's rules ([`ChatSettings`], read from
//! the live event stored in the same relay), and hands every other PREPARE to the relay's
//! ordinary [`PayToWrite`].
//!
//! Mount it where `PayToWrite` would be (`connector.add_local_handler(<node>.nostr, gate)`;
//! the newest handler for a prefix wins). The wire format, condition and fulfillment are
//! exactly those of `PayToWrite` (`fulfillment = sha256(data)`), so writers need nothing new:
//! they only pay the stream's per-message price instead of the per-byte price.
//!
//! Rules, in order: event valid (id, signature, limits, relay block list) → the creator and
//! its moderators write for free → muted (a moderator's or the creator's NIP-51 kind-10000
//! list, or its kind-30000 `block:<stream>` set, names the author or a word of the message)
//! → subscribers-only → slow mode → price. A refused message costs nothing (REJECT).
//!
//! The gate also installs itself as the relay's WebSocket write guard: chat and reactions to
//! a stream with rules are refused over the WebSocket (`restricted: … write it over ILP`)
//! except from the creator and its moderators, so nobody chats around the price.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::future::BoxFuture;
use nostr::prelude::{Event, Filter, Kind, PublicKey, SingleLetterTag};
use tollcast_events::StreamAddress;
use tollcast_events::moderation::{KIND_FOLLOW_SET, KIND_MUTE_LIST, MuteList};
use tollcast_events::tip::{KIND_TIP_RECEIPT, TipReceipt};
use tollcast_net::connector::{IlpReply, IlpService, IncomingRequest};
use tollcast_net::nostr_relay::pay_to_write::{PayToWrite, condition_for, fulfillment_for};
use tollcast_net::nostr_relay::{
    Ingested, NostrRelay, Prefix, Refusal, RelayCore, WebSocketWriteGuard, toon,
};
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{Fulfill, Prepare, Reject};

use super::settings::ChatSettings;

/// Kinds the gate judges (everything else goes to `PayToWrite`).
pub const GATED_KINDS: [u16; 2] = [
    tollcast_events::chat::KIND_LIVE_CHAT,
    tollcast_events::reaction::KIND_REACTION,
];

/// Counters of what the gate decided.
#[derive(Debug, Default)]
pub struct GateCounters {
    pub accepted: std::sync::atomic::AtomicU64,
    pub accepted_free: std::sync::atomic::AtomicU64,
    pub underpaid: std::sync::atomic::AtomicU64,
    pub slow_mode: std::sync::atomic::AtomicU64,
    pub muted: std::sync::atomic::AtomicU64,
    pub not_subscriber: std::sync::atomic::AtomicU64,
    pub amount_received: std::sync::atomic::AtomicU64,
}

/// Chat write policy in front of a relay's pay-to-write.
#[derive(Clone)]
pub struct ChatGate {
    core: Arc<RelayCore>,
    inner: PayToWrite,
    address: Address,
    /// Last accepted message per (stream, author), for slow mode.
    last: Arc<Mutex<HashMap<(String, PublicKey), Instant>>>,
    counters: Arc<GateCounters>,
}

fn inc(c: &std::sync::atomic::AtomicU64) {
    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

impl ChatGate {
    /// The gate for `relay`, answering at `address` (its pay-to-write address). Also installs
    /// itself as the relay's WebSocket write guard (if none is installed yet).
    pub fn new(relay: &NostrRelay, address: Address) -> Self {
        let gate = Self {
            core: relay.core().clone(),
            inner: PayToWrite::new(relay, address.clone()),
            address,
            last: Arc::new(Mutex::new(HashMap::new())),
            counters: Arc::new(GateCounters::default()),
        };
        gate.core.set_websocket_guard(Arc::new(gate.clone()));
        gate
    }

    fn stream_of(ev: &Event) -> Option<StreamAddress> {
        ev.tags
            .iter()
            .map(|t| t.as_slice())
            .find(|t| t.first().map(String::as_str) == Some("a"))
            .and_then(|t| t.get(1))
            .and_then(|a| a.parse().ok())
    }

    /// The WebSocket rule: governed chat only through pay-to-write (creator, moderators exempt).
    async fn check_websocket(&self, ev: &Event) -> Result<(), Refusal> {
        if !GATED_KINDS.contains(&ev.kind.as_u16()) {
            return Ok(());
        }
        let Some(stream) = Self::stream_of(ev) else {
            return Ok(());
        };
        let Some(settings) = self.settings(&stream).await else {
            return Ok(());
        };
        if settings.is_privileged(&ev.pubkey) {
            return Ok(());
        }
        Err(Refusal::new(
            Prefix::Restricted,
            format!(
                "chat in this stream is paid: write it with an ILP payment to {}{}",
                self.address.as_str(),
                settings
                    .price
                    .map(|p| format!(" ({p} per message)"))
                    .unwrap_or_default()
            ),
        ))
    }

    /// What the gate decided so far.
    pub fn counters(&self) -> &GateCounters {
        &self.counters
    }

    fn reject(&self, code: ErrorCode, msg: impl Into<String>) -> IlpReply {
        Err(Reject::new(code, Some(self.address.clone()), msg))
    }

    async fn query(&self, filters: Vec<Filter>) -> Vec<Event> {
        let core = self.core.clone();
        tokio::task::spawn_blocking(move || {
            core.store
                .query(&filters, 500, core.config.limits.max_limit.max(500))
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default()
    }

    /// The stream's current chat rules (newest live event in this relay), if it has one.
    pub async fn settings(&self, stream: &StreamAddress) -> Option<ChatSettings> {
        let f = Filter::new()
            .kind(Kind::from(tollcast_events::live::KIND_LIVE_EVENT))
            .author(stream.pubkey)
            .identifier(stream.identifier.clone())
            .limit(1);
        let ev = self.query(vec![f]).await.into_iter().next()?;
        ChatSettings::from_live_event(&ev).ok()
    }

    /// Who muted `author` or a word of `content` in `stream`, if anyone (moderators and the
    /// creator are the list keepers that count).
    async fn muted_by(
        &self,
        s: &ChatSettings,
        author: &PublicKey,
        content: &str,
    ) -> Option<(PublicKey, String)> {
        let mut keepers = s.moderators.clone();
        keepers.push(s.stream.pubkey);
        let filters = vec![
            Filter::new()
                .kind(Kind::from(KIND_MUTE_LIST))
                .authors(keepers.clone()),
            Filter::new()
                .kind(Kind::from(KIND_FOLLOW_SET))
                .authors(keepers)
                .identifier(format!("block:{}", s.stream)),
        ];
        let lower = content.to_lowercase();
        for ev in self.query(filters).await {
            let Ok(list) = MuteList::from_event(&ev) else {
                continue;
            };
            if list.pubkeys.contains(author) {
                return Some((ev.pubkey, "author is muted".into()));
            }
            if let Some(w) = list
                .words
                .iter()
                .find(|w| !w.is_empty() && lower.contains(*w))
            {
                return Some((ev.pubkey, format!("muted word `{w}`")));
            }
        }
        None
    }

    /// True when `who` holds a valid tip receipt for the stream from a trusted signer.
    pub async fn is_subscriber(&self, s: &ChatSettings, who: &PublicKey) -> bool {
        let mut signers = s.tip_agents.clone();
        signers.push(s.stream.pubkey);
        let f = Filter::new()
            .kind(Kind::from(KIND_TIP_RECEIPT))
            .authors(signers.clone())
            .custom_tag(SingleLetterTag::LOWERCASE_A, s.stream.to_string());
        self.query(vec![f]).await.iter().any(|ev| {
            TipReceipt::from_event(ev)
                .is_ok_and(|r| r.payer == *who && r.check_issuer(&ev.pubkey, &s.tip_agents).is_ok())
        })
    }

    /// Judge one PREPARE.
    pub async fn handle_prepare(&self, p: &Prepare) -> IlpReply {
        // Anything that is not a well-formed chat write goes to the ordinary service, which
        // has the full set of checks and reasons.
        if !p.destination.starts_with(self.address.as_str())
            || p.expires_at <= SystemTime::now()
            || p.data.len() > self.core.config.limits.max_message_length
            || p.execution_condition != condition_for(&p.data)
        {
            return self.inner.handle_prepare(p).await;
        }
        let Ok(ev) = toon::decode_event(&p.data) else {
            return self.inner.handle_prepare(p).await;
        };
        if !GATED_KINDS.contains(&ev.kind.as_u16()) {
            return self.inner.handle_prepare(p).await;
        }
        let Some(stream) = Self::stream_of(&ev) else {
            return self.inner.handle_prepare(p).await;
        };
        let Some(settings) = self.settings(&stream).await else {
            // No rules for this stream here: ordinary per-byte pricing.
            return self.inner.handle_prepare(p).await;
        };
        if let Err(r) = self.core.validate(&ev) {
            let code = match r.prefix {
                tollcast_net::nostr_relay::Prefix::Invalid => ErrorCode::F00_BAD_REQUEST,
                _ => ErrorCode::F99_APPLICATION_ERROR,
            };
            return self.reject(code, r.to_string());
        }
        let author = ev.pubkey;
        let is_chat = ev.kind.as_u16() == tollcast_events::chat::KIND_LIVE_CHAT;
        let privileged = settings.is_privileged(&author);
        let mut reserved = false;
        if !privileged {
            if let Some((by, why)) = self.muted_by(&settings, &author, &ev.content).await {
                inc(&self.counters.muted);
                return self.reject(
                    ErrorCode::F99_APPLICATION_ERROR,
                    format!("blocked: muted in this stream by {} ({why})", by.to_hex()),
                );
            }
            if settings.subscribers_only && !self.is_subscriber(&settings, &author).await {
                inc(&self.counters.not_subscriber);
                return self.reject(
                    ErrorCode::F99_APPLICATION_ERROR,
                    "restricted: subscriber-only chat; tip the creator to subscribe",
                );
            }
            let price = settings
                .price
                .unwrap_or_else(|| self.inner.price(&ev, p.data.len()));
            if p.amount < price {
                inc(&self.counters.underpaid);
                return self.reject(
                    ErrorCode::F04_INSUFFICIENT_DESTINATION_AMOUNT,
                    format!(
                        "underpaid: a kind-{} message in this stream costs {price}, received {}",
                        ev.kind.as_u16(),
                        p.amount
                    ),
                );
            }
            if is_chat && settings.slow_mode_secs > 0 {
                let key = (stream.to_string(), author);
                let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let gap = Duration::from_secs(settings.slow_mode_secs);
                if let Some(t) = last.get(&key)
                    && now.duration_since(*t) < gap
                {
                    inc(&self.counters.slow_mode);
                    let wait = gap - now.duration_since(*t);
                    return self.reject(
                        ErrorCode::F99_APPLICATION_ERROR,
                        format!(
                            "rate-limited: slow mode, one message per {} s; wait {:.1} s",
                            settings.slow_mode_secs,
                            wait.as_secs_f64()
                        ),
                    );
                }
                // Reserve the slot now so two concurrent messages cannot both pass.
                last.insert(key, now);
                reserved = true;
            }
        }
        let release = |gate: &Self| {
            if reserved {
                let mut last = gate.last.lock().unwrap_or_else(|e| e.into_inner());
                last.remove(&(stream.to_string(), author));
            }
        };
        match self.core.ingest(ev, None).await {
            Ingested::Stored { .. } | Ingested::Broadcast => {}
            Ingested::Duplicate => {
                release(self);
                return self.reject(
                    ErrorCode::F99_APPLICATION_ERROR,
                    "duplicate: already have this event (not charged)",
                );
            }
            Ingested::Refused(r) => {
                release(self);
                return self.reject(ErrorCode::F99_APPLICATION_ERROR, r.to_string());
            }
        }
        if privileged && p.amount == 0 {
            inc(&self.counters.accepted_free);
        } else {
            inc(&self.counters.accepted);
        }
        self.counters
            .amount_received
            .fetch_add(p.amount, std::sync::atomic::Ordering::Relaxed);
        Ok(Fulfill {
            fulfillment: fulfillment_for(&p.data),
            data: bytes::Bytes::new(),
        })
    }
}

impl WebSocketWriteGuard for ChatGate {
    fn check<'a>(&'a self, ev: &'a Event) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(self.check_websocket(ev))
    }
}

impl IlpService for ChatGate {
    fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply> {
        Box::pin(async move { self.handle_prepare(&req.prepare).await })
    }
}

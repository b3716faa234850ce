//! The writer side of paid chat: sign a kind-1311 message (or a kind-7 reaction) with the
//! viewer's key and pay-to-write it to the stream's chat relay through a wallet (any
//! `IlpService`, normally the viewer node's `connector.sender(AccountId::local())`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nostr::prelude::{Event, Keys};
use tollcast_events::StreamAddress;
use tollcast_events::chat::ChatMessage;
use tollcast_events::reaction::Reaction;
use tollcast_net::connector::{AccountId, IlpService, IncomingRequest};
use tollcast_net::nostr_relay::pay_to_write::prepare_for_event;
use tollcast_net::nostr_relay::toon;
use tollcast_wire::address::Address;

use super::settings::ChatSettings;

/// Why a chat write failed. `Rejected` carries the relay's reason (`underpaid: …`,
/// `rate-limited: slow mode …`, `blocked: muted …`, `restricted: subscriber-only …`).
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("could not sign the event: {0}")]
    Sign(String),
    #[error("could not encode the event: {0}")]
    Encode(String),
    #[error("the relay refused the message ({code}): {message}")]
    Rejected { code: String, message: String },
    #[error("the relay's fulfillment does not match the event: the path kept the money")]
    BadFulfillment,
    #[error("chat settings: {0}")]
    Settings(String),
}

impl ChatError {
    /// The NIP-01 style prefix of a relay refusal (`underpaid`, `rate-limited`, `blocked`…).
    pub fn prefix(&self) -> Option<&str> {
        match self {
            ChatError::Rejected { message, .. } => message.split(':').next(),
            _ => None,
        }
    }
}

/// What a successful write cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The signed event as stored by the relay.
    pub event: Event,
    /// Amount sent with the PREPARE (base units of the wallet's asset).
    pub paid: u64,
}

/// Fallback price per byte when the creator set no `chat_price` (the relay default).
pub const DEFAULT_PER_BYTE: u64 = 10;

/// Sends paid chat and reactions to one stream.
#[derive(Clone)]
pub struct ChatClient {
    keys: Keys,
    wallet: Arc<dyn IlpService>,
    relay_ilp: Address,
    stream: StreamAddress,
    relay_hint: Option<String>,
    price: Option<u64>,
    per_byte: u64,
}

impl ChatClient {
    /// A client writing to `stream` through the relay whose pay-to-write address is
    /// `relay_ilp` (NIP-11 `tollcast.pay_to_write.ilp_address`), paying from `wallet`.
    /// Without [`Self::with_price`] or [`Self::with_settings`], it pays the relay's per-byte
    /// price ([`DEFAULT_PER_BYTE`] unless [`Self::with_per_byte`]).
    pub fn new(
        keys: Keys,
        wallet: Arc<dyn IlpService>,
        relay_ilp: Address,
        stream: StreamAddress,
    ) -> Self {
        Self {
            keys,
            wallet,
            relay_ilp,
            stream,
            relay_hint: None,
            price: None,
            per_byte: DEFAULT_PER_BYTE,
        }
    }

    /// Pay `price` per message.
    pub fn with_price(mut self, price: u64) -> Self {
        self.price = Some(price);
        self
    }

    /// Pay what the stream's settings ask of this key (0 for the creator and moderators).
    pub fn with_settings(mut self, s: &ChatSettings) -> Self {
        self.price = s.price_for(&self.keys.public_key());
        self
    }

    /// Per-byte price used when no per-message price is known.
    pub fn with_per_byte(mut self, per_byte: u64) -> Self {
        self.per_byte = per_byte;
        self
    }

    /// Relay URL written into the `a` tag as a hint.
    pub fn with_relay_hint(mut self, url: impl Into<String>) -> Self {
        self.relay_hint = Some(url.into());
        self
    }

    /// The stream this client writes to.
    pub fn stream(&self) -> &StreamAddress {
        &self.stream
    }

    /// The writer's public key.
    pub fn pubkey(&self) -> nostr::prelude::PublicKey {
        self.keys.public_key()
    }

    /// What writing `ev` will cost.
    pub fn price_of(&self, ev: &Event) -> Result<u64, ChatError> {
        if let Some(p) = self.price {
            return Ok(p);
        }
        let len = toon::encode_event(ev)
            .map_err(|e| ChatError::Encode(e.to_string()))?
            .len() as u64;
        Ok(len.saturating_mul(self.per_byte))
    }

    /// Sign and pay-to-write one chat message.
    pub async fn send(&self, content: &str) -> Result<Sent, ChatError> {
        let mut m = ChatMessage::new(self.stream.clone(), content);
        m.relay = self.relay_hint.clone();
        let ev = m
            .sign(&self.keys, None)
            .map_err(|e| ChatError::Sign(e.to_string()))?;
        let amount = self.price_of(&ev)?;
        self.write(ev, amount).await
    }

    /// Sign and pay-to-write a reaction (`+`, `-`, emoji) to a chat line of this stream.
    pub async fn react(&self, target: &Event, content: &str) -> Result<Sent, ChatError> {
        let r = Reaction {
            target: target.id,
            target_author: target.pubkey,
            target_kind: target.kind.as_u16(),
            stream: self.stream.clone(),
            content: content.to_string(),
        };
        let ev = r
            .sign(&self.keys, None)
            .map_err(|e| ChatError::Sign(e.to_string()))?;
        let amount = self.price_of(&ev)?;
        self.write(ev, amount).await
    }

    /// Pay-to-write any signed event with `amount` (e.g. to test what the relay refuses).
    pub async fn write(&self, ev: Event, amount: u64) -> Result<Sent, ChatError> {
        let prepare = prepare_for_event(
            &ev,
            self.relay_ilp.clone(),
            amount,
            SystemTime::now() + Duration::from_secs(30),
        )
        .map_err(|e| ChatError::Encode(e.to_string()))?;
        let reply = self
            .wallet
            .handle(IncomingRequest {
                from: AccountId::local(),
                prepare: prepare.clone(),
            })
            .await;
        match reply {
            Ok(f) if prepare.matches(&f) => Ok(Sent {
                event: ev,
                paid: amount,
            }),
            Ok(_) => Err(ChatError::BadFulfillment),
            Err(r) => Err(ChatError::Rejected {
                code: r.code.to_string(),
                message: r.message.clone(),
            }),
        }
    }
}

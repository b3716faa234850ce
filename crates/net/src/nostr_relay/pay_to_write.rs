//! Pay-to-write over ILP: a PREPARE addressed to the relay whose `data` is a TOON-encoded
//! signed Nostr event is stored (or, for ephemeral kinds, fanned out) and fulfilled when its
//! amount covers the relay's price; otherwise it is rejected with a reason and nothing is
//! stored. Reads stay free (plain REQ over WebSocket).
//!
//! # Wire format
//!
//! `data` = UTF-8 TOON text of the whole signed event (`id`, `pubkey`, `created_at`, `kind`,
//! `tags`, `content`, `sig`), exactly as the existing TOON nodes send it (m2m.md §5.1).
//! FULFILL `data` is empty (m2m.md §5.3). Price = `len(data) × per_byte(kind)`
//! ([`crate::nostr_relay::Pricing`]); the operator's keys write for free; any amount above the
//! price is credited to the event author's prepaid account, which pays for WebSocket
//! publishing after NIP-42 AUTH when the relay requires it (so "top up" = pay-to-write any
//! event, e.g. an ephemeral one, with a larger amount).
//!
//! # Condition and fulfillment
//!
//! `fulfillment = SHA-256(data)`, `condition = SHA-256(fulfillment)` — the G2 rule of the
//! existing TOON connectors (m2m.md §5.2). Why this one:
//! - the writer must know the condition before sending, without a round trip: here it
//!   follows from the bytes it sends. A receiver-chosen secret (STREAM/SPSP style) would need a
//!   setup exchange per writer; a sender-chosen random preimage (G3) would have to be
//!   delivered to the relay inside `data`, which changes the wire format the other nodes speak.
//! - it interoperates with the TS nodes, which compute exactly this.
//! - the fulfillment still proves what it has to in practice: the relay returns it only
//!   after the event is durably stored (fsync), so an honest path delivers "paid ⇔ stored".
//!
//! Its limit, stated plainly: it is not a secret. Any hop that sees `data` can compute the
//! fulfillment and fulfill without forwarding (keeping the money, the event unstored). The
//! writer detects that by reading the event back for free (REQ by id) and stops using that
//! path; with bilateral peering the cheating hop is a known, accountable peer. Amounts per
//! event are tiny (bytes × price), which bounds the loss.
//!
//! Reject codes: F00 bad event (TOON, shape, id, signature, size, limits), F04 underpaid,
//! F05 condition does not match the rule above, F02 wrong destination, R00 expired, F99 the
//! relay refuses an otherwise valid event (`blocked:`, `duplicate:`, deleted), T00 storage
//! failure. The message always carries the NIP-01 style `prefix: reason`.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use futures::future::BoxFuture;
use nostr::prelude::Event;
use sha2::{Digest, Sha256};
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{Fulfill, Prepare, Reject};

use super::core::{Ingested, Prefix, Refusal, RelayCore};
use super::metrics::RelayMetrics;
use super::relay::NostrRelay;
use super::toon::{self, ToonEventError};
use crate::connector::{IlpReply, IlpService, IncomingRequest};

/// `SHA-256(data)`: the fulfillment of a pay-to-write PREPARE.
pub fn fulfillment_for(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// `SHA-256(SHA-256(data))`: the execution condition a writer puts in its PREPARE.
pub fn condition_for(data: &[u8]) -> [u8; 32] {
    Sha256::digest(fulfillment_for(data)).into()
}

/// Build the PREPARE that writes `event` to the relay at `destination` (writer side).
pub fn prepare_for_event(
    event: &Event,
    destination: Address,
    amount: u64,
    expires_at: SystemTime,
) -> Result<Prepare, ToonEventError> {
    let data = Bytes::from(toon::encode_event(event)?);
    Ok(Prepare {
        amount,
        expires_at,
        execution_condition: condition_for(&data),
        destination,
        data,
    })
}

/// The ILP service that accepts paid writes for one relay.
#[derive(Clone)]
pub struct PayToWrite {
    core: Arc<RelayCore>,
    address: Address,
}

impl PayToWrite {
    /// Pay-to-write for `relay`, answering PREPAREs addressed to `address` (or below it).
    pub fn new(relay: &NostrRelay, address: Address) -> Self {
        Self {
            core: relay.core().clone(),
            address,
        }
    }

    /// The ILP address this service answers for.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Price of the PREPARE `data` carrying `event`.
    pub fn price(&self, event: &Event, data_len: usize) -> u64 {
        self.core
            .config
            .pricing
            .price(event.kind, &event.pubkey, data_len)
    }

    fn reject(&self, code: ErrorCode, message: impl Into<String>) -> Reject {
        RelayMetrics::inc(&self.core.metrics.ilp_rejected);
        Reject::new(code, Some(self.address.clone()), message)
    }

    fn refuse(&self, r: &Refusal) -> Reject {
        let code = match r.prefix {
            Prefix::Invalid => ErrorCode::F00_BAD_REQUEST,
            Prefix::Error => ErrorCode::T00_INTERNAL_ERROR,
            _ => ErrorCode::F99_APPLICATION_ERROR,
        };
        self.reject(code, r.to_string())
    }

    /// Judge one PREPARE: fulfill iff the event is valid, paid for and now stored.
    pub async fn handle_prepare(&self, p: &Prepare) -> IlpReply {
        let m = &self.core.metrics;
        RelayMetrics::inc(&m.ilp_prepares);
        if !p.destination.starts_with(self.address.as_str()) {
            return Err(self.reject(
                ErrorCode::F02_UNREACHABLE,
                format!("this relay accepts writes at {}", self.address.as_str()),
            ));
        }
        if p.expires_at <= SystemTime::now() {
            return Err(self.reject(ErrorCode::R00_TRANSFER_TIMED_OUT, "prepare expired"));
        }
        let max = self.core.config.limits.max_message_length;
        if p.data.len() > max {
            RelayMetrics::inc(&m.events_rejected);
            return Err(self.reject(
                ErrorCode::F00_BAD_REQUEST,
                format!("invalid: event too large ({} > {max} bytes)", p.data.len()),
            ));
        }
        if p.execution_condition != condition_for(&p.data) {
            RelayMetrics::inc(&m.events_rejected);
            return Err(self.reject(
                ErrorCode::F05_WRONG_CONDITION,
                "invalid: execution condition must be sha256(sha256(data))",
            ));
        }
        let event = match toon::decode_event(&p.data) {
            Ok(ev) => ev,
            Err(e) => {
                RelayMetrics::inc(&m.events_received);
                RelayMetrics::inc(&m.events_rejected);
                return Err(self.reject(ErrorCode::F00_BAD_REQUEST, format!("invalid: {e}")));
            }
        };
        RelayMetrics::inc(&m.events_received);
        if let Err(r) = self.core.validate(&event) {
            RelayMetrics::inc(&m.events_rejected);
            return Err(self.refuse(&r));
        }
        let price = self.price(&event, p.data.len());
        if p.amount < price {
            RelayMetrics::inc(&m.events_rejected);
            return Err(self.reject(
                ErrorCode::F04_INSUFFICIENT_DESTINATION_AMOUNT,
                format!(
                    "underpaid: writing this {}-byte kind-{} event costs {price}, received {}",
                    p.data.len(),
                    event.kind.as_u16(),
                    p.amount
                ),
            ));
        }
        let author = event.pubkey;
        match self.core.accept_valid(event, None).await {
            Ingested::Stored { .. } | Ingested::Broadcast => {}
            Ingested::Duplicate => {
                return Err(self.reject(
                    ErrorCode::F99_APPLICATION_ERROR,
                    "duplicate: already have this event (not charged)",
                ));
            }
            Ingested::Refused(r) => return Err(self.refuse(&r)),
        }
        let excess = p.amount - price;
        if excess > 0
            && let Err(e) = self.core.store.credit(author, excess).await
        {
            // The event is stored; only the credit of the over-payment failed.
            tracing::error!(error = %e, "could not credit pay-to-write over-payment");
        }
        RelayMetrics::inc(&m.ilp_fulfilled);
        RelayMetrics::add(&m.ilp_amount_received, p.amount);
        Ok(Fulfill {
            fulfillment: fulfillment_for(&p.data),
            data: Bytes::new(),
        })
    }
}

impl IlpService for PayToWrite {
    fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply> {
        Box::pin(async move { self.handle_prepare(&req.prepare).await })
    }
}

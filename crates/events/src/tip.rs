//! Tips: the Interledger analogue of NIP-57 zaps.
//!
//! A viewer signs a **tip request** (kind 9736, like a zap request 9734) naming the creator,
//! the stream and the amount, and hands it to the creator's receiving agent (HTTP, the way a
//! zap request goes to the LNURL callback). The agent answers with STREAM credentials; the
//! viewer pays them; the agent counts what arrived and signs a **tip receipt** (kind 9737,
//! like a zap receipt 9735) that embeds the request and the RFC 0039 STREAM receipt, and
//! publishes it to the stream's relays.
//!
//! Trust model (same as zaps): the receipt is an attestation by the creator's receiving agent,
//! not a proof anyone can check against a ledger. Clients accept a receipt when its signer is
//! the creator or the agent the creator names in the live event's `tip` tag (see
//! [`TipReceipt::check_issuer`]), and its embedded request is signed by the payer it names.
//! The STREAM receipt (HMAC under the agent's receipt secret) lets whoever holds that secret
//! (the creator, an auditor it designates) check the amount independently of the agent's
//! Nostr key ([`TipReceipt::verify_stream_receipt`]).

use nostr::prelude::{Event, EventBuilder, EventId, Keys, Kind, PublicKey};

use tollcast_wire::stream::Receipt;

use crate::error::{BuildError, EventError};
use crate::jobs::parse_event_id;
use crate::tags::{Price, StreamAddress, all, check, parse_pubkey, required, single, tag, val};

/// Tip request (signed by the payer, sent to the receiving agent; not published).
pub const KIND_TIP_REQUEST: u16 = 9736;
/// Tip receipt (signed by the creator's receiving agent, published to the stream's relays).
pub const KIND_TIP_RECEIPT: u16 = 9737;

/// A viewer's request to tip a stream's creator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TipRequest {
    /// The creator (`p`).
    pub recipient: PublicKey,
    /// The stream (`a`).
    pub stream: StreamAddress,
    /// Amount the payer intends to deliver, in the receiver's asset (`amount`).
    pub amount: Price,
    /// Relays the receipt should go to (`relays`).
    pub relays: Vec<String>,
    /// The tip message.
    pub message: String,
}

impl TipRequest {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let mut b = EventBuilder::new(Kind::from(KIND_TIP_REQUEST), self.message.clone())
            .tag(tag(&["p", &self.recipient.to_hex()]))
            .tag(tag(&["a", &self.stream.to_string()]));
        let mut amount = vec!["amount".to_string()];
        amount.extend(self.amount.values());
        b = b.tag(tag(&amount));
        if !self.relays.is_empty() {
            let mut v = vec!["relays".to_string()];
            v.extend(self.relays.iter().cloned());
            b = b.tag(tag(&v));
        }
        b
    }

    /// Sign with the payer's keys.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify a kind-9736 event (one `p`, one `a` whose author is that `p`).
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_TIP_REQUEST, "9736")?;
        let recipient = parse_pubkey(val(required(ev, "p")?, 1, "p")?, "p")?;
        let stream: StreamAddress = val(required(ev, "a")?, 1, "a")?.parse()?;
        if stream.pubkey != recipient {
            return Err(EventError::bad(
                "a",
                "the stream's author is not the tipped pubkey",
            ));
        }
        let amount = Price::parse(required(ev, "amount")?, 1, "amount")?;
        if amount.amount == 0 {
            return Err(EventError::bad("amount", "a tip must be more than 0"));
        }
        let relays = match single(ev, "relays")? {
            Some(t) => t[1..].to_vec(),
            None => Vec::new(),
        };
        Ok(TipRequest {
            recipient,
            stream,
            amount,
            relays,
            message: ev.content.clone(),
        })
    }
}

/// The receiving agent's signed statement that a tip arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TipReceipt {
    /// The creator (`p`).
    pub recipient: PublicKey,
    /// Who paid (`P`): the author of the embedded request.
    pub payer: PublicKey,
    /// The stream (`a`).
    pub stream: StreamAddress,
    /// The request event's id (`e`).
    pub request_id: EventId,
    /// What the receiver counted on the STREAM connection (`amount`, receiver's units).
    pub amount: Price,
    /// The ILP address that received the money (`ilp`).
    pub ilp_address: String,
    /// RFC 0039 STREAM receipt bytes (58), hex in the `stream_receipt` tag.
    pub stream_receipt: Vec<u8>,
    /// The signed request, as JSON (`description`, as in a zap receipt).
    pub request: Event,
    /// The tip message (copied from the request).
    pub message: String,
}

impl TipReceipt {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let mut amount = vec!["amount".to_string()];
        amount.extend(self.amount.values());
        EventBuilder::new(Kind::from(KIND_TIP_RECEIPT), self.message.clone())
            .tag(tag(&["p", &self.recipient.to_hex()]))
            .tag(tag(&["P", &self.payer.to_hex()]))
            .tag(tag(&["a", &self.stream.to_string()]))
            .tag(tag(&["e", &self.request_id.to_hex()]))
            .tag(tag(&amount))
            .tag(tag(&["ilp", &self.ilp_address]))
            .tag(tag(&["stream_receipt", &hex::encode(&self.stream_receipt)]))
            .tag(tag(&[
                "description",
                &serde_json::to_string(&self.request).unwrap_or_default(),
            ]))
    }

    /// Sign with the receiving agent's keys.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify a kind-9737 event: its signature, the embedded request's signature,
    /// and that the receipt agrees with the request (payer, creator, stream, asset, id).
    /// Who signed it is checked separately by [`Self::check_issuer`].
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_TIP_RECEIPT, "9737")?;
        let recipient = parse_pubkey(val(required(ev, "p")?, 1, "p")?, "p")?;
        let payer = parse_pubkey(val(required(ev, "P")?, 1, "P")?, "P")?;
        let stream: StreamAddress = val(required(ev, "a")?, 1, "a")?.parse()?;
        let request_id = parse_event_id(val(required(ev, "e")?, 1, "e")?)?;
        let amount = Price::parse(required(ev, "amount")?, 1, "amount")?;
        let ilp_address = val(required(ev, "ilp")?, 1, "ilp")?.to_string();
        let stream_receipt =
            hex::decode(val(required(ev, "stream_receipt")?, 1, "stream_receipt")?)
                .map_err(|e| EventError::bad("stream_receipt", format!("not hex: {e}")))?;
        if stream_receipt.len() != 58 {
            return Err(EventError::bad(
                "stream_receipt",
                "an RFC 0039 receipt is 58 bytes",
            ));
        }
        let description = val(required(ev, "description")?, 1, "description")?;
        let request: Event = serde_json::from_str(description)
            .map_err(|e| EventError::bad("description", format!("not an event: {e}")))?;
        let req = TipRequest::from_event(&request)?;
        let mismatch = |what: &str| EventError::bad("description", format!("request {what}"));
        if request.id != request_id {
            return Err(mismatch("id differs from the `e` tag"));
        }
        if request.pubkey != payer {
            return Err(mismatch("author differs from the `P` tag"));
        }
        if req.recipient != recipient || req.stream != stream {
            return Err(mismatch("names another creator or stream"));
        }
        if req.amount.asset_code != amount.asset_code
            || req.amount.asset_scale != amount.asset_scale
        {
            return Err(mismatch("asks for another asset"));
        }
        Ok(TipReceipt {
            recipient,
            payer,
            stream,
            request_id,
            amount,
            ilp_address,
            stream_receipt,
            message: req.message,
            request,
        })
    }

    /// The trust check: `signer` (the receipt event's author) must be the creator or one of
    /// the receiving agents the creator declared (`tip` tags of the live event).
    pub fn check_issuer(
        &self,
        signer: &PublicKey,
        declared_agents: &[PublicKey],
    ) -> Result<(), EventError> {
        if *signer == self.recipient || declared_agents.contains(signer) {
            Ok(())
        } else {
            Err(EventError::bad(
                "pubkey",
                "receipt is not signed by the creator or a receiving agent it declared",
            ))
        }
    }

    /// Check the RFC 0039 receipt with the receipt secret: HMAC, and that its total equals the
    /// receipt's amount. Returns the receipt's (nonce, stream id).
    pub fn verify_stream_receipt(&self, secret: &[u8; 32]) -> Result<([u8; 16], u8), EventError> {
        let r = Receipt::verify(&self.stream_receipt, secret)
            .map_err(|e| EventError::bad("stream_receipt", e.to_string()))?;
        if r.total_received != self.amount.amount {
            return Err(EventError::bad(
                "stream_receipt",
                format!(
                    "receipt total {} differs from the amount {}",
                    r.total_received, self.amount.amount
                ),
            ));
        }
        Ok((r.nonce, r.stream_id))
    }
}

/// Receiving agents a live event declares: `["tip", <tip endpoint url>, <agent pubkey hex>]`.
/// Returns (url, agent) pairs; malformed tags are skipped.
pub fn tip_endpoints(live: &Event) -> Vec<(String, Option<PublicKey>)> {
    all(live, "tip")
        .filter_map(|t| {
            let url = t.get(1)?.clone();
            let agent = t.get(2).and_then(|s| PublicKey::from_hex(s).ok());
            Some((url, agent))
        })
        .collect()
}

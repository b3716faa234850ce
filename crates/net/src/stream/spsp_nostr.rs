//! SPSP over Nostr: two agents that know only each other's npub set up a STREAM connection.
//!
//! Agent Society convention (`protocol/m2m.md` §7.1, §11), ephemeral kinds so relays only
//! fan them out:
//! - request, kind **23194**, from the payer to the payee: tags `[["p", payee]]`, content
//!   NIP-44 v2 of `{"requestId": "<32 hex>", "timestamp": <unix s>, "ilpAddress"?: "..."}`;
//! - response, kind **23195**, from the payee: tags `[["p", payer], ["e", request id]]`,
//!   content NIP-44 v2 of `{"requestId", "destinationAccount", "sharedSecret": base64}`.
//!
//! The sans-io part ([`build_request`], [`answer_request`], [`parse_response`]) verifies ids,
//! signatures, kinds, tags, freshness and the request id; the I/O part runs the exchange:
//! [`query_pool`] (the one payer-side exchange, over every relay of a [`RelayPool`]),
//! [`query_payee`] (on the relays a payee names, e.g. a relay offer's `nostr:` SPSP value),
//! [`query`] (over one [`RelayClient`]) and [`serve`] (the payee). The payee's connection tag
//! is the payer's pubkey hex, so receiver events say who paid.

use std::sync::Arc;
use std::time::Duration;

use nostr::nips::nip44;
use nostr::prelude::{
    Event, EventBuilder, Filter, FinalizeEvent, Keys, Kind, PublicKey, Tag, Timestamp,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::receiver::StreamReceiver;
use super::spsp_http::SpspDetails;
use crate::nostr_relay::client::{ClientOptions, RelayClient, SubItem};
use crate::nostr_relay::pool::{PoolItem, RelayPool, any_accepted};
use tollcast_events::offer::SpspNostr;

/// Kind of an SPSP request event.
pub const KIND_SPSP_REQUEST: u16 = 23194;
/// Kind of an SPSP response event.
pub const KIND_SPSP_RESPONSE: u16 = 23195;
/// How far a request's timestamp may be from our clock.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Why an SPSP-over-Nostr exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpspNostrError {
    /// The event's id or signature is wrong.
    #[error("event id or signature does not verify")]
    BadSignature,
    /// Not the kind expected.
    #[error("expected kind {expected}, got {got}")]
    WrongKind {
        /// Expected kind.
        expected: u16,
        /// Actual kind.
        got: u16,
    },
    /// Not addressed to us / not answering our request.
    #[error("event is not for us: {0}")]
    NotForUs(String),
    /// NIP-44 decryption or the JSON inside failed.
    #[error("cannot read the encrypted content: {0}")]
    BadContent(String),
    /// The request is too old or from the future.
    #[error("request timestamp {0} is more than 5 minutes from now")]
    Stale(u64),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Relay trouble.
    #[error("relay: {0}")]
    Relay(String),
    /// No answer in time.
    #[error("no SPSP answer from {0} within {1:?}: is the payee online on this relay?")]
    Timeout(String, Duration),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody {
    request_id: String,
    timestamp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ilp_address: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseBody {
    request_id: String,
    destination_account: String,
    shared_secret: String,
}

/// A request we sent, to match its response.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    /// The signed kind-23194 event to publish.
    pub event: Event,
    /// Its `requestId`.
    pub request_id: String,
    /// The payee.
    pub payee: PublicKey,
}

fn now_secs() -> u64 {
    Timestamp::now().as_secs()
}

/// Builds a signed SPSP request from `keys` to `payee`.
pub fn build_request(
    keys: &Keys,
    payee: &PublicKey,
    our_ilp_address: Option<&str>,
) -> Result<PendingRequest, SpspNostrError> {
    let request_id = hex::encode(rand::random::<[u8; 16]>());
    let body = RequestBody {
        request_id: request_id.clone(),
        timestamp: now_secs(),
        ilp_address: our_ilp_address.map(str::to_string),
    };
    let json = serde_json::to_string(&body).map_err(|e| SpspNostrError::Sign(e.to_string()))?;
    let content = nip44::encrypt(keys.secret_key(), payee, json, nip44::Version::V2)
        .map_err(|e| SpspNostrError::Sign(e.to_string()))?;
    let event = EventBuilder::new(Kind::Custom(KIND_SPSP_REQUEST), content)
        .tag(Tag::public_key(*payee))
        .finalize(keys)
        .map_err(|e| SpspNostrError::Sign(e.to_string()))?;
    Ok(PendingRequest {
        event,
        request_id,
        payee: *payee,
    })
}

fn check(ev: &Event, kind: u16, me: &PublicKey) -> Result<(), SpspNostrError> {
    ev.verify().map_err(|_| SpspNostrError::BadSignature)?;
    if ev.kind.as_u16() != kind {
        return Err(SpspNostrError::WrongKind {
            expected: kind,
            got: ev.kind.as_u16(),
        });
    }
    if !ev.tags.public_keys().any(|p| p == *me) {
        return Err(SpspNostrError::NotForUs("no p tag with our pubkey".into()));
    }
    Ok(())
}

/// The payee's side: checks a request and answers it with fresh credentials from
/// `receiver` (connection tag = payer's pubkey hex).
pub fn answer_request(
    keys: &Keys,
    receiver: &StreamReceiver,
    request: &Event,
) -> Result<Event, SpspNostrError> {
    let me = keys.public_key();
    check(request, KIND_SPSP_REQUEST, &me)?;
    let plain = nip44::decrypt(keys.secret_key(), &request.pubkey, &request.content)
        .map_err(|e| SpspNostrError::BadContent(e.to_string()))?;
    let body: RequestBody = serde_json::from_str(&plain)
        .map_err(|e| SpspNostrError::BadContent(format!("request JSON: {e}")))?;
    if body.request_id.is_empty() || body.request_id.len() > 128 {
        return Err(SpspNostrError::BadContent(
            "requestId must be 1-128 chars".into(),
        ));
    }
    if body.timestamp.abs_diff(now_secs()) > MAX_CLOCK_SKEW_SECS {
        return Err(SpspNostrError::Stale(body.timestamp));
    }
    let payer_hex = request.pubkey.to_hex();
    let (destination_account, shared_secret) = receiver.generate_credentials(Some(&payer_hex));
    use base64::Engine;
    let resp = ResponseBody {
        request_id: body.request_id,
        destination_account: destination_account.as_str().to_string(),
        shared_secret: base64::engine::general_purpose::STANDARD.encode(shared_secret),
    };
    let json = serde_json::to_string(&resp).map_err(|e| SpspNostrError::Sign(e.to_string()))?;
    let content = nip44::encrypt(keys.secret_key(), &request.pubkey, json, nip44::Version::V2)
        .map_err(|e| SpspNostrError::Sign(e.to_string()))?;
    EventBuilder::new(Kind::Custom(KIND_SPSP_RESPONSE), content)
        .tag(Tag::public_key(request.pubkey))
        .tag(Tag::event(request.id))
        .finalize(keys)
        .map_err(|e| SpspNostrError::Sign(e.to_string()))
}

/// The payer's side: checks that `response` answers `pending` (from its payee, to us, same
/// request id) and returns the SPSP details.
pub fn parse_response(
    keys: &Keys,
    pending: &PendingRequest,
    response: &Event,
) -> Result<SpspDetails, SpspNostrError> {
    check(response, KIND_SPSP_RESPONSE, &keys.public_key())?;
    if response.pubkey != pending.payee {
        return Err(SpspNostrError::NotForUs(
            "response is not from the payee".into(),
        ));
    }
    if !response.tags.event_ids().any(|e| e == pending.event.id) {
        return Err(SpspNostrError::NotForUs(
            "response does not reference our request".into(),
        ));
    }
    let plain = nip44::decrypt(keys.secret_key(), &response.pubkey, &response.content)
        .map_err(|e| SpspNostrError::BadContent(e.to_string()))?;
    let body: ResponseBody = serde_json::from_str(&plain)
        .map_err(|e| SpspNostrError::BadContent(format!("response JSON: {e}")))?;
    if body.request_id != pending.request_id {
        return Err(SpspNostrError::NotForUs("requestId does not match".into()));
    }
    SpspDetails::from_parts(&body.destination_account, &body.shared_secret)
        .map_err(|e| SpspNostrError::BadContent(e.to_string()))
}

/// Asks `payee` for SPSP details through `relay` (a one-relay [`query_pool`]).
pub async fn query(
    relay: &RelayClient,
    keys: &Keys,
    payee: &PublicKey,
    timeout: Duration,
) -> Result<SpspDetails, SpspNostrError> {
    query_pool(
        &RelayPool::from_clients(vec![relay.clone()]),
        keys,
        payee,
        timeout,
    )
    .await
}

/// Asks the key `payee` names on the relays it names (a pool over them when `pool` lacks
/// one of them), or on `pool` when it names none.
pub async fn query_payee(
    pool: &RelayPool,
    keys: &Keys,
    payee: &SpspNostr,
    timeout: Duration,
) -> Result<SpspDetails, SpspNostrError> {
    let have = pool.urls();
    let lacks = |u: &String| {
        !have
            .iter()
            .any(|h| h.trim_end_matches('/') == u.trim_end_matches('/'))
    };
    if payee.relays.iter().any(lacks) {
        let own = RelayPool::new(payee.relays.iter(), ClientOptions::default())
            .map_err(|e| SpspNostrError::Relay(e.to_string()))?;
        query_pool(&own, keys, &payee.pubkey, timeout).await
    } else {
        query_pool(pool, keys, &payee.pubkey, timeout).await
    }
}

/// Asks `payee` for SPSP details through every relay of `pool`: subscribes to the answer
/// first (kind 23195 is ephemeral, never stored), publishes the request and waits for the
/// answer to it, all within `timeout`.
///
/// The subscription is live once every relay has sent EOSE; a relay that is down never says
/// so, so after a third of `timeout` the request goes out through those that did. It fails
/// when no relay takes the request or every relay closes the subscription.
pub async fn query_pool(
    pool: &RelayPool,
    keys: &Keys,
    payee: &PublicKey,
    timeout: Duration,
) -> Result<SpspDetails, SpspNostrError> {
    tokio::time::timeout(timeout, exchange(pool, keys, payee, timeout))
        .await
        .unwrap_or_else(|_| Err(SpspNostrError::Timeout(payee.to_hex(), timeout)))
}

/// Relays that closed a subscription; an error once all of them did.
struct Closures {
    of: usize,
    closed: std::collections::HashSet<String>,
}

impl Closures {
    fn note(&mut self, relay: String, message: &str) -> Result<(), SpspNostrError> {
        self.closed.insert(relay);
        if self.closed.len() >= self.of {
            return Err(SpspNostrError::Relay(format!(
                "subscription closed: {message}"
            )));
        }
        Ok(())
    }
}

async fn exchange(
    pool: &RelayPool,
    keys: &Keys,
    payee: &PublicKey,
    timeout: Duration,
) -> Result<SpspDetails, SpspNostrError> {
    let pending = build_request(keys, payee, None)?;
    let filter = Filter::new()
        .kind(Kind::Custom(KIND_SPSP_RESPONSE))
        .author(*payee)
        .pubkey(keys.public_key())
        .event(pending.event.id);
    let mut sub = pool
        .subscribe(vec![filter])
        .await
        .map_err(|e| SpspNostrError::Relay(e.to_string()))?;
    let mut closures = Closures {
        of: pool.urls().len(),
        closed: Default::default(),
    };
    let closed = || SpspNostrError::Relay("relay client closed".into());
    let live = tokio::time::Instant::now() + timeout / 3;
    while let Ok(item) = tokio::time::timeout_at(live, sub.recv()).await {
        match item.ok_or_else(closed)? {
            PoolItem::AllEose => break,
            PoolItem::Closed { relay, message } => closures.note(relay, &message)?,
            PoolItem::Event { .. } | PoolItem::Eose { .. } => {}
        }
    }
    let acks = pool.publish(&pending.event, timeout).await;
    any_accepted(&acks)
        .map_err(|why| SpspNostrError::Relay(format!("no relay took the request ({why})")))?;
    loop {
        match sub.recv().await.ok_or_else(closed)? {
            PoolItem::Event { event, .. } => match parse_response(keys, &pending, &event) {
                Ok(d) => return Ok(d),
                Err(e) => tracing::debug!("ignoring SPSP response: {e}"),
            },
            PoolItem::Closed { relay, message } => closures.note(relay, &message)?,
            PoolItem::AllEose | PoolItem::Eose { .. } => {}
        }
    }
}

/// Answers SPSP requests addressed to `keys` on `relay` until the returned task is aborted.
/// Resolves once the subscription is live. Bad requests are logged and ignored.
pub async fn serve(
    relay: RelayClient,
    keys: Keys,
    receiver: Arc<StreamReceiver>,
) -> Result<JoinHandle<()>, SpspNostrError> {
    let filter = Filter::new()
        .kind(Kind::Custom(KIND_SPSP_REQUEST))
        .pubkey(keys.public_key())
        .since(Timestamp::from_secs(
            now_secs().saturating_sub(MAX_CLOCK_SKEW_SECS),
        ));
    let mut sub = relay
        .subscribe(vec![filter])
        .await
        .map_err(|e| SpspNostrError::Relay(e.to_string()))?;
    loop {
        match sub.recv().await {
            Some(SubItem::Eose) => break,
            Some(SubItem::Event(_)) => continue,
            Some(SubItem::Closed(m)) => {
                return Err(SpspNostrError::Relay(format!("subscription closed: {m}")));
            }
            None => return Err(SpspNostrError::Relay("relay client closed".into())),
        }
    }
    Ok(tokio::spawn(async move {
        while let Some(item) = sub.recv().await {
            let SubItem::Event(ev) = item else { continue };
            match answer_request(&keys, &receiver, &ev) {
                Ok(resp) => {
                    if let Err(e) = relay.publish(&resp, Duration::from_secs(10)).await {
                        tracing::warn!("SPSP response not published: {e}");
                    }
                }
                Err(e) => tracing::debug!("ignoring SPSP request {}: {e}", ev.id),
            }
        }
    }))
}

/// Parses `npub1...` or 64-char hex into a public key.
pub fn parse_pubkey(s: &str) -> Result<PublicKey, SpspNostrError> {
    PublicKey::parse(s.trim())
        .map_err(|e| SpspNostrError::NotForUs(format!("not an npub or hex pubkey: {e}")))
}

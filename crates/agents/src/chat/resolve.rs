//! Find what a chat or tip client needs from a stream's Nostr relay: the live event (chat
//! rules, tip endpoints) and the relay's pay-to-write ILP address (its NIP-11 document,
//! `tollcast.pay_to_write.ilp_address`).

use std::time::Duration;

use nostr::prelude::{Event, Filter, Kind};
use tollcast_events::StreamAddress;
use tollcast_events::live::KIND_LIVE_EVENT;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_wire::address::Address;

use super::settings::ChatSettings;
use crate::tips::http;

/// A stream as seen from one of its relays.
#[derive(Clone, Debug)]
pub struct ChatTarget {
    /// The newest live event of the stream.
    pub live: Event,
    /// Its chat rules.
    pub settings: ChatSettings,
    /// Where paid writes go (None: the relay advertises no pay-to-write address).
    pub relay_ilp: Option<Address>,
    /// The relay's price per byte (for kinds without a per-message price).
    pub per_byte: Option<u64>,
}

/// Why a stream could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("relay {0}: {1}")]
    Relay(String, String),
    #[error("no live event {0} on {1}: is the stream announced there?")]
    NotFound(String, String),
    #[error("live event: {0}")]
    Settings(String),
}

/// The `http(s)://` URL of a `ws(s)://` relay URL (same host, port and path).
pub fn http_url_of(ws: &str) -> String {
    if let Some(r) = ws.strip_prefix("ws://") {
        format!("http://{r}")
    } else if let Some(r) = ws.strip_prefix("wss://") {
        format!("https://{r}")
    } else {
        ws.to_string()
    }
}

/// Fetch the stream's live event and the relay's NIP-11 pay-to-write details.
pub async fn resolve(
    relay_url: &str,
    stream: &StreamAddress,
    timeout: Duration,
) -> Result<ChatTarget, ResolveError> {
    let client = RelayClient::connect(relay_url, ClientOptions::default())
        .map_err(|e| ResolveError::Relay(relay_url.into(), e.to_string()))?;
    let f = Filter::new()
        .kind(Kind::from(KIND_LIVE_EVENT))
        .author(stream.pubkey)
        .identifier(stream.identifier.clone())
        .limit(1);
    let found = client
        .fetch(vec![f], timeout)
        .await
        .map_err(|e| ResolveError::Relay(relay_url.into(), e.to_string()))?;
    let live = found
        .into_iter()
        .max_by_key(|e| e.created_at)
        .ok_or_else(|| ResolveError::NotFound(stream.to_string(), relay_url.into()))?;
    let settings =
        ChatSettings::from_live_event(&live).map_err(|e| ResolveError::Settings(e.to_string()))?;
    let info = http::json_accept(
        &http_url_of(relay_url),
        None,
        "application/nostr+json",
        timeout,
    )
    .await
    .ok();
    let p2w = info.as_ref().map(|v| &v["tollcast"]["pay_to_write"]);
    let relay_ilp = p2w
        .and_then(|p| p["ilp_address"].as_str())
        .and_then(|a| Address::new(a).ok());
    let per_byte = p2w.and_then(|p| p["price_per_byte"].as_u64());
    Ok(ChatTarget {
        live,
        settings,
        relay_ilp,
        per_byte,
    })
}

//! TOON <-> signed Nostr event, as carried in ILP PREPARE `data` (m2m.md §5.1: the UTF-8 TOON
//! text of the whole signed event, no prefix or trailing newline).

use nostr::prelude::Event;

/// Why ILP `data` is not a TOON-encoded event.
#[derive(Debug, thiserror::Error)]
pub enum ToonEventError {
    #[error("data is not UTF-8")]
    NotUtf8,
    #[error("data is not a TOON-encoded Nostr event: {0}")]
    Decode(String),
    #[error("cannot encode event as TOON: {0}")]
    Encode(String),
}

/// Decode the TOON text in `data` into an event (shape only; the caller verifies id and sig).
pub fn decode_event(data: &[u8]) -> Result<Event, ToonEventError> {
    let text = std::str::from_utf8(data).map_err(|_| ToonEventError::NotUtf8)?;
    // Decode to a generic value first, then let nostr's own deserializer check the shape
    // (64-hex id/pubkey, 128-hex sig, integer kind/created_at, string tags).
    let value: serde_json::Value =
        serde_toon::from_str(text).map_err(|e| ToonEventError::Decode(e.to_string()))?;
    serde_json::from_value(value).map_err(|e| ToonEventError::Decode(e.to_string()))
}

/// Encode a signed event as TOON text (field order id, pubkey, created_at, kind, tags,
/// content, sig, as `@toon-format/toon` emits for the JSON event).
pub fn encode_event(event: &Event) -> Result<String, ToonEventError> {
    // Going through the JSON value keeps the field order of the NIP-01 JSON object.
    let value = serde_json::to_value(event).map_err(|e| ToonEventError::Encode(e.to_string()))?;
    serde_toon::to_string(&value).map_err(|e| ToonEventError::Encode(e.to_string()))
}

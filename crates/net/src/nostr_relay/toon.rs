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
/// Delegates to the events crate so every tollcast component reads one TOON dialect.
pub fn decode_event(data: &[u8]) -> Result<Event, ToonEventError> {
    let text = std::str::from_utf8(data).map_err(|_| ToonEventError::NotUtf8)?;
    tollcast_events::toon::from_toon_unverified(text)
        .map_err(|e| ToonEventError::Decode(e.to_string()))
}

/// Encode a signed event as TOON text with the events crate's canonical writer (the text
/// `@toon-format/toon` writes, with `tags[0]:` for empty tags; see tollcast_events::toon).
pub fn encode_event(event: &Event) -> Result<String, ToonEventError> {
    Ok(tollcast_events::toon::to_toon(event))
}

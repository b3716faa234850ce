//! NIP-53 live chat message (kind 1311), tied to a stream by its `a` tag.

use nostr::prelude::{Event, EventBuilder, EventId, Keys, Kind};

use crate::error::{BuildError, EventError};
use crate::tags::{StreamAddress, check, opt_val, required, single, tag, val};

/// NIP-53 "Live Chat Message".
pub const KIND_LIVE_CHAT: u16 = 1311;

/// A chat line in a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// The stream (`a` tag, marker `root`).
    pub stream: StreamAddress,
    /// Relay hint for the stream event.
    pub relay: Option<String>,
    /// Optional reply target (`e` tag).
    pub reply_to: Option<EventId>,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A message to `stream`.
    pub fn new(stream: StreamAddress, content: impl Into<String>) -> Self {
        ChatMessage {
            stream,
            relay: None,
            reply_to: None,
            content: content.into(),
        }
    }

    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let mut b =
            EventBuilder::new(Kind::from(KIND_LIVE_CHAT), self.content.clone()).tag(tag(&[
                "a",
                &self.stream.to_string(),
                self.relay.as_deref().unwrap_or(""),
                "root",
            ]));
        if let Some(e) = self.reply_to {
            b = b.tag(tag(&["e", &e.to_hex()]));
        }
        b
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify a kind-1311 event.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_LIVE_CHAT, "1311")?;
        let a = required(ev, "a")?;
        let stream: StreamAddress = val(a, 1, "a")?.parse()?;
        let reply_to = match single(ev, "e")? {
            Some(t) => Some(
                EventId::from_hex(val(t, 1, "e")?)
                    .map_err(|e| EventError::bad("e", format!("bad event id: {e}")))?,
            ),
            None => None,
        };
        Ok(ChatMessage {
            stream,
            relay: opt_val(a, 2),
            reply_to,
            content: ev.content.clone(),
        })
    }
}

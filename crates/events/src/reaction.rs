//! NIP-25 reactions (kind 7) to live chat lines, tied to the stream by an `a` tag so a chat
//! client can fetch chat and reactions with one `#a` filter.

use nostr::prelude::{Event, EventBuilder, EventId, Keys, Kind, PublicKey};

use crate::error::{BuildError, EventError};
use crate::jobs::parse_event_id;
use crate::tags::{StreamAddress, check, parse_pubkey, required, single, tag, val};

/// NIP-25 reaction.
pub const KIND_REACTION: u16 = 7;

/// A reaction (`+`, `-` or an emoji) to one event of a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    /// The event reacted to (`e`).
    pub target: EventId,
    /// Its author (`p`).
    pub target_author: PublicKey,
    /// Its kind (`k`), normally 1311.
    pub target_kind: u16,
    /// The stream (`a`).
    pub stream: StreamAddress,
    /// `+`, `-` or an emoji.
    pub content: String,
}

impl Reaction {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        EventBuilder::new(Kind::from(KIND_REACTION), self.content.clone())
            .tag(tag(&["e", &self.target.to_hex()]))
            .tag(tag(&["p", &self.target_author.to_hex()]))
            .tag(tag(&["a", &self.stream.to_string()]))
            .tag(tag(&["k", &self.target_kind.to_string()]))
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify a kind-7 event that carries an `a` stream tag.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_REACTION, "7")?;
        let target_kind = match single(ev, "k")? {
            Some(t) => {
                let k = val(t, 1, "k")?;
                k.parse::<u16>()
                    .map_err(|_| EventError::bad("k", format!("`{k}` is not a kind")))?
            }
            None => crate::chat::KIND_LIVE_CHAT,
        };
        if ev.content.chars().count() > 64 {
            return Err(EventError::BadContent(
                "a reaction is at most 64 characters".into(),
            ));
        }
        Ok(Reaction {
            target: parse_event_id(val(required(ev, "e")?, 1, "e")?)?,
            target_author: parse_pubkey(val(required(ev, "p")?, 1, "p")?, "p")?,
            target_kind,
            stream: val(required(ev, "a")?, 1, "a")?.parse()?,
            content: ev.content.clone(),
        })
    }
}

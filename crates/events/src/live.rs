//! NIP-53 live streaming event (kind 30311, addressable) as tollcast publishes it.

use std::str::FromStr;

use nostr::prelude::{Event, EventBuilder, Keys, Kind, PublicKey};

use crate::error::{BuildError, EventError};
use crate::tags::{
    StreamAddress, all, check, opt_val, parse_pubkey, parse_u64, single_value, tag, val,
};

/// NIP-53 "Live Streaming Event".
pub const KIND_LIVE_EVENT: u16 = 30311;

/// `status` tag of a live event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveStatus {
    /// Announced, not started.
    Planned,
    /// On air.
    Live,
    /// Over.
    Ended,
}

impl LiveStatus {
    /// The tag value.
    pub fn as_str(&self) -> &'static str {
        match self {
            LiveStatus::Planned => "planned",
            LiveStatus::Live => "live",
            LiveStatus::Ended => "ended",
        }
    }
}

impl FromStr for LiveStatus {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, EventError> {
        match s {
            "planned" => Ok(LiveStatus::Planned),
            "live" => Ok(LiveStatus::Live),
            "ended" => Ok(LiveStatus::Ended),
            o => Err(EventError::bad(
                "status",
                format!("`{o}` is not planned, live or ended"),
            )),
        }
    }
}

/// A `p` tag of a live event: `["p", pubkey, relay, role, proof]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participant {
    /// Participant's key.
    pub pubkey: PublicKey,
    /// Relay hint (may be empty on the wire).
    pub relay: Option<String>,
    /// Role, e.g. `Host`, `Speaker`, or a tollcast agent role such as `transcoder`.
    pub role: Option<String>,
    /// NIP-53 proof (signed by the participant), if any.
    pub proof: Option<String>,
}

/// A tollcast stream announcement (NIP-53 kind 30311).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LiveEvent {
    /// `d`: unique per stream of this author (required).
    pub identifier: String,
    /// `title`.
    pub title: Option<String>,
    /// `summary`.
    pub summary: Option<String>,
    /// `image`: preview image URL.
    pub image: Option<String>,
    /// `streaming`: playback URLs (LL-HLS playlists of relays or the origin).
    pub streaming: Vec<String>,
    /// `recording`: VOD URL once ended.
    pub recording: Option<String>,
    /// `status`.
    pub status: Option<LiveStatus>,
    /// `starts` (unix seconds).
    pub starts: Option<u64>,
    /// `ends` (unix seconds).
    pub ends: Option<u64>,
    /// `current_participants`.
    pub current_participants: Option<u64>,
    /// `total_participants`.
    pub total_participants: Option<u64>,
    /// `t` hashtags.
    pub hashtags: Vec<String>,
    /// `p` participants with roles.
    pub participants: Vec<Participant>,
    /// `relays`: where chat and job events for this stream go.
    pub relays: Vec<String>,
}

impl LiveEvent {
    /// A live event with identifier `d` and nothing else set.
    pub fn new(identifier: impl Into<String>) -> Self {
        LiveEvent {
            identifier: identifier.into(),
            ..Default::default()
        }
    }

    /// The unsigned event (tags in NIP-53 order).
    pub fn to_builder(&self) -> Result<EventBuilder, BuildError> {
        if self.identifier.is_empty() {
            return Err(BuildError::Invalid(
                "live event needs a non-empty `d` identifier".into(),
            ));
        }
        let mut b =
            EventBuilder::new(Kind::from(KIND_LIVE_EVENT), "").tag(tag(&["d", &self.identifier]));
        let opt = |b: EventBuilder, name: &str, v: &Option<String>| match v {
            Some(v) => b.tag(tag(&[name, v])),
            None => b,
        };
        b = opt(b, "title", &self.title);
        b = opt(b, "summary", &self.summary);
        b = opt(b, "image", &self.image);
        for t in &self.hashtags {
            b = b.tag(tag(&["t", t]));
        }
        for s in &self.streaming {
            b = b.tag(tag(&["streaming", s]));
        }
        b = opt(b, "recording", &self.recording);
        let num = |b: EventBuilder, name: &str, v: Option<u64>| match v {
            Some(v) => b.tag(tag(&[name, &v.to_string()])),
            None => b,
        };
        b = num(b, "starts", self.starts);
        b = num(b, "ends", self.ends);
        if let Some(s) = self.status {
            b = b.tag(tag(&["status", s.as_str()]));
        }
        b = num(b, "current_participants", self.current_participants);
        b = num(b, "total_participants", self.total_participants);
        for p in &self.participants {
            let mut v = vec![
                "p".to_string(),
                p.pubkey.to_hex(),
                p.relay.clone().unwrap_or_default(),
                p.role.clone().unwrap_or_default(),
            ];
            if let Some(proof) = &p.proof {
                v.push(proof.clone());
            }
            b = b.tag(tag(&v));
        }
        if !self.relays.is_empty() {
            let mut v = vec!["relays".to_string()];
            v.extend(self.relays.iter().cloned());
            b = b.tag(tag(&v));
        }
        Ok(b)
    }

    /// Sign with `keys` (created_at = `created_at` or now).
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder()?, keys, created_at)
    }

    /// Parse and verify a kind-30311 event.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_LIVE_EVENT, "30311")?;
        let identifier = single_value(ev, "d")?.ok_or(EventError::MissingTag("d"))?;
        // The builder refuses an empty identifier: whatever parses must re-build.
        if identifier.is_empty() {
            return Err(EventError::BadTag {
                tag: "d",
                reason: "must not be empty".into(),
            });
        }
        let num = |name: &'static str| -> Result<Option<u64>, EventError> {
            single_value(ev, name)?
                .map(|v| parse_u64(&v, name))
                .transpose()
        };
        let mut participants = Vec::new();
        for t in all(ev, "p") {
            participants.push(Participant {
                pubkey: parse_pubkey(val(t, 1, "p")?, "p")?,
                relay: opt_val(t, 2),
                role: opt_val(t, 3),
                proof: opt_val(t, 4),
            });
        }
        let relays = match crate::tags::single(ev, "relays")? {
            Some(t) => t[1..].to_vec(),
            None => Vec::new(),
        };
        Ok(LiveEvent {
            identifier,
            title: single_value(ev, "title")?,
            summary: single_value(ev, "summary")?,
            image: single_value(ev, "image")?,
            streaming: all(ev, "streaming")
                .map(|t| val(t, 1, "streaming").map(str::to_string))
                .collect::<Result<_, _>>()?,
            recording: single_value(ev, "recording")?,
            status: single_value(ev, "status")?.map(|s| s.parse()).transpose()?,
            starts: num("starts")?,
            ends: num("ends")?,
            current_participants: num("current_participants")?,
            total_participants: num("total_participants")?,
            hashtags: all(ev, "t")
                .map(|t| val(t, 1, "t").map(str::to_string))
                .collect::<Result<_, _>>()?,
            participants,
            relays,
        })
    }

    /// This stream's address, given its author.
    pub fn address(&self, author: PublicKey) -> StreamAddress {
        StreamAddress::new(author, self.identifier.clone())
    }
}

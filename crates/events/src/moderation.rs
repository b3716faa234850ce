//! Moderation events: NIP-56 reports (kind 1984) and takedown votes, which are NIP-32 labels
//! (kind 1985) in the `tollcast.moderation` namespace on a stream (and optionally one event).

use std::str::FromStr;

use nostr::prelude::{Event, EventBuilder, EventId, Keys, Kind, PublicKey};

use crate::error::{BuildError, EventError};
use crate::jobs::parse_event_id;
use crate::tags::{StreamAddress, check, parse_pubkey, required, single, tag, val};

/// NIP-56 report.
pub const KIND_REPORT: u16 = 1984;
/// NIP-32 label (used for takedown votes).
pub const KIND_LABEL: u16 = 1985;
/// Label namespace of tollcast moderation votes.
pub const MODERATION_NAMESPACE: &str = "tollcast.moderation";

/// NIP-56 report type (3rd value of the `p`/`e` tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportType {
    /// Depictions of nudity, porn, etc.
    Nudity,
    /// Virus, trojan, spyware, scams.
    Malware,
    /// Profanity, hateful speech.
    Profanity,
    /// Possibly illegal content.
    Illegal,
    /// Spam.
    Spam,
    /// Someone pretending to be someone else.
    Impersonation,
    /// Anything else.
    Other,
}

impl ReportType {
    /// The tag value.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReportType::Nudity => "nudity",
            ReportType::Malware => "malware",
            ReportType::Profanity => "profanity",
            ReportType::Illegal => "illegal",
            ReportType::Spam => "spam",
            ReportType::Impersonation => "impersonation",
            ReportType::Other => "other",
        }
    }
}

impl FromStr for ReportType {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, EventError> {
        Ok(match s {
            "nudity" => ReportType::Nudity,
            "malware" => ReportType::Malware,
            "profanity" => ReportType::Profanity,
            "illegal" => ReportType::Illegal,
            "spam" => ReportType::Spam,
            "impersonation" => ReportType::Impersonation,
            "other" => ReportType::Other,
            o => return Err(EventError::bad("p", format!("unknown report type `{o}`"))),
        })
    }
}

/// A NIP-56 report of a user, optionally of one of their events (e.g. a chat line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Reported user.
    pub pubkey: PublicKey,
    /// Reported event, if any.
    pub event: Option<EventId>,
    /// Why.
    pub report_type: ReportType,
    /// Free text.
    pub content: String,
}

impl Report {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let ty = self.report_type.as_str();
        let mut b = EventBuilder::new(Kind::from(KIND_REPORT), self.content.clone()).tag(tag(&[
            "p",
            &self.pubkey.to_hex(),
            ty,
        ]));
        if let Some(e) = self.event {
            b = b.tag(tag(&["e", &e.to_hex(), ty]));
        }
        b
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify a kind-1984 event.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_REPORT, "1984")?;
        let p = required(ev, "p")?;
        let report_type: ReportType = val(p, 2, "p")?.parse()?;
        let event = match single(ev, "e")? {
            Some(t) => Some(parse_event_id(val(t, 1, "e")?)?),
            None => None,
        };
        Ok(Report {
            pubkey: parse_pubkey(val(p, 1, "p")?, "p")?,
            event,
            report_type,
            content: ev.content.clone(),
        })
    }
}

/// A moderator's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vote {
    /// Take the stream (or the event) down.
    Takedown,
    /// Keep it.
    Keep,
}

impl Vote {
    /// The label value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Vote::Takedown => "takedown",
            Vote::Keep => "keep",
        }
    }
}

/// A takedown vote: kind 1985 with `["L", "tollcast.moderation"]`,
/// `["l", "takedown"|"keep", "tollcast.moderation"]`, `["a", stream]`, optional `["e", id]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakedownVote {
    /// The stream.
    pub stream: StreamAddress,
    /// A single event of the stream (e.g. a manifest or a chat line), if the vote is about it.
    pub event: Option<EventId>,
    /// The vote.
    pub vote: Vote,
    /// Reason.
    pub reason: String,
}

impl TakedownVote {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let mut b = EventBuilder::new(Kind::from(KIND_LABEL), self.reason.clone())
            .tag(tag(&["L", MODERATION_NAMESPACE]))
            .tag(tag(&["l", self.vote.as_str(), MODERATION_NAMESPACE]))
            .tag(tag(&["a", &self.stream.to_string()]));
        if let Some(e) = self.event {
            b = b.tag(tag(&["e", &e.to_hex()]));
        }
        b
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify a kind-1985 event in the tollcast moderation namespace.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_LABEL, "1985")?;
        if val(required(ev, "L")?, 1, "L")? != MODERATION_NAMESPACE {
            return Err(EventError::bad(
                "L",
                format!("namespace is not {MODERATION_NAMESPACE}"),
            ));
        }
        let l = required(ev, "l")?;
        if val(l, 2, "l")? != MODERATION_NAMESPACE {
            return Err(EventError::bad(
                "l",
                format!("label namespace is not {MODERATION_NAMESPACE}"),
            ));
        }
        let vote = match val(l, 1, "l")? {
            "takedown" => Vote::Takedown,
            "keep" => Vote::Keep,
            o => return Err(EventError::bad("l", format!("unknown vote `{o}`"))),
        };
        let event = match single(ev, "e")? {
            Some(t) => Some(parse_event_id(val(t, 1, "e")?)?),
            None => None,
        };
        Ok(TakedownVote {
            stream: val(required(ev, "a")?, 1, "a")?.parse()?,
            event,
            vote,
            reason: ev.content.clone(),
        })
    }
}

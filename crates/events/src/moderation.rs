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

/// A label in the moderation namespace other than a vote: `["l", <value>, ns]`.
fn check_label(ev: &Event, value: &'static str) -> Result<(), EventError> {
    check(ev, KIND_LABEL, "1985")?;
    if val(required(ev, "L")?, 1, "L")? != MODERATION_NAMESPACE {
        return Err(EventError::bad(
            "L",
            format!("namespace is not {MODERATION_NAMESPACE}"),
        ));
    }
    let l = required(ev, "l")?;
    if val(l, 1, "l")? != value || val(l, 2, "l")? != MODERATION_NAMESPACE {
        return Err(EventError::bad(
            "l",
            format!("not a `{value}` label in {MODERATION_NAMESPACE}"),
        ));
    }
    Ok(())
}

fn label_builder(value: &str, content: &str, stream: &StreamAddress) -> EventBuilder {
    EventBuilder::new(Kind::from(KIND_LABEL), content.to_string())
        .tag(tag(&["L", MODERATION_NAMESPACE]))
        .tag(tag(&["l", value, MODERATION_NAMESPACE]))
        .tag(tag(&["a", &stream.to_string()]))
}

/// A takedown proposal: kind 1985, `["l", "proposal", ns]`, `a` stream, `threshold` (votes
/// needed), `p`* the moderator panel asked to vote, content = the case (why).
///
/// Votes ([`TakedownVote`]) are counted per stream: the newest vote of each panel member
/// counts, so a moderator can change its mind (e.g. after an [`Appeal`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakedownProposal {
    /// The stream.
    pub stream: StreamAddress,
    /// Takedown votes needed.
    pub threshold: u32,
    /// Moderators asked to vote.
    pub panel: Vec<PublicKey>,
    /// The case.
    pub reason: String,
}

impl TakedownProposal {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let mut b = label_builder("proposal", &self.reason, &self.stream)
            .tag(tag(&["threshold", &self.threshold.to_string()]));
        for p in &self.panel {
            b = b.tag(tag(&["p", &p.to_hex()]));
        }
        b
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check_label(ev, "proposal")?;
        let threshold = crate::tags::parse_u64(
            val(required(ev, "threshold")?, 1, "threshold")?,
            "threshold",
        )?;
        let threshold = u32::try_from(threshold)
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| EventError::bad("threshold", "must be 1..2^32"))?;
        let mut panel = Vec::new();
        for t in crate::tags::all(ev, "p") {
            panel.push(parse_pubkey(val(t, 1, "p")?, "p")?);
        }
        Ok(TakedownProposal {
            stream: val(required(ev, "a")?, 1, "a")?.parse()?,
            threshold,
            panel,
            reason: ev.content.clone(),
        })
    }
}

/// An appeal by the creator (or anyone) against a takedown: kind 1985,
/// `["l", "appeal", ns]`, `a` stream, content = the argument. Moderators re-review on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appeal {
    /// The stream.
    pub stream: StreamAddress,
    /// The argument.
    pub argument: String,
}

impl Appeal {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        label_builder("appeal", &self.argument, &self.stream)
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check_label(ev, "appeal")?;
        Ok(Appeal {
            stream: val(required(ev, "a")?, 1, "a")?.parse()?,
            argument: ev.content.clone(),
        })
    }
}

/// A relay's announcement that it stopped (or resumed) serving a stream: kind 1985,
/// `["l", "taken-down" | "restored", ns]`, `a` stream, `p`* the moderators whose votes
/// decided, content = JSON reason (the same body the relay answers with HTTP 451).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakedownNotice {
    /// The stream.
    pub stream: StreamAddress,
    /// True: stopped serving; false: serving again.
    pub taken_down: bool,
    /// Moderators whose takedown votes counted.
    pub moderators: Vec<PublicKey>,
    /// JSON reason.
    pub reason: String,
}

impl TakedownNotice {
    fn value(&self) -> &'static str {
        if self.taken_down {
            "taken-down"
        } else {
            "restored"
        }
    }

    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let mut b = label_builder(self.value(), &self.reason, &self.stream);
        for p in &self.moderators {
            b = b.tag(tag(&["p", &p.to_hex()]));
        }
        b
    }

    /// Sign with the relay's keys.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        let taken_down = match check_label(ev, "taken-down") {
            Ok(()) => true,
            Err(_) => {
                check_label(ev, "restored")?;
                false
            }
        };
        let mut moderators = Vec::new();
        for t in crate::tags::all(ev, "p") {
            moderators.push(parse_pubkey(val(t, 1, "p")?, "p")?);
        }
        Ok(TakedownNotice {
            stream: val(required(ev, "a")?, 1, "a")?.parse()?,
            taken_down,
            moderators,
            reason: ev.content.clone(),
        })
    }
}

/// NIP-51 mute list (kind 10000, replaceable: one per author).
pub const KIND_MUTE_LIST: u16 = 10000;
/// NIP-51 follow set (kind 30000, addressable); tollcast moderators publish per-stream block
/// sets with `d` = `block:<stream address>`.
pub const KIND_FOLLOW_SET: u16 = 30000;

/// A public NIP-51 mute list (kind 10000) or per-stream block set (kind 30000): muted
/// pubkeys (`p`) and lower-case words (`word`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MuteList {
    /// For a kind-30000 block set: the stream it applies to (`d` = `block:<address>`).
    /// None: a kind-10000 mute list.
    pub stream: Option<StreamAddress>,
    /// Muted pubkeys.
    pub pubkeys: Vec<PublicKey>,
    /// Muted words (lower case).
    pub words: Vec<String>,
}

impl MuteList {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let mut b = match &self.stream {
            Some(s) => EventBuilder::new(Kind::from(KIND_FOLLOW_SET), "")
                .tag(tag(&["d", &format!("block:{s}")])),
            None => EventBuilder::new(Kind::from(KIND_MUTE_LIST), ""),
        };
        for p in &self.pubkeys {
            b = b.tag(tag(&["p", &p.to_hex()]));
        }
        for w in &self.words {
            b = b.tag(tag(&["word", &w.to_lowercase()]));
        }
        b
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify a kind-10000 list or a kind-30000 `block:` set (private, encrypted
    /// items in `content` are ignored).
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        crate::verify(ev)?;
        let stream = match ev.kind.as_u16() {
            KIND_MUTE_LIST => None,
            KIND_FOLLOW_SET => {
                let d = crate::tags::single_value(ev, "d")?.ok_or(EventError::MissingTag("d"))?;
                let addr = d
                    .strip_prefix("block:")
                    .ok_or_else(|| EventError::bad("d", "not a `block:<stream>` set"))?;
                Some(addr.parse()?)
            }
            got => {
                return Err(EventError::WrongKind {
                    expected: "10000 or 30000",
                    got,
                });
            }
        };
        let mut pubkeys = Vec::new();
        for t in crate::tags::all(ev, "p") {
            pubkeys.push(parse_pubkey(val(t, 1, "p")?, "p")?);
        }
        let words = crate::tags::all(ev, "word")
            .filter_map(|t| t.get(1).map(|w| w.to_lowercase()))
            .collect();
        Ok(MuteList {
            stream,
            pubkeys,
            words,
        })
    }
}

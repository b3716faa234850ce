//! Revenue splits of a stream: who gets which share of what viewers pay the relays.
//!
//! The creator puts `split` tags on the kind-30311 live event it signs (so relays cannot
//! invent payees), one per payee:
//!
//! ```text
//! ["split", <role>, <pay to>, <weight>, <pubkey hex>?]
//! ["split", "creator",    "http://creator.example/.well-known/pay", "80"]
//! ["split", "transcoder", "$transcoder.example",                    "20", "<hex>"]
//! ```
//!
//! - `role`: `creator`, `transcoder`, `relay` or `upstream` (who the payee is, for books and
//!   dashboards; payouts treat all alike);
//! - `pay to`: an SPSP endpoint (`http(s)://…`) or payment pointer (`$host/path`);
//! - `weight`: a positive integer; shares are proportional to weights;
//! - `pubkey` (optional): the payee's Nostr key, to show and to audit.
//!
//! A relay first takes what its own config says — its margin and the share of its upstream
//! relay, in parts per million of viewer revenue — and divides the rest over the event's
//! `split` tags by weight. Rounding never loses money: shares are computed on cumulative
//! revenue (`floor(total * share)`), and the residue below one base unit per payee stays with
//! the relay, booked as such. Without `split` tags the relay keeps the whole rest as unassigned.

use nostr::prelude::{Event, EventBuilder, PublicKey, Tag};

use crate::error::EventError;
use crate::live::KIND_LIVE_EVENT;
use crate::tags::{all, check, parse_pubkey, parse_u64, tag, val};

/// Tag name.
pub const SPLIT_TAG: &str = "split";

/// Most `split` tags honoured on one event (more is refused: a relay pays each one).
pub const MAX_SPLITS: usize = 16;

/// Who a payee is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SplitRole {
    Creator,
    Transcoder,
    Relay,
    Upstream,
}

impl SplitRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            SplitRole::Creator => "creator",
            SplitRole::Transcoder => "transcoder",
            SplitRole::Relay => "relay",
            SplitRole::Upstream => "upstream",
        }
    }
}

impl std::str::FromStr for SplitRole {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, EventError> {
        Ok(match s {
            "creator" => SplitRole::Creator,
            "transcoder" => SplitRole::Transcoder,
            "relay" => SplitRole::Relay,
            "upstream" => SplitRole::Upstream,
            other => {
                return Err(EventError::bad(
                    "split",
                    format!("role `{other}` (want creator, transcoder, relay or upstream)"),
                ));
            }
        })
    }
}

impl std::fmt::Display for SplitRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One payee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitShare {
    pub role: SplitRole,
    /// SPSP URL or payment pointer.
    pub pay_to: String,
    /// Positive weight.
    pub weight: u32,
    pub pubkey: Option<PublicKey>,
}

impl SplitShare {
    pub fn new(role: SplitRole, pay_to: impl Into<String>, weight: u32) -> Self {
        Self {
            role,
            pay_to: pay_to.into(),
            weight,
            pubkey: None,
        }
    }

    /// The tag.
    pub fn to_tag(&self) -> Tag {
        let w = self.weight.to_string();
        match &self.pubkey {
            Some(pk) => tag(&[
                SPLIT_TAG,
                self.role.as_str(),
                &self.pay_to,
                &w,
                &pk.to_hex(),
            ]),
            None => tag(&[SPLIT_TAG, self.role.as_str(), &self.pay_to, &w]),
        }
    }

    /// Parses one `split` tag (name included).
    pub fn from_tag(t: &[String]) -> Result<Self, EventError> {
        let role: SplitRole = val(t, 1, "split")?.parse()?;
        let pay_to = val(t, 2, "split")?.to_string();
        if !valid_pay_to(&pay_to) {
            return Err(EventError::bad(
                "split",
                format!("`{pay_to}` is not an SPSP URL (http(s)://…) or payment pointer ($host/…)"),
            ));
        }
        let weight = parse_u64(val(t, 3, "split")?, "split")?;
        if weight == 0 || weight > u32::MAX as u64 {
            return Err(EventError::bad(
                "split",
                format!("weight {weight} (want 1 to {})", u32::MAX),
            ));
        }
        let pubkey = match t.get(4).filter(|s| !s.is_empty()) {
            Some(pk) => Some(parse_pubkey(pk, "split")?),
            None => None,
        };
        Ok(Self {
            role,
            pay_to,
            weight: weight as u32,
            pubkey,
        })
    }

    /// Parses the CLI form `role=pay_to=weight` (e.g. `creator=http://h/.well-known/pay=80`).
    pub fn parse_cli(s: &str) -> Result<Self, EventError> {
        let mut it = s.splitn(2, '=');
        let role = it.next().unwrap_or_default();
        let rest = it.next().ok_or_else(|| {
            EventError::bad(
                "split",
                "want role=pay_to=weight, e.g. creator=$host/pay=80",
            )
        })?;
        let (pay_to, weight) = rest.rsplit_once('=').ok_or_else(|| {
            EventError::bad(
                "split",
                "want role=pay_to=weight, e.g. creator=$host/pay=80",
            )
        })?;
        Self::from_tag(&[
            SPLIT_TAG.to_string(),
            role.to_string(),
            pay_to.to_string(),
            weight.to_string(),
        ])
    }
}

fn valid_pay_to(s: &str) -> bool {
    let ok_chars = !s.is_empty() && s.len() <= 2048 && !s.chars().any(char::is_whitespace);
    ok_chars
        && (s.starts_with("http://") || s.starts_with("https://") || s.starts_with('$'))
        && s.len() > 8
}

/// The split of one stream (the event's `split` tags, in order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Splits {
    pub shares: Vec<SplitShare>,
}

impl Splits {
    pub fn total_weight(&self) -> u64 {
        self.shares.iter().map(|s| s.weight as u64).sum()
    }

    /// The `split` tags.
    pub fn to_tags(&self) -> Vec<Tag> {
        self.shares.iter().map(SplitShare::to_tag).collect()
    }

    /// `builder` with the `split` tags added (e.g. a live event's builder before signing).
    pub fn add_to(&self, builder: EventBuilder) -> EventBuilder {
        builder.tags(self.to_tags())
    }

    /// The `split` tags of any event (no signature check; see [`Self::from_live_event`]).
    pub fn from_tags(tags: &[Tag]) -> Result<Self, EventError> {
        let mut shares = Vec::new();
        for t in tags.iter().map(|t| t.as_slice()) {
            if t.first().map(String::as_str) == Some(SPLIT_TAG) {
                shares.push(SplitShare::from_tag(t)?);
            }
        }
        if shares.len() > MAX_SPLITS {
            return Err(EventError::bad(
                "split",
                format!("{} payees (at most {MAX_SPLITS})", shares.len()),
            ));
        }
        Ok(Self { shares })
    }

    /// The splits of a signed kind-30311 live event (id, signature and kind checked).
    pub fn from_live_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_LIVE_EVENT, "30311")?;
        let tags: Vec<Tag> = all(ev, SPLIT_TAG)
            .filter_map(|t| Tag::parse(t.to_vec()).ok())
            .collect();
        Self::from_tags(&tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::LiveEvent;
    use nostr::prelude::Keys;

    #[test]
    fn tags_round_trip_on_a_signed_live_event() {
        let keys = Keys::generate();
        let mut t = SplitShare::new(SplitRole::Transcoder, "$transcoder.example", 20);
        t.pubkey = Some(Keys::generate().public_key());
        let splits = Splits {
            shares: vec![
                SplitShare::new(SplitRole::Creator, "http://127.0.0.1:9/.well-known/pay", 80),
                t,
            ],
        };
        let b = splits.add_to(LiveEvent::new("show").to_builder().unwrap());
        let ev = crate::finish(b, &keys, None).unwrap();
        let back = Splits::from_live_event(&ev).unwrap();
        assert_eq!(back, splits);
        assert_eq!(back.total_weight(), 100);
        // The live event itself still parses.
        assert!(LiveEvent::from_event(&ev).is_ok());
    }

    #[test]
    fn bad_tags_are_refused() {
        let bad = |v: &[&str]| {
            let v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
            SplitShare::from_tag(&v).is_err()
        };
        assert!(bad(&["split", "boss", "$h/p", "1"]));
        assert!(bad(&["split", "creator", "ftp://h/p", "1"]));
        assert!(bad(&["split", "creator", "$h/p", "0"]));
        assert!(bad(&["split", "creator", "$h/p", "-1"]));
        assert!(bad(&["split", "creator", "$h/p", "99999999999"]));
        assert!(bad(&["split", "creator", "$h/p"]));
        assert!(bad(&["split", "creator", "$h/p", "1", "nothex"]));
        assert!(bad(&["split", "creator", "$h a/p", "1"]));
    }

    #[test]
    fn cli_form() {
        let s = SplitShare::parse_cli("creator=http://127.0.0.1:80/.well-known/pay=80").unwrap();
        assert_eq!(s.role, SplitRole::Creator);
        assert_eq!(s.pay_to, "http://127.0.0.1:80/.well-known/pay");
        assert_eq!(s.weight, 80);
        assert!(SplitShare::parse_cli("creator").is_err());
        assert!(SplitShare::parse_cli("creator=$x").is_err());
    }
}

//! A stream's chat rules, as the creator writes them into its NIP-53 live event (kind 30311).
//!
//! Tags (all optional; tollcast's own, ignored by other NIP-53 clients):
//! - `["chat_price", <amount>, <asset code>, <asset scale>]`: price of one chat message or
//!   reaction in base units of the relay's asset, paid with the pay-to-write PREPARE.
//!   Absent: the relay's ordinary per-byte price applies.
//! - `["slow_mode", <seconds>]`: at most one chat message per author per this many seconds.
//! - `["chat_mode", "subscribers"]`: only subscribers may chat. A subscriber is a pubkey with
//!   a valid tip receipt (kind 9737) for this stream signed by the creator or a declared tip
//!   agent (`["tip", url, agent pubkey]`).
//! - `["p", <pubkey>, <relay>, "moderator"]` (role compared case-insensitively): moderators.
//!
//! The creator and its moderators chat for free and are exempt from slow mode and muting.

use nostr::prelude::{Event, PublicKey};
use tollcast_events::StreamAddress;
use tollcast_events::live::{KIND_LIVE_EVENT, LiveEvent};
use tollcast_events::tip::tip_endpoints;

/// Chat rules of one stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatSettings {
    /// The stream.
    pub stream: StreamAddress,
    /// Price per message (base units), if the creator set one.
    pub price: Option<u64>,
    /// Asset of `price` (code, scale), as written by the creator.
    pub asset: Option<(String, u8)>,
    /// Minimum seconds between two messages of one author (0: off).
    pub slow_mode_secs: u64,
    /// Only subscribers may chat.
    pub subscribers_only: bool,
    /// Moderators named in the live event.
    pub moderators: Vec<PublicKey>,
    /// Tip receiving agents named in the live event (trusted receipt signers).
    pub tip_agents: Vec<PublicKey>,
}

/// Why a live event could not be read as chat settings.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("not a valid live event: {0}")]
    Live(#[from] tollcast_events::EventError),
    #[error("tag `{0}`: {1}")]
    Tag(&'static str, String),
}

fn values<'a>(ev: &'a Event, name: &'a str) -> impl Iterator<Item = &'a [String]> + 'a {
    ev.tags
        .iter()
        .map(|t| t.as_slice())
        .filter(move |t| t.first().map(String::as_str) == Some(name))
}

fn num(s: Option<&String>, tag: &'static str) -> Result<u64, SettingsError> {
    let s = s.ok_or_else(|| SettingsError::Tag(tag, "value missing".into()))?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SettingsError::Tag(tag, format!("`{s}` is not a number")));
    }
    s.parse()
        .map_err(|_| SettingsError::Tag(tag, format!("`{s}` is out of range")))
}

impl ChatSettings {
    /// Read the chat rules of a signed kind-30311 event (id and signature verified).
    pub fn from_live_event(ev: &Event) -> Result<Self, SettingsError> {
        let live = LiveEvent::from_event(ev)?;
        let stream = live.address(ev.pubkey);
        let (mut price, mut asset) = (None, None);
        if let Some(t) = values(ev, "chat_price").next() {
            price = Some(num(t.get(1), "chat_price")?);
            if let (Some(code), Some(scale)) = (t.get(2), t.get(3)) {
                let scale = num(Some(scale), "chat_price")?;
                let scale = u8::try_from(scale)
                    .ok()
                    .filter(|s| *s <= 18)
                    .ok_or_else(|| SettingsError::Tag("chat_price", "scale above 18".into()))?;
                asset = Some((code.clone(), scale));
            }
        }
        let slow_mode_secs = match values(ev, "slow_mode").next() {
            Some(t) => num(t.get(1), "slow_mode")?,
            None => 0,
        };
        let subscribers_only = values(ev, "chat_mode")
            .next()
            .and_then(|t| t.get(1))
            .is_some_and(|m| m == "subscribers");
        let moderators = live
            .participants
            .iter()
            .filter(|p| {
                p.role
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case("moderator"))
            })
            .map(|p| p.pubkey)
            .collect();
        let tip_agents = tip_endpoints(ev)
            .into_iter()
            .filter_map(|(_, a)| a)
            .collect();
        Ok(ChatSettings {
            stream,
            price,
            asset,
            slow_mode_secs,
            subscribers_only,
            moderators,
            tip_agents,
        })
    }

    /// True for the creator and the stream's moderators (free, unthrottled chat).
    pub fn is_privileged(&self, who: &PublicKey) -> bool {
        *who == self.stream.pubkey || self.moderators.contains(who)
    }

    /// Price `who` pays per message, when the creator set one.
    pub fn price_for(&self, who: &PublicKey) -> Option<u64> {
        if self.is_privileged(who) {
            Some(0)
        } else {
            self.price
        }
    }
}

/// Extra tags a creator adds to its kind-30311 event to set the chat rules (for builders
/// that take raw tags, e.g. `tollcast origin --tag`).
pub fn settings_tags(
    price: Option<(u64, &str, u8)>,
    slow_mode_secs: u64,
    subscribers_only: bool,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    if let Some((amount, code, scale)) = price {
        out.push(vec![
            "chat_price".into(),
            amount.to_string(),
            code.to_string(),
            scale.to_string(),
        ]);
    }
    if slow_mode_secs > 0 {
        out.push(vec!["slow_mode".into(), slow_mode_secs.to_string()]);
    }
    if subscribers_only {
        out.push(vec!["chat_mode".into(), "subscribers".into()]);
    }
    out
}

/// Kind of the events these settings live in.
pub const SETTINGS_KIND: u16 = KIND_LIVE_EVENT;

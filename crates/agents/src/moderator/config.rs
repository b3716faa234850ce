//! Moderator configuration (`[moderator]` in a node TOML, or `tollcast moderate --config`).
//! Every field has a default, so an empty section is valid.

use serde::{Deserialize, Serialize};

/// Everything a moderator agent needs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModeratorConfig {
    /// Nostr relays (WebSocket URLs) it watches and publishes to. Default: none (set them).
    pub relays: Vec<String>,
    /// Streams it moderates: `30311:<pubkey>:<d>` addresses or `naddr1…`. Default: none.
    pub streams: Vec<String>,
    /// Chat rules.
    pub rules: RuleSet,
    /// Report handling and takedown votes.
    pub takedown: TakedownRules,
    /// What it charges.
    pub billing: ModeratorBilling,
}

/// Chat rules; a violation mutes the author (NIP-51 lists the chat relays honour).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSet {
    /// Words or phrases (case-insensitive) that get a message's author muted; they are also
    /// published as `word` entries of the mute list. Default: none.
    pub banned_words: Vec<String>,
    /// Most chat messages per author per minute (0: no limit). Default 20.
    pub max_messages_per_minute: u32,
    /// An account whose oldest known profile (kind 0) is younger than this many seconds, or
    /// that has none, is "new". Default 86400 (one day); 0 turns the new-account rule off.
    pub new_account_age_secs: u64,
    /// Most chat messages per minute for a new account. Default 3.
    pub new_account_max_per_minute: u32,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self {
            banned_words: Vec::new(),
            max_messages_per_minute: 20,
            new_account_age_secs: 86_400,
            new_account_max_per_minute: 3,
        }
    }
}

/// When this moderator votes to take a stream down.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TakedownRules {
    /// NIP-56 report types that count (`illegal`, `nudity`, `malware`, …). Default `illegal`.
    pub report_types: Vec<String>,
    /// Distinct reporters needed before it votes takedown. Default 3.
    pub reports_needed: u32,
    /// The moderator panel named in proposals (hex pubkeys). Default: none.
    pub panel: Vec<String>,
    /// Takedown votes a proposal asks for. Default 2.
    pub threshold: u32,
    /// Publish a proposal when it is the first to vote takedown. Default true.
    pub propose: bool,
    /// On an appeal, forget the reports made before it and vote `keep` unless new reports
    /// reach `reports_needed` again. Default true.
    pub honour_appeals: bool,
}

impl Default for TakedownRules {
    fn default() -> Self {
        Self {
            report_types: vec!["illegal".into()],
            reports_needed: 3,
            panel: Vec::new(),
            threshold: 2,
            propose: true,
            honour_appeals: true,
        }
    }
}

/// Price of moderation per stream-hour, paid over STREAM to the agent's SPSP receiver by the
/// creator or a relay. An unpaid moderator stops moderating (it keeps listening, and resumes
/// when payment catches up).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ModeratorBilling {
    /// Base units per stream-hour (0: free). Default 0.
    pub price_per_hour: u64,
    /// Asset of the price. Default `USD`.
    pub asset_code: String,
    /// Asset scale. Default 6.
    pub asset_scale: u8,
    /// Seconds of moderation given before the first payment. Default 60.
    pub grace_secs: u64,
}

impl Default for ModeratorBilling {
    fn default() -> Self {
        Self {
            price_per_hour: 0,
            asset_code: "USD".into(),
            asset_scale: 6,
            grace_secs: 60,
        }
    }
}

impl ModeratorBilling {
    /// What is owed after `elapsed_secs` of moderation (grace deducted), rounded up.
    pub fn owed(&self, elapsed_secs: u64) -> u64 {
        let billable = elapsed_secs.saturating_sub(self.grace_secs) as u128;
        let owed = (billable * self.price_per_hour as u128).div_ceil(3600);
        u64::try_from(owed).unwrap_or(u64::MAX)
    }

    /// True while `received` covers what is owed after `elapsed_secs`.
    pub fn is_paid(&self, received: u128, elapsed_secs: u64) -> bool {
        self.price_per_hour == 0 || received >= self.owed(elapsed_secs) as u128
    }
}

//! Relay configuration: NIP-11 identity, limits, write policy and pay-to-write prices.
//!
//! Everything is plain data with serde so the node can read it from its TOML config.

use std::collections::{BTreeMap, BTreeSet};

use nostr::prelude::{Kind, PublicKey};
use serde::{Deserialize, Serialize};

/// Complete configuration of one relay instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RelayConfig {
    /// NIP-11 fields (name, description, contact, ...).
    pub info: RelayInfo,
    /// Protocol limits, advertised in NIP-11 `limitation`.
    pub limits: RelayLimits,
    /// Who may publish over the WebSocket.
    pub write_policy: WritePolicy,
    /// Prices for pay-to-write (ILP) and for debiting prepaid accounts.
    pub pricing: Pricing,
    /// Authors whose events are refused everywhere (`blocked:`).
    pub blocked_authors: BTreeSet<PublicKey>,
    /// Public URL of this relay as clients see it (used to check NIP-42 `relay` tags); optional.
    pub public_url: Option<String>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            info: RelayInfo::default(),
            limits: RelayLimits::default(),
            write_policy: WritePolicy::Open,
            pricing: Pricing::default(),
            blocked_authors: BTreeSet::new(),
            public_url: None,
        }
    }
}

/// NIP-11 identity fields; all optional in the document.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RelayInfo {
    pub name: String,
    pub description: String,
    /// Administrative contact pubkey (hex).
    pub pubkey: Option<PublicKey>,
    /// The relay's own identity pubkey (NIP-11 `self`).
    pub self_pubkey: Option<PublicKey>,
    pub contact: Option<String>,
    /// ILP address that accepts pay-to-write PREPAREs for this relay (advertised as an extra field).
    pub ilp_address: Option<String>,
}

impl Default for RelayInfo {
    fn default() -> Self {
        Self {
            name: "tollcast relay".to_string(),
            description: "tollcast node relay: NIP-01, pay-to-write over Interledger, free reads"
                .to_string(),
            pubkey: None,
            self_pubkey: None,
            contact: None,
            ilp_address: None,
        }
    }
}

/// Limits enforced on every connection (and advertised in NIP-11).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RelayLimits {
    /// Largest accepted WebSocket text message, bytes.
    pub max_message_length: usize,
    /// Open subscriptions per connection.
    pub max_subscriptions: usize,
    /// Filters per REQ.
    pub max_filters: usize,
    /// Largest `limit` honoured; larger values are clamped.
    pub max_limit: usize,
    /// `limit` used when a filter has none.
    pub default_limit: usize,
    /// Longest subscription id (NIP-01 says 64).
    pub max_subid_length: usize,
    /// Most tags in one event.
    pub max_event_tags: usize,
    /// Most characters in `content`.
    pub max_content_length: usize,
    /// Events older than now - this (seconds) are refused; 0 disables.
    pub created_at_lower_limit: u64,
    /// Events newer than now + this (seconds) are refused; 0 disables.
    pub created_at_upper_limit: u64,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            max_message_length: 256 * 1024,
            max_subscriptions: 64,
            max_filters: 16,
            max_limit: 5000,
            default_limit: 500,
            max_subid_length: 64,
            max_event_tags: 2000,
            max_content_length: 128 * 1024,
            created_at_lower_limit: 0,
            created_at_upper_limit: 15 * 60,
        }
    }
}

/// Who may publish through the WebSocket. Pay-to-write over ILP is always available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WritePolicy {
    /// Anyone may publish for free over the WebSocket.
    Open,
    /// Publishing over the WebSocket needs NIP-42 AUTH and a prepaid account balance that covers
    /// the event's price (funded by ILP payments; see `pay_to_write`). The operator's own
    /// events are free.
    PaidAccounts,
}

/// Price list, in the node's asset base units.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Pricing {
    /// Price per byte of the TOON-encoded event (the ILP `data`).
    pub base_per_byte: u64,
    /// Per-kind price per byte, overriding `base_per_byte`.
    pub kind_per_byte: BTreeMap<u16, u64>,
    /// Pubkeys that write for free (the operator's own keys).
    pub free_authors: BTreeSet<PublicKey>,
}

impl Default for Pricing {
    fn default() -> Self {
        Self {
            // Same default as the existing TOON nodes (m2m.md §5.5).
            base_per_byte: 10,
            kind_per_byte: BTreeMap::new(),
            free_authors: BTreeSet::new(),
        }
    }
}

impl Pricing {
    /// Price of writing `bytes` bytes of an event of `kind` by `author`.
    pub fn price(&self, kind: Kind, author: &PublicKey, bytes: usize) -> u64 {
        if self.free_authors.contains(author) {
            return 0;
        }
        let per_byte = self
            .kind_per_byte
            .get(&kind.as_u16())
            .copied()
            .unwrap_or(self.base_per_byte);
        per_byte.saturating_mul(bytes as u64)
    }
}

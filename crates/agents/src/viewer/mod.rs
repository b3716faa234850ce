//! The viewer agent (`tollcast watch`): finds a stream and the relays selling it on Nostr,
//! picks a relay by price, measured RTT and social distance, pays it per second over ILP
//! STREAM from the viewer's wallet (credit mode), and serves the browser a local LL-HLS
//! endpoint in which every byte was checked against its SHA-256 name and a signed segment
//! manifest before the player sees it. When the relay dies, stalls, cheats or overcharges, it
//! switches to the next candidate in the middle of the player's request, so the local
//! playlist continues and no part is lost; money to the old relay stops (only a small window
//! is ever prepaid), so no part is paid twice.
//!
//! Modules: [`discovery`] (stream, offers, follow graph), [`choice`] (candidates and their
//! score), [`wallet`] (the viewer's account at a tollcast node), [`payer`] (the STREAM
//! connection to the relay and its top-ups), [`agent`] (the running [`Viewer`]: failover,
//! state, latency), [`social`] (chat and tips from the page), [`status`] (the `/api/status`
//! JSON), [`http`] (the routes).

pub mod agent;
pub mod choice;
pub mod discovery;
pub mod http;
pub mod payer;
pub mod social;
pub mod status;
pub mod wallet;

use std::time::Duration;

pub use agent::Viewer;

/// Viewer failures.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ViewerError {
    #[error("what to watch: {0}")]
    Target(String),
    #[error("discovery: {0}")]
    Discovery(String),
    #[error("wallet: {0}")]
    Wallet(String),
    #[error("{0}")]
    Config(String),
    #[error("no relay can serve this stream now: {0}")]
    NoRelay(String),
    #[error("payment: {0}")]
    Payment(String),
    #[error("{0}")]
    Upstream(String),
    #[error("not found: {0}")]
    NotFound(String),
}

fn d_stall() -> u64 {
    3_000
}
fn d_ahead() -> u64 {
    2_000
}
fn d_every() -> u64 {
    250
}
fn d_manifest() -> u64 {
    8_000
}
fn d_discovery() -> u64 {
    5_000
}
fn d_cache() -> u64 {
    256
}
fn d_refresh() -> u64 {
    15
}

/// Settings of a viewer (`[viewer]` in a node TOML; every field has a default).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewerConfig {
    /// Nostr relays to look for the stream and its relay offers on (hints are added).
    #[serde(default)]
    pub nostr: Vec<String>,
    /// Never pay a relay more than this many base units per second (None: no ceiling).
    #[serde(default)]
    pub max_price_per_second: Option<u64>,
    /// A relay that answers nothing (or no new part) for this long is stalled: switch. Keep
    /// it above the stream's blocking-reload wait (about one part duration). Default 3000.
    #[serde(default = "d_stall")]
    pub stall_ms: u64,
    /// Paid time is kept this far ahead of now (the most a failing relay can cost us).
    /// Default 2000.
    #[serde(default = "d_ahead")]
    pub pay_ahead_ms: u64,
    /// How often paid time is topped up. Default 250.
    #[serde(default = "d_every")]
    pub pay_every_ms: u64,
    /// How long a fetched part may wait for the manifest that signs it. Default 8000.
    #[serde(default = "d_manifest")]
    pub manifest_wait_ms: u64,
    /// Bound of each discovery query. Default 5000.
    #[serde(default = "d_discovery")]
    pub discovery_timeout_ms: u64,
    /// Verified-part cache bound in MiB. Default 256.
    #[serde(default = "d_cache")]
    pub cache_mib: u64,
    /// Offers are looked up again this often (new relays become candidates). Default 15.
    #[serde(default = "d_refresh")]
    pub refresh_s: u64,
    /// How STREAM credentials are asked for: `auto` (over Nostr when the relay's offer names
    /// a key for it, HTTP otherwise or when Nostr does not answer), `http` or `nostr`.
    #[serde(default)]
    pub spsp: payer::SpspMethod,
}

impl Default for ViewerConfig {
    fn default() -> Self {
        Self {
            nostr: Vec::new(),
            max_price_per_second: None,
            stall_ms: d_stall(),
            pay_ahead_ms: d_ahead(),
            pay_every_ms: d_every(),
            manifest_wait_ms: d_manifest(),
            discovery_timeout_ms: d_discovery(),
            cache_mib: d_cache(),
            refresh_s: d_refresh(),
            spsp: payer::SpspMethod::default(),
        }
    }
}

impl ViewerConfig {
    pub fn stall(&self) -> Duration {
        Duration::from_millis(self.stall_ms.max(200))
    }
    pub fn pay_ahead(&self) -> Duration {
        Duration::from_millis(self.pay_ahead_ms.max(100))
    }
    pub fn discovery_timeout(&self) -> Duration {
        Duration::from_millis(self.discovery_timeout_ms.max(100))
    }
}

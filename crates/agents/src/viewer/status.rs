//! The `/api/status` document (the contract with the player page, plan11.md): what the viewer
//! is doing, in words the page shows verbatim.

use serde::Serialize;

/// What the viewer is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Starting,
    Playing,
    PaymentRequired,
    WalletEmpty,
    /// Payments cannot get through: the link to the wallet node, or the Interledger path
    /// from it to the relay, is down. Another relay would not help while the wallet's own
    /// link is down; the payment loop retries and playback resumes when the path is back.
    PaymentPathDown,
    RelayFailed,
    NoRelay,
    Ended,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Playing => "playing",
            State::PaymentRequired => "payment_required",
            State::WalletEmpty => "wallet_empty",
            State::PaymentPathDown => "payment_path_down",
            State::RelayFailed => "relay_failed",
            State::NoRelay => "no_relay",
            State::Ended => "ended",
        }
    }

    /// A payment trouble that a successful payment ends (back to `playing`).
    pub fn is_payment_trouble(self) -> bool {
        matches!(
            self,
            State::PaymentRequired | State::WalletEmpty | State::PaymentPathDown
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    pub address: String,
    pub naddr: String,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub image: Option<String>,
    pub status: Option<String>,
    pub starts: Option<u64>,
    pub host: String,
    pub nostr_relays: Vec<String>,
    /// Base units per chat message (the live event's `chat_price` tag), if any.
    pub chat_price: Option<u64>,
    pub asset_code: String,
    pub asset_scale: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelayInfo {
    pub pubkey: String,
    pub url: String,
    pub price_per_second: u64,
    pub price_per_gb: Option<u64>,
    pub rtt_ms: Option<f64>,
    pub ilp_address: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateInfo {
    #[serde(flatten)]
    pub relay: RelayInfo,
    pub healthy: bool,
    pub reason: Option<String>,
    pub social: super::choice::Social,
    pub score: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WalletInfo {
    /// Spendable balance at the wallet node (balance + credit limit), base units; when the
    /// node's figure is unknown: minus what was spent.
    pub balance: i64,
    pub asset_code: String,
    pub asset_scale: u8,
    /// Sent to relays since the viewer started, base units.
    pub spent: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Parts {
    pub verified: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ViewerInfo {
    pub pubkey: String,
    pub npub: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub state: State,
    pub message: Option<String>,
    pub stream: StreamInfo,
    pub relay: Option<RelayInfo>,
    pub candidates: Vec<CandidateInfo>,
    pub wallet: WalletInfo,
    pub latency_ms: Option<f64>,
    pub parts: Parts,
    pub viewer: ViewerInfo,
    /// Relay switches so far.
    pub switches: u64,
}

//! Plain value types of the ledger: packet ids, directions, account configuration and state.
//!
//! Sign convention (same as interledger-rs): an account's `balance` is what **we owe the peer**,
//! in the account's base units. Positive: the peer has prepaid or earned that much with us.
//! Negative: the peer owes us (allowed down to `min_balance`, i.e. its credit limit).
//! An incoming packet the peer pays us lowers its balance; an outgoing packet we forward to it
//! raises it; a settlement we send lowers it; a settlement we receive raises it.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Identifies one packet in one direction, chosen by the caller (the connector), so retries
/// after a crash are idempotent. 32 bytes; derive it from whatever is unique for the packet,
/// e.g. `PacketId::derive(&[peer.as_bytes(), &btp_request_id.to_be_bytes(), &condition])`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PacketId(pub [u8; 32]);

impl PacketId {
    /// A packet id from 32 raw bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        PacketId(bytes)
    }

    /// A packet id from a counter (big-endian in the last 8 bytes).
    pub fn from_u64(n: u64) -> Self {
        let mut b = [0u8; 32];
        b[24..].copy_from_slice(&n.to_be_bytes());
        PacketId(b)
    }

    /// SHA-256 over the length-prefixed parts (unambiguous: `["ab","c"] != ["a","bc"]`).
    pub fn derive(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_be_bytes());
            h.update(p);
        }
        PacketId(h.finalize().into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketId({})", self.to_hex())
    }
}

impl Serialize for PacketId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for PacketId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        let b: [u8; 32] = v
            .try_into()
            .map_err(|_| serde::de::Error::custom("packet id must be 32 bytes"))?;
        Ok(PacketId(b))
    }
}

/// Direction of a packet relative to us.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer sent us a PREPARE: it pays us when we fulfill.
    Incoming,
    /// We sent the peer a PREPARE: we owe it once it fulfills.
    Outgoing,
}

impl Direction {
    pub(crate) fn tag(self) -> u8 {
        match self {
            Direction::Incoming => b'i',
            Direction::Outgoing => b'o',
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Incoming => "incoming",
            Direction::Outgoing => "outgoing",
        })
    }
}

/// Lifecycle of a packet in the ledger.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PacketState {
    /// Reserved, waiting for FULFILL or REJECT.
    Pending,
    /// FULFILLed: the amount moved into the balance.
    Fulfilled,
    /// REJECTed: the reservation was released.
    Rejected,
    /// Expired before an answer (or rolled back after a restart): reservation released.
    Expired,
}

impl fmt::Display for PacketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PacketState::Pending => "pending",
            PacketState::Fulfilled => "fulfilled",
            PacketState::Rejected => "rejected",
            PacketState::Expired => "expired",
        })
    }
}

/// Configuration of an account (set at creation, changeable with `Ledger::update_account`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountConfig {
    /// Asset code, e.g. "USD".
    pub asset_code: String,
    /// Asset scale: one base unit is 10^-scale of the asset.
    pub asset_scale: u8,
    /// Lowest balance an incoming PREPARE may reserve down to. `0` = prepaid (the peer must
    /// deposit first); `-L` = the peer may owe us up to `L` (credit limit).
    pub min_balance: i128,
    /// Highest balance (what we owe the peer) outgoing PREPAREs may reserve up to; `None` = no
    /// limit. Caps our exposure to a peer until we settle.
    pub max_balance: Option<i128>,
    /// Largest single packet amount accepted in either direction; `None` = no limit.
    pub max_packet_amount: Option<u64>,
    /// When the balance (what we owe) rises above this, a settlement is due; `None` = never.
    pub settle_threshold: Option<i128>,
    /// A due settlement brings the balance down to this value.
    pub settle_to: i128,
}

impl AccountConfig {
    /// A prepaid account: the peer must deposit before it can pay (min balance 0).
    pub fn prepaid(asset_code: impl Into<String>, asset_scale: u8) -> Self {
        AccountConfig {
            asset_code: asset_code.into(),
            asset_scale,
            min_balance: 0,
            max_balance: None,
            max_packet_amount: None,
            settle_threshold: None,
            settle_to: 0,
        }
    }

    /// A credit account: the peer may owe us up to `limit` base units.
    pub fn credit(asset_code: impl Into<String>, asset_scale: u8, limit: u64) -> Self {
        AccountConfig {
            min_balance: -i128::from(limit),
            ..Self::prepaid(asset_code, asset_scale)
        }
    }

    /// Settle automatically when what we owe exceeds `threshold`, down to `settle_to`.
    pub fn with_settlement(mut self, threshold: i128, settle_to: i128) -> Self {
        self.settle_threshold = Some(threshold);
        self.settle_to = settle_to;
        self
    }

    /// Cap what we may owe the peer (outgoing reservations included).
    pub fn with_max_balance(mut self, max_balance: i128) -> Self {
        self.max_balance = Some(max_balance);
        self
    }

    /// Cap the amount of a single packet.
    pub fn with_max_packet_amount(mut self, max: u64) -> Self {
        self.max_packet_amount = Some(max);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.asset_code.is_empty() || self.asset_code.len() > 16 {
            return Err("asset code must be 1 to 16 bytes".into());
        }
        if self.min_balance > 0 {
            return Err("min_balance must be 0 (prepaid) or negative (credit limit)".into());
        }
        if let Some(t) = self.settle_threshold
            && self.settle_to > t
        {
            return Err(format!(
                "settle_to {} exceeds settle_threshold {t}",
                self.settle_to
            ));
        }
        if let Some(m) = self.max_balance
            && m < 0
        {
            return Err("max_balance must not be negative".into());
        }
        Ok(())
    }
}

/// An account and its current state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Account id (usually the peer's name).
    pub id: String,
    pub config: AccountConfig,
    /// What we owe the peer (see the module doc for the sign convention).
    pub balance: i128,
    /// Sum of reserved, unanswered incoming PREPAREs (the peer's money on hold).
    pub pending_incoming: i128,
    /// Sum of reserved, unanswered outgoing PREPAREs (what we may come to owe).
    pub pending_outgoing: i128,
}

impl Account {
    /// Balance available to incoming PREPAREs: `balance - pending_incoming - min_balance`.
    pub fn available_incoming(&self) -> i128 {
        self.balance - self.pending_incoming - self.config.min_balance
    }

    /// The settlement due now, if the balance is above the threshold: `balance - settle_to`.
    pub fn settlement_due(&self) -> Option<u64> {
        let t = self.config.settle_threshold?;
        if self.balance > t {
            u64::try_from(self.balance - self.config.settle_to).ok()
        } else {
            None
        }
    }
}

/// A reservation held for one packet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub direction: Direction,
    pub packet: PacketId,
    pub account: String,
    pub amount: u64,
    /// Packet expiry, unix milliseconds.
    pub expires_at_ms: u64,
    pub state: PacketState,
    /// When the packet was prepared, unix milliseconds.
    pub prepared_at_ms: u64,
}

/// Reported when an operation pushes an account's balance above its settle threshold: we owe
/// the peer `amount` and should settle it (send a claim) to bring the balance to `settle_to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementDue {
    pub account: String,
    pub amount: u64,
    pub balance: i128,
}

/// What a mutating operation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Account state after the operation.
    pub account: Account,
    /// Journal entry written, `None` when the call was an idempotent repeat that changed nothing.
    pub journal_id: Option<u64>,
    /// Set when this operation made the balance cross the settle threshold upwards.
    pub settlement_due: Option<SettlementDue>,
}

impl Receipt {
    /// True when the call repeated an earlier one and changed nothing.
    pub fn is_replay(&self) -> bool {
        self.journal_id.is_none()
    }
}

//! Typed errors of the ledger. Every error aborts the write transaction it happened in, so an
//! error always means "nothing changed".

use crate::types::{Direction, PacketId, PacketState};

/// Why a claim (off-chain balance proof) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("malformed claim: {0}")]
    Malformed(String),
    #[error("claim signature does not verify against the channel's payer key")]
    BadSignature,
    #[error("claim is signed by {got}, but the channel's payer is {expected}")]
    WrongSigner { expected: String, got: String },
    #[error("claim is for channel {got}, which is not channel {expected}")]
    WrongChannel { expected: String, got: String },
    #[error("unknown payment channel {0}")]
    UnknownChannel(String),
    #[error(
        "claim asset {got_code}/{got_scale} does not match channel asset {expected_code}/{expected_scale}"
    )]
    AssetMismatch {
        expected_code: String,
        expected_scale: u8,
        got_code: String,
        got_scale: u8,
    },
    #[error(
        "stale claim: cumulative {cumulative} seq {seq} does not advance past the last accepted \
         cumulative {last_cumulative} seq {last_seq} (replay or rollback)"
    )]
    Stale {
        cumulative: u64,
        seq: u64,
        last_cumulative: u64,
        last_seq: u64,
    },
    #[error(
        "claim would exceed the channel capacity: cumulative {cumulative} > capacity {capacity}"
    )]
    OverCapacity { cumulative: u64, capacity: u64 },
}

/// Every way a ledger operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("unknown account {0:?}")]
    UnknownAccount(String),
    #[error("account {0:?} already exists with a different configuration")]
    AccountExists(String),
    #[error("invalid account configuration for {account:?}: {reason}")]
    InvalidConfig { account: String, reason: String },
    #[error(
        "insufficient balance on account {account:?}: balance {balance}, pending incoming \
         {pending}, minimum balance {min_balance}, requested {amount}"
    )]
    InsufficientBalance {
        account: String,
        balance: i128,
        pending: i128,
        min_balance: i128,
        amount: u64,
    },
    #[error(
        "account {account:?} would exceed its maximum balance: balance {balance}, pending \
         outgoing {pending}, maximum {max_balance}, requested {amount}"
    )]
    ExceedsMaxBalance {
        account: String,
        balance: i128,
        pending: i128,
        max_balance: i128,
        amount: u64,
    },
    #[error("amount {amount} exceeds the maximum packet amount {max} of account {account:?}")]
    AmountTooLarge {
        account: String,
        amount: u64,
        max: u64,
    },
    #[error("{direction} packet {packet} was already prepared")]
    DuplicatePacket {
        direction: Direction,
        packet: PacketId,
    },
    #[error("no pending {direction} packet {packet} on account {account:?}")]
    UnknownPacket {
        direction: Direction,
        packet: PacketId,
        account: String,
    },
    #[error("{direction} packet {packet} is already {state}")]
    PacketFinished {
        direction: Direction,
        packet: PacketId,
        state: PacketState,
    },
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    #[error("arithmetic overflow on account {0:?}")]
    Overflow(String),
    #[error("idempotency key {0:?} was already used for a different request")]
    IdempotencyConflict(String),
    #[error("payment channel {0} already exists with different parameters")]
    ChannelExists(String),
    #[error("no payment channel for account {0:?} in that direction; set one up first")]
    NoChannel(String),
    #[error("claim rejected: {0}")]
    Claim(#[from] ClaimError),
    #[error("audit failed: {0}")]
    Audit(String),
    #[error("ledger store error: {0}")]
    Store(String),
    #[error("ledger store holds an unreadable record: {0}")]
    Corrupt(String),
}

macro_rules! store_error {
    ($($t:ty),*) => {$(
        impl From<$t> for LedgerError {
            fn from(e: $t) -> Self {
                LedgerError::Store(e.to_string())
            }
        }
    )*};
}
store_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<serde_json::Error> for LedgerError {
    fn from(e: serde_json::Error) -> Self {
        LedgerError::Corrupt(e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

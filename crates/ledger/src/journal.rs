//! The append-only journal: one entry per committed change, with explicit deltas, so the books
//! can be replayed and audited (`Ledger::audit`) and totals summed across ledgers.

use serde::{Deserialize, Serialize};

use crate::types::{Direction, PacketId};

/// What a journal entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    AccountCreated,
    AccountUpdated,
    /// A PREPARE reserved `amount` (pending grows).
    Prepare,
    /// A FULFILL moved the reservation into the balance.
    Fulfill,
    /// A REJECT released the reservation.
    Reject,
    /// Expiry (or a restart rollback) released the reservation.
    Expire,
    /// Admin deposit: the peer gave us money outside ILP, we owe it more (balance up).
    Deposit,
    /// Admin withdrawal: we paid the peer out outside ILP (balance down).
    Withdrawal,
    /// We sent a settlement (a claim) to the peer: balance down.
    SettlementSent,
    /// We accepted a settlement (a claim) from the peer: balance up.
    SettlementReceived,
}

/// One committed change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Monotonic, gap-free, starting at 1.
    pub id: u64,
    /// Commit time, unix milliseconds.
    pub at_ms: u64,
    pub account: String,
    pub kind: EntryKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<PacketId>,
    /// Magnitude of the operation in base units.
    pub amount: u64,
    pub balance_delta: i128,
    pub pending_incoming_delta: i128,
    pub pending_outgoing_delta: i128,
    /// Balance after the change (for reading the journal by eye).
    pub balance_after: i128,
    /// Free-form reference: idempotency key, channel id and claim seq, admin note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Sums over a whole ledger (all accounts, all journal entries).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub accounts: u64,
    /// Id of the newest journal entry: how many changes were ever committed (compaction does
    /// not lower it).
    pub journal_entries: u64,
    /// Σ balance over all accounts (what we owe all peers, net).
    pub balance: i128,
    /// Σ open incoming reservations.
    pub pending_incoming: i128,
    /// Σ open outgoing reservations.
    pub pending_outgoing: i128,
    /// Σ deposits − Σ withdrawals (admin).
    pub net_deposits: i128,
    /// Σ fulfilled incoming packets (paid to us).
    pub fulfilled_incoming: i128,
    /// Σ fulfilled outgoing packets (paid by us).
    pub fulfilled_outgoing: i128,
    pub settlements_sent: i128,
    pub settlements_received: i128,
}

impl Totals {
    /// What the ledger earned from packets: incoming paid minus outgoing paid (fees, or the
    /// receiver's income).
    pub fn packet_income(&self) -> i128 {
        self.fulfilled_incoming - self.fulfilled_outgoing
    }

    /// The identity every ledger satisfies:
    /// `balance = net_deposits − fulfilled_incoming + fulfilled_outgoing − settlements_sent +
    /// settlements_received`.
    pub fn identity_holds(&self) -> bool {
        self.balance
            == self.net_deposits - self.fulfilled_incoming + self.fulfilled_outgoing
                - self.settlements_sent
                + self.settlements_received
    }
}

/// Running sums of the journal by kind, stored next to it so [`Totals`] needs no replay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sums {
    pub net_deposits: i128,
    pub fulfilled_incoming: i128,
    pub fulfilled_outgoing: i128,
    pub settlements_sent: i128,
    pub settlements_received: i128,
}

impl Sums {
    pub(crate) fn add(&mut self, kind: EntryKind, direction: Option<Direction>, amount: u64) {
        let a = i128::from(amount);
        match (kind, direction) {
            (EntryKind::Fulfill, Some(Direction::Incoming)) => self.fulfilled_incoming += a,
            (EntryKind::Fulfill, Some(Direction::Outgoing)) => self.fulfilled_outgoing += a,
            (EntryKind::Deposit, _) => self.net_deposits += a,
            (EntryKind::Withdrawal, _) => self.net_deposits -= a,
            (EntryKind::SettlementSent, _) => self.settlements_sent += a,
            (EntryKind::SettlementReceived, _) => self.settlements_received += a,
            _ => {}
        }
    }

    pub(crate) fn of(t: &Totals) -> Sums {
        Sums {
            net_deposits: t.net_deposits,
            fulfilled_incoming: t.fulfilled_incoming,
            fulfilled_outgoing: t.fulfilled_outgoing,
            settlements_sent: t.settlements_sent,
            settlements_received: t.settlements_received,
        }
    }
}

/// The journal folded up to `through_id` (entries removed by `Ledger::compact_journal`): the
/// per-account sums of their deltas and the running sums by kind, so an audit can start here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub through_id: u64,
    /// account -> (balance, pending incoming, pending outgoing) deltas folded so far.
    pub accounts: std::collections::BTreeMap<String, (i128, i128, i128)>,
    pub sums: Sums,
}

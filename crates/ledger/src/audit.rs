//! Auditing and compaction of the books: replaying the journal against the stored state, and
//! folding old journal entries into a checkpoint.

use redb::{ReadableDatabase, ReadableTable};

use crate::error::{LedgerError, Result};
use crate::journal::{Checkpoint, Entry, EntryKind, Sums, Totals};
use crate::store::{ACCOUNTS, CHECKPOINT, JOURNAL, Ledger, META, PENDING, SUMS, decode, encode};
use crate::types::{Account, Direction, Pending};

impl Ledger {
    /// Fold journal entries with id <= `through_id` into a checkpoint and delete them, to bound
    /// the file size of a long-running node (export them first with [`Ledger::journal`] if
    /// they must be kept). The newest entry always stays. Audits still verify everything from
    /// the checkpoint on. Returns how many entries were removed.
    pub fn compact_journal(&self, through_id: u64) -> Result<u64> {
        self.write(|tx| {
            let mut journal = tx.txn.open_table(JOURNAL)?;
            let last = journal.last()?.map_or(0, |(k, _)| k.value());
            let mut meta = tx.txn.open_table(META)?;
            let mut cp: Checkpoint = match meta.get(CHECKPOINT)? {
                Some(v) => decode(v.value())?,
                None => Checkpoint::default(),
            };
            let cut = through_id.min(last.saturating_sub(1));
            if cut <= cp.through_id {
                return Ok(0);
            }
            let mut removed = 0u64;
            for id in cp.through_id + 1..=cut {
                let Some(v) = journal.remove(id)? else {
                    return Err(LedgerError::Audit(format!("journal entry {id} is missing")));
                };
                let e: Entry = decode(v.value())?;
                let a = cp.accounts.entry(e.account.clone()).or_default();
                a.0 += e.balance_delta;
                a.1 += e.pending_incoming_delta;
                a.2 += e.pending_outgoing_delta;
                cp.sums.add(e.kind, e.direction, e.amount);
                removed += 1;
            }
            cp.through_id = cut;
            tx.dirty.set(true);
            meta.insert(CHECKPOINT, &encode(&cp)?[..])?;
            Ok(removed)
        })
    }

    /// Replay the whole journal and check it against the stored state: every account's balance
    /// and reservations equal the sum of its journal deltas, open reservations equal the pending
    /// records, journal ids are gap-free, every entry's deltas match its kind, and the ledger
    /// identity ([`Totals::identity_holds`]) holds. Returns the totals on success.
    pub fn audit(&self) -> Result<Totals> {
        use std::collections::BTreeMap;
        let r = self.db.begin_read()?;
        let accounts: Vec<Account> = r
            .open_table(ACCOUNTS)?
            .iter()?
            .map(|kv| decode(kv?.1.value()))
            .collect::<Result<_>>()?;
        let journal = r.open_table(JOURNAL)?;
        let cp: Checkpoint = match r.open_table(META)?.get(CHECKPOINT)? {
            Some(v) => decode(v.value())?,
            None => Checkpoint::default(),
        };
        let mut t = Totals {
            accounts: accounts.len() as u64,
            journal_entries: journal.last()?.map_or(cp.through_id, |(k, _)| k.value()),
            net_deposits: cp.sums.net_deposits,
            fulfilled_incoming: cp.sums.fulfilled_incoming,
            fulfilled_outgoing: cp.sums.fulfilled_outgoing,
            settlements_sent: cp.sums.settlements_sent,
            settlements_received: cp.sums.settlements_received,
            ..Totals::default()
        };
        for a in &accounts {
            t.balance += a.balance;
            t.pending_incoming += a.pending_incoming;
            t.pending_outgoing += a.pending_outgoing;
        }
        let mut replay: BTreeMap<String, (i128, i128, i128)> = cp.accounts;
        for (expected_id, kv) in (cp.through_id + 1..).zip(journal.iter()?) {
            let (k, v) = kv?;
            let e: Entry = decode(v.value())?;
            if k.value() != expected_id || e.id != expected_id {
                return Err(LedgerError::Audit(format!(
                    "journal id {} found where {expected_id} was expected",
                    k.value()
                )));
            }
            let amt = i128::from(e.amount);
            let s = replay.entry(e.account.clone()).or_default();
            s.0 += e.balance_delta;
            s.1 += e.pending_incoming_delta;
            s.2 += e.pending_outgoing_delta;
            let dir = e.direction;
            let expected = match (e.kind, dir) {
                (EntryKind::AccountCreated | EntryKind::AccountUpdated, _) => (0, 0, 0),
                (EntryKind::Prepare, Some(Direction::Incoming)) => (0, amt, 0),
                (EntryKind::Prepare, Some(Direction::Outgoing)) => (0, 0, amt),
                (EntryKind::Fulfill, Some(Direction::Incoming)) => {
                    t.fulfilled_incoming += amt;
                    (-amt, -amt, 0)
                }
                (EntryKind::Fulfill, Some(Direction::Outgoing)) => {
                    t.fulfilled_outgoing += amt;
                    (amt, 0, -amt)
                }
                (EntryKind::Reject | EntryKind::Expire, Some(Direction::Incoming)) => (0, -amt, 0),
                (EntryKind::Reject | EntryKind::Expire, Some(Direction::Outgoing)) => (0, 0, -amt),
                (EntryKind::Deposit, _) => {
                    t.net_deposits += amt;
                    (amt, 0, 0)
                }
                (EntryKind::Withdrawal, _) => {
                    t.net_deposits -= amt;
                    (-amt, 0, 0)
                }
                (EntryKind::SettlementSent, _) => {
                    t.settlements_sent += amt;
                    (-amt, 0, 0)
                }
                (EntryKind::SettlementReceived, _) => {
                    t.settlements_received += amt;
                    (amt, 0, 0)
                }
                (k, None) => {
                    return Err(LedgerError::Audit(format!(
                        "journal entry {} of kind {k:?} has no direction",
                        e.id
                    )));
                }
            };
            if expected
                != (
                    e.balance_delta,
                    e.pending_incoming_delta,
                    e.pending_outgoing_delta,
                )
            {
                return Err(LedgerError::Audit(format!(
                    "journal entry {} ({:?}) has deltas that do not match its kind",
                    e.id, e.kind
                )));
            }
        }
        let stored: Sums = match r.open_table(META)?.get(SUMS)? {
            Some(v) => decode(v.value())?,
            None => Sums::default(),
        };
        if stored != Sums::of(&t) {
            return Err(LedgerError::Audit(format!(
                "running sums {stored:?} differ from the journal replay {:?}",
                Sums::of(&t)
            )));
        }
        let mut open: BTreeMap<String, (i128, i128)> = BTreeMap::new();
        for kv in r.open_table(PENDING)?.iter()? {
            let p: Pending = decode(kv?.1.value())?;
            let s = open.entry(p.account.clone()).or_default();
            match p.direction {
                Direction::Incoming => s.0 += i128::from(p.amount),
                Direction::Outgoing => s.1 += i128::from(p.amount),
            }
        }
        for a in &accounts {
            let (b, pi, po) = replay.remove(&a.id).unwrap_or_default();
            if (b, pi, po) != (a.balance, a.pending_incoming, a.pending_outgoing) {
                return Err(LedgerError::Audit(format!(
                    "account {:?}: stored balance/pending in/pending out {}/{}/{} but the journal \
                     sums to {b}/{pi}/{po}",
                    a.id, a.balance, a.pending_incoming, a.pending_outgoing
                )));
            }
            let (oi, oo) = open.remove(&a.id).unwrap_or_default();
            if (oi, oo) != (a.pending_incoming, a.pending_outgoing) {
                return Err(LedgerError::Audit(format!(
                    "account {:?}: reservations {}/{} but open packets sum to {oi}/{oo}",
                    a.id, a.pending_incoming, a.pending_outgoing
                )));
            }
        }
        if let Some((id, _)) = replay.into_iter().next() {
            return Err(LedgerError::Audit(format!(
                "journal mentions account {id:?} that does not exist"
            )));
        }
        if let Some((id, _)) = open.into_iter().next() {
            return Err(LedgerError::Audit(format!(
                "open packets on account {id:?} that does not exist"
            )));
        }
        if !t.identity_holds() {
            return Err(LedgerError::Audit(format!("ledger identity broken: {t:?}")));
        }
        Ok(t)
    }
}

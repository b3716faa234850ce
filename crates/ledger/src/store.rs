//! The durable store: a redb database with one write transaction per operation (or per
//! `Ledger::write` batch), committed with immediate durability before the call returns. A kill -9
//! therefore either keeps a whole operation or none of it.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{LedgerError, Result};
use crate::group::Group;
use crate::journal::{Checkpoint, Entry, EntryKind, Sums, Totals};
use crate::types::{
    Account, AccountConfig, Direction, PacketId, PacketState, Pending, Receipt, SettlementDue,
};

pub(crate) const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// Open reservations only, keyed by direction tag + packet id.
pub(crate) const PENDING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pending");
/// Finished packets (fulfilled/rejected/expired), so repeats are idempotent.
pub(crate) const FINISHED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("finished");
pub(crate) const JOURNAL: TableDefinition<u64, &[u8]> = TableDefinition::new("journal");
/// Idempotency keys of deposits, withdrawals and settlements -> stored result.
pub(crate) const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency");
pub(crate) const CHANNELS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("channels");
/// Small records: `sums` = running journal sums by kind.
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SUMS: &str = "sums";
const CHECKPOINT: &str = "checkpoint";

/// Current time in unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| LedgerError::Store(e.to_string()))
}

pub(crate) fn decode<T: DeserializeOwned>(b: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(b)?)
}

fn packet_key(direction: Direction, packet: &PacketId) -> [u8; 33] {
    let mut k = [0u8; 33];
    k[0] = direction.tag();
    k[1..].copy_from_slice(&packet.0);
    k
}

/// Handle on a ledger. Cheap to clone (an `Arc`), `Send + Sync`; write operations from many
/// threads are serialized by the store.
#[derive(Clone)]
pub struct Ledger {
    pub(crate) db: Arc<Database>,
    group: Arc<Group>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

impl Ledger {
    /// Open (or create) the ledger file at `path`. Call [`Ledger::expire_pending`] after opening
    /// to roll back reservations of packets that expired while the process was down.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let db = Database::create(path).map_err(|e| {
            LedgerError::Store(format!("cannot open ledger {}: {e}", path.display()))
        })?;
        Self::init(db)
    }

    /// A ledger held in memory only (tests, demos): same semantics, no durability.
    pub fn temporary() -> Result<Self> {
        let db = redb::Builder::new().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<Self> {
        let txn = db.begin_write()?;
        {
            txn.open_table(ACCOUNTS)?;
            txn.open_table(PENDING)?;
            txn.open_table(FINISHED)?;
            txn.open_table(JOURNAL)?;
            txn.open_table(IDEMPOTENCY)?;
            txn.open_table(CHANNELS)?;
            // Ledgers written before the running sums existed: compute them once.
            let mut meta = txn.open_table(META)?;
            if meta.get(SUMS)?.is_none() {
                let mut sums = Sums::default();
                for kv in txn.open_table(JOURNAL)?.iter()? {
                    let e: Entry = decode(kv?.1.value())?;
                    sums.add(e.kind, e.direction, e.amount);
                }
                meta.insert(SUMS, &encode(&sums)?[..])?;
            }
        }
        txn.commit()?;
        let db = Arc::new(db);
        let group = Arc::new(Group::start(db.clone())?);
        Ok(Ledger { db, group })
    }

    /// Run one operation through group commit (see `group.rs`): it shares a transaction and an
    /// fsync with whatever other threads submitted meanwhile, and returns once durable.
    pub fn submit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut LedgerTx<'_>) -> Result<T> + Send + 'static,
    {
        self.group.submit(f)
    }

    /// Run `f` in one atomic, durable write transaction: either everything `f` did is committed
    /// or (on any error) nothing is. Use it to fulfill a forwarded packet's incoming and outgoing
    /// legs together.
    ///
    /// Inside the closure use only `tx` methods: calling a `Ledger` write method there returns
    /// an error (it would otherwise wait for this very transaction).
    pub fn write<T>(&self, f: impl FnOnce(&mut LedgerTx<'_>) -> Result<T>) -> Result<T> {
        crate::group::check_not_nested()?;
        let txn = self.db.begin_write()?;
        let result = {
            let _nest = crate::group::NestGuard::enter();
            let mut tx = LedgerTx {
                txn: &txn,
                now_ms: now_ms(),
                dirty: Cell::new(false),
            };
            f(&mut tx)
        };
        match result {
            Ok(v) => {
                txn.commit()?;
                Ok(v)
            }
            Err(e) => {
                txn.abort()?;
                Err(e)
            }
        }
    }

    // ---- single-operation conveniences (each one transaction) ----

    /// Create an account, or return the existing one if its configuration is identical.
    pub fn create_account(&self, id: &str, config: AccountConfig) -> Result<Account> {
        let id = id.to_string();
        self.submit(move |tx| tx.create_account(&id, config.clone()))
    }

    /// Change an account's configuration (limits, thresholds). Asset code/scale cannot change.
    pub fn update_account(&self, id: &str, config: AccountConfig) -> Result<Account> {
        let id = id.to_string();
        self.submit(move |tx| tx.update_account(&id, config.clone()))
    }

    /// The peer sent us a PREPARE of `amount`: reserve it against the peer's balance.
    /// Fails with [`LedgerError::InsufficientBalance`] (answer T04) or `DuplicatePacket`.
    pub fn prepare_incoming(
        &self,
        account: &str,
        packet: PacketId,
        amount: u64,
        expires_at_ms: u64,
    ) -> Result<Receipt> {
        let account = account.to_string();
        self.submit(move |tx| {
            tx.prepare(Direction::Incoming, &account, packet, amount, expires_at_ms)
        })
    }

    /// We FULFILLed the peer's PREPARE: the reservation becomes a debit of its balance.
    pub fn fulfill_incoming(&self, account: &str, packet: PacketId) -> Result<Receipt> {
        let account = account.to_string();
        self.submit(move |tx| tx.fulfill(Direction::Incoming, &account, packet))
    }

    /// We REJECTed the peer's PREPARE: release the reservation.
    pub fn reject_incoming(&self, account: &str, packet: PacketId) -> Result<Receipt> {
        let account = account.to_string();
        self.submit(move |tx| tx.reject(Direction::Incoming, &account, packet))
    }

    /// We are about to send the peer a PREPARE of `amount`: reserve it.
    pub fn prepare_outgoing(
        &self,
        account: &str,
        packet: PacketId,
        amount: u64,
        expires_at_ms: u64,
    ) -> Result<Receipt> {
        let account = account.to_string();
        self.submit(move |tx| {
            tx.prepare(Direction::Outgoing, &account, packet, amount, expires_at_ms)
        })
    }

    /// The peer FULFILLed our PREPARE: we owe it the amount (balance up). May report a due
    /// settlement.
    pub fn fulfill_outgoing(&self, account: &str, packet: PacketId) -> Result<Receipt> {
        let account = account.to_string();
        self.submit(move |tx| tx.fulfill(Direction::Outgoing, &account, packet))
    }

    /// The peer REJECTed our PREPARE (or it timed out): release the reservation.
    pub fn reject_outgoing(&self, account: &str, packet: PacketId) -> Result<Receipt> {
        let account = account.to_string();
        self.submit(move |tx| tx.reject(Direction::Outgoing, &account, packet))
    }

    /// Reserve both legs of a packet we forward, atomically: `in_amount` from `in_account`
    /// (the peer that sent it; fails with `InsufficientBalance` → T04) and `out_amount` to
    /// `out_account` (the next hop). Either both reservations exist or neither does.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_forward(
        &self,
        in_account: &str,
        in_packet: PacketId,
        in_amount: u64,
        in_expires_at_ms: u64,
        out_account: &str,
        out_packet: PacketId,
        out_amount: u64,
        out_expires_at_ms: u64,
    ) -> Result<(Receipt, Receipt)> {
        let (ia, oa) = (in_account.to_string(), out_account.to_string());
        self.submit(move |tx| {
            let inc = tx.prepare(
                Direction::Incoming,
                &ia,
                in_packet,
                in_amount,
                in_expires_at_ms,
            )?;
            let out = tx.prepare(
                Direction::Outgoing,
                &oa,
                out_packet,
                out_amount,
                out_expires_at_ms,
            )?;
            Ok((inc, out))
        })
    }

    /// A forwarded packet was fulfilled: commit its outgoing leg (we owe `out_account`) and its
    /// incoming leg (`in_account` pays us) atomically, so a crash can never keep one without the
    /// other. Returns (outgoing receipt, incoming receipt); a due settlement shows on the first.
    pub fn fulfill_forward(
        &self,
        in_account: &str,
        in_packet: PacketId,
        out_account: &str,
        out_packet: PacketId,
    ) -> Result<(Receipt, Receipt)> {
        let (ia, oa) = (in_account.to_string(), out_account.to_string());
        self.submit(move |tx| {
            let out = tx.fulfill(Direction::Outgoing, &oa, out_packet)?;
            let inc = tx.fulfill(Direction::Incoming, &ia, in_packet)?;
            Ok((out, inc))
        })
    }

    /// A forwarded packet was rejected (or timed out): release both legs atomically.
    pub fn reject_forward(
        &self,
        in_account: &str,
        in_packet: PacketId,
        out_account: &str,
        out_packet: PacketId,
    ) -> Result<(Receipt, Receipt)> {
        let (ia, oa) = (in_account.to_string(), out_account.to_string());
        self.submit(move |tx| {
            let out = tx.reject(Direction::Outgoing, &oa, out_packet)?;
            let inc = tx.reject(Direction::Incoming, &ia, in_packet)?;
            Ok((out, inc))
        })
    }

    /// Admin deposit (the peer paid us outside ILP): balance up. Idempotent per `reference`.
    pub fn deposit(&self, account: &str, amount: u64, reference: &str) -> Result<Receipt> {
        let (account, reference) = (account.to_string(), reference.to_string());
        self.submit(move |tx| tx.deposit(&account, amount, &reference))
    }

    /// For settlement engines other than the claim engine (RFC 0038 "execute settlement"): we
    /// paid the peer `amount` by other means (on-chain, BTP transfer…): balance down.
    /// Idempotent per `idempotency_key`. Record it before paying; if the payment then fails,
    /// reverse it with `settlement_received(account, amount, "<key>:undo")`.
    pub fn settlement_sent(
        &self,
        account: &str,
        amount: u64,
        idempotency_key: &str,
    ) -> Result<Receipt> {
        let (account, key) = (account.to_string(), idempotency_key.to_string());
        self.submit(move |tx| tx.settlement(&account, amount, &key, EntryKind::SettlementSent))
    }

    /// For settlement engines (RFC 0038 "credit incoming settlement"): the peer paid us
    /// `amount` by other means; balance up. Idempotent per `idempotency_key`.
    pub fn settlement_received(
        &self,
        account: &str,
        amount: u64,
        idempotency_key: &str,
    ) -> Result<Receipt> {
        let (account, key) = (account.to_string(), idempotency_key.to_string());
        self.submit(move |tx| tx.settlement(&account, amount, &key, EntryKind::SettlementReceived))
    }

    /// Admin withdrawal (we paid the peer outside ILP): balance down, never below
    /// `min_balance` counting pending reservations. Idempotent per `reference`.
    pub fn withdraw(&self, account: &str, amount: u64, reference: &str) -> Result<Receipt> {
        let (account, reference) = (account.to_string(), reference.to_string());
        self.submit(move |tx| tx.withdraw(&account, amount, &reference))
    }

    /// Roll back every pending reservation whose packet expired at or before `now_ms`.
    /// Call at startup (after a crash) and periodically. Returns what was rolled back.
    pub fn expire_pending(&self, now_ms: u64) -> Result<Vec<Pending>> {
        self.write(|tx| tx.expire_pending(now_ms))
    }

    /// Roll back every pending reservation, expired or not. For a node restarting after a
    /// crash that knows none of its in-flight packets can still be answered.
    pub fn abort_all_pending(&self) -> Result<Vec<Pending>> {
        self.write(|tx| tx.expire_pending(u64::MAX))
    }

    /// Forget finished packets older than `before_ms` (the journal keeps their history).
    /// Repeats of those packets are no longer recognized after pruning.
    pub fn prune_finished(&self, before_ms: u64) -> Result<u64> {
        self.write(|tx| {
            let mut t = tx.txn.open_table(FINISHED)?;
            let mut n = 0u64;
            t.retain(|_, v| {
                let keep = decode::<Pending>(v).map_or(true, |p| p.prepared_at_ms >= before_ms);
                if !keep {
                    n += 1;
                }
                keep
            })?;
            Ok(n)
        })
    }

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

    // ---- reads ----

    /// One account, if it exists.
    pub fn account(&self, id: &str) -> Result<Option<Account>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(ACCOUNTS)?;
        t.get(id)?.map(|v| decode(v.value())).transpose()
    }

    /// All accounts, ordered by id.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(ACCOUNTS)?;
        t.iter()?.map(|kv| decode(kv?.1.value())).collect()
    }

    /// A packet's record (pending or finished), if known.
    pub fn packet(&self, direction: Direction, packet: PacketId) -> Result<Option<Pending>> {
        let r = self.db.begin_read()?;
        let key = packet_key(direction, &packet);
        if let Some(v) = r.open_table(PENDING)?.get(&key[..])? {
            return Ok(Some(decode(v.value())?));
        }
        r.open_table(FINISHED)?
            .get(&key[..])?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// All open reservations.
    pub fn pending(&self) -> Result<Vec<Pending>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(PENDING)?;
        t.iter()?.map(|kv| decode(kv?.1.value())).collect()
    }

    /// Journal entries with id >= `from_id`, at most `limit`.
    pub fn journal(&self, from_id: u64, limit: usize) -> Result<Vec<Entry>> {
        let r = self.db.begin_read()?;
        let t = r.open_table(JOURNAL)?;
        t.range(from_id..)?
            .take(limit)
            .map(|kv| decode(kv?.1.value()))
            .collect()
    }

    /// Id of the last journal entry (0 when empty): the count of committed changes.
    pub fn last_journal_id(&self) -> Result<u64> {
        let r = self.db.begin_read()?;
        let t = r.open_table(JOURNAL)?;
        Ok(t.last()?.map_or(0, |(k, _)| k.value()))
    }

    /// Accounts whose balance is above their settle threshold right now (for a periodic retry
    /// of settlements that failed or were interrupted).
    pub fn settlements_due(&self) -> Result<Vec<SettlementDue>> {
        Ok(self
            .accounts()?
            .into_iter()
            .filter_map(|a| {
                a.settlement_due().map(|amount| SettlementDue {
                    account: a.id.clone(),
                    amount,
                    balance: a.balance,
                })
            })
            .collect())
    }

    /// Sums over all accounts and the journal (one consistent snapshot; cost grows with the
    /// number of accounts, not with the journal).
    pub fn totals(&self) -> Result<Totals> {
        let r = self.db.begin_read()?;
        let mut t = Totals::default();
        for kv in r.open_table(ACCOUNTS)?.iter()? {
            let a: Account = decode(kv?.1.value())?;
            t.accounts += 1;
            t.balance += a.balance;
            t.pending_incoming += a.pending_incoming;
            t.pending_outgoing += a.pending_outgoing;
        }
        t.journal_entries = r.open_table(JOURNAL)?.last()?.map_or(0, |(k, _)| k.value());
        let sums: Sums = match r.open_table(META)?.get(SUMS)? {
            Some(v) => decode(v.value())?,
            None => Sums::default(),
        };
        t.net_deposits = sums.net_deposits;
        t.fulfilled_incoming = sums.fulfilled_incoming;
        t.fulfilled_outgoing = sums.fulfilled_outgoing;
        t.settlements_sent = sums.settlements_sent;
        t.settlements_received = sums.settlements_received;
        Ok(t)
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

/// One open write transaction. Everything done through it commits together or not at all.
pub struct LedgerTx<'a> {
    pub(crate) txn: &'a WriteTransaction,
    pub(crate) now_ms: u64,
    /// Set by every write, so group commit knows whether a failed job left changes behind.
    pub(crate) dirty: Cell<bool>,
}

impl LedgerTx<'_> {
    /// The transaction's clock (unix ms), used for journal timestamps.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Read an account inside the transaction.
    pub fn account(&self, id: &str) -> Result<Account> {
        let t = self.txn.open_table(ACCOUNTS)?;
        let v = t
            .get(id)?
            .ok_or_else(|| LedgerError::UnknownAccount(id.to_string()))?;
        decode(v.value())
    }

    pub(crate) fn put_account(&self, a: &Account) -> Result<()> {
        self.dirty.set(true);
        let mut t = self.txn.open_table(ACCOUNTS)?;
        t.insert(a.id.as_str(), &encode(a)?[..])?;
        Ok(())
    }

    /// Append a journal entry (id assigned here) and return its id.
    pub(crate) fn append(&self, mut e: Entry) -> Result<u64> {
        self.dirty.set(true);
        let mut t = self.txn.open_table(JOURNAL)?;
        let id = t.last()?.map_or(1, |(k, _)| k.value() + 1);
        e.id = id;
        e.at_ms = self.now_ms;
        t.insert(id, &encode(&e)?[..])?;
        let mut meta = self.txn.open_table(META)?;
        let mut sums: Sums = match meta.get(SUMS)? {
            Some(v) => decode(v.value())?,
            None => Sums::default(),
        };
        sums.add(e.kind, e.direction, e.amount);
        meta.insert(SUMS, &encode(&sums)?[..])?;
        Ok(id)
    }

    /// Apply deltas to an account, journal them, and detect an upward threshold crossing.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn apply(
        &self,
        mut a: Account,
        kind: EntryKind,
        direction: Option<Direction>,
        packet: Option<PacketId>,
        amount: u64,
        deltas: (i128, i128, i128),
        reference: Option<String>,
    ) -> Result<Receipt> {
        let before = a.balance;
        let ovf = || LedgerError::Overflow(a.id.clone());
        let balance = a.balance.checked_add(deltas.0).ok_or_else(ovf)?;
        let pin = a.pending_incoming.checked_add(deltas.1).ok_or_else(ovf)?;
        let pout = a.pending_outgoing.checked_add(deltas.2).ok_or_else(ovf)?;
        a.balance = balance;
        a.pending_incoming = pin;
        a.pending_outgoing = pout;
        self.put_account(&a)?;
        let id = self.append(Entry {
            id: 0,
            at_ms: 0,
            account: a.id.clone(),
            kind,
            direction,
            packet,
            amount,
            balance_delta: deltas.0,
            pending_incoming_delta: deltas.1,
            pending_outgoing_delta: deltas.2,
            balance_after: a.balance,
            reference,
        })?;
        let settlement_due = match a.config.settle_threshold {
            Some(t) if before <= t && a.balance > t => {
                a.settlement_due().map(|amount| SettlementDue {
                    account: a.id.clone(),
                    amount,
                    balance: a.balance,
                })
            }
            _ => None,
        };
        Ok(Receipt {
            account: a,
            journal_id: Some(id),
            settlement_due,
        })
    }

    /// See [`Ledger::create_account`].
    pub fn create_account(&mut self, id: &str, config: AccountConfig) -> Result<Account> {
        if id.is_empty() || id.len() > 256 {
            return Err(LedgerError::InvalidConfig {
                account: id.to_string(),
                reason: "account id must be 1 to 256 bytes".into(),
            });
        }
        config
            .validate()
            .map_err(|reason| LedgerError::InvalidConfig {
                account: id.to_string(),
                reason,
            })?;
        match self.account(id) {
            Ok(existing) if existing.config == config => return Ok(existing),
            Ok(_) => return Err(LedgerError::AccountExists(id.to_string())),
            Err(LedgerError::UnknownAccount(_)) => {}
            Err(e) => return Err(e),
        }
        let a = Account {
            id: id.to_string(),
            config,
            balance: 0,
            pending_incoming: 0,
            pending_outgoing: 0,
        };
        Ok(self
            .apply(a, EntryKind::AccountCreated, None, None, 0, (0, 0, 0), None)?
            .account)
    }

    /// See [`Ledger::update_account`].
    pub fn update_account(&mut self, id: &str, config: AccountConfig) -> Result<Account> {
        config
            .validate()
            .map_err(|reason| LedgerError::InvalidConfig {
                account: id.to_string(),
                reason,
            })?;
        let mut a = self.account(id)?;
        if a.config.asset_code != config.asset_code || a.config.asset_scale != config.asset_scale {
            return Err(LedgerError::InvalidConfig {
                account: id.to_string(),
                reason: "asset code and scale of an account cannot change".into(),
            });
        }
        if a.config == config {
            return Ok(a);
        }
        a.config = config;
        Ok(self
            .apply(a, EntryKind::AccountUpdated, None, None, 0, (0, 0, 0), None)?
            .account)
    }

    /// Reserve `amount` for a PREPARE (see [`Ledger::prepare_incoming`]/`prepare_outgoing`).
    pub fn prepare(
        &mut self,
        direction: Direction,
        account: &str,
        packet: PacketId,
        amount: u64,
        expires_at_ms: u64,
    ) -> Result<Receipt> {
        let a = self.account(account)?;
        let key = packet_key(direction, &packet);
        if self.txn.open_table(PENDING)?.get(&key[..])?.is_some()
            || self.txn.open_table(FINISHED)?.get(&key[..])?.is_some()
        {
            return Err(LedgerError::DuplicatePacket { direction, packet });
        }
        if let Some(max) = a.config.max_packet_amount
            && amount > max
        {
            return Err(LedgerError::AmountTooLarge {
                account: account.to_string(),
                amount,
                max,
            });
        }
        let amt = i128::from(amount);
        let deltas = match direction {
            Direction::Incoming => {
                if a.balance - a.pending_incoming - amt < a.config.min_balance {
                    return Err(LedgerError::InsufficientBalance {
                        account: account.to_string(),
                        balance: a.balance,
                        pending: a.pending_incoming,
                        min_balance: a.config.min_balance,
                        amount,
                    });
                }
                (0, amt, 0)
            }
            Direction::Outgoing => {
                if let Some(max) = a.config.max_balance
                    && a.balance + a.pending_outgoing + amt > max
                {
                    return Err(LedgerError::ExceedsMaxBalance {
                        account: account.to_string(),
                        balance: a.balance,
                        pending: a.pending_outgoing,
                        max_balance: max,
                        amount,
                    });
                }
                (0, 0, amt)
            }
        };
        let p = Pending {
            direction,
            packet,
            account: account.to_string(),
            amount,
            expires_at_ms,
            state: PacketState::Pending,
            prepared_at_ms: self.now_ms,
        };
        self.dirty.set(true);
        self.txn
            .open_table(PENDING)?
            .insert(&key[..], &encode(&p)?[..])?;
        self.apply(
            a,
            EntryKind::Prepare,
            Some(direction),
            Some(packet),
            amount,
            deltas,
            None,
        )
    }

    /// Take a pending record out of PENDING (or report why it cannot be finished).
    /// `Ok(None)` = already finished in the requested state (idempotent repeat).
    fn take_pending(
        &mut self,
        direction: Direction,
        account: &str,
        packet: PacketId,
        wanted: PacketState,
    ) -> Result<Option<Pending>> {
        let key = packet_key(direction, &packet);
        let unknown = || LedgerError::UnknownPacket {
            direction,
            packet,
            account: account.to_string(),
        };
        let pending = {
            let t = self.txn.open_table(PENDING)?;
            t.get(&key[..])?
                .map(|v| decode::<Pending>(v.value()))
                .transpose()?
        };
        match pending {
            Some(p) if p.account == account => {
                self.dirty.set(true);
                self.txn.open_table(PENDING)?.remove(&key[..])?;
                let mut done = p.clone();
                done.state = wanted;
                self.txn
                    .open_table(FINISHED)?
                    .insert(&key[..], &encode(&done)?[..])?;
                Ok(Some(p))
            }
            Some(_) => Err(unknown()),
            None => {
                let t = self.txn.open_table(FINISHED)?;
                let done = t
                    .get(&key[..])?
                    .map(|v| decode::<Pending>(v.value()))
                    .transpose()?;
                match done {
                    Some(d) if d.account != account => Err(unknown()),
                    Some(d) if d.state == wanted => Ok(None),
                    // A REJECT that finds the packet already expired changes nothing either.
                    Some(d)
                        if wanted == PacketState::Rejected && d.state == PacketState::Expired =>
                    {
                        Ok(None)
                    }
                    Some(d) => Err(LedgerError::PacketFinished {
                        direction,
                        packet,
                        state: d.state,
                    }),
                    None => Err(unknown()),
                }
            }
        }
    }

    fn replay_receipt(&self, account: &str) -> Result<Receipt> {
        Ok(Receipt {
            account: self.account(account)?,
            journal_id: None,
            settlement_due: None,
        })
    }

    /// Commit a reservation into the balance (see [`Ledger::fulfill_incoming`]). Repeating a
    /// fulfill is a no-op; fulfilling a rejected/expired packet fails with `PacketFinished`.
    pub fn fulfill(
        &mut self,
        direction: Direction,
        account: &str,
        packet: PacketId,
    ) -> Result<Receipt> {
        let Some(p) = self.take_pending(direction, account, packet, PacketState::Fulfilled)? else {
            return self.replay_receipt(account);
        };
        let a = self.account(account)?;
        let amt = i128::from(p.amount);
        let deltas = match direction {
            Direction::Incoming => (-amt, -amt, 0),
            Direction::Outgoing => (amt, 0, -amt),
        };
        self.apply(
            a,
            EntryKind::Fulfill,
            Some(direction),
            Some(packet),
            p.amount,
            deltas,
            None,
        )
    }

    /// Release a reservation (see [`Ledger::reject_incoming`]). Repeating is a no-op;
    /// rejecting a fulfilled packet fails with `PacketFinished`.
    pub fn reject(
        &mut self,
        direction: Direction,
        account: &str,
        packet: PacketId,
    ) -> Result<Receipt> {
        let Some(p) = self.take_pending(direction, account, packet, PacketState::Rejected)? else {
            return self.replay_receipt(account);
        };
        self.release(p, EntryKind::Reject)
    }

    fn release(&mut self, p: Pending, kind: EntryKind) -> Result<Receipt> {
        let a = self.account(&p.account)?;
        let amt = i128::from(p.amount);
        let deltas = match p.direction {
            Direction::Incoming => (0, -amt, 0),
            Direction::Outgoing => (0, 0, -amt),
        };
        self.apply(
            a,
            kind,
            Some(p.direction),
            Some(p.packet),
            p.amount,
            deltas,
            None,
        )
    }

    /// See [`Ledger::expire_pending`].
    pub fn expire_pending(&mut self, now_ms: u64) -> Result<Vec<Pending>> {
        let expired: Vec<Pending> = {
            let t = self.txn.open_table(PENDING)?;
            let mut v = Vec::new();
            for kv in t.iter()? {
                let p: Pending = decode(kv?.1.value())?;
                if p.expires_at_ms <= now_ms {
                    v.push(p);
                }
            }
            v
        };
        for p in &expired {
            let taken =
                self.take_pending(p.direction, &p.account, p.packet, PacketState::Expired)?;
            if let Some(p) = taken {
                self.release(p, EntryKind::Expire)?;
            }
        }
        Ok(expired)
    }

    /// Check and record an idempotency key. `Ok(true)` = first use; `Ok(false)` = repeat of the
    /// identical request; error = key reused for a different request.
    pub(crate) fn idempotency(&self, key: &str, request: &[u8]) -> Result<bool> {
        let mut t = self.txn.open_table(IDEMPOTENCY)?;
        let prev = t.get(key)?.map(|v| v.value().to_vec());
        match prev {
            Some(p) if p == request => Ok(false),
            Some(_) => Err(LedgerError::IdempotencyConflict(key.to_string())),
            None => {
                self.dirty.set(true);
                t.insert(key, request)?;
                Ok(true)
            }
        }
    }

    /// See [`Ledger::deposit`].
    pub fn deposit(&mut self, account: &str, amount: u64, reference: &str) -> Result<Receipt> {
        let a = self.account(account)?;
        let req = format!("deposit|{account}|{amount}");
        if !self.idempotency(&format!("admin:{reference}"), req.as_bytes())? {
            return self.replay_receipt(account);
        }
        let amt = i128::from(amount);
        self.apply(
            a,
            EntryKind::Deposit,
            None,
            None,
            amount,
            (amt, 0, 0),
            Some(reference.to_string()),
        )
    }

    /// See [`Ledger::settlement_sent`] / [`Ledger::settlement_received`].
    pub fn settlement(
        &mut self,
        account: &str,
        amount: u64,
        idempotency_key: &str,
        kind: EntryKind,
    ) -> Result<Receipt> {
        let a = self.account(account)?;
        let sign = match kind {
            EntryKind::SettlementSent => -1,
            EntryKind::SettlementReceived => 1,
            other => {
                return Err(LedgerError::InvalidAmount(format!(
                    "{other:?} is not a settlement"
                )));
            }
        };
        let req = format!("{kind:?}|{account}|{amount}");
        if !self.idempotency(&format!("engine:{idempotency_key}"), req.as_bytes())? {
            return self.replay_receipt(account);
        }
        let amt = i128::from(amount);
        self.apply(
            a,
            kind,
            None,
            None,
            amount,
            (sign * amt, 0, 0),
            Some(idempotency_key.to_string()),
        )
    }

    /// See [`Ledger::withdraw`].
    pub fn withdraw(&mut self, account: &str, amount: u64, reference: &str) -> Result<Receipt> {
        let a = self.account(account)?;
        let req = format!("withdraw|{account}|{amount}");
        if !self.idempotency(&format!("admin:{reference}"), req.as_bytes())? {
            return self.replay_receipt(account);
        }
        let amt = i128::from(amount);
        if a.balance - a.pending_incoming - amt < a.config.min_balance {
            return Err(LedgerError::InsufficientBalance {
                account: account.to_string(),
                balance: a.balance,
                pending: a.pending_incoming,
                min_balance: a.config.min_balance,
                amount,
            });
        }
        self.apply(
            a,
            EntryKind::Withdrawal,
            None,
            None,
            amount,
            (-amt, 0, 0),
            Some(reference.to_string()),
        )
    }
}

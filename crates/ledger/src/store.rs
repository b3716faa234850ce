//! The `Ledger` handle: the redb tables, opening, the public operations (each one durable write
//! transaction, shared through group commit, or one `Ledger::write` batch) and the reads. The
//! mutations themselves live in `tx.rs`, auditing in `audit.rs`. Every operation is committed
//! with immediate durability before the call returns, so a kill -9 keeps a whole operation or
//! none of it.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{LedgerError, Result};
use crate::group::Group;
use crate::journal::{Entry, EntryKind, Sums, Totals};
use crate::tx::LedgerTx;
use crate::types::{Account, AccountConfig, Direction, PacketId, Pending, Receipt, SettlementDue};

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
pub(crate) const SUMS: &str = "sums";
pub(crate) const CHECKPOINT: &str = "checkpoint";

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

pub(crate) fn packet_key(direction: Direction, packet: &PacketId) -> [u8; 33] {
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

    /// [`Self::submit`] for async callers: queues the operation without blocking this thread
    /// (no blocking-pool hand-off per operation); the future is ready once it is durable.
    pub fn submit_async<T, F>(&self, f: F) -> crate::group::Submitted<T>
    where
        T: Send + 'static,
        F: Fn(&mut LedgerTx<'_>) -> Result<T> + Send + 'static,
    {
        self.group.submit_async(f)
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
}

//! Durable event store on redb.
//!
//! One writer thread applies every mutation (save, delete, account credit/debit, expiry purge).
//! It drains whatever is queued, applies it in one write transaction and commits with
//! `Durability::Immediate` (fsync) before any caller hears "stored": a `kill -9` after an
//! `OK true` never loses the event, and group commit keeps throughput high under load.
//! Reads run on any thread against MVCC snapshots.
//!
//! Tables (all keys are byte strings; `inv(t)` = `u64::MAX - created_at`, big-endian, so a
//! forward range scan yields newest first and, on ties, lowest id first as NIP-01 asks):
//! - `events`: id -> event JSON
//! - `by_time`: inv(t) ++ id
//! - `by_author`: pubkey ++ inv(t) ++ id
//! - `by_author_kind`: pubkey ++ kind(u16) ++ inv(t) ++ id
//! - `by_kind`: kind(u16) ++ inv(t) ++ id
//! - `by_tag`: letter ++ sha256(value)[..16] ++ inv(t) ++ id (first value of single-letter tags)
//! - `coords`: kind ++ pubkey ++ d-tag -> id of the live version (replaceable/addressable)
//! - `deleted_ids`: id -> pubkey of the NIP-09 deleter (refuses re-publication by that author)
//! - `deleted_coords`: coordinate -> created_at of the deletion (refuses versions up to it)
//! - `expiry`: expiration(u64) ++ id (NIP-40 purge order)
//! - `accounts`: pubkey -> prepaid balance (pay-to-write credit for WebSocket publishing)

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;

use nostr::prelude::{Event, EventId, Filter, Kind, PublicKey, Timestamp};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::filter::{self, QueryPlan};

const EVENTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("events");
const BY_TIME: TableDefinition<&[u8], ()> = TableDefinition::new("by_time");
const BY_AUTHOR: TableDefinition<&[u8], ()> = TableDefinition::new("by_author");
const BY_AUTHOR_KIND: TableDefinition<&[u8], ()> = TableDefinition::new("by_author_kind");
const BY_KIND: TableDefinition<&[u8], ()> = TableDefinition::new("by_kind");
const BY_TAG: TableDefinition<&[u8], ()> = TableDefinition::new("by_tag");
const COORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("coords");
const DELETED_IDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("deleted_ids");
const DELETED_COORDS: TableDefinition<&[u8], u64> = TableDefinition::new("deleted_coords");
const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("expiry");
const ACCOUNTS: TableDefinition<&[u8], u64> = TableDefinition::new("accounts");

/// Most queued mutations applied in one transaction.
const MAX_BATCH: usize = 512;
/// Most index entries examined for one filter (guards against expensive scans).
const MAX_SCAN: usize = 200_000;

/// Store failures. Never caused by client input alone.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    #[error("stored event is corrupt: {0}")]
    Corrupt(String),
    #[error("the store writer has stopped")]
    WriterGone,
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.into()) }
        }
    )*};
}
db_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// What happened to an event handed to [`EventStore::save`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Newly stored (for replaceable/addressable kinds: replaced `replaced` older versions).
    Stored { replaced: usize },
    /// The same id is already stored.
    Duplicate,
    /// A newer (or equal-time, lower-id) version of this replaceable/addressable event exists.
    Stale,
    /// The author deleted this event (or its address) with NIP-09.
    Deleted,
    /// The payer's prepaid account does not cover the price.
    InsufficientBalance { balance: u64, price: u64 },
}

impl SaveOutcome {
    /// Whether the event is now in the store as a result of this call.
    pub fn is_stored(&self) -> bool {
        matches!(self, SaveOutcome::Stored { .. })
    }
}

/// An optional charge applied atomically with a save: debit `price` from `payer`'s account.
#[derive(Debug, Clone, Copy)]
pub struct Charge {
    pub payer: PublicKey,
    pub price: u64,
}

enum Job {
    Save {
        event: Box<Event>,
        charge: Option<Charge>,
        reply: oneshot::Sender<Result<SaveOutcome, StoreError>>,
    },
    Credit {
        account: PublicKey,
        amount: u64,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    PurgeExpired {
        now: u64,
        reply: oneshot::Sender<Result<usize, StoreError>>,
    },
    Debit {
        account: PublicKey,
        amount: u64,
        reply: oneshot::Sender<Result<Result<u64, u64>, StoreError>>,
    },
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct EventStore {
    db: Arc<Database>,
    jobs: std_mpsc::Sender<Job>,
}

impl EventStore {
    /// Open (or create) the store file at `path` and start its writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Database::builder()
            .set_cache_size(64 * 1024 * 1024)
            .create(path.as_ref())?;
        let db = Arc::new(db);
        {
            // Create every table up front so readers never see "table does not exist".
            let tx = db.begin_write()?;
            tx.open_table(EVENTS)?;
            tx.open_table(BY_TIME)?;
            tx.open_table(BY_AUTHOR)?;
            tx.open_table(BY_AUTHOR_KIND)?;
            tx.open_table(BY_KIND)?;
            tx.open_table(BY_TAG)?;
            tx.open_table(COORDS)?;
            tx.open_table(DELETED_IDS)?;
            tx.open_table(DELETED_COORDS)?;
            tx.open_table(EXPIRY)?;
            tx.open_table(ACCOUNTS)?;
            tx.commit()?;
        }
        let (jobs, rx) = std_mpsc::channel();
        let writer_db = db.clone();
        std::thread::Builder::new()
            .name("nostr-store-writer".into())
            .spawn(move || writer_loop(writer_db, rx))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;
        Ok(Self { db, jobs })
    }

    /// Store `event` (already verified by the caller) durably. Handles replaceable/addressable
    /// replacement, NIP-09 deletion requests (kind 5) and tombstones; with a `charge`, debits the
    /// payer's account in the same transaction and stores nothing if it does not cover the price.
    pub async fn save(
        &self,
        event: Event,
        charge: Option<Charge>,
    ) -> Result<SaveOutcome, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Save {
                event: Box::new(event),
                charge,
                reply,
            })
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Add `amount` to `account`'s prepaid balance; returns the new balance.
    pub async fn credit(&self, account: PublicKey, amount: u64) -> Result<u64, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Credit {
                account,
                amount,
                reply,
            })
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Take `amount` from `account`'s prepaid balance: `Ok(new balance)`, or `Err(balance)` when
    /// it does not cover the amount (nothing changes then).
    pub async fn debit(
        &self,
        account: PublicKey,
        amount: u64,
    ) -> Result<Result<u64, u64>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::Debit {
                account,
                amount,
                reply,
            })
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Remove events whose NIP-40 expiration is before `now`; returns how many.
    pub async fn purge_expired(&self, now: Timestamp) -> Result<usize, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.jobs
            .send(Job::PurgeExpired {
                now: now.as_secs(),
                reply,
            })
            .map_err(|_| StoreError::WriterGone)?;
        rx.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Prepaid balance of `account` (0 if unknown).
    pub fn balance(&self, account: &PublicKey) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(ACCOUNTS)?;
        Ok(t.get(account.as_bytes().as_slice())?
            .map(|v| v.value())
            .unwrap_or(0))
    }

    /// Fetch one event by id.
    pub fn get(&self, id: &EventId) -> Result<Option<Event>, StoreError> {
        let tx = self.db.begin_read()?;
        let events = tx.open_table(EVENTS)?;
        match events.get(id.as_bytes().as_slice())? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// Number of stored events.
    pub fn len(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(redb::ReadableTableMetadata::len(&tx.open_table(EVENTS)?)?)
    }

    /// Whether the store holds no event.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Events matching any of `filters`, newest first (ties: lowest id first), each filter
    /// limited to its `limit` (clamped to `max_limit`, `default_limit` when absent). Expired
    /// events are never returned. Blocking: call from `spawn_blocking` in async code.
    pub fn query(
        &self,
        filters: &[Filter],
        default_limit: usize,
        max_limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let now = Timestamp::now();
        let tx = self.db.begin_read()?;
        let events = tx.open_table(EVENTS)?;
        let mut out: Vec<Event> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for f in filters {
            let limit = f.limit.unwrap_or(default_limit).min(max_limit);
            if limit == 0 {
                continue;
            }
            let mut found: Vec<Event> = Vec::new();
            let accept = |ev: Event, found: &mut Vec<Event>| {
                if !ev.is_expired_at(now) && filter::matches(f, &ev) {
                    found.push(ev);
                }
            };
            match filter::plan(f) {
                QueryPlan::Ids(ids) => {
                    for id in ids {
                        if let Some(v) = events.get(id.as_bytes().as_slice())? {
                            accept(decode(v.value())?, &mut found);
                        }
                    }
                }
                plan => {
                    let (table, prefixes) = match plan {
                        QueryPlan::AuthorKinds(p) => (BY_AUTHOR_KIND, p),
                        QueryPlan::Authors(p) => (BY_AUTHOR, p),
                        QueryPlan::Tag(p) => (BY_TAG, p),
                        QueryPlan::Kinds(p) => (BY_KIND, p),
                        QueryPlan::Time => (BY_TIME, vec![Vec::new()]),
                        QueryPlan::Ids(_) => unreachable!("handled above"),
                    };
                    let index = tx.open_table(table)?;
                    let hi_t = f.until.map(|t| t.as_secs()).unwrap_or(u64::MAX);
                    let lo_t = f.since.map(|t| t.as_secs()).unwrap_or(0);
                    for prefix in prefixes {
                        let mut start = prefix.clone();
                        start.extend_from_slice(&inv(hi_t));
                        let mut end = prefix.clone();
                        end.extend_from_slice(&inv(lo_t));
                        end.extend_from_slice(&[0xff; 32]);
                        let mut matched = 0usize;
                        let mut scanned = 0usize;
                        for entry in index.range(start.as_slice()..=end.as_slice())? {
                            let (k, _) = entry?;
                            let key = k.value();
                            let id = &key[key.len() - 32..];
                            scanned += 1;
                            if scanned > MAX_SCAN {
                                break;
                            }
                            if let Some(v) = events.get(id)? {
                                let before = found.len();
                                accept(decode(v.value())?, &mut found);
                                if found.len() > before {
                                    matched += 1;
                                    if matched >= limit {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            filter::sort_newest_first(&mut found);
            found.truncate(limit);
            for ev in found {
                if seen.insert(ev.id) {
                    out.push(ev);
                }
            }
        }
        filter::sort_newest_first(&mut out);
        Ok(out)
    }
}

fn decode(bytes: &[u8]) -> Result<Event, StoreError> {
    Event::from_json(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn inv(t: u64) -> [u8; 8] {
    (u64::MAX - t).to_be_bytes()
}

/// Key identifying the address of a replaceable (kind ++ pubkey) or addressable
/// (kind ++ pubkey ++ d) event.
pub(crate) fn coord_key(kind: Kind, pubkey: &PublicKey, d: Option<&str>) -> Vec<u8> {
    let mut k = Vec::with_capacity(34 + d.map_or(0, str::len));
    k.extend_from_slice(&kind.as_u16().to_be_bytes());
    k.extend_from_slice(pubkey.as_bytes());
    if let Some(d) = d {
        k.extend_from_slice(d.as_bytes());
    }
    k
}

fn event_coord(ev: &Event) -> Option<Vec<u8>> {
    if ev.kind.is_addressable() {
        let d = ev.tags.identifier().unwrap_or_default();
        Some(coord_key(ev.kind, &ev.pubkey, Some(&d)))
    } else if ev.kind.is_replaceable() {
        Some(coord_key(ev.kind, &ev.pubkey, None))
    } else {
        None
    }
}

/// First 16 bytes of SHA-256 of a tag value: a fixed-width index key part.
pub(crate) fn tag_hash(value: &str) -> [u8; 16] {
    let h = Sha256::digest(value.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h[..16]);
    out
}

type IndexTable = TableDefinition<'static, &'static [u8], ()>;

fn index_keys(ev: &Event) -> Vec<(IndexTable, Vec<u8>)> {
    let t = inv(ev.created_at.as_secs());
    let id = ev.id.as_bytes();
    let pk = ev.pubkey.as_bytes();
    let kind = ev.kind.as_u16().to_be_bytes();
    let mut keys = vec![
        (BY_TIME, [t.as_slice(), id].concat()),
        (BY_AUTHOR, [pk.as_slice(), &t, id].concat()),
        (BY_AUTHOR_KIND, [pk.as_slice(), &kind, &t, id].concat()),
        (BY_KIND, [kind.as_slice(), &t, id].concat()),
    ];
    let mut tag_keys = std::collections::BTreeSet::new();
    for tag in ev.tags.iter() {
        if let (Some(letter), Some(value)) = (tag.single_letter_tag(), tag.content()) {
            tag_keys.insert([[letter.as_byte()].as_slice(), &tag_hash(value), &t, id].concat());
        }
    }
    keys.extend(tag_keys.into_iter().map(|k| (BY_TAG, k)));
    keys
}

fn writer_loop(db: Arc<Database>, rx: std_mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        apply_batch(&db, batch);
    }
}

enum Done {
    Save(
        oneshot::Sender<Result<SaveOutcome, StoreError>>,
        Result<SaveOutcome, StoreError>,
    ),
    Credit(
        oneshot::Sender<Result<u64, StoreError>>,
        Result<u64, StoreError>,
    ),
    Purge(
        oneshot::Sender<Result<usize, StoreError>>,
        Result<usize, StoreError>,
    ),
    Debit(
        oneshot::Sender<Result<Result<u64, u64>, StoreError>>,
        Result<Result<u64, u64>, StoreError>,
    ),
}

fn apply_batch(db: &Database, batch: Vec<Job>) {
    let mut tx = match db.begin_write() {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            for job in batch {
                fail(job, &msg);
            }
            return;
        }
    };
    // Immediate is redb's default; set it explicitly because OK-true depends on it.
    let _ = tx.set_durability(Durability::Immediate);
    let mut done = Vec::with_capacity(batch.len());
    for job in batch {
        match job {
            Job::Save {
                event,
                charge,
                reply,
            } => {
                let r = apply_save(&tx, &event, charge);
                done.push(Done::Save(reply, r));
            }
            Job::Credit {
                account,
                amount,
                reply,
            } => {
                let r = apply_credit(&tx, &account, amount);
                done.push(Done::Credit(reply, r));
            }
            Job::PurgeExpired { now, reply } => {
                let r = apply_purge(&tx, now);
                done.push(Done::Purge(reply, r));
            }
            Job::Debit {
                account,
                amount,
                reply,
            } => {
                let r = apply_debit(&tx, &account, amount);
                done.push(Done::Debit(reply, r));
            }
        }
    }
    match tx.commit() {
        Ok(()) => {
            for d in done {
                match d {
                    Done::Save(tx, r) => {
                        let _ = tx.send(r);
                    }
                    Done::Credit(tx, r) => {
                        let _ = tx.send(r);
                    }
                    Done::Purge(tx, r) => {
                        let _ = tx.send(r);
                    }
                    Done::Debit(tx, r) => {
                        let _ = tx.send(r);
                    }
                }
            }
        }
        Err(e) => {
            let msg = format!("commit failed: {e}");
            for d in done {
                match d {
                    Done::Save(tx, _) => {
                        let _ = tx.send(Err(StoreError::Corrupt(msg.clone())));
                    }
                    Done::Credit(tx, _) => {
                        let _ = tx.send(Err(StoreError::Corrupt(msg.clone())));
                    }
                    Done::Purge(tx, _) => {
                        let _ = tx.send(Err(StoreError::Corrupt(msg.clone())));
                    }
                    Done::Debit(tx, _) => {
                        let _ = tx.send(Err(StoreError::Corrupt(msg.clone())));
                    }
                }
            }
        }
    }
}

fn fail(job: Job, msg: &str) {
    let e = || StoreError::Corrupt(msg.to_string());
    match job {
        Job::Save { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::Credit { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::PurgeExpired { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
        Job::Debit { reply, .. } => {
            let _ = reply.send(Err(e()));
        }
    }
}

fn apply_credit(
    tx: &redb::WriteTransaction,
    account: &PublicKey,
    amount: u64,
) -> Result<u64, StoreError> {
    let mut t = tx.open_table(ACCOUNTS)?;
    let key = account.as_bytes().as_slice();
    let cur = t.get(key)?.map(|v| v.value()).unwrap_or(0);
    let new = cur.saturating_add(amount);
    t.insert(key, new)?;
    Ok(new)
}

fn apply_debit(
    tx: &redb::WriteTransaction,
    account: &PublicKey,
    amount: u64,
) -> Result<Result<u64, u64>, StoreError> {
    let mut t = tx.open_table(ACCOUNTS)?;
    let key = account.as_bytes().as_slice();
    let cur = t.get(key)?.map(|v| v.value()).unwrap_or(0);
    if cur < amount {
        return Ok(Err(cur));
    }
    t.insert(key, cur - amount)?;
    Ok(Ok(cur - amount))
}

fn apply_save(
    tx: &redb::WriteTransaction,
    ev: &Event,
    charge: Option<Charge>,
) -> Result<SaveOutcome, StoreError> {
    let id = ev.id.as_bytes().as_slice();
    {
        let events = tx.open_table(EVENTS)?;
        if events.get(id)?.is_some() {
            return Ok(SaveOutcome::Duplicate);
        }
    }
    {
        let deleted = tx.open_table(DELETED_IDS)?;
        if let Some(deleter) = deleted.get(id)?
            && deleter.value() == ev.pubkey.as_bytes().as_slice()
        {
            return Ok(SaveOutcome::Deleted);
        }
    }
    let coord = event_coord(ev);
    let mut replaced_ids: Vec<Vec<u8>> = Vec::new();
    if let Some(coord) = &coord {
        let dc = tx.open_table(DELETED_COORDS)?;
        if let Some(at) = dc.get(coord.as_slice())?
            && ev.created_at.as_secs() <= at.value()
        {
            return Ok(SaveOutcome::Deleted);
        }
        drop(dc);
        let coords = tx.open_table(COORDS)?;
        if let Some(cur) = coords.get(coord.as_slice())? {
            let cur_id = cur.value().to_vec();
            let events = tx.open_table(EVENTS)?;
            if let Some(old) = events.get(cur_id.as_slice())? {
                let old = decode(old.value())?;
                // Keep the newest; on equal timestamps keep the lowest id (NIP-01).
                let newer = ev.created_at > old.created_at
                    || (ev.created_at == old.created_at && ev.id < old.id);
                if !newer {
                    return Ok(SaveOutcome::Stale);
                }
                replaced_ids.push(cur_id);
            }
        }
    }
    if let Some(c) = charge
        && c.price > 0
    {
        let mut accounts = tx.open_table(ACCOUNTS)?;
        let key = c.payer.as_bytes().as_slice();
        let balance = accounts.get(key)?.map(|v| v.value()).unwrap_or(0);
        if balance < c.price {
            return Ok(SaveOutcome::InsufficientBalance {
                balance,
                price: c.price,
            });
        }
        accounts.insert(key, balance - c.price)?;
    }
    for old in &replaced_ids {
        remove_event(tx, old)?;
    }
    insert_event(tx, ev)?;
    if let Some(coord) = coord {
        tx.open_table(COORDS)?.insert(coord.as_slice(), id)?;
    }
    if ev.kind == Kind::EventDeletion {
        apply_deletion(tx, ev)?;
    }
    Ok(SaveOutcome::Stored {
        replaced: replaced_ids.len(),
    })
}

fn insert_event(tx: &redb::WriteTransaction, ev: &Event) -> Result<(), StoreError> {
    let id = ev.id.as_bytes().as_slice();
    let json = ev.as_json();
    tx.open_table(EVENTS)?.insert(id, json.as_bytes())?;
    for (table, key) in index_keys(ev) {
        tx.open_table(table)?.insert(key.as_slice(), ())?;
    }
    if let Some(exp) = ev.tags.expiration() {
        let key = [exp.as_secs().to_be_bytes().as_slice(), id].concat();
        tx.open_table(EXPIRY)?.insert(key.as_slice(), ())?;
    }
    Ok(())
}

/// Remove an event and all its index entries; returns it if it existed.
fn remove_event(tx: &redb::WriteTransaction, id: &[u8]) -> Result<Option<Event>, StoreError> {
    let ev = {
        let mut events = tx.open_table(EVENTS)?;
        let removed = events.remove(id)?;
        match removed {
            Some(v) => decode(v.value())?,
            None => return Ok(None),
        }
    };
    for (table, key) in index_keys(&ev) {
        tx.open_table(table)?.remove(key.as_slice())?;
    }
    if let Some(exp) = ev.tags.expiration() {
        let key = [exp.as_secs().to_be_bytes().as_slice(), id].concat();
        tx.open_table(EXPIRY)?.remove(key.as_slice())?;
    }
    if let Some(coord) = event_coord(&ev) {
        let mut coords = tx.open_table(COORDS)?;
        let points_here = coords
            .get(coord.as_slice())?
            .is_some_and(|v| v.value() == id);
        if points_here {
            coords.remove(coord.as_slice())?;
        }
    }
    Ok(Some(ev))
}

/// NIP-09: a kind-5 event deletes the author's own events named by `e` tags and all versions
/// of the author's addresses named by `a` tags up to the deletion's `created_at`.
fn apply_deletion(tx: &redb::WriteTransaction, del: &Event) -> Result<(), StoreError> {
    let author = del.pubkey.as_bytes().as_slice();
    for tag in del.tags.iter() {
        let s = tag.as_slice();
        match (s.first().map(String::as_str), s.get(1)) {
            (Some("e"), Some(v)) => {
                let Ok(id) = EventId::from_hex(v) else {
                    continue;
                };
                let id = id.as_bytes().as_slice();
                let existing = {
                    let events = tx.open_table(EVENTS)?;
                    events.get(id)?.map(|v| decode(v.value())).transpose()?
                };
                match existing {
                    // Only the author may delete, and deletions are not deletable.
                    Some(ev) if ev.pubkey == del.pubkey && ev.kind != Kind::EventDeletion => {
                        remove_event(tx, id)?;
                        tx.open_table(DELETED_IDS)?.insert(id, author)?;
                    }
                    Some(_) => {}
                    None => {
                        // Not here yet: remember, so the author's copy is refused later.
                        tx.open_table(DELETED_IDS)?.insert(id, author)?;
                    }
                }
            }
            (Some("a"), Some(v)) => {
                let mut parts = v.splitn(3, ':');
                let (Some(kind), Some(pk), d) = (parts.next(), parts.next(), parts.next()) else {
                    continue;
                };
                let (Ok(kind), Ok(pk)) = (kind.parse::<u16>(), PublicKey::from_hex(pk)) else {
                    continue;
                };
                let kind = Kind::from(kind);
                if pk != del.pubkey || !(kind.is_replaceable() || kind.is_addressable()) {
                    continue;
                }
                let coord = if kind.is_addressable() {
                    coord_key(kind, &pk, Some(d.unwrap_or("")))
                } else {
                    coord_key(kind, &pk, None)
                };
                let until = del.created_at.as_secs();
                let cur = tx
                    .open_table(COORDS)?
                    .get(coord.as_slice())?
                    .map(|v| v.value().to_vec());
                if let Some(cur) = cur {
                    let ev = {
                        let events = tx.open_table(EVENTS)?;
                        events
                            .get(cur.as_slice())?
                            .map(|v| decode(v.value()))
                            .transpose()?
                    };
                    if ev.is_some_and(|e| e.created_at.as_secs() <= until) {
                        remove_event(tx, &cur)?;
                    }
                }
                let mut dc = tx.open_table(DELETED_COORDS)?;
                let prev = dc.get(coord.as_slice())?.map(|v| v.value()).unwrap_or(0);
                dc.insert(coord.as_slice(), prev.max(until))?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn apply_purge(tx: &redb::WriteTransaction, now: u64) -> Result<usize, StoreError> {
    let ids: Vec<Vec<u8>> = {
        let t = tx.open_table(EXPIRY)?;
        let end = [now.to_be_bytes().as_slice(), &[0u8; 32]].concat();
        let mut ids = Vec::new();
        for entry in t.range(..end.as_slice())? {
            let (k, _) = entry?;
            ids.push(k.value()[8..].to_vec());
        }
        ids
    };
    let mut n = 0;
    for id in &ids {
        if remove_event(tx, id)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

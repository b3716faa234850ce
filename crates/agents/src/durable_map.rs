//! A durable map from viewer id to a small fixed record, in one redb table, written by one
//! background thread that commits whatever is queued in one transaction (group commit): the
//! caller never waits on the disk, and a crash loses at most the batch in flight. The relay's
//! credit balances and the recorder's per-GB VOD accounts both keep their viewers here.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::mpsc;

use redb::{Database, ReadableTable, TableDefinition, Value};

/// A record stored as one redb row (a tuple of integers).
pub trait Record: Copy + Send + 'static {
    type Row: Value + 'static;
    fn to_row(&self) -> <Self::Row as Value>::SelfType<'static>;
    fn from_row(row: <Self::Row as Value>::SelfType<'_>) -> Self;
}

enum Msg<R> {
    Save(String, R),
    /// Answer once everything queued before is committed.
    Flush(mpsc::Sender<()>),
}

/// Handle to the writer thread; dropping it commits what is queued and closes the file.
pub struct DurableMap<R: Record> {
    tx: Option<mpsc::Sender<Msg<R>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    what: &'static str,
    _r: PhantomData<R>,
}

impl<R: Record> Drop for DurableMap<R> {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `u128` as (high, low) 64-bit halves, the form the rows keep it in.
pub fn split_u128(v: u128) -> (u64, u64) {
    ((v >> 64) as u64, v as u64)
}

pub fn join_u128(hi: u64, lo: u64) -> u128 {
    ((hi as u128) << 64) | lo as u128
}

impl<R: Record> DurableMap<R> {
    /// Open (or create) table `table` in the file at `path`; returns the map with every saved
    /// record. `what` names the store in errors and logs ("billing store").
    pub fn open(
        path: &Path,
        table: &'static str,
        what: &'static str,
    ) -> Result<(Self, HashMap<String, R>), String> {
        let err = |e: &dyn std::fmt::Display| format!("{what}: {e}");
        let def = TableDefinition::<&str, R::Row>::new(table);
        let db = Database::create(path).map_err(|e| err(&e))?;
        let mut saved = HashMap::new();
        {
            let tx = db.begin_write().map_err(|e| err(&e))?;
            {
                let t = tx.open_table(def).map_err(|e| err(&e))?;
                for row in t.iter().map_err(|e| err(&e))? {
                    let (k, v) = row.map_err(|e| err(&e))?;
                    saved.insert(k.value().to_string(), R::from_row(v.value()));
                }
            }
            tx.commit().map_err(|e| err(&e))?;
        }
        let (tx, rx) = mpsc::channel::<Msg<R>>();
        let thread = std::thread::Builder::new()
            .name(what.replace(' ', "-"))
            .spawn(move || writer::<R>(db, table, what, rx))
            .map_err(|e| err(&e))?;
        Ok((
            Self {
                tx: Some(tx),
                thread: Some(thread),
                what,
                _r: PhantomData,
            },
            saved,
        ))
    }

    fn send(&self, m: Msg<R>) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(m).is_ok())
    }

    /// Queue `viewer`'s record for the next commit.
    pub fn save(&self, viewer: &str, r: R) {
        if !self.send(Msg::Save(viewer.to_string(), r)) {
            tracing::error!("{} writer stopped; records are no longer saved", self.what);
        }
    }

    /// Wait until everything saved so far is committed (blocking).
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.send(Msg::Flush(tx)) {
            let _ = rx.recv();
        }
    }
}

fn writer<R: Record>(db: Database, table: &'static str, what: &str, rx: mpsc::Receiver<Msg<R>>) {
    let def = TableDefinition::<&str, R::Row>::new(table);
    // Block for the first message, then take everything queued behind it into one commit.
    while let Ok(first) = rx.recv() {
        let mut batch: HashMap<String, R> = HashMap::new();
        let mut waiters = Vec::new();
        let mut take = |m: Msg<R>| match m {
            Msg::Save(v, r) => {
                batch.insert(v, r);
            }
            Msg::Flush(w) => waiters.push(w),
        };
        take(first);
        while let Ok(m) = rx.try_recv() {
            take(m);
        }
        let res = (|| -> Result<(), redb::Error> {
            let tx = db.begin_write()?;
            {
                let mut t = tx.open_table(def)?;
                for (v, r) in &batch {
                    t.insert(v.as_str(), r.to_row())?;
                }
            }
            tx.commit()?;
            Ok(())
        })();
        if let Err(e) = res {
            tracing::error!("{what}: {e}");
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

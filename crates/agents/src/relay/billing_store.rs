//! Durable viewer balances for credit mode: each viewer's money received and paid-until time
//! (unix ms) in a redb file, so a restarted relay keeps honouring time viewers paid for.
//! Writes go to one background thread that commits whatever is queued in one transaction
//! (group commit): payments never wait on the disk, and a crash loses at most the last batch
//! in flight (milliseconds of credit, never more than was received).

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;

use redb::{Database, ReadableTable, TableDefinition};

use super::RelayError;

/// viewer -> (received high 64 bits, received low 64 bits, paid until, unix ms)
const VIEWERS: TableDefinition<&str, (u64, u64, i64)> = TableDefinition::new("viewers");

/// One viewer's saved standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub received: u128,
    pub paid_until_ms: i64,
}

enum Msg {
    Save(String, Saved),
    /// Answer once everything queued before is committed.
    Flush(mpsc::Sender<()>),
}

/// Handle to the writer thread; dropping it commits what is queued and closes the file.
pub struct BillingStore {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for BillingStore {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn err(e: impl std::fmt::Display) -> RelayError {
    RelayError::Cache(format!("billing store: {e}"))
}

impl BillingStore {
    /// Open (or create) the store at `path`; returns it with every saved viewer.
    pub fn open(path: &Path) -> Result<(Self, HashMap<String, Saved>), RelayError> {
        let db = Database::create(path).map_err(err)?;
        let mut saved = HashMap::new();
        {
            let tx = db.begin_write().map_err(err)?;
            {
                let t = tx.open_table(VIEWERS).map_err(err)?;
                for row in t.iter().map_err(err)? {
                    let (k, v) = row.map_err(err)?;
                    let (hi, lo, until) = v.value();
                    saved.insert(
                        k.value().to_string(),
                        Saved {
                            received: ((hi as u128) << 64) | lo as u128,
                            paid_until_ms: until,
                        },
                    );
                }
            }
            tx.commit().map_err(err)?;
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("relay-billing-store".into())
            .spawn(move || writer(db, rx))
            .map_err(err)?;
        Ok((
            Self {
                tx: Some(tx),
                thread: Some(thread),
            },
            saved,
        ))
    }

    fn send(&self, m: Msg) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(m).is_ok())
    }

    /// Queue `viewer`'s new standing for the next commit.
    pub fn save(&self, viewer: &str, s: Saved) {
        if !self.send(Msg::Save(viewer.to_string(), s)) {
            tracing::error!("billing store writer stopped; balances are no longer saved");
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

fn writer(db: Database, rx: mpsc::Receiver<Msg>) {
    // Block for the first message, then take everything queued behind it into one commit.
    while let Ok(first) = rx.recv() {
        let mut batch: HashMap<String, Saved> = HashMap::new();
        let mut waiters = Vec::new();
        let mut take = |m: Msg| match m {
            Msg::Save(v, s) => {
                batch.insert(v, s);
            }
            Msg::Flush(w) => waiters.push(w),
        };
        take(first);
        while let Ok(m) = rx.try_recv() {
            take(m);
        }
        let res = (|| -> Result<(), RelayError> {
            let tx = db.begin_write().map_err(err)?;
            {
                let mut t = tx.open_table(VIEWERS).map_err(err)?;
                for (v, s) in &batch {
                    let hi = (s.received >> 64) as u64;
                    let lo = s.received as u64;
                    t.insert(v.as_str(), (hi, lo, s.paid_until_ms))
                        .map_err(err)?;
                }
            }
            tx.commit().map_err(err)
        })();
        if let Err(e) = res {
            tracing::error!("{e}");
        }
        for w in waiters {
            let _ = w.send(());
        }
    }
}

//! Durable per-GB VOD accounts: each viewer's money received and bytes served, in a redb file,
//! so a restarted recorder neither forgets what viewers paid nor serves it twice. One writer
//! thread commits whatever is queued in one transaction (group commit); a crash loses at most
//! the batch in flight (milliseconds of updates).

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;

use redb::{Database, ReadableTable, TableDefinition};

use super::RecorderError;

/// viewer -> (received hi, received lo, bytes served hi, bytes served lo)
const ACCOUNTS: TableDefinition<&str, (u64, u64, u64, u64)> = TableDefinition::new("vod_accounts");

/// One viewer's saved account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SavedAccount {
    pub received: u128,
    pub bytes_served: u128,
}

enum Msg {
    Save(String, SavedAccount),
    Flush(mpsc::Sender<()>),
}

/// Handle to the writer thread; dropping it commits what is queued.
pub struct GbStore {
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for GbStore {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn err(e: impl std::fmt::Display) -> RecorderError {
    RecorderError::Store(format!("VOD billing store: {e}"))
}

fn split(v: u128) -> (u64, u64) {
    ((v >> 64) as u64, v as u64)
}

fn join(hi: u64, lo: u64) -> u128 {
    ((hi as u128) << 64) | lo as u128
}

impl GbStore {
    /// Open (or create) the store at `path`; returns it with every saved account.
    pub fn open(path: &Path) -> Result<(Self, HashMap<String, SavedAccount>), RecorderError> {
        let db = Database::create(path).map_err(err)?;
        let mut saved = HashMap::new();
        {
            let tx = db.begin_write().map_err(err)?;
            {
                let t = tx.open_table(ACCOUNTS).map_err(err)?;
                for row in t.iter().map_err(err)? {
                    let (k, v) = row.map_err(err)?;
                    let (rh, rl, bh, bl) = v.value();
                    saved.insert(
                        k.value().to_string(),
                        SavedAccount {
                            received: join(rh, rl),
                            bytes_served: join(bh, bl),
                        },
                    );
                }
            }
            tx.commit().map_err(err)?;
        }
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("vod-billing-store".into())
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

    /// Queue `viewer`'s account for the next commit.
    pub fn save(&self, viewer: &str, a: SavedAccount) {
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.send(Msg::Save(viewer.to_string(), a)).is_ok());
        if !sent {
            tracing::error!("VOD billing store writer stopped; accounts are no longer saved");
        }
    }

    /// Wait until everything saved so far is committed.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self
            .tx
            .as_ref()
            .is_some_and(|t| t.send(Msg::Flush(tx)).is_ok())
        {
            let _ = rx.recv();
        }
    }
}

fn writer(db: Database, rx: mpsc::Receiver<Msg>) {
    while let Ok(first) = rx.recv() {
        let mut batch: HashMap<String, SavedAccount> = HashMap::new();
        let mut waiters = Vec::new();
        let mut take = |m: Msg| match m {
            Msg::Save(v, a) => {
                batch.insert(v, a);
            }
            Msg::Flush(w) => waiters.push(w),
        };
        take(first);
        while let Ok(m) = rx.try_recv() {
            take(m);
        }
        let res = (|| -> Result<(), RecorderError> {
            let tx = db.begin_write().map_err(err)?;
            {
                let mut t = tx.open_table(ACCOUNTS).map_err(err)?;
                for (v, a) in &batch {
                    let (rh, rl) = split(a.received);
                    let (bh, bl) = split(a.bytes_served);
                    t.insert(v.as_str(), (rh, rl, bh, bl)).map_err(err)?;
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

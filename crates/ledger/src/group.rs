//! Group commit: single operations from many threads are queued to one committer thread, which
//! runs every queued operation in one write transaction and makes them durable with a single
//! fsync. Each caller still gets its answer only after its change is on disk, so the kill -9
//! guarantee is unchanged; under concurrency throughput grows with the batch size.
//!
//! An operation that fails without having written anything simply reports its error (it changed
//! nothing). One that fails after writing (rare: e.g. an overflow) makes the committer abort the
//! transaction, answer that operation with its error and rerun the rest of the batch.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use redb::Database;

use crate::error::{LedgerError, Result};
use crate::store::now_ms;
use crate::tx::LedgerTx;

/// Most operations committed together.
const MAX_BATCH: usize = 512;

thread_local! {
    /// Set while this thread runs ledger transaction closures (a `write` closure, or always on
    /// the committer thread). A ledger write from there would wait for its own transaction.
    static IN_TXN: Cell<bool> = const { Cell::new(false) };
}

/// Refuse a nested write instead of deadlocking.
pub(crate) fn check_not_nested() -> Result<()> {
    if IN_TXN.with(Cell::get) {
        return Err(LedgerError::Store(
            "a ledger write was called from inside a transaction closure; use the `tx` methods \
             there instead"
                .into(),
        ));
    }
    Ok(())
}

/// Marks the current thread as inside a transaction until dropped.
pub(crate) struct NestGuard(bool);

impl NestGuard {
    pub(crate) fn enter() -> NestGuard {
        NestGuard(IN_TXN.with(|c| c.replace(true)))
    }
}

impl Drop for NestGuard {
    fn drop(&mut self) {
        let prev = self.0;
        IN_TXN.with(|c| c.set(prev));
    }
}

pub(crate) trait Job: Send {
    /// Run inside the batch transaction; `true` on success.
    fn run(&mut self, tx: &mut LedgerTx<'_>) -> bool;
    /// Deliver the result, given how the commit went.
    fn finish(self: Box<Self>, commit: std::result::Result<(), String>);
}

/// Where a finished job's result goes: the channel of a caller blocked in [`Group::submit`],
/// or the slot of a [`Submitted`] future.
trait Reply<T>: Send {
    fn deliver(self, r: Result<T>);
}

impl<T: Send> Reply<T> for SyncSender<Result<T>> {
    fn deliver(self, r: Result<T>) {
        // The caller may have gone away; nothing to do then.
        let _ = self.send(r);
    }
}

/// Where an async job's result waits for its future (a one-shot slot: no async runtime
/// needed, so the ledger stays runtime-free).
struct Slot<T> {
    result: Option<Result<T>>,
    waker: Option<std::task::Waker>,
    done: bool,
}

type SlotRef<T> = Arc<std::sync::Mutex<Slot<T>>>;

impl<T: Send> Reply<T> for SlotRef<T> {
    fn deliver(self, r: Result<T>) {
        let waker = {
            let mut s = self.lock().unwrap_or_else(|p| p.into_inner());
            s.result = Some(r);
            s.done = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The future of [`Group::submit_async`]: ready once the operation is durable.
pub struct Submitted<T>(SlotRef<T>);

impl<T> std::future::Future for Submitted<T> {
    type Output = Result<T>;
    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<T>> {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if s.done {
            let r = s
                .result
                .take()
                .unwrap_or_else(|| Err(LedgerError::Store("result already taken".into())));
            return std::task::Poll::Ready(r);
        }
        s.waker = Some(cx.waker().clone());
        std::task::Poll::Pending
    }
}

struct Typed<T, F, R> {
    f: F,
    result: Option<Result<T>>,
    reply: R,
}

impl<T, F, R> Job for Typed<T, F, R>
where
    T: Send,
    F: Fn(&mut LedgerTx<'_>) -> Result<T> + Send,
    R: Reply<T>,
{
    fn run(&mut self, tx: &mut LedgerTx<'_>) -> bool {
        let r = (self.f)(tx);
        let ok = r.is_ok();
        self.result = Some(r);
        ok
    }

    fn finish(self: Box<Self>, commit: std::result::Result<(), String>) {
        let Typed { f, result, reply } = *self;
        // Drop the closure (and whatever it captured, maybe a `Ledger` clone) before the caller
        // is released, so the committer thread never drops the last handle to itself.
        drop(f);
        let r = match (result, commit) {
            (Some(Err(e)), _) => Err(e),
            (_, Err(msg)) => Err(LedgerError::Store(msg)),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (None, Ok(())) => Err(LedgerError::Store("operation was not run".into())),
        };
        reply.deliver(r);
    }
}

/// The committer thread and the queue to it. Dropping the last handle stops and joins it, so
/// the database file is closed when the last `Ledger` clone is gone.
pub(crate) struct Group {
    sender: Option<Sender<Box<dyn Job>>>,
    handle: Option<JoinHandle<()>>,
}

impl Group {
    pub(crate) fn start(db: Arc<Database>) -> Result<Group> {
        let (sender, rx) = mpsc::channel::<Box<dyn Job>>();
        let handle = std::thread::Builder::new()
            .name("ledger-commit".into())
            .spawn(move || committer(db, rx))
            .map_err(|e| LedgerError::Store(format!("cannot start the committer thread: {e}")))?;
        Ok(Group {
            sender: Some(sender),
            handle: Some(handle),
        })
    }

    pub(crate) fn submit<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(&mut LedgerTx<'_>) -> Result<T> + Send + 'static,
    {
        check_not_nested()?;
        let stopped = || LedgerError::Store("the ledger committer thread stopped".into());
        let (reply, rx) = mpsc::sync_channel(1);
        let job = Box::new(Typed {
            f,
            result: None,
            reply,
        });
        self.sender
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| stopped())?
    }
}

impl Group {
    /// Like [`Group::submit`] without blocking the caller's thread: the operation is queued
    /// at once and the future is ready when it is durable (or failed).
    pub(crate) fn submit_async<T, F>(&self, f: F) -> Submitted<T>
    where
        T: Send + 'static,
        F: Fn(&mut LedgerTx<'_>) -> Result<T> + Send + 'static,
    {
        let slot = Arc::new(std::sync::Mutex::new(Slot {
            result: None,
            waker: None,
            done: false,
        }));
        let fail = |e: LedgerError| {
            let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
            s.result = Some(Err(e));
            s.done = true;
        };
        if let Err(e) = check_not_nested() {
            fail(e);
            return Submitted(slot);
        }
        let stopped = || LedgerError::Store("the ledger committer thread stopped".into());
        let job = Box::new(Typed {
            f,
            result: None,
            reply: slot.clone(),
        });
        match self.sender.as_ref() {
            Some(tx) => {
                if tx.send(job).is_err() {
                    fail(stopped());
                }
            }
            None => fail(stopped()),
        }
        Submitted(slot)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(h) = self.handle.take()
            && h.thread().id() != std::thread::current().id()
        {
            let _ = h.join();
        }
    }
}

fn committer(db: Arc<Database>, rx: Receiver<Box<dyn Job>>) {
    let _nest = NestGuard::enter();
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        run_batch(&db, jobs);
    }
}

fn run_batch(db: &Database, mut jobs: Vec<Box<dyn Job>>) {
    loop {
        let txn = match db.begin_write() {
            Ok(t) => t,
            Err(e) => {
                let msg = e.to_string();
                for j in jobs {
                    j.finish(Err(msg.clone()));
                }
                return;
            }
        };
        let mut poisoned = None;
        {
            let mut tx = LedgerTx {
                txn: &txn,
                now_ms: now_ms(),
                dirty: Cell::new(false),
            };
            for (i, j) in jobs.iter_mut().enumerate() {
                tx.dirty.set(false);
                if !j.run(&mut tx) && tx.dirty.get() {
                    poisoned = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = poisoned {
            let _ = txn.abort();
            jobs.remove(i).finish(Ok(()));
            if jobs.is_empty() {
                return;
            }
            continue;
        }
        let commit = txn.commit().map_err(|e| e.to_string());
        for j in jobs {
            j.finish(commit.clone());
        }
        return;
    }
}

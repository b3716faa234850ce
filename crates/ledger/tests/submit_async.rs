//! `Ledger::submit_async`: operations queued without blocking the caller share the group
//! commit; each future is ready once its operation is durable, with its own result (a failing
//! operation changes nothing and does not disturb the others). Uses a minimal executor (no
//! async runtime in this crate).

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use tollcast_ledger::{AccountConfig, Direction, Ledger, LedgerError, PacketId};

const FAR: u64 = u64::MAX / 2;

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

fn check(l: &Ledger) {
    l.create_account("hot", AccountConfig::prepaid("USD", 6))
        .unwrap();
    l.deposit("hot", 1_000, "seed").unwrap();
    // 150 reservations of 10 queued at once against a balance of 1,000: exactly 100 fit.
    let futures: Vec<_> = (0..150u64)
        .map(|i| {
            let id = PacketId::derive(&[&i.to_be_bytes()]);
            l.submit_async(move |tx| tx.prepare(Direction::Incoming, "hot", id, 10, FAR))
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for f in futures {
        match block_on(f) {
            Ok(_) => ok += 1,
            Err(LedgerError::InsufficientBalance { .. }) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, refused), (100, 50));
    // Fulfil the ones that were reserved, again all queued at once.
    let pending: Vec<_> = l.pending().unwrap();
    assert_eq!(pending.len(), 100);
    let futures: Vec<_> = pending
        .iter()
        .map(|p| {
            let id = p.packet;
            l.submit_async(move |tx| tx.fulfill(Direction::Incoming, "hot", id))
        })
        .collect();
    for f in futures {
        block_on(f).unwrap();
    }
    assert_eq!(l.account("hot").unwrap().unwrap().balance, 0);
    assert!(l.pending().unwrap().is_empty());
    l.audit().unwrap();
}

#[test]
fn queued_operations_commit_each_with_its_own_result_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    check(&Ledger::open(dir.path().join("l.redb")).unwrap());
}

#[test]
fn queued_operations_commit_each_with_its_own_result_in_memory() {
    check(&Ledger::temporary().unwrap());
}

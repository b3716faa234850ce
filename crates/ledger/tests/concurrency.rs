//! Many threads preparing and fulfilling on one account: the final balance is exact and the
//! books audit, on a file-backed ledger and an in-memory one.

use std::sync::atomic::{AtomicU64, Ordering};

use tollcast_ledger::{AccountConfig, Direction, Ledger, LedgerError, PacketId};

const FAR: u64 = u64::MAX / 2;

fn hammer(l: &Ledger, threads: u64, per_thread: u64) {
    l.create_account("hot", AccountConfig::prepaid("USD", 6))
        .unwrap();
    l.create_account("next", AccountConfig::credit("USD", 6, 0))
        .unwrap();
    // Enough for 3/4 of the packets: the rest must be refused for insufficient balance.
    let total = threads * per_thread;
    l.deposit("hot", total * 3 / 4 * 10, "seed").unwrap();
    let refused = AtomicU64::new(0);
    let fulfilled = AtomicU64::new(0);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (l, refused, fulfilled) = (l.clone(), &refused, &fulfilled);
            s.spawn(move || {
                for i in 0..per_thread {
                    let id = PacketId::derive(&[&t.to_be_bytes(), &i.to_be_bytes()]);
                    match l.prepare_incoming("hot", id, 10, FAR) {
                        Ok(_) => {}
                        Err(LedgerError::InsufficientBalance { .. }) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Err(e) => panic!("{e}"),
                    }
                    l.prepare_outgoing("next", id, 9, FAR).unwrap();
                    if i % 5 == 4 {
                        l.reject_outgoing("next", id).unwrap();
                        l.reject_incoming("hot", id).unwrap();
                    } else {
                        l.write(|tx| {
                            tx.fulfill(Direction::Outgoing, "next", id)?;
                            tx.fulfill(Direction::Incoming, "hot", id)
                        })
                        .unwrap();
                        fulfilled.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let f = fulfilled.load(Ordering::Relaxed) as i128;
    let hot = l.account("hot").unwrap().unwrap();
    let next = l.account("next").unwrap().unwrap();
    assert_eq!(hot.balance, (total * 3 / 4 * 10) as i128 - 10 * f);
    assert_eq!(next.balance, 9 * f);
    assert_eq!((hot.pending_incoming, next.pending_outgoing), (0, 0));
    assert!(
        hot.balance >= 0,
        "prepaid account overdrawn: {}",
        hot.balance
    );
    let t = l.audit().unwrap();
    assert_eq!(t.packet_income(), f);
    assert!(
        f > 0 && refused.load(Ordering::Relaxed) > 0,
        "fulfilled {f}, refused {refused:?}"
    );
}

#[test]
fn concurrent_in_memory() {
    hammer(&Ledger::temporary().unwrap(), 8, 400);
}

#[test]
fn concurrent_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(dir.path().join("l.redb")).unwrap();
    hammer(&l, 4, 40);
    drop(l);
    // Reopen: same books.
    let l = Ledger::open(dir.path().join("l.redb")).unwrap();
    l.audit().unwrap();
}

/// Operations that fail after writing, mixed into concurrent batches, leave no trace and do
/// not disturb the operations committed with them.
#[test]
fn failed_operations_in_a_batch_leave_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::open(dir.path().join("g.redb")).unwrap();
    l.create_account("a", AccountConfig::prepaid("USD", 6))
        .unwrap();
    std::thread::scope(|s| {
        for t in 0..6u64 {
            let l = l.clone();
            s.spawn(move || {
                for i in 0..30u64 {
                    let ok = l.deposit("a", 1, &format!("ok-{t}-{i}"));
                    assert!(ok.is_ok());
                    let bad = l.submit(move |tx| {
                        tx.deposit("a", 1_000, &format!("bad-{t}-{i}"))?;
                        Err::<(), _>(LedgerError::InvalidAmount("fails after writing".into()))
                    });
                    assert!(matches!(bad, Err(LedgerError::InvalidAmount(_))));
                }
            });
        }
    });
    assert_eq!(l.account("a").unwrap().unwrap().balance, 180);
    let t = l.audit().unwrap();
    assert_eq!(t.net_deposits, 180);
    // A failed deposit's idempotency key was rolled back too: it can be used again.
    assert!(!l.deposit("a", 7, "bad-0-0").unwrap().is_replay());
}

/// A ledger write inside a transaction closure is refused instead of deadlocking.
#[test]
fn nested_writes_are_refused() {
    let l = Ledger::temporary().unwrap();
    l.create_account("a", AccountConfig::prepaid("USD", 6))
        .unwrap();
    let inner = l.clone();
    let r = l.write(|_tx| inner.deposit("a", 1, "nested"));
    assert!(matches!(r, Err(LedgerError::Store(ref m)) if m.contains("inside a transaction")));
    let inner = l.clone();
    let r = l.submit(move |_tx| inner.deposit("a", 1, "nested2"));
    assert!(matches!(r, Err(LedgerError::Store(ref m)) if m.contains("inside a transaction")));
    // Reads are fine, and the ledger still works afterwards.
    let inner = l.clone();
    assert!(l.write(|_tx| inner.account("a")).unwrap().is_some());
    l.deposit("a", 1, "after").unwrap();
    assert_eq!(l.audit().unwrap().balance, 1);
}

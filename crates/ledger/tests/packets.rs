//! Prepare/fulfill/reject/expiry transitions, prepaid vs credit limits, idempotency.

use tollcast_ledger::{
    AccountConfig, Direction, EntryKind, Ledger, LedgerError, PacketId, PacketState, now_ms,
};

const FAR: u64 = u64::MAX / 2;

fn pid(n: u64) -> PacketId {
    PacketId::from_u64(n)
}

#[test]
fn prepaid_account_needs_a_deposit() {
    let l = Ledger::temporary().unwrap();
    l.create_account("alice", AccountConfig::prepaid("USD", 6))
        .unwrap();
    let err = l.prepare_incoming("alice", pid(1), 1, FAR).unwrap_err();
    assert!(
        matches!(err, LedgerError::InsufficientBalance { amount: 1, .. }),
        "{err}"
    );
    l.deposit("alice", 100, "dep-1").unwrap();
    l.prepare_incoming("alice", pid(2), 60, FAR).unwrap();
    // 40 left available: 41 does not fit while 60 is reserved.
    let err = l.prepare_incoming("alice", pid(3), 41, FAR).unwrap_err();
    assert!(
        matches!(err, LedgerError::InsufficientBalance { pending: 60, .. }),
        "{err}"
    );
    l.prepare_incoming("alice", pid(4), 40, FAR).unwrap();
    let a = l.fulfill_incoming("alice", pid(2)).unwrap().account;
    assert_eq!((a.balance, a.pending_incoming), (40, 40));
    l.audit().unwrap();
}

#[test]
fn credit_account_may_go_negative_down_to_its_limit() {
    let l = Ledger::temporary().unwrap();
    l.create_account("bob", AccountConfig::credit("USD", 6, 500))
        .unwrap();
    l.prepare_incoming("bob", pid(1), 500, FAR).unwrap();
    assert!(l.prepare_incoming("bob", pid(2), 1, FAR).is_err());
    let r = l.fulfill_incoming("bob", pid(1)).unwrap();
    assert_eq!(r.account.balance, -500);
    assert!(matches!(
        l.prepare_incoming("bob", pid(3), 1, FAR),
        Err(LedgerError::InsufficientBalance { .. })
    ));
    l.audit().unwrap();
}

#[test]
fn transitions_and_idempotency() {
    let l = Ledger::temporary().unwrap();
    l.create_account("p", AccountConfig::credit("USD", 6, 1000))
        .unwrap();
    l.prepare_outgoing("p", pid(1), 10, FAR).unwrap();
    assert!(matches!(
        l.prepare_outgoing("p", pid(1), 10, FAR),
        Err(LedgerError::DuplicatePacket { .. })
    ));
    let r = l.fulfill_outgoing("p", pid(1)).unwrap();
    assert_eq!(r.account.balance, 10);
    assert!(!r.is_replay());
    // Repeat fulfill: no change.
    let r2 = l.fulfill_outgoing("p", pid(1)).unwrap();
    assert!(r2.is_replay());
    assert_eq!(r2.account.balance, 10);
    // Reject after fulfill: refused.
    assert!(matches!(
        l.reject_outgoing("p", pid(1)),
        Err(LedgerError::PacketFinished {
            state: PacketState::Fulfilled,
            ..
        })
    ));
    // Same id in the other direction is a different packet.
    l.prepare_incoming("p", pid(1), 5, FAR).unwrap();
    l.reject_incoming("p", pid(1)).unwrap();
    assert!(l.reject_incoming("p", pid(1)).unwrap().is_replay());
    assert!(matches!(
        l.fulfill_incoming("p", pid(1)),
        Err(LedgerError::PacketFinished {
            state: PacketState::Rejected,
            ..
        })
    ));
    // Unknown packet, wrong account.
    assert!(matches!(
        l.fulfill_incoming("p", pid(99)),
        Err(LedgerError::UnknownPacket { .. })
    ));
    l.create_account("q", AccountConfig::credit("USD", 6, 1000))
        .unwrap();
    l.prepare_incoming("q", pid(7), 5, FAR).unwrap();
    assert!(matches!(
        l.fulfill_incoming("p", pid(7)),
        Err(LedgerError::UnknownPacket { .. })
    ));
    let a = l.account("p").unwrap().unwrap();
    assert_eq!(
        (a.balance, a.pending_incoming, a.pending_outgoing),
        (10, 0, 0)
    );
    l.audit().unwrap();
}

#[test]
fn expiry_rolls_back_only_expired_packets() {
    let l = Ledger::temporary().unwrap();
    l.create_account("p", AccountConfig::credit("USD", 6, 1000))
        .unwrap();
    l.prepare_incoming("p", pid(1), 10, 1_000).unwrap();
    l.prepare_incoming("p", pid(2), 20, 2_000).unwrap();
    l.prepare_outgoing("p", pid(3), 30, 1_500).unwrap();
    let expired = l.expire_pending(1_500).unwrap();
    assert_eq!(expired.len(), 2);
    let a = l.account("p").unwrap().unwrap();
    assert_eq!(
        (a.balance, a.pending_incoming, a.pending_outgoing),
        (0, 20, 0)
    );
    assert_eq!(
        l.packet(Direction::Incoming, pid(1))
            .unwrap()
            .unwrap()
            .state,
        PacketState::Expired
    );
    // A late fulfill of an expired packet is refused; a late reject is a no-op.
    assert!(matches!(
        l.fulfill_incoming("p", pid(1)),
        Err(LedgerError::PacketFinished {
            state: PacketState::Expired,
            ..
        })
    ));
    assert!(l.reject_outgoing("p", pid(3)).unwrap().is_replay());
    l.fulfill_incoming("p", pid(2)).unwrap();
    let kinds: Vec<EntryKind> = l.journal(1, 100).unwrap().iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == EntryKind::Expire).count(), 2);
    let t = l.audit().unwrap();
    assert_eq!(t.balance, -20);
}

#[test]
fn configuration_is_validated_and_updatable() {
    let l = Ledger::temporary().unwrap();
    for bad in [
        AccountConfig::prepaid("", 6),
        AccountConfig::prepaid("USD", 6).with_settlement(10, 20),
        AccountConfig {
            min_balance: 5,
            ..AccountConfig::prepaid("USD", 6)
        },
        AccountConfig::prepaid("USD", 6).with_max_balance(-1),
    ] {
        assert!(matches!(
            l.create_account("x", bad),
            Err(LedgerError::InvalidConfig { .. })
        ));
    }
    assert!(
        l.create_account("", AccountConfig::prepaid("USD", 6))
            .is_err()
    );
    assert!(
        l.accounts().unwrap().is_empty(),
        "refused configs created nothing"
    );
    let cfg = AccountConfig::credit("USD", 6, 10).with_max_packet_amount(50);
    l.create_account("x", cfg.clone()).unwrap();
    // Same config again: fine; different: refused.
    l.create_account("x", cfg.clone()).unwrap();
    assert!(matches!(
        l.create_account("x", AccountConfig::prepaid("USD", 6)),
        Err(LedgerError::AccountExists(_))
    ));
    assert!(matches!(
        l.prepare_outgoing("x", pid(1), 51, FAR),
        Err(LedgerError::AmountTooLarge { max: 50, .. })
    ));
    assert!(l.prepare_incoming("x", pid(2), 11, FAR).is_err());
    l.update_account("x", AccountConfig::credit("USD", 6, 100))
        .unwrap();
    l.prepare_incoming("x", pid(2), 11, FAR).unwrap();
    assert!(
        l.update_account("x", AccountConfig::credit("EUR", 6, 100))
            .is_err()
    );
    assert!(matches!(
        l.update_account("nobody", cfg),
        Err(LedgerError::UnknownAccount(_))
    ));
    l.audit().unwrap();
}

#[test]
fn outgoing_exposure_is_capped_by_max_balance() {
    let l = Ledger::temporary().unwrap();
    l.create_account(
        "n",
        AccountConfig::credit("USD", 6, 0).with_max_balance(100),
    )
    .unwrap();
    l.prepare_outgoing("n", pid(1), 60, FAR).unwrap();
    assert!(matches!(
        l.prepare_outgoing("n", pid(2), 41, FAR),
        Err(LedgerError::ExceedsMaxBalance { .. })
    ));
    l.fulfill_outgoing("n", pid(1)).unwrap();
    l.prepare_outgoing("n", pid(3), 40, FAR).unwrap();
    l.audit().unwrap();
}

#[test]
fn reopen_keeps_everything_and_a_second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.redb");
    {
        let l = Ledger::open(&path).unwrap();
        l.create_account("a", AccountConfig::prepaid("USD", 6))
            .unwrap();
        l.deposit("a", 100, "d1").unwrap();
        l.prepare_incoming("a", pid(1), 30, 5).unwrap();
        l.prepare_incoming("a", pid(2), 30, FAR).unwrap();
        l.fulfill_incoming("a", pid(2)).unwrap();
        let err = Ledger::open(&path).unwrap_err().to_string();
        assert!(err.contains("l.redb"), "{err}");
    }
    let l = Ledger::open(&path).unwrap();
    let a = l.account("a").unwrap().unwrap();
    assert_eq!((a.balance, a.pending_incoming), (70, 30));
    // Startup roll-back of the packet that expired while we were down.
    assert_eq!(l.expire_pending(now_ms()).unwrap().len(), 1);
    assert_eq!(l.account("a").unwrap().unwrap().pending_incoming, 0);
    // Deposit references and packet ids are still remembered.
    assert!(l.deposit("a", 100, "d1").unwrap().is_replay());
    assert!(l.fulfill_incoming("a", pid(2)).unwrap().is_replay());
    // Pruning forgets finished packets, the journal keeps them.
    assert_eq!(l.prune_finished(u64::MAX).unwrap(), 2);
    assert!(l.packet(Direction::Incoming, pid(2)).unwrap().is_none());
    let t = l.audit().unwrap();
    assert_eq!(t, l.totals().unwrap());
    assert_eq!(t.balance, 70);
}

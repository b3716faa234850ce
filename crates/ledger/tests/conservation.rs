//! Money conservation.
//!
//! 1. Single ledger, random operation sequences (proptest) against a plain model: every result
//!    and every balance matches the model, refused operations change nothing, and the audit
//!    (journal replay == state, ledger identity) holds throughout.
//! 2. A small network of real ledgers (viewer -> relay -> creator, relay keeping a fee and
//!    settling to the creator by claims): the sum of all balances across all ledgers stays 0,
//!    i.e. money only moves, it is never made or lost.

use std::collections::HashMap;

use nostr::key::Keys;
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use tollcast_ledger::{
    AccountConfig, Direction, Ledger, LedgerError, LocalClaimEngine, PacketId, SettlementEngine,
};

#[derive(Clone, Debug)]
enum Op {
    Prepare(bool, usize, u8, u64, u64),
    Fulfill(bool, usize, u8),
    Reject(bool, usize, u8),
    Expire(u64),
    Deposit(usize, u64, u8),
    Withdraw(usize, u64, u8),
}

const ACCOUNTS: [&str; 3] = ["prepaid", "credit", "capped"];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0..3usize, 0..24u8, 0..400u64, 0..100u64)
            .prop_map(|(d, a, i, m, e)| Op::Prepare(d, a, i, m, e)),
        3 => (any::<bool>(), 0..3usize, 0..24u8).prop_map(|(d, a, i)| Op::Fulfill(d, a, i)),
        2 => (any::<bool>(), 0..3usize, 0..24u8).prop_map(|(d, a, i)| Op::Reject(d, a, i)),
        1 => (0..100u64).prop_map(Op::Expire),
        1 => (0..3usize, 0..500u64, 0..6u8).prop_map(|(a, m, r)| Op::Deposit(a, m, r)),
        1 => (0..3usize, 0..500u64, 0..6u8).prop_map(|(a, m, r)| Op::Withdraw(a, m, r)),
    ]
}

fn dir(incoming: bool) -> Direction {
    if incoming {
        Direction::Incoming
    } else {
        Direction::Outgoing
    }
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct M {
    balance: i128,
    pin: i128,
    pout: i128,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Pending,
    Fulfilled,
    Rejected,
    Expired,
}

struct Model {
    acc: HashMap<&'static str, M>,
    min: HashMap<&'static str, i128>,
    max: HashMap<&'static str, Option<i128>>,
    packets: HashMap<(bool, u8), (usize, u64, u64, St)>,
    refs: HashMap<u8, (bool, usize, u64)>,
}

impl Model {
    /// Ok(true) = changed, Ok(false) = idempotent no-op, Err = refused.
    fn apply(&mut self, op: &Op) -> Result<bool, ()> {
        match *op {
            Op::Prepare(d, a, i, amt, exp) => {
                if self.packets.contains_key(&(d, i)) {
                    return Err(());
                }
                let name = ACCOUNTS[a];
                let m = self.acc[name];
                let amt_i = i128::from(amt);
                if d {
                    if m.balance - m.pin - amt_i < self.min[name] {
                        return Err(());
                    }
                    self.acc.get_mut(name).unwrap().pin += amt_i;
                } else {
                    if let Some(max) = self.max[name]
                        && m.balance + m.pout + amt_i > max
                    {
                        return Err(());
                    }
                    self.acc.get_mut(name).unwrap().pout += amt_i;
                }
                self.packets.insert((d, i), (a, amt, exp, St::Pending));
                Ok(true)
            }
            Op::Fulfill(d, a, i) | Op::Reject(d, a, i) => {
                let fulfill = matches!(op, Op::Fulfill(..));
                let Some(&(pa, amt, exp, st)) = self.packets.get(&(d, i)) else {
                    return Err(());
                };
                if pa != a {
                    return Err(());
                }
                match (st, fulfill) {
                    (St::Pending, _) => {}
                    (St::Fulfilled, true) | (St::Rejected | St::Expired, false) => {
                        return Ok(false);
                    }
                    _ => return Err(()),
                }
                let m = self.acc.get_mut(ACCOUNTS[a]).unwrap();
                let amt_i = i128::from(amt);
                match (d, fulfill) {
                    (true, true) => {
                        m.balance -= amt_i;
                        m.pin -= amt_i;
                    }
                    (false, true) => {
                        m.balance += amt_i;
                        m.pout -= amt_i;
                    }
                    (true, false) => m.pin -= amt_i,
                    (false, false) => m.pout -= amt_i,
                }
                let st = if fulfill { St::Fulfilled } else { St::Rejected };
                self.packets.insert((d, i), (a, amt, exp, st));
                Ok(true)
            }
            Op::Expire(now) => {
                let mut any = false;
                for ((d, _), p) in self.packets.iter_mut() {
                    if p.3 == St::Pending && p.2 <= now {
                        let m = self.acc.get_mut(ACCOUNTS[p.0]).unwrap();
                        if *d {
                            m.pin -= i128::from(p.1);
                        } else {
                            m.pout -= i128::from(p.1);
                        }
                        p.3 = St::Expired;
                        any = true;
                    }
                }
                Ok(any)
            }
            Op::Deposit(a, amt, r) | Op::Withdraw(a, amt, r) => {
                let dep = matches!(op, Op::Deposit(..));
                if let Some(prev) = self.refs.get(&r) {
                    return if *prev == (dep, a, amt) {
                        Ok(false)
                    } else {
                        Err(())
                    };
                }
                let name = ACCOUNTS[a];
                let m = self.acc[name];
                let amt_i = i128::from(amt);
                if !dep && m.balance - m.pin - amt_i < self.min[name] {
                    return Err(());
                }
                self.acc.get_mut(name).unwrap().balance += if dep { amt_i } else { -amt_i };
                self.refs.insert(r, (dep, a, amt));
                Ok(true)
            }
        }
    }
}

fn run(l: &Ledger, op: &Op) -> Result<bool, LedgerError> {
    match *op {
        Op::Prepare(d, a, i, amt, exp) => l
            .write(|tx| tx.prepare(dir(d), ACCOUNTS[a], PacketId::from_u64(i.into()), amt, exp))
            .map(|r| !r.is_replay()),
        Op::Fulfill(d, a, i) => l
            .write(|tx| tx.fulfill(dir(d), ACCOUNTS[a], PacketId::from_u64(i.into())))
            .map(|r| !r.is_replay()),
        Op::Reject(d, a, i) => l
            .write(|tx| tx.reject(dir(d), ACCOUNTS[a], PacketId::from_u64(i.into())))
            .map(|r| !r.is_replay()),
        Op::Expire(now) => l.expire_pending(now).map(|v| !v.is_empty()),
        Op::Deposit(a, amt, r) => l
            .deposit(ACCOUNTS[a], amt, &format!("r{r}"))
            .map(|r| !r.is_replay()),
        Op::Withdraw(a, amt, r) => l
            .withdraw(ACCOUNTS[a], amt, &format!("r{r}"))
            .map(|r| !r.is_replay()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_model_and_conserve(ops in proptest::collection::vec(op(), 1..120)) {
        let l = Ledger::temporary().unwrap();
        l.create_account("prepaid", AccountConfig::prepaid("USD", 6)).unwrap();
        l.create_account("credit", AccountConfig::credit("USD", 6, 300)).unwrap();
        l.create_account("capped", AccountConfig::credit("USD", 6, 100).with_max_balance(250)).unwrap();
        let mut model = Model {
            acc: ACCOUNTS.iter().map(|a| (*a, M::default())).collect(),
            min: [("prepaid", 0), ("credit", -300), ("capped", -100)].into_iter().collect(),
            max: [("prepaid", None), ("credit", None), ("capped", Some(250))].into_iter().collect(),
            packets: HashMap::new(),
            refs: HashMap::new(),
        };
        for op in &ops {
            let before = l.last_journal_id().unwrap();
            let want = model.apply(op);
            let got = run(&l, op);
            match (&want, &got) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{:?}", op),
                (Err(()), Err(_)) => {
                    prop_assert_eq!(before, l.last_journal_id().unwrap(), "refused {:?} wrote", op);
                }
                _ => prop_assert!(false, "{:?}: model {:?}, ledger {:?}", op, want, got),
            }
            for name in ACCOUNTS {
                let a = l.account(name).unwrap().unwrap();
                let m = model.acc[name];
                prop_assert_eq!((a.balance, a.pending_incoming, a.pending_outgoing), (m.balance, m.pin, m.pout), "{} after {:?}", name, op);
                prop_assert!(a.balance - a.pending_incoming >= a.config.min_balance);
            }
        }
        let t = l.audit().unwrap();
        prop_assert!(t.identity_holds());
        l.abort_all_pending().unwrap();
        let t2 = l.audit().unwrap();
        prop_assert_eq!(t2.balance, t.balance);
        prop_assert_eq!((t2.pending_incoming, t2.pending_outgoing), (0, 0));
        // The running totals agree with the full replay.
        prop_assert_eq!(l.totals().unwrap(), t2.clone());
        // Compacting the journal in two steps keeps every figure and the audit passing.
        let last = l.last_journal_id().unwrap();
        l.compact_journal(last / 2).unwrap();
        prop_assert_eq!(l.audit().unwrap(), t2.clone());
        l.compact_journal(u64::MAX).unwrap();
        prop_assert_eq!(l.audit().unwrap(), t2.clone());
        prop_assert_eq!(l.journal(0, usize::MAX).unwrap().len(), 1);
        // And the ledger keeps working and auditing after compaction.
        l.deposit("prepaid", 5, "after-compaction").unwrap();
        prop_assert_eq!(l.audit().unwrap().balance, t2.balance + 5);
        prop_assert_eq!(l.last_journal_id().unwrap(), last + 1);
    }
}

/// One node: its ledger and its settlement engine.
struct Node {
    ledger: Ledger,
    engine: LocalClaimEngine,
}

fn node() -> Node {
    let ledger = Ledger::temporary().unwrap();
    let engine = LocalClaimEngine::new(ledger.clone(), Keys::generate());
    Node { ledger, engine }
}

fn sum_all(nodes: &[&Node]) -> i128 {
    nodes
        .iter()
        .flat_map(|n| n.ledger.accounts().unwrap())
        .map(|a| a.balance)
        .sum()
}

#[test]
fn network_of_ledgers_conserves_money() {
    let (v, r, c) = (node(), node(), node());
    // Viewer's view of the relay; relay's views of viewer and creator; creator's view of relay.
    v.ledger
        .create_account("relay", AccountConfig::credit("USD", 6, u32::MAX.into()))
        .unwrap();
    r.ledger
        .create_account("viewer", AccountConfig::prepaid("USD", 6))
        .unwrap();
    r.ledger
        .create_account(
            "creator",
            AccountConfig::credit("USD", 6, 0).with_settlement(2_000, 0),
        )
        .unwrap();
    c.ledger
        .create_account("relay", AccountConfig::credit("USD", 6, 5_000))
        .unwrap();
    r.engine
        .register_peer("creator", c.engine.pubkey())
        .unwrap();
    c.engine.register_peer("relay", r.engine.pubkey()).unwrap();
    let all = [&v, &r, &c];

    // The viewer prepays the relay outside ILP: recorded on both sides.
    v.ledger.withdraw("relay", 50_000, "prepay-1").unwrap();
    r.ledger.deposit("viewer", 50_000, "prepay-1").unwrap();
    assert_eq!(sum_all(&all), 0);

    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7011);
    let mut fees = 0i128;
    let mut settled = 0u64;
    let mut refused = 0;
    for n in 0..600u64 {
        let id = PacketId::from_u64(n);
        let amount = rng.random_range(1..300u64);
        let fwd = amount - amount / 20; // relay keeps 5 %
        v.ledger
            .prepare_outgoing("relay", id, amount, u64::MAX)
            .unwrap();
        if r.ledger
            .prepare_incoming("viewer", id, amount, u64::MAX)
            .is_err()
        {
            // Viewer out of prepaid funds: the relay answers T04, the viewer rolls back.
            v.ledger.reject_outgoing("relay", id).unwrap();
            refused += 1;
            continue;
        }
        r.ledger
            .prepare_outgoing("creator", id, fwd, u64::MAX)
            .unwrap();
        c.ledger
            .prepare_incoming("relay", id, fwd, u64::MAX)
            .unwrap();
        if rng.random_range(0..10) == 0 {
            // The creator rejects; the reject travels back.
            c.ledger.reject_incoming("relay", id).unwrap();
            r.ledger
                .write(|tx| {
                    tx.reject(Direction::Outgoing, "creator", id)?;
                    tx.reject(Direction::Incoming, "viewer", id)
                })
                .unwrap();
            v.ledger.reject_outgoing("relay", id).unwrap();
        } else {
            c.ledger.fulfill_incoming("relay", id).unwrap();
            let (out, _) = r
                .ledger
                .write(|tx| {
                    let out = tx.fulfill(Direction::Outgoing, "creator", id)?;
                    let inc = tx.fulfill(Direction::Incoming, "viewer", id)?;
                    Ok((out, inc))
                })
                .unwrap();
            v.ledger.fulfill_outgoing("relay", id).unwrap();
            fees += i128::from(amount - fwd);
            if let Some(due) = out.settlement_due {
                let s = r.engine.settle("creator", due.amount).unwrap();
                // In flight: the relay has paid, the creator has not yet credited.
                assert_eq!(sum_all(&all), -i128::from(due.amount));
                c.engine.receive_message("relay", &s.message).unwrap();
                settled += due.amount;
            }
        }
        assert_eq!(sum_all(&all), 0, "after packet {n}");
    }
    assert!(
        refused > 0 && settled > 0,
        "refused {refused}, settled {settled}"
    );
    let tr = r.ledger.audit().unwrap();
    assert_eq!(tr.packet_income(), fees, "the relay earns exactly its fees");
    for n in all {
        let t = n.ledger.audit().unwrap();
        assert_eq!((t.pending_incoming, t.pending_outgoing), (0, 0));
    }
    // Bilateral views cancel pairwise.
    let bal = |l: &Ledger, a: &str| l.account(a).unwrap().unwrap().balance;
    assert_eq!(bal(&v.ledger, "relay") + bal(&r.ledger, "viewer"), 0);
    assert_eq!(bal(&r.ledger, "creator") + bal(&c.ledger, "relay"), 0);
    println!(
        "network: fees {fees}, settled {settled}, refused {refused}, creator income {}",
        c.ledger.totals().unwrap().packet_income()
    );
}

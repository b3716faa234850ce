//! Pay-to-write over ILP.
//!
//! - `handler_*`: real OER-encoded PREPAREs (encode → decode) handed to the `PayToWrite`
//!   service directly: every accept/reject rule.
//! - `two_hop_*`: writer on node A → BTP → connector B (charges a fee) → BTP → relay node C,
//!   whose connector routes `test.c.nostr` to the relay's pay-to-write service. Paid events
//!   are stored and readable for free over WebSocket; underpaid, forged, tampered and
//!   oversized ones are rejected with a reason and not stored; every ledger matches.

mod nostr_common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use nostr::prelude::*;
use nostr_common::*;
use serde_json::json;
use tollcast_net::connector::{AccountId, IlpService, IncomingRequest, Node, NodeConfig};
use tollcast_net::nostr_relay::RelayConfig;
use tollcast_net::nostr_relay::pay_to_write::{
    PayToWrite, condition_for, fulfillment_for, prepare_for_event,
};
use tollcast_net::nostr_relay::toon;
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{Prepare, Reject};

const PER_BYTE: u64 = 3;

fn expiry() -> SystemTime {
    SystemTime::now() + Duration::from_secs(20)
}

/// Through the real codec, as a connector would hand it over.
fn wire(p: Prepare) -> Prepare {
    Prepare::decode(p.encode()).unwrap()
}

fn relay_config(operator: &Keys, blocked: &Keys) -> RelayConfig {
    let mut cfg = RelayConfig::default();
    cfg.pricing.base_per_byte = PER_BYTE;
    cfg.pricing.kind_per_byte.insert(1311, 1);
    cfg.pricing.free_authors.insert(operator.public_key());
    cfg.blocked_authors.insert(blocked.public_key());
    cfg.limits.max_message_length = 4096;
    cfg
}

fn price(ev: &Event, per_byte: u64) -> u64 {
    toon::encode_event(ev).unwrap().len() as u64 * per_byte
}

fn reject_of(r: Result<tollcast_wire::ilp::Fulfill, Reject>) -> Reject {
    match r {
        Ok(_) => panic!("expected a reject"),
        Err(r) => r,
    }
}

#[tokio::test]
async fn handler_accepts_paid_and_rejects_everything_else() {
    let operator = Keys::generate();
    let blocked = Keys::generate();
    let r = start_relay(relay_config(&operator, &blocked)).await;
    let addr = Address::new("test.c.nostr").unwrap();
    let p2w = PayToWrite::new(&r.relay, addr.clone());
    let store = &r.relay.core().store;
    let writer = Keys::generate();

    // Paid exactly: fulfilled with sha256(data), stored, readable.
    let ev = note(&writer, 1, "paid note", vec![], now());
    let cost = price(&ev, PER_BYTE);
    let p = wire(prepare_for_event(&ev, addr.clone(), cost, expiry()).unwrap());
    let f = p2w.handle_prepare(&p).await.unwrap();
    assert_eq!(f.fulfillment, fulfillment_for(&p.data));
    assert!(p.matches(&f), "fulfillment hashes to the condition");
    assert_eq!(store.get(&ev.id).unwrap().as_ref(), Some(&ev));

    // Duplicate: rejected, so nobody pays twice for the same bytes.
    let rj = reject_of(p2w.handle_prepare(&p).await);
    assert_eq!(rj.code, ErrorCode::F99_APPLICATION_ERROR);
    assert!(rj.message.starts_with("duplicate:"), "{}", rj.message);

    // Underpaid by one unit.
    let ev2 = note(&writer, 1, "cheap note", vec![], now());
    let p =
        wire(prepare_for_event(&ev2, addr.clone(), price(&ev2, PER_BYTE) - 1, expiry()).unwrap());
    let rj = reject_of(p2w.handle_prepare(&p).await);
    assert_eq!(rj.code, ErrorCode::F04_INSUFFICIENT_DESTINATION_AMOUNT);
    assert!(rj.message.starts_with("underpaid:"), "{}", rj.message);
    assert_eq!(rj.triggered_by.as_ref(), Some(&addr));

    // Per-kind override: kind 1311 costs 1 per byte.
    let chat = note(&writer, 1311, "chat", vec![], now());
    let p = wire(prepare_for_event(&chat, addr.clone(), price(&chat, 1), expiry()).unwrap());
    p2w.handle_prepare(&p).await.unwrap();

    // Forged signature (valid TOON, matching condition).
    let mut forged = note(&writer, 1, "forged", vec![], now());
    forged.sig = note(&Keys::generate(), 1, "x", vec![], now()).sig;
    let p = wire(prepare_for_event(&forged, addr.clone(), 1_000_000, expiry()).unwrap());
    let rj = reject_of(p2w.handle_prepare(&p).await);
    assert_eq!(rj.code, ErrorCode::F00_BAD_REQUEST);
    assert_eq!(rj.message, "invalid: bad signature");

    // Tampered content after signing (condition recomputed over the tampered bytes).
    let good = note(&writer, 1, "original", vec![], now());
    let text = toon::encode_event(&good)
        .unwrap()
        .replace("original", "0riginal");
    let data = Bytes::from(text);
    let p = wire(Prepare {
        amount: 1_000_000,
        expires_at: expiry(),
        execution_condition: condition_for(&data),
        destination: addr.clone(),
        data,
    });
    let rj = reject_of(p2w.handle_prepare(&p).await);
    assert_eq!(rj.code, ErrorCode::F00_BAD_REQUEST);
    assert!(
        rj.message.starts_with("invalid: event id"),
        "{}",
        rj.message
    );

    // Wrong condition (e.g. the all-zero "legacy" condition).
    let ev3 = note(&writer, 1, "zero condition", vec![], now());
    let mut p = prepare_for_event(&ev3, addr.clone(), 1_000_000, expiry()).unwrap();
    p.execution_condition = [0; 32];
    let rj = reject_of(p2w.handle_prepare(&wire(p)).await);
    assert_eq!(rj.code, ErrorCode::F05_WRONG_CONDITION);

    // Oversized (above the relay's 4096-byte message limit).
    let big = note(&writer, 1, &"x".repeat(5000), vec![], now());
    let p = wire(prepare_for_event(&big, addr.clone(), u64::MAX / 2, expiry()).unwrap());
    let rj = reject_of(p2w.handle_prepare(&p).await);
    assert_eq!(rj.code, ErrorCode::F00_BAD_REQUEST);
    assert!(rj.message.contains("too large"), "{}", rj.message);

    // Not TOON at all.
    let data = Bytes::from_static(b"\xff\xfe not toon");
    let p = wire(Prepare {
        amount: 1,
        expires_at: expiry(),
        execution_condition: condition_for(&data),
        destination: addr.clone(),
        data,
    });
    assert_eq!(
        reject_of(p2w.handle_prepare(&p).await).code,
        ErrorCode::F00_BAD_REQUEST
    );

    // Blocked author, even when paid.
    let spam = note(&blocked, 1, "spam", vec![], now());
    let p = wire(prepare_for_event(&spam, addr.clone(), 1_000_000, expiry()).unwrap());
    let rj = reject_of(p2w.handle_prepare(&p).await);
    assert_eq!(rj.code, ErrorCode::F99_APPLICATION_ERROR);
    assert!(rj.message.starts_with("blocked:"), "{}", rj.message);

    // The operator writes for free.
    let op = note(&operator, 1, "operator note", vec![], now());
    let p = wire(prepare_for_event(&op, addr.clone(), 0, expiry()).unwrap());
    p2w.handle_prepare(&p).await.unwrap();

    // Over-payment is credited to the author's prepaid account.
    let tip = note(&writer, 1, "overpaid", vec![], now());
    let p =
        wire(prepare_for_event(&tip, addr.clone(), price(&tip, PER_BYTE) + 500, expiry()).unwrap());
    p2w.handle_prepare(&p).await.unwrap();
    assert_eq!(store.balance(&writer.public_key()).unwrap(), 500);

    // Expired.
    let late = note(&writer, 1, "late", vec![], now());
    let p = prepare_for_event(
        &late,
        addr.clone(),
        1_000_000,
        SystemTime::now() - Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(
        reject_of(p2w.handle_prepare(&p).await).code,
        ErrorCode::R00_TRANSFER_TIMED_OUT
    );

    // Exactly the four accepted events are stored.
    let mut stored: Vec<EventId> = store
        .query(&[Filter::new()], 100, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    stored.sort();
    let mut want = vec![ev.id, chat.id, op.id, tip.id];
    want.sort();
    assert_eq!(stored, want);
    // Through the IlpService trait too.
    let ev4 = note(&writer, 1, "via trait", vec![], now());
    let p = wire(prepare_for_event(&ev4, addr.clone(), price(&ev4, PER_BYTE), expiry()).unwrap());
    let svc: Arc<dyn IlpService> = Arc::new(p2w.clone());
    svc.handle(IncomingRequest {
        from: AccountId::new("peer"),
        prepare: p,
    })
    .await
    .unwrap();
}

async fn node(name: &str, address: &str, rest: &str) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[node]\nname = \"{name}\"\naddress = \"{address}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n{rest}",
        dir.path().join("ledger.redb").display()
    );
    (
        Node::start(NodeConfig::from_toml(&text, "test").unwrap())
            .await
            .unwrap(),
        dir,
    )
}

fn balance(n: &Node, account: &str) -> i128 {
    tollcast_net::connector::node::accounts_view(&n.connector)
        .unwrap()
        .accounts
        .into_iter()
        .find(|a| a.id == account)
        .unwrap()
        .balance
}

#[tokio::test]
async fn two_hop_pay_to_write_through_connectors() {
    const FEE: u64 = 7;
    // C: the relay node. Its connector delivers test.c.nostr to the pay-to-write service.
    let (c, _cd) = node(
        "c",
        "test.c",
        r#"
[[accounts]]
id = "b"
relation = "peer"
asset_code = "XYZ"
asset_scale = 6
auth_token = "token-bc"
credit_limit = 1000000000
"#,
    )
    .await;
    let operator = Keys::generate();
    let blocked = Keys::generate();
    let r = start_relay(relay_config(&operator, &blocked)).await;
    let relay_addr = Address::new("test.c.nostr").unwrap();
    c.connector.add_local_handler(
        "test.c.nostr",
        Arc::new(PayToWrite::new(&r.relay, relay_addr.clone())),
    );

    // B: a connector in the middle charging a fixed fee per packet.
    let (b, _bd) = node(
        "b",
        "test.b",
        &format!(
            r#"
[fee]
fixed = {FEE}

[[accounts]]
id = "a"
relation = "child"
asset_code = "XYZ"
asset_scale = 6
auth_token = "token-ab"
credit_limit = 1000000000

[[accounts]]
id = "c"
relation = "peer"
asset_code = "XYZ"
asset_scale = 6
btp_url = "ws://{}"
auth_token = "token-bc"

[[routes]]
prefix = "test.c"
account = "c"
"#,
            c.local_addr
        ),
    )
    .await;
    // A: the writer's node.
    let (a, _ad) = node(
        "a",
        "test.a",
        &format!(
            r#"
[[accounts]]
id = "b"
relation = "parent"
asset_code = "XYZ"
asset_scale = 6
btp_url = "{}"
auth_token = "token-ab"

[[routes]]
prefix = "test.c"
account = "b"
"#,
            b.btp_url()
        ),
    )
    .await;
    assert!(a.connector.wait_connected(&AccountId::new("b"), T).await);
    assert!(b.connector.wait_connected(&AccountId::new("c"), T).await);
    let send = a.connector.sender(AccountId::local());
    let writer = Keys::generate();
    let mut paid_total = 0u64;

    let mut outcomes = Vec::new();
    // 1. Paid (price + the middle hop's fee): stored.
    let ev = note(
        &writer,
        1311,
        "paid over two hops",
        vec![tag(&["t", "p2w"])],
        now(),
    );
    let amount = price(&ev, 1) + FEE;
    let p = prepare_for_event(&ev, relay_addr.clone(), amount, expiry()).unwrap();
    let f = send
        .handle(IncomingRequest {
            from: AccountId::local(),
            prepare: p.clone(),
        })
        .await
        .unwrap();
    assert!(p.matches(&f));
    paid_total += amount;
    // 2. Underpaid by one after the fee.
    let cheap = note(&writer, 1, "underpaid", vec![], now());
    let p = prepare_for_event(
        &cheap,
        relay_addr.clone(),
        price(&cheap, PER_BYTE) + FEE - 1,
        expiry(),
    )
    .unwrap();
    outcomes.push((
        "underpaid",
        send.handle(IncomingRequest {
            from: AccountId::local(),
            prepare: p,
        })
        .await,
    ));
    // 3. Forged signature.
    let mut forged = note(&writer, 1, "forged", vec![], now());
    forged.sig = note(&Keys::generate(), 1, "x", vec![], now()).sig;
    let p = prepare_for_event(&forged, relay_addr.clone(), 100_000, expiry()).unwrap();
    outcomes.push((
        "forged",
        send.handle(IncomingRequest {
            from: AccountId::local(),
            prepare: p,
        })
        .await,
    ));
    // 4. Tampered after signing.
    let good = note(&writer, 1, "honest words", vec![], now());
    let data = Bytes::from(
        toon::encode_event(&good)
            .unwrap()
            .replace("honest", "h0nest"),
    );
    let p = Prepare {
        amount: 100_000,
        expires_at: expiry(),
        execution_condition: condition_for(&data),
        destination: relay_addr.clone(),
        data,
    };
    outcomes.push((
        "tampered",
        send.handle(IncomingRequest {
            from: AccountId::local(),
            prepare: p,
        })
        .await,
    ));
    // 5. Oversized for this relay.
    let big = note(&writer, 1, &"y".repeat(6000), vec![], now());
    let p = prepare_for_event(&big, relay_addr.clone(), 1_000_000, expiry()).unwrap();
    outcomes.push((
        "oversized",
        send.handle(IncomingRequest {
            from: AccountId::local(),
            prepare: p,
        })
        .await,
    ));

    let expect = [
        (
            "underpaid",
            ErrorCode::F04_INSUFFICIENT_DESTINATION_AMOUNT,
            "underpaid:",
        ),
        (
            "forged",
            ErrorCode::F00_BAD_REQUEST,
            "invalid: bad signature",
        ),
        ("tampered", ErrorCode::F00_BAD_REQUEST, "invalid: event id"),
        (
            "oversized",
            ErrorCode::F00_BAD_REQUEST,
            "invalid: event too large",
        ),
    ];
    for ((name, res), (ename, code, prefix)) in outcomes.into_iter().zip(expect) {
        assert_eq!(name, ename);
        let rj = reject_of(res);
        assert_eq!(rj.code, code, "{name}: {}", rj.message);
        assert!(rj.message.starts_with(prefix), "{name}: {}", rj.message);
        assert_eq!(
            rj.triggered_by.as_ref(),
            Some(&relay_addr),
            "{name}: the relay rejected it"
        );
    }

    // Only the paid event is stored, and a free reader sees it over WebSocket.
    assert_eq!(r.relay.core().store.len().unwrap(), 1);
    let mut reader = Raw::connect(&r.url).await;
    let got = reader.req("free", vec![json!({"#t": ["p2w"]})]).await;
    assert_eq!(ids(&got), vec![ev.id]);

    // Ledgers: A owes B exactly what was fulfilled; B earned the fee; C is owed the rest.
    assert_eq!(balance(&a, "b"), paid_total as i128);
    assert_eq!(balance(&b, "a"), -(paid_total as i128));
    assert_eq!(balance(&b, "c"), (paid_total - FEE) as i128);
    assert_eq!(balance(&c, "b"), -((paid_total - FEE) as i128));
    let m = r.relay.metrics();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(m.ilp_amount_received.load(Relaxed), paid_total - FEE);
    assert_eq!(m.ilp_fulfilled.load(Relaxed), 1);
    assert_eq!(m.ilp_rejected.load(Relaxed), 4);
}

//! Three real nodes in a line (A - B - C) over BTP WebSockets on 127.0.0.1: payments both
//! ways with B's fee and USD(6) <-> EUR(6) rate applied exactly, expiry, T04, F02, F08,
//! settlement at threshold, and money conservation after every scenario.

mod connector_util;

use std::time::Duration;

use connector_util::*;
use tollcast_wire::error_code::ErrorCode;

/// B forwards `amount` after its fee (1% rounded up + 10), then converts (rounded down).
fn via_b(amount: u64, num: u128, den: u128) -> u64 {
    let fee = (amount as u128 * FEE_BP as u128).div_ceil(10_000) + FEE_FIXED as u128;
    ((amount as u128 - fee) * num / den) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_both_ways_with_fee_and_rate() {
    let l = line("", "").await;
    // A -> C: 1.000000 USD; B charges 1% + 10, converts USD -> EUR at 1/1.08.
    let f = send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 1_000_000, Duration::from_secs(10)),
    )
    .await
    .expect("A->C fulfilled");
    assert_eq!(&f.data[..], b"thanks");
    let expect_c = via_b(1_000_000, 100, 108);
    assert_eq!(expect_c, 916_657);
    assert_eq!(*l.received_c.lock().unwrap(), vec![expect_c]);
    assert_eq!(balance(&l.a, "b").0, 1_000_000, "A owes B what it sent");
    assert_eq!(balance(&l.b, "a").0, -1_000_000);
    assert_eq!(
        balance(&l.b, "c").0,
        expect_c as i128,
        "B owes C what it forwarded"
    );
    assert_conserved(&l);

    // C -> A: 0.500000 EUR; EUR -> USD at 1.08.
    send(
        &l.c,
        prepare("g.tollcast.a.recv.y", 500_000, Duration::from_secs(10)),
    )
    .await
    .expect("C->A fulfilled");
    let expect_a = via_b(500_000, 108, 100);
    assert_eq!(expect_a, 534_589);
    assert_eq!(*l.received_a.lock().unwrap(), vec![expect_a]);
    assert_eq!(balance(&l.b, "c").0, expect_c as i128 - 500_000);
    assert_eq!(balance(&l.b, "a").0, -1_000_000 + expect_a as i128);
    assert_conserved(&l);

    // /metrics shows the packets and the balances.
    let body = http_get(l.b.local_addr, "/metrics").await;
    assert!(
        body.contains(
            "tollcast_packets_total{account=\"a\",direction=\"incoming\",result=\"fulfilled\"} 1"
        ),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "tollcast_balance{{account=\"a\",asset=\"USD\",scale=\"6\"}} {}",
            -1_000_000 + expect_a as i128
        )),
        "{body}"
    );
    let accounts = http_get(l.b.local_addr, "/accounts").await;
    assert!(
        accounts.contains("\"address\":\"g.tollcast.b\""),
        "{accounts}"
    );
    // Expiry is shortened by each forwarding hop's margin (1 s at A, 1 s at B).
    let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s2 = seen.clone();
    l.c.connector.add_local_handler(
        "g.tollcast.c.clock",
        std::sync::Arc::new(tollcast_net::connector::ServiceFn(
            move |req: tollcast_net::connector::IncomingRequest| {
                *s2.lock().unwrap() = Some(req.prepare.expires_at);
                let f: [u8; 32] = req.prepare.data[..].try_into().unwrap();
                async move {
                    Ok(tollcast_wire::ilp::Fulfill {
                        fulfillment: f,
                        data: bytes::Bytes::new(),
                    })
                }
            },
        )),
    );
    let mut p = prepare("g.tollcast.c.clock", 1000, Duration::ZERO);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    p.expires_at = std::time::UNIX_EPOCH + Duration::from_millis(now_ms + 10_000);
    send(&l.a, p.clone()).await.expect("fulfilled");
    assert_eq!(
        seen.lock().unwrap().unwrap(),
        p.expires_at - Duration::from_secs(2)
    );
    assert_conserved(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_codes_messages_and_triggered_by() {
    let l = line("", "").await;
    // Already expired: R00 from A itself.
    let r = send(&l.a, prepare("g.tollcast.c.recv.x", 10, Duration::ZERO))
        .await
        .unwrap_err();
    assert_eq!(r.code, ErrorCode::R00_TRANSFER_TIMED_OUT);
    assert_eq!(r.triggered_by.as_ref().unwrap().as_str(), "g.tollcast.a");
    // Not enough time for two hops' margins (1 s each): R02 at B.
    let r = send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 10, Duration::from_millis(1500)),
    )
    .await
    .unwrap_err();
    assert_eq!(r.code, ErrorCode::R02_INSUFFICIENT_TIMEOUT, "{}", r.message);
    assert_eq!(r.triggered_by.as_ref().unwrap().as_str(), "g.tollcast.b");
    // The receiver never answers: R00 when the packet expires, nothing booked.
    let mut p = prepare("g.tollcast.c.recv.x", 10, Duration::from_millis(2600));
    p.data = bytes::Bytes::from_static(b"hang");
    let r = send(&l.a, p).await.unwrap_err();
    assert_eq!(r.code, ErrorCode::R00_TRANSFER_TIMED_OUT, "{}", r.message);
    // Wrong fulfillment: F05 and nothing booked.
    let mut p = prepare("g.tollcast.c.recv.x", 10, Duration::from_secs(10));
    p.data = bytes::Bytes::from_static(b"wrong");
    let r = send(&l.a, p).await.unwrap_err();
    assert_eq!(r.code, ErrorCode::F05_WRONG_CONDITION, "{}", r.message);
    // No route at A: F02 by A; no route at C: F02 by C.
    let r = send(&l.a, prepare("g.elsewhere.x", 10, Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert_eq!(
        (r.code, r.triggered_by.as_ref().unwrap().as_str()),
        (ErrorCode::F02_UNREACHABLE, "g.tollcast.a")
    );
    assert!(r.message.contains("no route"), "{}", r.message);
    let r = send(
        &l.a,
        prepare("g.tollcast.c.nobody", 10, Duration::from_secs(10)),
    )
    .await
    .unwrap_err();
    assert_eq!(
        (r.code, r.triggered_by.as_ref().unwrap().as_str()),
        (ErrorCode::F02_UNREACHABLE, "g.tollcast.c")
    );
    // Above B's max packet amount for A: F08 with the amounts in the data.
    let r = send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 3_000_000, Duration::from_secs(10)),
    )
    .await
    .unwrap_err();
    assert_eq!(r.code, ErrorCode::F08_AMOUNT_TOO_LARGE);
    let d = r.amount_too_large_data().expect("F08 data");
    assert_eq!(
        (d.received_amount, d.maximum_amount),
        (3_000_000, 2_000_000)
    );
    assert_eq!(r.triggered_by.as_ref().unwrap().as_str(), "g.tollcast.b");
    assert!(l.received_c.lock().unwrap().is_empty());
    assert_eq!(balance(&l.a, "b"), (0, 0, 0));
    assert_conserved(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_limit_exhaustion_gives_t04() {
    let l = line("", "").await;
    // B lets A owe at most 5.000000 USD; each packet at most 2.000000.
    for _ in 0..2 {
        send(
            &l.a,
            prepare("g.tollcast.c.recv.x", 2_000_000, Duration::from_secs(10)),
        )
        .await
        .unwrap();
    }
    send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 1_000_000, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(balance(&l.b, "a").0, -5_000_000);
    let r = send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 1, Duration::from_secs(10)),
    )
    .await
    .unwrap_err();
    assert_eq!(r.code, ErrorCode::T04_INSUFFICIENT_LIQUIDITY);
    assert_eq!(r.triggered_by.as_ref().unwrap().as_str(), "g.tollcast.b");
    assert!(
        r.message.contains("insufficient liquidity"),
        "{}",
        r.message
    );
    assert_eq!(l.received_c.lock().unwrap().len(), 3);
    assert_conserved(&l);
}

/// A sender that stops waiting (a cancelled STREAM payment) must not strand its packet: the
/// connector carries it on, so a fulfilled packet is booked on every ledger and a hanging one
/// rolls back at expiry — nothing stays pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_send_still_completes_its_packet() {
    let l = line("", "").await;
    let pay = send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 1_000, Duration::from_secs(10)),
    );
    // Dropped before the FULFILL can come back over two BTP hops.
    assert!(
        tokio::time::timeout(Duration::from_micros(50), pay)
            .await
            .is_err()
    );
    let mut hang = prepare("g.tollcast.c.recv.x", 7, Duration::from_millis(2600));
    hang.data = bytes::Bytes::from_static(b"hang");
    assert!(
        tokio::time::timeout(Duration::from_millis(100), send(&l.a, hang))
            .await
            .is_err()
    );
    eventually("the cancelled packets to finish", || {
        balance(&l.a, "b").1 == 0
            && balance(&l.a, "b").2 == 0
            && balance(&l.b, "a").1 == 0
            && balance(&l.b, "c").2 == 0
    })
    .await;
    assert_eq!(
        l.received_c.lock().unwrap().len(),
        1,
        "the cancelled payment arrived once"
    );
    assert_conserved(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_at_threshold() {
    // A settles with B once it owes more than 1.500000 USD, down to 0.
    let l = line("", "settle_threshold = 1500000\nsettle_to = 0").await;
    send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 1_000_000, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_eq!(
        balance(&l.a, "b").0,
        1_000_000,
        "below threshold: no settlement"
    );
    send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 1_000_000, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    eventually("A to settle with B", || {
        balance(&l.a, "b").0 == 0 && balance(&l.b, "a").0 == 0
    })
    .await;
    assert_conserved(&l);
    // B can extend credit again after the settlement.
    for _ in 0..2 {
        send(
            &l.a,
            prepare("g.tollcast.c.recv.x", 1_000_000, Duration::from_secs(10)),
        )
        .await
        .unwrap();
    }
    eventually("second settlement", || {
        balance(&l.a, "b").0 == 0 && balance(&l.b, "a").0 == 0
    })
    .await;
    assert_conserved(&l);
    // The counter moves right after the peer's answer: allow it a moment.
    let want = "tollcast_settlements_total{account=\"b\"} 2";
    let mut m = String::new();
    for _ in 0..100 {
        m = http_get(l.a.local_addr, "/metrics").await;
        if m.contains(want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(m.contains(want), "{m}");
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    assert!(buf.starts_with("HTTP/1.1 200"), "{buf}");
    buf
}

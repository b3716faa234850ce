//! Hostile and broken BTP peers against a real node: unauthenticated or wrongly
//! authenticated connections, unreadable frames, malformed ILP, expired packets, IL-DCP.
//! Each gets a clear answer (or, for unreadable frames, none, per RFC 0023), nothing
//! changes in any ledger, and the node keeps forwarding for honest peers.

mod connector_util;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use connector_util::*;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tollcast_wire::address::Address;
use tollcast_wire::btp::{BtpPacket, Frame};
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{Packet, Prepare};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(l: &Line) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{}", l.b.local_addr))
        .await
        .unwrap()
        .0
}

/// Next binary frame, or None when the server closed the socket.
async fn next_frame(ws: &mut Ws) -> Option<BtpPacket> {
    let fut = async {
        while let Some(m) = ws.next().await {
            match m {
                Ok(Message::Binary(b)) => {
                    return Some(BtpPacket::decode(b).expect("server sends valid BTP"));
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("server answers or closes in time")
}

async fn send(ws: &mut Ws, b: Bytes) {
    ws.send(Message::Binary(b)).await.unwrap();
}

fn snapshot(l: &Line) -> Vec<(String, i128, i128, i128)> {
    l.b.connector
        .ledger()
        .accounts()
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.balance, a.pending_incoming, a.pending_outgoing))
        .collect()
}

fn ilp_request(id: u32, p: &Prepare) -> Bytes {
    BtpPacket::ilp_message(id, Packet::Prepare(p.clone()).encode()).encode()
}

fn ilp_reply(p: &BtpPacket) -> Packet {
    let Frame::Response(r) = &p.frame else {
        panic!("expected a Response, got {p:?}")
    };
    Packet::decode(
        tollcast_wire::btp::find(&r.protocol_data, "ilp")
            .expect("ilp entry")
            .data
            .clone(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_peers_are_refused() {
    let l = line("", "").await;
    let before = snapshot(&l);
    // Wrong token: Error F00, then closed.
    let mut ws = connect(&l).await;
    send(
        &mut ws,
        BtpPacket::auth(1, Some("x"), "not-the-token").encode(),
    )
    .await;
    let f = next_frame(&mut ws).await.expect("an Error frame");
    match &f.frame {
        Frame::Error(e) => {
            assert_eq!(&e.code, b"F00");
            assert!(String::from_utf8_lossy(&e.data).contains("invalid auth token"));
        }
        other => panic!("expected Error, got {other:?}"),
    }
    assert!(
        next_frame(&mut ws).await.is_none(),
        "closed after the Error"
    );
    // A PREPARE before auth: Error, closed, and it was never processed.
    let mut ws = connect(&l).await;
    send(
        &mut ws,
        ilp_request(
            5,
            &prepare("g.tollcast.c.recv.x", 1, Duration::from_secs(5)),
        ),
    )
    .await;
    let f = next_frame(&mut ws).await.expect("an Error frame");
    assert!(matches!(f.frame, Frame::Error(_)), "{f:?}");
    assert!(next_frame(&mut ws).await.is_none());
    // Garbage first: closed without an answer.
    let mut ws = connect(&l).await;
    send(&mut ws, Bytes::from_static(b"\xff\x00garbage")).await;
    assert!(next_frame(&mut ws).await.is_none());
    assert!(l.received_c.lock().unwrap().is_empty());
    assert_eq!(snapshot(&l), before, "nothing changed in B's ledger");
    let m = l.b.connector.metrics_ref().render(&[]);
    assert!(
        m.contains("tollcast_btp_errors_total{kind=\"unauthenticated\"} 3"),
        "{m}"
    );
    assert_conserved(&l);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_and_packets_from_an_authenticated_peer() {
    let l = line("", "").await;
    let before = snapshot(&l);
    let mut ws = connect(&l).await;
    send(&mut ws, BtpPacket::auth(1, None, "token-m").encode()).await;
    assert!(
        matches!(next_frame(&mut ws).await.unwrap().frame, Frame::Response(_)),
        "auth accepted"
    );

    // IL-DCP: mallory is a child of B.
    let ildcp = Prepare {
        amount: 0,
        expires_at: SystemTime::now() + Duration::from_secs(30),
        execution_condition: tollcast_wire::ilp::condition_of(&[0u8; 32]),
        destination: Address::new("peer.config").unwrap(),
        data: Bytes::new(),
    };
    send(&mut ws, ilp_request(2, &ildcp)).await;
    let f = next_frame(&mut ws).await.unwrap();
    assert_eq!(f.request_id, 2);
    let Packet::Fulfill(ful) = ilp_reply(&f) else {
        panic!("IL-DCP fulfilled")
    };
    let cfg = tollcast_wire::ildcp::Response::from_fulfill(&ful).expect("IL-DCP data");
    assert_eq!(cfg.client_address.as_str(), "g.tollcast.b.mallory");
    assert_eq!((cfg.asset_code.as_str(), cfg.asset_scale), ("USD", 6));

    // Unreadable frames and stray responses: no answer (the next answer is for request 4).
    for junk in [
        &b""[..],
        b"\x06",
        b"\x06\x00\x00\x00\x09\x7f",
        b"\x63\x00\x00\x00\x01\x00",
        b"\x06\x00\x00\x00\x01\x03\x09\x08\x07",
    ] {
        send(&mut ws, Bytes::copy_from_slice(junk)).await;
    }
    send(&mut ws, BtpPacket::empty_response(999).encode()).await;
    // Malformed ILP inside a good frame: BTP Error F01.
    send(
        &mut ws,
        BtpPacket::ilp_message(3, Bytes::from_static(b"\x0c\x05junk")).encode(),
    )
    .await;
    let f = next_frame(&mut ws).await.unwrap();
    assert_eq!(f.request_id, 3, "unreadable frames got no answer");
    match &f.frame {
        Frame::Error(e) => assert_eq!(&e.code, b"F01"),
        other => panic!("{other:?}"),
    }
    // Expired PREPARE: ILP REJECT R00 from B.
    let mut p = prepare("g.tollcast.c.recv.x", 1, Duration::ZERO);
    p.expires_at = SystemTime::now() - Duration::from_secs(1);
    send(&mut ws, ilp_request(4, &p)).await;
    let f = next_frame(&mut ws).await.unwrap();
    let Packet::Reject(r) = ilp_reply(&f) else {
        panic!("rejected")
    };
    assert_eq!(r.code, ErrorCode::R00_TRANSFER_TIMED_OUT);
    assert_eq!(r.triggered_by.unwrap().as_str(), "g.tollcast.b");
    // mallory has no credit: T04.
    send(
        &mut ws,
        ilp_request(
            5,
            &prepare("g.tollcast.c.recv.x", 1, Duration::from_secs(10)),
        ),
    )
    .await;
    let Packet::Reject(r) = ilp_reply(&next_frame(&mut ws).await.unwrap()) else {
        panic!("rejected")
    };
    assert_eq!(r.code, ErrorCode::T04_INSUFFICIENT_LIQUIDITY);
    // No route: F02 (and the connection is still in order after all of the above).
    send(
        &mut ws,
        ilp_request(6, &prepare("g.nowhere", 0, Duration::from_secs(10))),
    )
    .await;
    let f = next_frame(&mut ws).await.unwrap();
    assert_eq!(f.request_id, 6);
    let Packet::Reject(r) = ilp_reply(&f) else {
        panic!("rejected")
    };
    assert_eq!(r.code, ErrorCode::F02_UNREACHABLE);

    // A settlement (BTP Transfer) from a peer B does not trust for it: Error, no credit.
    send(
        &mut ws,
        tollcast_net::connector::btp_codec::encode_transfer(7, 1_000_000_000, &[]),
    )
    .await;
    let f = next_frame(&mut ws).await.unwrap();
    assert_eq!(f.request_id, 7);
    match &f.frame {
        Frame::Error(e) => {
            assert!(String::from_utf8_lossy(&e.data).contains("does not accept BTP settlement"))
        }
        other => panic!("{other:?}"),
    }

    assert!(l.received_c.lock().unwrap().is_empty());
    assert_eq!(snapshot(&l), before, "nothing changed in B's ledger");
    // The node still works for honest peers.
    connector_util::send(
        &l.a,
        prepare("g.tollcast.c.recv.x", 1000, Duration::from_secs(10)),
    )
    .await
    .unwrap();
    assert_conserved(&l);
}

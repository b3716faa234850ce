//! STREAM sender against STREAM receiver with no connector in between (the receiver is the
//! sender's `IlpService`), plus path behaviour put in front of the receiver with small
//! `ServiceFn` layers (a max-packet limit answering F08, an exchange rate, flaky T04s).
//! Connector paths are covered in `stream_connector.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tollcast_net::connector::{IlpService, IncomingRequest, ServiceFn};
use tollcast_net::stream::{
    ReceiverConfig, ReceiverEvent, SenderConfig, StreamReceiver, StreamSendError, StreamSender,
};
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{Prepare, Reject};
use tollcast_wire::stream::{Frame, IlpPacketType, StreamKeys, StreamMoneyFrame, StreamPacket};

fn receiver(receive_max: u64) -> Arc<StreamReceiver> {
    let mut cfg = ReceiverConfig::new(Address::new("test.node.recv").unwrap(), "XYZ", 9);
    cfg.receive_max_per_stream = receive_max;
    Arc::new(StreamReceiver::new(cfg))
}

fn sender_cfg(r: &StreamReceiver, tag: Option<&str>) -> SenderConfig {
    let (dest, secret) = r.generate_credentials(tag);
    let mut c = SenderConfig::new(dest, secret);
    c.initial_backoff = Duration::from_millis(1);
    c
}

#[tokio::test]
async fn pays_exact_amount_and_receiver_counts_it() {
    let r = receiver(u64::MAX);
    let mut events = r.subscribe();
    let cfg = sender_cfg(&r, Some("viewer-1"));
    let dest = cfg.destination.clone();
    let mut s = StreamSender::connect(r.clone(), cfg).await.unwrap();
    assert_eq!(
        s.rate().unwrap().sent,
        s.rate().unwrap().delivered,
        "same asset: rate 1"
    );
    assert_eq!(s.remote_asset(), Some(&("XYZ".to_string(), 9)));
    // The probe paid nothing.
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        0
    );
    let receipt = s.send(1_234_567).await.unwrap();
    assert_eq!(receipt.sent, 1_234_567);
    assert_eq!(receipt.delivered, 1_234_567);
    let t = r.connection_totals(dest.as_str()).unwrap();
    assert_eq!(t.total_received, 1_234_567);
    assert_eq!(t.streams.get(&1), Some(&1_234_567));
    match events.recv().await.unwrap() {
        ReceiverEvent::Money {
            tag,
            stream_id,
            amount,
            ..
        } => {
            assert_eq!(tag.as_deref(), Some("viewer-1"));
            assert_eq!(stream_id, 1);
            assert_eq!(amount, 1_234_567);
        }
        other => panic!("unexpected event {other:?}"),
    }
    // Many payments on one connection.
    for _ in 0..100 {
        s.send(10).await.unwrap();
    }
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        1_235_567
    );
    s.close().await.unwrap();
    assert!(r.connection_totals(dest.as_str()).unwrap().closed);
    assert!(matches!(s.send(1).await, Err(StreamSendError::Closed)));
}

/// A path hop that takes at most `max` per packet (F08 with the amounts, as connectors do)
/// and converts at `num/den` on the way to the receiver.
fn path(inner: Arc<StreamReceiver>, max: u64, num: u64, den: u64) -> Arc<dyn IlpService> {
    Arc::new(ServiceFn(move |req: IncomingRequest| {
        let inner = inner.clone();
        async move {
            let mut p = req.prepare;
            if p.amount > max {
                return Err(Reject::amount_too_large(
                    Some(Address::new("test.node").unwrap()),
                    p.amount,
                    max,
                ));
            }
            p.amount = (p.amount as u128 * num as u128 / den as u128) as u64;
            inner
                .handle(IncomingRequest {
                    from: req.from,
                    prepare: p,
                })
                .await
        }
    }))
}

#[tokio::test]
async fn learns_max_packet_from_f08_and_path_rate() {
    let r = receiver(u64::MAX);
    let cfg = sender_cfg(&r, None);
    let dest = cfg.destination.clone();
    let mut s = StreamSender::connect(path(r.clone(), 5_000, 3, 2), cfg)
        .await
        .unwrap();
    assert_eq!(s.max_packet_amount(), 5_000);
    let rate = s.rate().unwrap();
    assert_eq!(rate.delivered * 2, rate.sent * 3);
    let receipt = s.send(100_000).await.unwrap();
    assert_eq!(receipt.sent, 100_000);
    assert_eq!(receipt.packets, 20);
    assert_eq!(receipt.delivered, 150_000);
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        150_000
    );
}

#[tokio::test]
async fn rate_worse_than_slippage_stops_the_payment() {
    let r = receiver(u64::MAX);
    let cfg = sender_cfg(&r, None);
    let dest = cfg.destination.clone();
    // Rate 1:1 during the probe, then the path starts taking 10 %.
    let calls = Arc::new(AtomicU64::new(0));
    let inner = r.clone();
    let c2 = calls.clone();
    let svc: Arc<dyn IlpService> = Arc::new(ServiceFn(move |req: IncomingRequest| {
        let inner = inner.clone();
        let n = c2.fetch_add(1, Ordering::SeqCst);
        async move {
            let mut p = req.prepare;
            if n >= 1 {
                p.amount = p.amount * 9 / 10;
            }
            inner
                .handle(IncomingRequest {
                    from: req.from,
                    prepare: p,
                })
                .await
        }
    }));
    let mut s = StreamSender::connect(svc, cfg).await.unwrap();
    let err = s.send(1_000).await.unwrap_err();
    assert!(matches!(err, StreamSendError::RateTooLow { .. }), "{err}");
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        0,
        "nothing credited below the minimum"
    );
}

#[tokio::test]
async fn temporary_errors_are_retried_final_errors_stop() {
    let r = receiver(u64::MAX);
    let cfg = sender_cfg(&r, None);
    let dest = cfg.destination.clone();
    let calls = Arc::new(AtomicU64::new(0));
    let inner = r.clone();
    let c2 = calls.clone();
    // Every other packet hits T04 first.
    let svc: Arc<dyn IlpService> = Arc::new(ServiceFn(move |req: IncomingRequest| {
        let inner = inner.clone();
        let n = c2.fetch_add(1, Ordering::SeqCst);
        async move {
            if n % 2 == 1 {
                return Err(Reject::new(
                    ErrorCode::T04_INSUFFICIENT_LIQUIDITY,
                    None,
                    "busy",
                ));
            }
            inner.handle(req).await
        }
    }));
    let mut s = StreamSender::connect(svc, cfg).await.unwrap();
    s.set_max_packet_amount(100);
    let receipt = s.send(1_000).await.unwrap();
    assert_eq!(receipt.delivered, 1_000);
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        1_000
    );

    let svc: Arc<dyn IlpService> = Arc::new(ServiceFn(|_req: IncomingRequest| async {
        Err(Reject::new(ErrorCode::F02_UNREACHABLE, None, "no route"))
    }));
    let cfg = sender_cfg(&r, None);
    let err = StreamSender::connect(svc, cfg).await.unwrap_err();
    assert!(matches!(err, StreamSendError::ProbeFailed(_)), "{err}");
}

#[tokio::test]
async fn receive_max_is_respected_exactly() {
    let r = receiver(500);
    let cfg = sender_cfg(&r, None);
    let dest = cfg.destination.clone();
    let mut s = StreamSender::connect(r.clone(), cfg).await.unwrap();
    s.set_max_packet_amount(200);
    let err = s.send(1_000).await.unwrap_err();
    assert!(
        matches!(
            err,
            StreamSendError::ReceiveMaxReached {
                receive_max: 500,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(s.totals().delivered, 500);
    assert_eq!(
        r.connection_totals(dest.as_str()).unwrap().total_received,
        500
    );
}

#[tokio::test]
async fn data_stream_arrives_in_order_within_window() {
    let mut cfg = ReceiverConfig::new(Address::new("test.node.recv").unwrap(), "XYZ", 9);
    cfg.data_window_per_stream = 20_000;
    let r = Arc::new(StreamReceiver::new(cfg));
    let mut events = r.subscribe();
    let scfg = sender_cfg(&r, None);
    let mut s = StreamSender::connect(r.clone(), scfg).await.unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    s.send_data(&payload).await.unwrap();
    let mut got = Vec::new();
    while got.len() < payload.len() {
        if let ReceiverEvent::Data {
            data, stream_id, ..
        } = events.recv().await.unwrap()
        {
            assert_eq!(stream_id, 1);
            got.extend_from_slice(&data);
        }
    }
    assert_eq!(got, payload);
}

#[tokio::test]
async fn receiver_sends_data_back_in_fulfills() {
    let r = receiver(u64::MAX);
    let cfg = sender_cfg(&r, None);
    let dest = cfg.destination.clone();
    let mut s = StreamSender::connect(r.clone(), cfg).await.unwrap();
    s.send(1).await.unwrap(); // connection known to the receiver
    let part: Vec<u8> = (0..70_000u32).map(|i| (i % 199) as u8).collect();
    assert!(r.queue_data(dest.as_str(), 1, Bytes::from(part.clone())));
    let mut got = Vec::new();
    for _ in 0..10 {
        s.send(1).await.unwrap();
        got.extend(s.take_received_data());
        if got.len() >= part.len() {
            break;
        }
    }
    assert_eq!(got, part, "bytes ride back in FULFILL data, in order, once");
}

fn prepare_for(dest: &Address, secret: &[u8; 32], amount: u64, min: u64) -> (Prepare, StreamKeys) {
    let keys = StreamKeys::from_shared_secret(secret);
    let mut p = StreamPacket::new(1, IlpPacketType::Prepare, min);
    p.frames.push(Frame::StreamMoney(StreamMoneyFrame {
        stream_id: 1,
        shares: 1,
    }));
    let data = p.encrypt_and_encode(&keys);
    let prepare = Prepare {
        amount,
        expires_at: SystemTime::now() + Duration::from_secs(30),
        execution_condition: keys.condition(&data),
        destination: dest.clone(),
        data: Bytes::from(data),
    };
    (prepare, keys)
}

#[test]
fn bad_input_is_rejected_and_credits_nothing() {
    let r = receiver(u64::MAX);
    let (dest, secret) = r.generate_credentials(None);
    let total = |r: &StreamReceiver| {
        r.connection_totals(dest.as_str())
            .map_or(0, |t| t.total_received)
    };

    // Valid packet works (control).
    let (good, _) = prepare_for(&dest, &secret, 10, 10);
    assert!(r.handle_prepare(&good).is_ok());
    assert_eq!(total(&r), 10);

    // Wrong condition: F99 with an encrypted reply, nothing credited.
    let (mut p, keys) = prepare_for(&dest, &secret, 10, 10);
    p.execution_condition[0] ^= 1;
    let rej = r.handle_prepare(&p).unwrap_err();
    assert_eq!(rej.code, ErrorCode::F99_APPLICATION_ERROR);
    let reply = StreamPacket::decrypt_and_decode(&keys, &rej.data).unwrap();
    assert_eq!(reply.ilp_packet_type, IlpPacketType::Reject);
    assert_eq!(reply.prepare_amount, 10);

    // Tampered data: F06, no reply data.
    let (mut p, _) = prepare_for(&dest, &secret, 10, 10);
    let mut d = p.data.to_vec();
    let last = d.len() - 1;
    d[last] ^= 0x55;
    p.data = Bytes::from(d);
    let rej = r.handle_prepare(&p).unwrap_err();
    assert_eq!(rej.code, ErrorCode::F06_UNEXPECTED_PAYMENT);
    assert!(rej.data.is_empty());

    // Wrong shared secret.
    let (p, _) = prepare_for(&dest, &[7u8; 32], 10, 10);
    assert_eq!(
        r.handle_prepare(&p).unwrap_err().code,
        ErrorCode::F06_UNEXPECTED_PAYMENT
    );

    // Forged token in the address.
    let forged =
        Address::new("test.node.recv.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let (p, _) = prepare_for(&forged, &secret, 10, 10);
    assert_eq!(
        r.handle_prepare(&p).unwrap_err().code,
        ErrorCode::F06_UNEXPECTED_PAYMENT
    );

    // Past expiry.
    let (mut p, _) = prepare_for(&dest, &secret, 10, 10);
    p.expires_at = SystemTime::now() - Duration::from_secs(1);
    assert_eq!(
        r.handle_prepare(&p).unwrap_err().code,
        ErrorCode::R00_TRANSFER_TIMED_OUT
    );

    // Amount below the minimum in the STREAM packet.
    let (p, _) = prepare_for(&dest, &secret, 9, 10);
    assert_eq!(
        r.handle_prepare(&p).unwrap_err().code,
        ErrorCode::F99_APPLICATION_ERROR
    );

    // Not our address.
    let (p, _) = prepare_for(&Address::new("test.other.x").unwrap(), &secret, 10, 10);
    assert_eq!(
        r.handle_prepare(&p).unwrap_err().code,
        ErrorCode::F02_UNREACHABLE
    );

    // Garbage data.
    let (mut p, _) = prepare_for(&dest, &secret, 10, 10);
    p.data = Bytes::from_static(b"short");
    assert_eq!(
        r.handle_prepare(&p).unwrap_err().code,
        ErrorCode::F06_UNEXPECTED_PAYMENT
    );

    assert_eq!(total(&r), 10, "only the valid packet was credited");
}

#[test]
fn money_split_by_shares_remainder_to_lowest_stream() {
    let r = receiver(u64::MAX);
    let (dest, secret) = r.generate_credentials(None);
    let keys = StreamKeys::from_shared_secret(&secret);
    let mut p = StreamPacket::new(1, IlpPacketType::Prepare, 0);
    for (id, shares) in [(3u64, 15u64), (1, 5), (5, 30)] {
        p.frames.push(Frame::StreamMoney(StreamMoneyFrame {
            stream_id: id,
            shares,
        }));
    }
    let data = p.encrypt_and_encode(&keys);
    let prepare = Prepare {
        amount: 101,
        expires_at: SystemTime::now() + Duration::from_secs(30),
        execution_condition: keys.condition(&data),
        destination: dest.clone(),
        data: Bytes::from(data),
    };
    r.handle_prepare(&prepare).unwrap();
    let t = r.connection_totals(dest.as_str()).unwrap();
    assert_eq!(t.streams[&1], 10 + 1);
    assert_eq!(t.streams[&3], 30);
    assert_eq!(t.streams[&5], 60);
    assert_eq!(t.total_received, 101);
}

#[test]
fn stream_ids_above_the_limit_close_the_connection() {
    let mut cfg = ReceiverConfig::new(Address::new("test.node.recv").unwrap(), "XYZ", 9);
    cfg.max_stream_id = 9;
    let r = StreamReceiver::new(cfg);
    let (dest, secret) = r.generate_credentials(None);
    let keys = StreamKeys::from_shared_secret(&secret);
    let mut p = StreamPacket::new(1, IlpPacketType::Prepare, 0);
    p.frames.push(Frame::StreamMoney(StreamMoneyFrame {
        stream_id: 11,
        shares: 1,
    }));
    let data = p.encrypt_and_encode(&keys);
    let prepare = Prepare {
        amount: 5,
        expires_at: SystemTime::now() + Duration::from_secs(30),
        execution_condition: keys.condition(&data),
        destination: dest.clone(),
        data: Bytes::from(data),
    };
    let rej = r.handle_prepare(&prepare).unwrap_err();
    assert_eq!(rej.code, ErrorCode::F99_APPLICATION_ERROR);
    let reply = StreamPacket::decrypt_and_decode(&keys, &rej.data).unwrap();
    assert!(
        reply
            .frames
            .iter()
            .any(|f| matches!(f, Frame::ConnectionClose(c)
        if c.code == tollcast_wire::stream::ErrorCode::StreamIdError))
    );
    let t = r.connection_totals(dest.as_str()).unwrap();
    assert_eq!(t.total_received, 0);
    assert!(t.closed);
}

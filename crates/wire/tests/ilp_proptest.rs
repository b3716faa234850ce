//! Property tests: every value round-trips through encode/decode (ILP, BTP, IL-DCP, OER
//! primitives), and arbitrary bytes never panic a decoder; whatever a decoder accepts re-encodes
//! to bytes that decode to the same value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use proptest::prelude::*;
use tollcast_wire::address::Address;
use tollcast_wire::btp::{
    BtpPacket, ContentType, ErrorFrame, Frame, Fulfill as BtpFulfill, Message,
    Prepare as BtpPrepare, ProtocolData, Reject as BtpReject, Response, Transfer,
};
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ildcp;
use tollcast_wire::ilp::{Fulfill, Packet, Prepare, Reject};
use tollcast_wire::oer::{Reader, Writer};

fn address() -> impl Strategy<Value = Address> {
    (
        prop::sample::select(tollcast_wire::address::SCHEMES.to_vec()),
        prop::collection::vec("[a-zA-Z0-9_~-]{1,20}", 1..6),
    )
        .prop_map(|(s, segs)| Address::new(&format!("{s}.{}", segs.join("."))).unwrap())
}

fn time() -> impl Strategy<Value = SystemTime> {
    // Years 0000..=9999 at millisecond precision (what the 17-char timestamp carries).
    (-62_167_219_200_000i64..253_402_300_800_000).prop_map(|ms| {
        if ms >= 0 {
            UNIX_EPOCH + Duration::from_millis(ms as u64)
        } else {
            UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
        }
    })
}

fn data(max: usize) -> impl Strategy<Value = Bytes> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(any::<u8>(), 0..=max),
    ]
    .prop_map(Bytes::from)
}

fn code() -> impl Strategy<Value = ErrorCode> {
    ("[FTR]", 0u8..10, 0u8..10)
        .prop_map(|(c, a, b)| ErrorCode::new([c.as_bytes()[0], b'0' + a, b'0' + b]).unwrap())
}

fn ilp_packet() -> impl Strategy<Value = Packet> {
    prop_oneof![
        (
            any::<u64>(),
            time(),
            any::<[u8; 32]>(),
            address(),
            data(32767)
        )
            .prop_map(
                |(amount, expires_at, execution_condition, destination, data)| {
                    Packet::Prepare(Prepare {
                        amount,
                        expires_at,
                        execution_condition,
                        destination,
                        data,
                    })
                }
            ),
        (any::<[u8; 32]>(), data(32767))
            .prop_map(|(fulfillment, data)| Packet::Fulfill(Fulfill { fulfillment, data })),
        (code(), prop::option::of(address()), ".{0,80}", data(32767)).prop_map(
            |(code, triggered_by, message, data)| {
                Packet::Reject(Reject {
                    code,
                    triggered_by,
                    message,
                    data,
                })
            }
        ),
    ]
}

fn protocol_data() -> impl Strategy<Value = Vec<ProtocolData>> {
    prop::collection::vec(
        (".{0,12}", any::<u8>(), data(2000))
            .prop_map(|(n, c, d)| ProtocolData::new(n, ContentType(c), d)),
        0..6,
    )
}

fn btp_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        protocol_data().prop_map(|protocol_data| Frame::Response(Response { protocol_data })),
        (
            any::<[u8; 3]>(),
            ".{0,20}",
            time(),
            data(8192),
            protocol_data()
        )
            .prop_map(
                |(code, name, triggered_at, data, protocol_data)| Frame::Error(ErrorFrame {
                    code,
                    name,
                    triggered_at,
                    data,
                    protocol_data
                })
            ),
        (
            any::<[u8; 16]>(),
            any::<u64>(),
            any::<[u8; 32]>(),
            time(),
            protocol_data()
        )
            .prop_map(
                |(transfer_id, amount, execution_condition, expires_at, protocol_data)| {
                    Frame::Prepare(BtpPrepare {
                        transfer_id,
                        amount,
                        execution_condition,
                        expires_at,
                        protocol_data,
                    })
                }
            ),
        (any::<[u8; 16]>(), any::<[u8; 32]>(), protocol_data()).prop_map(
            |(transfer_id, fulfillment, protocol_data)| Frame::Fulfill(BtpFulfill {
                transfer_id,
                fulfillment,
                protocol_data
            })
        ),
        (any::<[u8; 16]>(), protocol_data()).prop_map(|(transfer_id, protocol_data)| {
            Frame::Reject(BtpReject {
                transfer_id,
                protocol_data,
            })
        }),
        protocol_data().prop_map(|protocol_data| Frame::Message(Message { protocol_data })),
        (any::<u64>(), protocol_data()).prop_map(|(amount, protocol_data)| Frame::Transfer(
            Transfer {
                amount,
                protocol_data
            }
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ilp_round_trip(p in ilp_packet()) {
        let enc = p.encode();
        let dec = Packet::decode(enc.clone()).unwrap();
        prop_assert_eq!(&dec, &p);
        prop_assert_eq!(dec.encode(), enc);
    }

    #[test]
    fn btp_round_trip(request_id in any::<u32>(), frame in btp_frame()) {
        let p = BtpPacket { request_id, frame };
        let enc = p.encode();
        prop_assert_eq!(BtpPacket::decode(enc).unwrap(), p);
    }

    #[test]
    fn ildcp_round_trip(a in address(), scale in any::<u8>(), code in ".{0,10}", t in time(), d in data(300)) {
        let resp = ildcp::Response::new(a, scale, code);
        prop_assert_eq!(ildcp::Response::decode(resp.encode()).unwrap(), resp);
        let req = ildcp::Request { expires_at: t, data: d };
        prop_assert_eq!(ildcp::Request::decode(req.encode()).unwrap(), req);
    }

    #[test]
    fn oer_primitives_round_trip(v in any::<u64>(), s in prop::collection::vec(any::<u8>(), 0..70000)) {
        let mut w = Writer::new();
        w.write_var_uint(v);
        w.write_var_octet_string(&s);
        w.write_u32(v as u32);
        let b = w.into_bytes();
        let mut r = Reader::new(&b);
        prop_assert_eq!(r.read_var_uint().unwrap(), v);
        prop_assert_eq!(r.read_var_octet_string().unwrap(), &s[..]);
        prop_assert_eq!(r.read_u32().unwrap(), v as u32);
        prop_assert!(r.expect_end("test").is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..400), first in 0u8..16) {
        // Bias the type byte towards valid ILP (12..=14) and BTP (1..=7) types.
        let mut b = b;
        if !b.is_empty() { b[0] = first; }
        let bytes = Bytes::from(b);
        if let Ok(p) = Packet::decode(bytes.clone()) {
            prop_assert_eq!(Packet::decode(p.encode()).unwrap(), p);
        }
        if let Ok(p) = BtpPacket::decode(bytes.clone()) {
            prop_assert_eq!(BtpPacket::decode(p.encode()).unwrap(), p);
        }
        let _ = ildcp::Response::decode_data(&bytes);
    }

    #[test]
    fn mutated_packets_never_panic(p in ilp_packet(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut v = p.encode().to_vec();
        let i = at.index(v.len());
        v[i] = byte;
        if let Ok(q) = Packet::decode(Bytes::from(v)) {
            prop_assert_eq!(Packet::decode(q.encode()).unwrap(), q);
        }
    }
}

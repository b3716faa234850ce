//! STREAM codec properties: round trips (plain and encrypted), tolerance rules of the RFC
//! (unknown frames skipped, junk ignored, 2^64+ saturation), typed errors on bad input
//! and zero-copy `StreamData` payloads.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use tollcast_wire::stream::*;

fn any_u64() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), Just(u64::MAX), 0u64..256, any::<u64>()]
}

fn any_frame() -> impl Strategy<Value = Frame> {
    let s = ".{0,20}";
    prop_oneof![
        (any::<u8>(), s).prop_map(|(c, m)| ConnectionCloseFrame {
            code: c.into(),
            message: m
        }
        .into()),
        s.prop_map(|a| ConnectionNewAddressFrame { source_account: a }.into()),
        any_u64().prop_map(|v| ConnectionMaxDataFrame { max_offset: v }.into()),
        any_u64().prop_map(|v| ConnectionDataBlockedFrame { max_offset: v }.into()),
        any_u64().prop_map(|v| ConnectionMaxStreamIdFrame { max_stream_id: v }.into()),
        any_u64().prop_map(|v| ConnectionStreamIdBlockedFrame { max_stream_id: v }.into()),
        (s, any::<u8>()).prop_map(|(c, sc)| ConnectionAssetDetailsFrame {
            source_asset_code: c,
            source_asset_scale: sc
        }
        .into()),
        (any_u64(), any::<u8>(), s).prop_map(|(id, c, m)| StreamCloseFrame {
            stream_id: id,
            code: c.into(),
            message: m
        }
        .into()),
        (any_u64(), any_u64()).prop_map(|(id, v)| StreamMoneyFrame {
            stream_id: id,
            shares: v
        }
        .into()),
        (any_u64(), any_u64(), any_u64()).prop_map(|(id, a, b)| StreamMaxMoneyFrame {
            stream_id: id,
            receive_max: a,
            total_received: b
        }
        .into()),
        (any_u64(), any_u64(), any_u64()).prop_map(|(id, a, b)| StreamMoneyBlockedFrame {
            stream_id: id,
            send_max: a,
            total_sent: b
        }
        .into()),
        (
            any_u64(),
            any_u64(),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(id, o, d)| {
                StreamDataFrame {
                    stream_id: id,
                    offset: o,
                    data: d.into(),
                }
                .into()
            }),
        (any_u64(), any_u64()).prop_map(|(id, v)| StreamMaxDataFrame {
            stream_id: id,
            max_offset: v
        }
        .into()),
        (any_u64(), any_u64()).prop_map(|(id, v)| StreamDataBlockedFrame {
            stream_id: id,
            max_offset: v
        }
        .into()),
        (any_u64(), proptest::collection::vec(any::<u8>(), 0..80)).prop_map(|(id, r)| {
            StreamReceiptFrame {
                stream_id: id,
                receipt: r.into(),
            }
            .into()
        }),
    ]
}

fn any_packet() -> impl Strategy<Value = StreamPacket> {
    (
        any_u64(),
        prop_oneof![
            Just(IlpPacketType::Prepare),
            Just(IlpPacketType::Fulfill),
            Just(IlpPacketType::Reject)
        ],
        any_u64(),
        proptest::collection::vec(any_frame(), 0..8),
    )
        .prop_map(
            |(sequence, ilp_packet_type, prepare_amount, frames)| StreamPacket {
                sequence,
                ilp_packet_type,
                prepare_amount,
                frames,
            },
        )
}

proptest! {
    #[test]
    fn plain_round_trip(p in any_packet()) {
        let bytes = p.encode();
        prop_assert_eq!(bytes.len(), p.encoded_len());
        prop_assert_eq!(&StreamPacket::decode(bytes.clone().into()).unwrap(), &p);
        prop_assert_eq!(&StreamPacket::from_json(&p.to_json()).unwrap(), &p);
        // Junk after the frames (zero padding or anything else) is ignored.
        let mut padded = bytes.clone();
        padded.extend_from_slice(&[0, 0, 0, 7]);
        prop_assert_eq!(&StreamPacket::decode(padded.into()).unwrap(), &p);
        // Every strict prefix that cuts into the declared content fails with a typed error.
        for cut in 0..bytes.len() {
            let r = StreamPacket::decode_slice(&bytes[..cut]);
            prop_assert!(r.is_err(), "prefix {} of {} decoded", cut, bytes.len());
        }
    }

    #[test]
    fn encrypted_round_trip(p in any_packet(), secret in any::<[u8; 32]>(), pad in 0usize..200) {
        let keys = StreamKeys::from_shared_secret(&secret);
        let data = p.encrypt_and_encode(&keys);
        prop_assert_eq!(data.len(), p.encoded_len() + ENCRYPTION_OVERHEAD);
        prop_assert_eq!(&StreamPacket::decrypt_and_decode(&keys, &data).unwrap(), &p);
        prop_assert_eq!(&StreamPacket::decrypt_and_decode_bytes(&keys, Bytes::from(data.clone())).unwrap(), &p);
        let padded = p.encrypt_and_encode_padded(&keys, data.len() + pad);
        prop_assert_eq!(padded.len(), data.len() + pad);
        prop_assert_eq!(&StreamPacket::decrypt_and_decode(&keys, &padded).unwrap(), &p);
        let other = StreamKeys::from_shared_secret(&[secret[0] ^ 1; 32]);
        prop_assert_eq!(StreamPacket::decrypt_and_decode(&other, &data), Err(StreamError::Decryption));
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(p) = StreamPacket::decode_slice(&bytes) {
            prop_assert_eq!(StreamPacket::decode(p.encode().into()).unwrap(), p);
        }
        let keys = StreamKeys::from_shared_secret(b"k");
        prop_assert!(StreamPacket::decrypt_and_decode(&keys, &bytes).is_err());
    }
}

fn hex(s: &str) -> Bytes {
    hex::decode(s).unwrap().into()
}

#[test]
fn tolerance_and_errors() {
    // Unknown frame type 0x42 is skipped; the StreamMoney after it is kept.
    let p = StreamPacket::decode(hex("010c01010101010242020000110401010102")).unwrap();
    assert_eq!(
        p.frames,
        vec![Frame::StreamMoney(StreamMoneyFrame {
            stream_id: 1,
            shares: 2
        })]
    );
    // Extra bytes inside a frame's contents are ignored (as ilp-protocol-stream does).
    let p = StreamPacket::decode(hex("010c01010101010111050101010200")).unwrap();
    assert_eq!(
        p.frames,
        vec![Frame::StreamMoney(StreamMoneyFrame {
            stream_id: 1,
            shares: 2
        })]
    );
    // 2^64 saturates only where the RFC says; elsewhere it is an error.
    let too_big = "09010000000000000000";
    let max_money =
        StreamPacket::decode(hex(&format!("010c010101010101120e0101{too_big}0100"))).unwrap();
    assert_eq!(
        max_money.frames,
        vec![Frame::StreamMaxMoney(StreamMaxMoneyFrame {
            stream_id: 1,
            receive_max: u64::MAX,
            total_received: 0
        })]
    );
    assert_eq!(
        StreamPacket::decode(hex(&format!("010c{too_big}01010100"))),
        Err(StreamError::VarUintTooLarge {
            field: "sequence",
            len: 9
        })
    );
    assert_eq!(
        StreamPacket::decode(hex("020c010001000100")),
        Err(StreamError::UnsupportedVersion(2))
    );
    assert_eq!(
        StreamPacket::decode(hex("010b01000100010000")),
        Err(StreamError::InvalidIlpPacketType(11))
    );
    assert_eq!(
        StreamPacket::decode(hex("010c0001000100")),
        Err(StreamError::EmptyVarUint { field: "sequence" })
    );
    assert!(matches!(
        StreamPacket::decode(hex("")),
        Err(StreamError::Truncated {
            field: "version",
            ..
        })
    ));
    // A frame count far above the bytes present fails cleanly (no huge allocation).
    assert!(matches!(
        StreamPacket::decode(hex("010c0100010008ffffffffffffffff")),
        Err(StreamError::Truncated { .. })
    ));
}

#[test]
fn stream_data_is_zero_copy() {
    let keys = StreamKeys::from_shared_secret(&[3u8; 32]);
    let mut p = StreamPacket::new(1, IlpPacketType::Prepare, 10);
    p.frames.push(
        StreamMoneyFrame {
            stream_id: 1,
            shares: 1,
        }
        .into(),
    );
    p.frames.push(
        StreamDataFrame {
            stream_id: 1,
            offset: 0,
            data: vec![0xab; 32 * 1024].into(),
        }
        .into(),
    );
    let data = p.encrypt_and_encode(&keys);
    let buf = BytesMut::from(&data[..]);
    let base = buf.as_ptr() as usize;
    let len = buf.len();
    let got = StreamPacket::decode(keys.decrypt_in_place(buf).unwrap()).unwrap();
    assert_eq!(got, p);
    let Frame::StreamData(f) = &got.frames[1] else {
        panic!("frame 1 is StreamData")
    };
    let at = f.data.as_ptr() as usize;
    assert!(
        at > base && at + f.data.len() <= base + len,
        "payload must point into the decrypted buffer"
    );
}

//! ILP packet conformance: the ilp-packet (interledgerjs) example vectors and the interledger-rs
//! fixtures with long-form lengths must round-trip byte-exact; malformed inputs get typed errors.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{self, Fulfill, IlpError, Packet, Prepare, Reject};
use tollcast_wire::oer::OerError;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/ilp")
}

fn b64(v: &serde_json::Value) -> Vec<u8> {
    B64.decode(v.as_str().expect("base64 string"))
        .expect("valid base64")
}

#[test]
fn ilp_packet_examples_round_trip() {
    let mut passed = 0;
    for kind in ["prepare", "fulfill", "reject"] {
        let path = vectors_dir().join(format!("ilp_{kind}.example01.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let binary = Bytes::from(hex::decode(v["binary"].as_str().unwrap()).unwrap());
        let j = &v["json"];
        let packet = Packet::decode(binary.clone()).expect(kind);
        match &packet {
            Packet::Prepare(p) => {
                assert_eq!(p.amount.to_string(), j["amount"].as_str().unwrap());
                assert_eq!(
                    p.execution_condition.to_vec(),
                    b64(&j["executionCondition"])
                );
                assert_eq!(
                    p.expires_at,
                    ilp::parse_iso8601(j["expiresAt"].as_str().unwrap()).unwrap()
                );
                assert_eq!(
                    ilp::to_iso8601(p.expires_at),
                    j["expiresAt"].as_str().unwrap()
                );
                assert_eq!(p.destination.as_str(), j["destination"].as_str().unwrap());
                assert_eq!(p.data.to_vec(), b64(&j["data"]));
            }
            Packet::Fulfill(f) => {
                assert_eq!(f.fulfillment.to_vec(), b64(&j["fulfillment"]));
                assert_eq!(f.data.to_vec(), b64(&j["data"]));
            }
            Packet::Reject(r) => {
                assert_eq!(r.code.as_str(), j["code"].as_str().unwrap());
                assert_eq!(
                    r.triggered_by.as_ref().unwrap().as_str(),
                    j["triggeredBy"].as_str().unwrap()
                );
                assert_eq!(r.message, j["message"].as_str().unwrap());
                assert_eq!(r.data.to_vec(), b64(&j["data"]));
            }
        }
        assert_eq!(packet.encode(), binary, "{kind} re-encodes byte-exact");
        passed += 1;
    }
    println!("CONFORMANCE ilp packet examples: {passed}/3");
    assert_eq!(passed, 3);
}

// interledger-rs `crates/interledger-packet/src/fixtures.rs`: 257-byte data, so the data length
// and the envelope length both use the long form (0x82 0x01 0x01 / 0x82 0x01 0x4b / 0x82 0x01 0x24).
const RS_DATA: &str = concat!(
    "6c99f6a969473028ef46e09b471581c915b6d5496329c1e3a1c2748d7422a7bdcc798e28",
    "6cabe3197cccfc213e930b8dba57c7abdf2d1f3b2511689de4f0eff441f53da0feffd232",
    "49a355b26c3bd0256d5122e7ccdf159fd6cb083dd73cb29397967871becd04890492119c",
    "5e3e6b024be35de26466f60c16d90a21054fb13800120cfb85b0df76e50aacd68526fd04",
    "3026d3d02010c671987a1f6501b5085f0d7d5897624be5862f98c01df65792970181a87d",
    "0f3c586a0ca6bd89dc372c45eef5b38a6307b16f1d7d31e8d92e5982c9dd2986eaad581f",
    "212d43da9c5cb7b948fc18914be90219709d0c26d3b5f4ad879d8494bb3aebfe612ec540",
    "41e4a380f0",
);
const RS_CONDITION: &str = "117b434f1a54e9044f4f54923b2cff9e4a6d420ae281d5025d7bb040c4b4c04a";

fn rs_fixture(header: &str, fields: &[&[u8]]) -> Bytes {
    let mut out = hex::decode(header).unwrap();
    for f in fields {
        out.extend_from_slice(f);
    }
    out.extend(hex::decode("820101").unwrap());
    out.extend(hex::decode(RS_DATA).unwrap());
    Bytes::from(out)
}

#[test]
fn interledger_rs_long_form_fixtures() {
    let data = Bytes::from(hex::decode(RS_DATA).unwrap());
    assert_eq!(data.len(), 257);
    let cond: [u8; 32] = hex::decode(RS_CONDITION).unwrap().try_into().unwrap();

    let prepare_bytes = rs_fixture(
        "0c82014b",
        &[
            &107u64.to_be_bytes(),
            b"20180607204842483",
            &cond,
            b"\x0dexample.alice",
        ],
    );
    let prepare = Prepare {
        amount: 107,
        expires_at: ilp::parse_iso8601("2018-06-07T20:48:42.483Z").unwrap(),
        execution_condition: cond,
        destination: Address::new("example.alice").unwrap(),
        data: data.clone(),
    };
    assert_eq!(prepare.encode(), prepare_bytes);
    assert_eq!(Prepare::decode(prepare_bytes.clone()).unwrap(), prepare);

    let fulfill_bytes = rs_fixture("0d820124", &[&cond]);
    let fulfill = Fulfill {
        fulfillment: cond,
        data: data.clone(),
    };
    assert_eq!(fulfill.encode(), fulfill_bytes);
    assert_eq!(Fulfill::decode(fulfill_bytes).unwrap(), fulfill);

    let reject_bytes = rs_fixture(
        "0e820124",
        &[b"F99", b"\x11example.connector", b"\x0aSome error"],
    );
    let reject = Reject {
        code: ErrorCode::F99_APPLICATION_ERROR,
        triggered_by: Some(Address::new("example.connector").unwrap()),
        message: "Some error".into(),
        data,
    };
    assert_eq!(reject.encode(), reject_bytes);
    assert_eq!(Reject::decode(reject_bytes).unwrap(), reject);
    println!("CONFORMANCE ilp interledger-rs long-form fixtures: 3/3");
}

#[test]
fn decode_is_zero_copy() {
    let p = Prepare {
        amount: 1,
        expires_at: ilp::parse_iso8601("2030-01-01T00:00:00.000Z").unwrap(),
        execution_condition: [7; 32],
        destination: Address::new("g.x").unwrap(),
        data: Bytes::from(vec![9u8; 100]),
    };
    let enc = p.encode();
    let dec = Prepare::decode(enc.clone()).unwrap();
    let range = enc.as_ptr() as usize..enc.as_ptr() as usize + enc.len();
    assert!(range.contains(&(dec.data.as_ptr() as usize)));
}

#[test]
fn condition_and_matches() {
    let fulfillment = [0u8; 32];
    // SHA-256 of 32 zero bytes.
    let expected = "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925";
    assert_eq!(hex::encode(ilp::condition_of(&fulfillment)), expected);
    let f = Fulfill {
        fulfillment,
        data: Bytes::new(),
    };
    assert_eq!(hex::encode(f.condition()), expected);
    let mut p = Prepare {
        amount: 1,
        expires_at: std::time::UNIX_EPOCH,
        execution_condition: f.condition(),
        destination: Address::new("g.x").unwrap(),
        data: Bytes::new(),
    };
    assert!(p.matches(&f));
    p.execution_condition[0] ^= 1;
    assert!(!p.matches(&f));
}

#[test]
fn reject_helpers() {
    let r = Reject::amount_too_large(Some(Address::new("g.c").unwrap()), 100, 50);
    assert_eq!(r.code, ErrorCode::F08_AMOUNT_TOO_LARGE);
    let back = Reject::decode(r.encode()).unwrap();
    let d = back.amount_too_large_data().unwrap();
    assert_eq!((d.received_amount, d.maximum_amount), (100, 50));
    let r = Reject::new(ErrorCode::T04_INSUFFICIENT_LIQUIDITY, None, "no money");
    let enc = r.encode();
    assert_eq!(&enc[..], b"\x0e\x0eT04\x00\x08no money\x00");
    assert_eq!(Reject::decode(enc).unwrap(), r);
}

fn example_prepare() -> Bytes {
    Bytes::from(hex::decode("0c68000000000000006b323031373132323330313231343035343974e1136dc71c9e5f283bec83461cbf1261c4014f72d48f8dd65453a0b84e7de10d6578616d706c652e616c696365205db343fdc41898f6df4202329139dc242dd0f558a811b46b28918fdab37c6cb0").unwrap())
}

#[test]
fn malformed_inputs_get_typed_errors() {
    let good = example_prepare();
    assert_eq!(Packet::decode(Bytes::new()), Err(IlpError::Empty));
    assert_eq!(
        Packet::decode(Bytes::from_static(&[0x0b, 0x00])),
        Err(IlpError::UnknownType(0x0b))
    );
    assert!(matches!(
        Fulfill::decode(good.clone()),
        Err(IlpError::WrongType { found: 12, .. })
    ));
    // Every truncation fails cleanly.
    for n in 0..good.len() {
        assert!(Packet::decode(good.slice(..n)).is_err(), "truncated to {n}");
    }
    // Trailing byte after the envelope.
    let mut v = good.to_vec();
    v.push(0);
    assert_eq!(
        Packet::decode(Bytes::from(v)),
        Err(IlpError::Oer(OerError::TrailingBytes {
            what: "ILP packet envelope",
            count: 1
        }))
    );
    // Trailing byte inside the envelope.
    let mut v = good.to_vec();
    v[1] += 1;
    v.push(0);
    assert!(matches!(
        Packet::decode(Bytes::from(v)),
        Err(IlpError::Oer(OerError::TrailingBytes { count: 1, .. }))
    ));
    // Bad length-of-length and huge lengths.
    assert_eq!(
        Packet::decode(Bytes::from_static(&[0x0c, 0x80])),
        Err(IlpError::Oer(OerError::BadLengthOfLength(0)))
    );
    assert_eq!(
        Packet::decode(Bytes::from_static(&[0x0c, 0x8f, 1, 2])),
        Err(IlpError::Oer(OerError::BadLengthOfLength(15)))
    );
    assert!(matches!(
        Packet::decode(Bytes::from_static(&[0x0c, 0x84, 0xff, 0xff, 0xff, 0xff, 0])),
        Err(IlpError::Oer(OerError::LengthPastEnd { .. }))
    ));
    // Non-canonical envelope length (long form for 104).
    let mut v = vec![0x0c, 0x81];
    v.extend_from_slice(&good[1..]);
    assert!(matches!(
        Packet::decode(Bytes::from(v)),
        Err(IlpError::Oer(OerError::NonCanonicalLength(_)))
    ));
    // Bad timestamp (month 13).
    let mut v = good.to_vec();
    v[2 + 8 + 4] = b'1';
    v[2 + 8 + 5] = b'3';
    assert!(matches!(
        Packet::decode(Bytes::from(v)),
        Err(IlpError::InvalidTimestamp(_))
    ));
    // Bad destination (uppercase scheme is not a scheme).
    let mut v = good.to_vec();
    let at = 2 + 8 + 17 + 32 + 1;
    v[at] = b'E';
    assert!(matches!(
        Packet::decode(Bytes::from(v)),
        Err(IlpError::InvalidAddress {
            field: "destination",
            ..
        })
    ));
    // Bad reject code.
    let r = Reject::new(ErrorCode::F00_BAD_REQUEST, None, "").encode();
    let mut v = r.to_vec();
    v[2] = b'X';
    assert!(matches!(
        Packet::decode(Bytes::from(v)),
        Err(IlpError::InvalidErrorCode(_))
    ));
    // Data over 32767 bytes.
    let f = Fulfill {
        fulfillment: [0; 32],
        data: Bytes::from(vec![0u8; 32768]),
    };
    assert_eq!(
        Packet::decode(f.encode()),
        Err(IlpError::DataTooLong(32768))
    );
    let f = Fulfill {
        fulfillment: [0; 32],
        data: Bytes::from(vec![0u8; 32767]),
    };
    assert!(Packet::decode(f.encode()).is_ok());
}

#[test]
fn reject_message_is_decoded_lossily() {
    let mut v = Reject::new(ErrorCode::F00_BAD_REQUEST, None, "ab")
        .encode()
        .to_vec();
    v[7] = 0xff; // 'a' -> invalid UTF-8
    let r = Reject::decode(Bytes::from(v)).unwrap();
    assert_eq!(r.message, "\u{fffd}b");
}

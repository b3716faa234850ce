//! Conformance: the 53 RFC 0029 STREAM packet test vectors (interledger/rfcs
//! `0029-stream/test-vectors/StreamPacketFixtures.json`, copied to shared/vectors).
//! Every vector must decode to its JSON; all but the 2 `decode_only` ones (2^64 values that
//! saturate to u64::MAX) must encode byte-exactly.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;
use tollcast_wire::stream::StreamPacket;

fn fixtures() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/ilp/stream-packet-fixtures.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_json::from_str::<Vec<Value>>(&text).expect("fixture file is a JSON array")
}

#[test]
fn stream_packet_fixtures() {
    let all = fixtures();
    assert_eq!(all.len(), 53, "expected the 53 RFC vectors");
    let (mut dec_ok, mut enc_ok, mut enc_total) = (0, 0, 0);
    let mut failures = Vec::new();
    for fx in &all {
        let name = fx["name"].as_str().unwrap();
        let buffer = B64.decode(fx["buffer"].as_str().unwrap()).unwrap();
        let want = StreamPacket::from_json(&fx["packet"]).expect(name);
        // Decode: compare as typed packets and as JSON (fixture shape).
        match StreamPacket::decode_slice(&buffer) {
            Ok(got) if got == want && got.to_json() == fx["packet"] => dec_ok += 1,
            Ok(got) => failures.push(format!("{name}: decoded {}", got.to_json())),
            Err(e) => failures.push(format!("{name}: decode error {e}")),
        }
        if fx.get("decode_only").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        enc_total += 1;
        let encoded = want.encode();
        assert_eq!(encoded.len(), want.encoded_len(), "{name}: encoded_len");
        if encoded == buffer {
            enc_ok += 1;
        } else {
            failures.push(format!(
                "{name}: encoded {} want {}",
                hex::encode(&encoded),
                hex::encode(&buffer)
            ));
        }
    }
    println!(
        "CONFORMANCE stream packet fixtures: decode {dec_ok}/{}, encode {enc_ok}/{enc_total}",
        all.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(enc_total, 51);
}

/// The `frame:stream_receipt` vector carries a receipt signed with the all-zero secret
/// (nonce 0, stream 1, total 500); check it with the receipt verifier.
#[test]
fn fixture_receipt_verifies() {
    use tollcast_wire::stream::{Frame, Receipt};
    let fx = fixtures()
        .into_iter()
        .find(|f| f["name"] == "frame:stream_receipt")
        .unwrap();
    let p =
        StreamPacket::decode_slice(&B64.decode(fx["buffer"].as_str().unwrap()).unwrap()).unwrap();
    let Frame::StreamReceipt(f) = &p.frames[0] else {
        panic!("receipt frame")
    };
    let r = Receipt::verify(&f.receipt, &[0u8; 32]).unwrap();
    assert_eq!(
        (r.nonce, r.stream_id, r.total_received),
        ([0u8; 16], 1, 500)
    );
    assert!(Receipt::verify(&f.receipt, &[1u8; 32]).is_err());
}

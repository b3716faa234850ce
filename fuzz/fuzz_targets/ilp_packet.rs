//! Arbitrary bytes into the ILPv4 packet decoder: it must never panic, and whatever it accepts
//! must re-encode to bytes that decode to the same packet (and encode identically again).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tollcast_wire::ilp::Packet;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = Packet::decode(Bytes::copy_from_slice(data)) {
        let encoded = packet.encode();
        let again = Packet::decode(encoded.clone()).expect("re-encoded ILP packet must decode");
        assert_eq!(again, packet);
        assert_eq!(again.encode(), encoded);
    }
});

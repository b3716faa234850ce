//! Arbitrary bytes into the BTP frame decoder: it must never panic, and whatever it accepts
//! must re-encode to bytes that decode to the same frame (and encode identically again).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tollcast_wire::btp::BtpPacket;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = BtpPacket::decode(Bytes::copy_from_slice(data)) {
        let encoded = frame.encode();
        let again = BtpPacket::decode(encoded.clone()).expect("re-encoded BTP frame must decode");
        assert_eq!(again, frame);
        assert_eq!(again.encode(), encoded);
        let _ = frame.parse_auth();
    }
});

//! Arbitrary bytes into the STREAM decoders: the plaintext packet decoder must never panic and
//! whatever it accepts must re-encode to bytes that decode to the same packet (and encode
//! identically again); decryption with a fixed key must fail cleanly on forged envelopes, and
//! a packet sealed with that key must come back unchanged.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tollcast_wire::stream::{StreamKeys, StreamPacket};

fn keys() -> &'static StreamKeys {
    static KEYS: OnceLock<StreamKeys> = OnceLock::new();
    KEYS.get_or_init(|| StreamKeys::from_shared_secret(b"tollcast fuzz shared secret"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = StreamPacket::decode(Bytes::copy_from_slice(data)) {
        let encoded = packet.encode();
        assert_eq!(encoded.len(), packet.encoded_len());
        let again = StreamPacket::decode(encoded.clone().into())
            .expect("re-encoded STREAM packet must decode");
        assert_eq!(again, packet);
        assert_eq!(again.encode(), encoded);
        let sealed = packet.encrypt_and_encode(keys());
        assert_eq!(
            StreamPacket::decrypt_and_decode(keys(), &sealed).expect("own envelope"),
            packet
        );
    }
    // Random bytes are never a valid envelope under the key (forging a GCM tag is infeasible).
    assert!(StreamPacket::decrypt_and_decode(keys(), data).is_err());
});

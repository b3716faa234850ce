//! Arbitrary bytes as ILP PREPARE data carrying a TOON Nostr event: decoding must never panic;
//! whatever decodes to a well-formed event re-encodes to TOON that decodes to the same event
//! and encodes identically again (signature checks are exercised too, but random input
//! almost never carries a valid signature, so the round trip uses the unverified decoder).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollcast_events::toon::{event_from_ilp_data, from_toon_unverified, to_toon};

fuzz_target!(|data: &[u8]| {
    let _ = event_from_ilp_data(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(event) = from_toon_unverified(text) {
        let encoded = to_toon(&event);
        let again = from_toon_unverified(&encoded).expect("re-encoded TOON event must decode");
        assert_eq!(again, event);
        assert_eq!(to_toon(&again), encoded);
    }
});

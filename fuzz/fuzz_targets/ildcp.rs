//! Arbitrary bytes into the IL-DCP request and response decoders: they must never panic, and
//! whatever they accept must round-trip through encode.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tollcast_wire::ildcp::{Request, Response};

fuzz_target!(|data: &[u8]| {
    let input = Bytes::copy_from_slice(data);
    if let Ok(req) = Request::decode(input.clone()) {
        let again = Request::decode(req.encode()).expect("re-encoded IL-DCP request must decode");
        assert_eq!(again, req);
    }
    if let Ok(resp) = Response::decode(input) {
        let again =
            Response::decode(resp.encode()).expect("re-encoded IL-DCP response must decode");
        assert_eq!(again, resp);
    }
    if let Ok(resp) = Response::decode_data(data) {
        assert_eq!(
            Response::decode_data(&resp.encode_data()).as_ref(),
            Ok(&resp)
        );
    }
});

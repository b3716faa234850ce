//! Events inside ILP PREPARE data (`protocol/m2m.md` §5, §6, §13) and the M2M wire vectors.
//!
//! Reproduced here (the parts that are this crate's job, the TOON payload):
//! - m2m.md §6.2: the signed kind-1 event with tags (secret key 3) encodes to exactly the
//!   570-byte TOON text the TypeScript peers produce, decodes back and verifies;
//! - m2m.md §13.3: the kind-1 `"hello"` event with no tags (secret key 3, created_at
//!   1700000000) has id `a9d53fee…6128` and a 330-byte TOON payload (so amount 3300 at 10/byte).
//!
//! `vectors/m2m/wire-vectors.g3.json` (schema_version 1, the G3 connector's normative
//! vectors) carries **no TOON event**: every PREPARE `data_hex` there is an opaque fixture
//! string (`vector-fixture-prepare-data`) or a sealed gift-wrap envelope, and its packets use
//! their non-RFC OER dialect (19-byte time, private BTP framing) — the tollcast-wire crate's
//! business. This test checks that every such data field is refused by
//! `event_from_ilp_data` with a typed error (none is mistaken for an event).

mod common;

use nostr::prelude::{EventBuilder, FinalizeEvent, Keys, Kind, SecretKey, Timestamp};
use tollcast_events::{event_from_ilp_data, event_to_ilp_data, from_toon, to_toon};

const M2M_62_JSON: &str = r#"{"kind":1,"created_at":1700000000,"content":"gm, world: \"quoted\", a,b\nsecond line","tags":[["e","1111111111111111111111111111111111111111111111111111111111111111","wss://relay.example.com","root"],["p","2222222222222222222222222222222222222222222222222222222222222222"],["t","nostr"]],"pubkey":"f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9","id":"caab625c13b4c23c984e3a4d7f9b618513fe7e6835db46f44d02d4c6e91c1e55","sig":"582f40809d6ed3a82c528128c2428306dc14440f6211fd0f8bc224b1b42efa49257918664565d255272e512f9ad0319a40971a51c97e9af2b5f1e45d1443f89d"}"#;

const M2M_62_TOON: &str = "kind: 1
created_at: 1700000000
content: \"gm, world: \\\"quoted\\\", a,b\\nsecond line\"
tags[3]:
  - [4]: e,\"1111111111111111111111111111111111111111111111111111111111111111\",\"wss://relay.example.com\",root
  - [2]: p,\"2222222222222222222222222222222222222222222222222222222222222222\"
  - [2]: t,nostr
pubkey: f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9
id: caab625c13b4c23c984e3a4d7f9b618513fe7e6835db46f44d02d4c6e91c1e55
sig: 582f40809d6ed3a82c528128c2428306dc14440f6211fd0f8bc224b1b42efa49257918664565d255272e512f9ad0319a40971a51c97e9af2b5f1e45d1443f89d";

#[test]
fn m2m_worked_examples() {
    let ev = nostr::prelude::Event::from_json(M2M_62_JSON).unwrap();
    ev.verify().unwrap();
    assert_eq!(to_toon(&ev), M2M_62_TOON);
    assert_eq!(M2M_62_TOON.len(), 570);
    assert_eq!(event_from_ilp_data(M2M_62_TOON.as_bytes()).unwrap(), ev);

    let mut sk = [0u8; 32];
    sk[31] = 3;
    let hello = EventBuilder::new(Kind::from(1u16), "hello")
        .custom_created_at(Timestamp::from_secs(1_700_000_000))
        .finalize(&Keys::new(SecretKey::from_slice(&sk).unwrap()))
        .unwrap();
    let id = hello.id.to_hex();
    assert!(id.starts_with("a9d53fee") && id.ends_with("6128"), "{id}");
    let data = event_to_ilp_data(&hello);
    assert_eq!(data.len(), 330);
    assert!(data.starts_with(b"kind: 1\ncreated_at: 1700000000\ncontent: hello\ntags[0]:\n"));
    assert_eq!(
        from_toon(std::str::from_utf8(&data).unwrap()).unwrap(),
        hello
    );
    println!("CONFORMANCE m2m TOON payload examples (§6.2, §13.3): 2/2");
}

fn collect_data(v: &serde_json::Value, out: &mut Vec<(String, Vec<u8>)>, path: &str) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}.{k}");
                if (k == "data_hex" || k == "sealed_data_hex") && x.is_string() {
                    out.push((p.clone(), hex::decode(x.as_str().unwrap()).unwrap()));
                }
                collect_data(x, out, &p);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                collect_data(x, out, &format!("{path}[{i}]"));
            }
        }
        _ => {}
    }
}

#[test]
fn g3_wire_vectors_carry_no_toon_event() {
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::vectors_dir().join("m2m/wire-vectors.g3.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["schema_version"], 1);
    let mut data = Vec::new();
    collect_data(&doc, &mut data, "$");
    assert!(
        data.len() >= 3,
        "expected PREPARE data fields, found {}",
        data.len()
    );
    for (path, bytes) in &data {
        assert!(
            event_from_ilp_data(bytes).is_err(),
            "{path} decoded as an event"
        );
    }
    println!(
        "CONFORMANCE m2m g3 wire vectors: {n}/{n} data fields refused as non-event payloads (none carries TOON)",
        n = data.len()
    );
}

//! `tollcast toon encode|decode` through the real binary: spec defaults and options, strict
//! vs --lenient, --event wire form, bad input -> exit 1, and equality with the JS reference
//! encoder (`@toon-format/toon` 4.4.0) on sample documents.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::run as tollcast;

fn ok(args: &[&str], stdin: &str) -> String {
    let o = tollcast(args, stdin);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

const DOC: &str = r#"{"users":[{"id":1,"name":"Ada","tags":["a","b"]},{"id":2,"name":"Bob","tags":[]}],"title":"x, y: z","n":-0.5,"empty":[],"nested":{"k":null,"t":true}}"#;

#[test]
fn encode_decode_round_trip_with_options() {
    let text = ok(&["toon", "encode"], DOC);
    assert!(text.contains("title: \"x, y: z\"\n"), "{text}");
    assert!(text.contains("empty: []\n"), "{text}");
    let back = ok(&["toon", "decode", "--compact"], &text);
    assert_eq!(back.trim(), DOC);

    let piped = ok(
        &["toon", "encode", "--delimiter", "pipe", "--indent", "4"],
        DOC,
    );
    assert!(piped.contains("[2|]"), "{piped}");
    assert!(piped.contains("\n    "), "{piped}");
    assert_eq!(
        ok(&["toon", "decode", "--compact", "--indent", "4"], &piped).trim(),
        DOC
    );
    let tab = ok(&["toon", "encode", "--delimiter", "tab"], r#"{"a":[1,2]}"#);
    assert_eq!(tab, "a[2\t]: 1\t2\n");
}

#[test]
fn strict_by_default_lenient_on_request() {
    let o = tollcast(&["toon", "decode"], "a[3]: 1,2");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--lenient"));
    assert_eq!(
        ok(&["toon", "decode", "--lenient", "--compact"], "a[3]: 1,2").trim(),
        r#"{"a":[1,2]}"#
    );
}

#[test]
fn bad_input_exits_1_with_reason() {
    let o = tollcast(&["toon", "encode"], "{not json");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not valid JSON"));
    let o = tollcast(&["toon", "encode", "--delimiter", ";"], "{}");
    assert_ne!(o.status.code(), Some(0));
    let o = tollcast(&["toon", "decode", "--event"], "kind: 1");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn event_wire_form() {
    let signed = ok(
        &["event", "sign", "--key", &format!("{:064x}", 3)],
        r#"{"kind":1311,"content":"gm","tags":[],"created_at":1700000000}"#,
    );
    let wire = ok(&["toon", "encode", "--event"], &signed);
    assert!(
        wire.starts_with("kind: 1311\ncreated_at: 1700000000\ncontent: gm\ntags[0]:\npubkey: ")
    );
    assert!(!wire.ends_with('\n'));
    let json = ok(&["toon", "decode", "--event", "--compact"], &wire);
    let a: serde_json::Value = serde_json::from_str(&json).unwrap();
    let b: serde_json::Value = serde_json::from_str(&signed).unwrap();
    for k in [
        "id",
        "pubkey",
        "sig",
        "kind",
        "content",
        "tags",
        "created_at",
    ] {
        assert_eq!(a[k], b[k], "{k}");
    }
    let o = tollcast(
        &["toon", "decode", "--event"],
        &wire.replace("content: gm", "content: gn"),
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn encode_matches_js_reference() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("tests/interop/node_modules/@toon-format/toon")
            .exists(),
        "JS reference peers missing: run scripts/setup.sh (npm ci in tests/interop)"
    );
    let docs = [
        DOC.to_string(),
        r##"{"a":{"b":{"c":[{"x":1,"y":"q"},{"x":2,"y":"r"}]}},"s":"-lead","h":"#x","u":"é 😀","ctl":"a\u0001b"}"##.into(),
        r#"[{"id":1},{"id":2,"extra":[1,[2,3]]}]"#.into(),
        r#"{"n":[0,1.5,-2,1000000,0.000001,"05","1e5",".5"]}"#.into(),
    ];
    let mut child = Command::new("node")
        .arg(root.join("tests/interop/toon/toon-peer.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node must be installed (scripts/setup.sh)");
    {
        let mut w = child.stdin.take().unwrap();
        for d in &docs {
            writeln!(w, "{}", serde_json::json!({"op": "encode", "json": serde_json::from_str::<serde_json::Value>(d).unwrap()}))
                .unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), docs.len());
    for (d, js) in docs.iter().zip(&lines) {
        let ours = ok(&["toon", "encode"], d);
        assert_eq!(
            ours.trim_end_matches('\n'),
            js["toon"].as_str().unwrap(),
            "{d}"
        );
    }
}

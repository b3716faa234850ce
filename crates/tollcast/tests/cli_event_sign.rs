//! `tollcast event sign|verify` through the real binary: nsec/hex keys (flag and
//! TOLLCAST_NSEC), JSON and TOON, tampering detected with the reason, bad input -> exit 1,
//! and nostr-tools `verifyEvent` accepting what the CLI signed.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use nostr::prelude::{Keys, SecretKey, ToBech32};

use common::run_env as run;

fn stdout(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

const HEX: &str = "0000000000000000000000000000000000000000000000000000000000000003";
const TEMPLATE: &str = r#"{"kind":1311,"content":"gm \"all\"\n","tags":[["a","30311:f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9:show","","root"]],"created_at":1700000000}"#;

#[test]
fn sign_then_verify_json_and_toon() {
    let signed = stdout(&run(&["event", "sign", "--key", HEX], &[], TEMPLATE));
    let v: serde_json::Value = serde_json::from_str(&signed).unwrap();
    assert_eq!(
        v["pubkey"],
        "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"
    );
    assert_eq!(v["created_at"], 1_700_000_000);
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(
        stdout(&run(&["event", "verify"], &[], &signed)).trim(),
        format!("valid {id}")
    );

    // Same key as nsec via the environment gives the same id (deterministic id, same pubkey).
    let nsec = Keys::new(SecretKey::from_hex(HEX).unwrap())
        .secret_key()
        .to_bech32()
        .unwrap();
    let again = stdout(&run(
        &["event", "sign"],
        &[("TOLLCAST_NSEC", &nsec)],
        TEMPLATE,
    ));
    let w: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(w["id"], v["id"]);

    let toon = stdout(&run(
        &["event", "sign", "--toon", "--key", HEX],
        &[],
        TEMPLATE,
    ));
    assert!(toon.starts_with("kind: 1311\n"));
    assert_eq!(
        stdout(&run(&["event", "verify"], &[], &toon)).trim(),
        format!("valid {id}")
    );
}

#[test]
fn tampering_is_reported() {
    let signed = stdout(&run(&["event", "sign", "--key", HEX], &[], TEMPLATE));
    let o = run(&["event", "verify"], &[], &signed.replace("gm ", "gn "));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not the NIP-01 hash"));
    // Right id, wrong signature.
    let mut v: serde_json::Value = serde_json::from_str(&signed).unwrap();
    let sig = v["sig"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        &sig[..127],
        if sig.ends_with('0') { '1' } else { '0' }
    );
    v["sig"] = flipped.into();
    let o = run(&["event", "verify"], &[], &v.to_string());
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("signature does not verify"));
}

#[test]
fn bad_input_exits_1() {
    let o = run(&["event", "sign"], &[], TEMPLATE);
    assert_ne!(o.status.code(), Some(0), "no key given");
    let o = run(&["event", "sign", "--key", "nsec1nope"], &[], TEMPLATE);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&["event", "sign", "--key", HEX], &[], r#"{"kind":70000}"#);
    assert_eq!(o.status.code(), Some(1));
    let o = run(
        &["event", "sign", "--key", HEX],
        &[],
        r#"{"kind":1,"tags":[[]]}"#,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tag #0 is empty"));
    let o = run(
        &["event", "sign", "--key", HEX],
        &[],
        r#"{"kind":1,"bogus":1}"#,
    );
    assert_eq!(o.status.code(), Some(1));
    let o = run(&["event", "verify"], &[], "{}");
    assert_eq!(o.status.code(), Some(1));
    let o = run(&["event", "verify"], &[], "");
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn nostr_tools_accepts_cli_signed_events() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("tests/interop/node_modules/nostr-tools").exists(),
        "JS reference peers missing: run scripts/setup.sh (npm ci in tests/interop)"
    );
    let signed = stdout(&run(&["event", "sign", "--key", HEX], &[], TEMPLATE));
    let toon = stdout(&run(&["toon", "encode", "--event"], &[], &signed));
    let req = format!(
        "{}\n",
        serde_json::json!({"op": "check", "json": serde_json::from_str::<serde_json::Value>(&signed).unwrap(), "toon": toon.trim_end()})
    );
    let mut child = Command::new("node")
        .arg(root.join("tests/interop/toon/toon-peer.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node must be installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(req.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["verified"], true, "{a}");
    assert_eq!(a["decoded_equal"], true, "{a}");
}

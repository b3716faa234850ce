//! TOON + Nostr interop with the JS reference peers (`@toon-format/toon` 4.4.0, nostr-tools
//! 2.25.2), batched over one node process with JSON lines (`tests/interop/toon/toon-peer.mjs`).
//!
//! rust->js: 1,000 random events signed in Rust; our TOON text must equal JS `encode()` of the
//! same JSON object (the one allowed difference: empty tags are `tags[0]:` here, `tags: []`
//! there; see `toon` module doc), JS `decode()` of our text must deep-equal the object, and
//! nostr-tools `verifyEvent` (on a JSON.parse copy) must accept it.
//! js->rust: 1,000 random events signed by nostr-tools and TOON-encoded by JS must decode in
//! Rust to events that verify, and re-encode to the same text (same allowance).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use tollcast_events::toon::{event_to_json_value, from_toon, to_toon};

const N: u64 = 1000;

fn run_peer(requests: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let root = common::repo_root();
    let modules = root.join("tests/interop/node_modules/@toon-format/toon");
    assert!(
        modules.exists(),
        "JS reference peers missing ({}): run scripts/setup.sh (npm ci in tests/interop)",
        modules.display()
    );
    let mut child = Command::new("node")
        .arg(root.join("tests/interop/toon/toon-peer.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node must be installed (scripts/setup.sh)");
    let mut stdin = child.stdin.take().unwrap();
    let n = requests.len();
    let writer = std::thread::spawn(move || {
        for r in requests {
            writeln!(stdin, "{r}").unwrap();
        }
    });
    let out: Vec<serde_json::Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success(), "node peer failed");
    assert_eq!(out.len(), n, "peer answered {} of {n} requests", out.len());
    out
}

/// Our text equals JS's, allowing only `tags: []` -> `tags[0]:` for empty tags.
fn same_text(rust: &str, js: &str, empty_tags: bool) -> bool {
    rust == js || (empty_tags && rust == js.replacen("\ntags: []\n", "\ntags[0]:\n", 1))
}

#[test]
fn toon_interop_with_js_reference() {
    // rust -> js
    let events: Vec<_> = (0..N).map(common::random_event).collect();
    let reqs = events
        .iter()
        .map(|e| serde_json::json!({"op": "check", "json": event_to_json_value(e), "toon": to_toon(e)}))
        .collect();
    let answers = run_peer(reqs);
    let (mut ok, mut exact, mut failures) = (0, 0, Vec::new());
    for (i, (e, a)) in events.iter().zip(&answers).enumerate() {
        let ours = to_toon(e);
        let js = a["js_toon"].as_str().unwrap_or_default();
        let text_ok = same_text(&ours, js, e.tags.is_empty());
        exact += usize::from(ours == js);
        if text_ok && a["decoded_equal"] == true && a["verified"] == true {
            ok += 1;
        } else if failures.len() < 5 {
            failures.push(format!(
                "seed {i}: text_ok={text_ok} answer={a}\nours={ours:?}\njs  ={js:?}"
            ));
        }
    }
    println!(
        "CONFORMANCE toon interop rust->js: {ok}/{N} ({exact} byte-identical, the rest differ only by tags[0]: for empty tags)"
    );

    // js -> rust
    let answers = run_peer(
        (0..N)
            .map(|s| serde_json::json!({"op": "make", "seed": s}))
            .collect(),
    );
    let mut ok_back = 0;
    for (i, a) in answers.iter().enumerate() {
        let js = a["toon"].as_str().unwrap_or_default();
        match from_toon(js) {
            Ok(ev) => {
                let same_json = common::json_eq(&event_to_json_value(&ev), &a["json"]);
                if same_json && same_text(&to_toon(&ev), js, ev.tags.is_empty()) {
                    ok_back += 1;
                } else if failures.len() < 10 {
                    failures.push(format!(
                        "js seed {i}: same_json={same_json}\njs  ={js:?}\nours={:?}",
                        to_toon(&ev)
                    ));
                }
            }
            Err(e) => {
                if failures.len() < 10 {
                    failures.push(format!("js seed {i}: {e}\n{js:?}"));
                }
            }
        }
    }
    println!("CONFORMANCE toon interop js->rust: {ok_back}/{N}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

//! `tollcast event publish` / `tollcast event req` against a real relay on 127.0.0.1, over
//! WebSocket and as a paid write over ILP through a tollcast node.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use nostr::prelude::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tollcast_net::connector::{Node, NodeConfig};
use tollcast_net::nostr_relay::pay_to_write::PayToWrite;
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};
use tollcast_wire::address::Address;

const BIN: &str = env!("CARGO_BIN_EXE_tollcast");
const T: Duration = Duration::from_secs(20);

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn run(args: &[&str], stdin: &str) -> Out {
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut si = child.stdin.take().unwrap();
    si.write_all(stdin.as_bytes()).await.unwrap();
    drop(si);
    let out = tokio::time::timeout(T, child.wait_with_output())
        .await
        .expect("CLI finished in time")
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn relay(cfg: RelayConfig) -> (NostrRelay, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(cfg, dir.path().join("events.redb")).unwrap();
    let (addr, _task) = relay
        .clone()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    (relay, format!("ws://{addr}"), dir)
}

fn note(keys: &Keys, kind: u16, content: &str, tags: Vec<Tag>) -> Event {
    EventBuilder::new(Kind::from(kind), content)
        .tags(tags)
        .finalize(keys)
        .unwrap()
}

#[tokio::test]
async fn publish_and_req_over_websocket() {
    let (r, url, _d) = relay(RelayConfig::default()).await;
    let keys = Keys::generate();
    let ev = note(&keys, 1311, "from the CLI", vec![Tag::hashtag("cli")]);
    let out = run(&["event", "publish", "--relay", &url], &ev.as_json()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(line["relay"], url);
    assert_eq!(line["accepted"], true);
    assert!(r.core().store.get(&ev.id).unwrap().is_some());

    let filter = format!(
        r##"{{"authors":["{}"],"#t":["cli"]}}"##,
        keys.public_key().to_hex()
    );
    let out = run(&["event", "req", "--relay", &url, &filter], "").await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(Event::from_json(lines[0]).unwrap(), ev);

    // A tampered event is refused before anything is sent.
    let tampered = ev.as_json().replace("from the CLI", "from the CLl");
    let out = run(&["event", "publish", "--relay", &url], &tampered).await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("invalid"), "{}", out.stderr);
    // A relay refusal (expired event) is printed and exits 1.
    let expired = note(
        &keys,
        1,
        "old",
        vec![Tag::expiration(Timestamp::from_secs(1))],
    );
    let out = run(&["event", "publish", "--relay", &url], &expired.as_json()).await;
    assert_eq!(out.code, 1);
    let line: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(line["accepted"], false);
    assert!(line["message"].as_str().unwrap().starts_with("invalid:"));
    // Bad input.
    let out = run(&["event", "req", "--relay", &url, "{not json"], "").await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("FILTER"), "{}", out.stderr);
    let out = run(&["event", "publish", "--relay", &url], "nope").await;
    assert_eq!(out.code, 1);
}

#[tokio::test]
async fn req_stream_prints_new_events() {
    let (_r, url, _d) = relay(RelayConfig::default()).await;
    let keys = Keys::generate();
    let old = note(&keys, 1, "stored", vec![]);
    assert_eq!(
        run(&["event", "publish", "--relay", &url], &old.as_json())
            .await
            .code,
        0
    );
    let filter = format!(r#"{{"authors":["{}"]}}"#, keys.public_key().to_hex());
    let mut child = tokio::process::Command::new(BIN)
        .args(["event", "req", "--stream", "--relay", &url, &filter])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(T, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(Event::from_json(&first).unwrap().id, old.id);
    let new = note(&keys, 1, "live", vec![]);
    assert_eq!(
        run(&["event", "publish", "--relay", &url], &new.as_json())
            .await
            .code,
        0
    );
    let second = tokio::time::timeout(T, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(Event::from_json(&second).unwrap().id, new.id);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn publish_to_an_ilp_address_pays_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[node]\nname = \"relaynode\"\naddress = \"test.rn\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n\
         [[accounts]]\nid = \"cli\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 9\n\
         auth_token = \"cli-token\"\ncredit_limit = 100000000\n",
        dir.path().join("ledger.redb").display()
    );
    let node = Node::start(NodeConfig::from_toml(&text, "test").unwrap())
        .await
        .unwrap();
    let mut cfg = RelayConfig::default();
    cfg.pricing.base_per_byte = 3;
    let (r, url, _d) = relay(cfg).await;
    node.connector.add_local_handler(
        "test.rn.nostr",
        Arc::new(PayToWrite::new(&r, Address::new("test.rn.nostr").unwrap())),
    );
    let btp = format!("btp+ws://:cli-token@{}", node.local_addr);
    let keys = Keys::generate();
    let ev = note(&keys, 1311, "paid from the CLI", vec![]);

    // Underpaid (default price assumption 10/byte is enough, but --amount 1 is not).
    let out = run(
        &[
            "event",
            "publish",
            "--relay",
            "test.rn.nostr",
            "--node",
            &btp,
            "--amount",
            "1",
        ],
        &ev.as_json(),
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let line: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(line["accepted"], false);
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("F04 underpaid:"),
        "{line}"
    );
    assert!(r.core().store.get(&ev.id).unwrap().is_none());

    let out = run(
        &[
            "event",
            "publish",
            "--relay",
            "test.rn.nostr",
            "--relay",
            &url,
            "--node",
            &btp,
            "--price-per-byte",
            "3",
        ],
        &ev.as_json(),
    )
    .await;
    // The WebSocket line comes first; the event is then a duplicate for the ILP write.
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert_eq!(lines[0]["accepted"], true);
    assert_eq!(lines[1]["relay"], "test.rn.nostr");
    assert!(
        lines[1]["message"].as_str().unwrap().contains("duplicate:"),
        "{}",
        lines[1]
    );
    assert_eq!(out.code, 1);

    let ev2 = note(&keys, 1311, "second paid write", vec![]);
    let out = run(
        &[
            "event",
            "publish",
            "--relay",
            "test.rn.nostr",
            "--node",
            &btp,
            "--price-per-byte",
            "3",
        ],
        &ev2.as_json(),
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let line: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(line["accepted"], true);
    let paid = line["paid"].as_u64().unwrap();
    assert!(paid > 0);
    assert!(r.core().store.get(&ev2.id).unwrap().is_some());
    // The CLI's account at the node owes exactly what was paid.
    let view = tollcast_net::connector::node::accounts_view(&node.connector).unwrap();
    let cli = view.accounts.iter().find(|a| a.id == "cli").unwrap();
    assert_eq!(cli.balance, -(paid as i128));
    // Without --node: a clear error.
    let out = run(
        &["event", "publish", "--relay", "test.rn.nostr"],
        &ev2.as_json(),
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--node"), "{}", out.stderr);
}

//! `tollcast chat`, `tollcast tip` and `tollcast moderate` as separate processes on 127.0.0.1:
//! a creator's `tollcast node` (Nostr relay at /nostr with the chat gate, accounts for a viewer
//! and a spammer), a `tollcast tip serve` receiving agent on its own node, then the CLI sends
//! paid chat (an underpaying spammer is refused, slow mode holds), tips with a verified
//! receipt, reads the chat back, and runs a moderator. Ledgers: each node's accounts hold
//! exactly what was paid.

mod common;

use std::time::Duration;

use nostr::prelude::{FinalizeEvent, Keys, Tag};
use serde_json::Value;
use tollcast_events::live::{LiveEvent, LiveStatus};
use tollcast_events::tip::TipReceipt;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};

/// A running `tollcast` and its `ready: {json}` line.
struct Ready {
    _proc: common::proc::Proc,
    ready: Value,
}

/// Spawn `tollcast <args>` and wait (≤ 30 s) for its `ready: {json}` line.
fn spawn(args: &[&str]) -> Ready {
    let mut p = common::proc::spawn(args);
    let line = p.line_blocking("ready: ", Duration::from_secs(30));
    Ready {
        ready: serde_json::from_str(&line).unwrap(),
        _proc: p,
    }
}

fn run_ok(args: &[&str]) -> Value {
    let out = common::run(args, "");
    assert!(
        out.status.success(),
        "tollcast {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

fn node_toml(dir: &std::path::Path, name: &str, accounts: &[&str]) -> std::path::PathBuf {
    let mut t = format!(
        "[node]\nname = \"{name}\"\naddress = \"test.{name}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n[nostr.pricing]\nbase_per_byte = 1\n\n",
        dir.join(format!("{name}.redb")).display()
    );
    for a in accounts {
        t.push_str(&format!(
            "[[accounts]]\nid = \"{a}\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\nauth_token = \"tok-{a}\"\ncredit_limit = 1000000000\n\n"
        ));
    }
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, t).unwrap();
    p
}

fn balance(node_addr: &str, account: &str) -> i64 {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args([
            "balance",
            "--node",
            &format!("http://{node_addr}"),
            "--json",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "tollcast balance: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let acc = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == account)
        .unwrap()
        .clone();
    match &acc["balance"] {
        Value::String(s) => s.parse().unwrap(),
        n => n.as_i64().unwrap(),
    }
}

#[tokio::test]
async fn chat_tip_and_moderate_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let c_toml = node_toml(dir.path(), "c", &["viewer", "spam"]);
    let c = spawn(&["node", "--config", c_toml.to_str().unwrap()]);
    let nostr = c.ready["nostr"].as_str().unwrap().to_string();
    let c_addr = c.ready["node"].as_str().unwrap().to_string();
    let t_toml = node_toml(dir.path(), "t", &["viewer"]);
    let creator = Keys::generate();
    let agent = Keys::generate();
    let t = spawn(&[
        "tip",
        "serve",
        "--config",
        t_toml.to_str().unwrap(),
        "--key",
        &agent.secret_key().to_secret_hex(),
        "--creator",
        &creator.public_key().to_hex(),
        "--publish-relay",
        &nostr,
    ]);
    let tip_url = t.ready["tip"].as_str().unwrap().to_string();
    let t_btp = t.ready["btp"]
        .as_str()
        .unwrap()
        .trim_start_matches("ws://")
        .to_string();

    // The creator announces the stream: 30 per chat message, one message per minute, tips.
    let mut live = LiveEvent::new("cli-society");
    live.status = Some(LiveStatus::Live);
    let ev = live
        .to_builder()
        .unwrap()
        .tag(Tag::parse(["chat_price", "30", "USD", "6"]).unwrap())
        .tag(Tag::parse(["slow_mode", "60"]).unwrap())
        .tag(Tag::parse(["tip", &tip_url, &agent.public_key().to_hex()]).unwrap())
        .finalize(&creator)
        .unwrap();
    let client = RelayClient::connect(&nostr, ClientOptions::default()).unwrap();
    assert!(
        client
            .publish(&ev, Duration::from_secs(10))
            .await
            .unwrap()
            .accepted
    );
    let stream = live.address(creator.public_key()).to_naddr(&[]).unwrap();

    let viewer = Keys::generate().secret_key().to_secret_hex();
    let spammer = Keys::generate().secret_key().to_secret_hex();
    let wallet_c = format!("btp+ws://:tok-viewer@{c_addr}");
    let sent = run_ok(&[
        "chat",
        "send",
        "--relay",
        &nostr,
        "--stream",
        &stream,
        "--key",
        &viewer,
        "--node",
        &wallet_c,
        "hello from the CLI",
    ]);
    assert_eq!(sent["paid"], 30);
    // Slow mode.
    let out = common::run(
        &[
            "chat", "send", "--relay", &nostr, "--stream", &stream, "--key", &viewer, "--node",
            &wallet_c, "again",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate-limited"));
    // The spammer underpays.
    let out = common::run(
        &[
            "chat",
            "send",
            "--relay",
            &nostr,
            "--stream",
            &stream,
            "--key",
            &spammer,
            "--node",
            &format!("btp+ws://:tok-spam@{c_addr}"),
            "--amount",
            "29",
            "cheap spam",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("underpaid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Tip 500 through the tip agent's node.
    let tipped = run_ok(&[
        "tip",
        "--relay",
        &nostr,
        "--stream",
        &stream,
        "--key",
        &viewer,
        "--node",
        &format!("btp+ws://:tok-viewer@{t_btp}"),
        "--amount",
        "500",
        "--message",
        "bravo",
    ]);
    assert_eq!(tipped["delivered"], 500);

    // Reading the chat: the paid line and the tip receipt, not the refused ones.
    let out = common::run(
        &["chat", "read", "--relay", &nostr, "--stream", &stream],
        "",
    );
    assert!(out.status.success());
    let events: Vec<nostr::prelude::Event> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let chat: Vec<&str> = events
        .iter()
        .filter(|e| e.kind.as_u16() == 1311)
        .map(|e| e.content.as_str())
        .collect();
    assert_eq!(chat, vec!["hello from the CLI"]);
    let receipt = events
        .iter()
        .find(|e| e.kind.as_u16() == 9737)
        .expect("tip receipt on the relay");
    assert_eq!(receipt.id.to_hex(), tipped["receipt_id"].as_str().unwrap());
    let r = TipReceipt::from_event(receipt).unwrap();
    r.check_issuer(&receipt.pubkey, &[agent.public_key()])
        .unwrap();
    assert_eq!(r.amount.amount, 500);
    assert_eq!(r.message, "bravo");

    // A moderator process comes up and reports its state.
    let m = spawn(&[
        "moderate",
        "--relay",
        &nostr,
        "--stream",
        &stream,
        "--banned-word",
        "spam",
    ]);
    let status_url = m.ready["status"].as_str().unwrap().to_string();
    let addr = status_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let resp = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut b = String::new();
        s.read_to_string(&mut b).unwrap();
        b
    })
    .await
    .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"active\":true"), "{resp}");

    // Ledgers: the viewer owes the creator node 30 and the tip node 500; the spammer nothing.
    let c_addr2 = c_addr.clone();
    let t_addr = t_btp.clone();
    let (bv, bs, bt) = tokio::task::spawn_blocking(move || {
        (
            balance(&c_addr2, "viewer"),
            balance(&c_addr2, "spam"),
            balance(&t_addr, "viewer"),
        )
    })
    .await
    .unwrap();
    assert_eq!((bv, bs, bt), (-30, 0, -500));
}

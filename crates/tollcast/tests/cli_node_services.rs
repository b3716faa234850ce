//! `tollcast node` hosts the Nostr relay and the SPSP receiver beside the connector: two real
//! node processes A - B; an event published over B's relay WebSocket reads back with
//! `tollcast event req`; `tollcast pay` through A to B's SPSP URL delivers exactly the amount
//! to B's receiver (B's /metrics), and so does paying B's key over SPSP-over-Nostr on B's relay;
//! a paid write through A to B's relay ILP address is stored and readable over B's WebSocket
//! (an underpaid one is not), and still is after B is killed with SIGKILL and restarted.

mod common;

use std::process::Stdio;
use std::time::Duration;

use nostr::event::FinalizeEvent;
use nostr::prelude::{EventBuilder, Keys, Kind};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

const TIMEOUT: Duration = Duration::from_secs(20);

struct Running {
    child: Child,
    addr: std::net::SocketAddr,
    relay_url: String,
    relay_ilp: String,
    spsp_url: String,
    /// The pubkey answering SPSP over Nostr, when configured.
    spsp_pubkey: Option<String>,
}

/// Starts `tollcast node`; with `services`, waits for the NOSTR and SPSP lines too.
async fn spawn_node(config: &std::path::Path, services: bool) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(["node", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tollcast node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (addr, relay_url, relay_ilp, spsp_line) = tokio::time::timeout(TIMEOUT, async {
        let (mut addr, mut relay, mut spsp) = (None, None, None);
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Some(a) = l.strip_prefix("LISTENING ") {
                addr = Some(a.parse::<std::net::SocketAddr>().unwrap());
            } else if let Some(r) = l.strip_prefix("NOSTR ") {
                let (url, ilp) = r.split_once(' ').expect("NOSTR <url> <ilp address>");
                relay = Some((url.to_string(), ilp.to_string()));
            } else if let Some(s) = l.strip_prefix("SPSP ") {
                spsp = Some(s.to_string());
            }
            if let (Some(a), Some((u, i)), Some(s)) = (&addr, &relay, &spsp) {
                return (*a, u.clone(), i.clone(), s.clone());
            }
            if let (Some(a), false) = (&addr, services) {
                return (*a, String::new(), String::new(), String::new());
            }
        }
        panic!("node exited before printing LISTENING, NOSTR and SPSP");
    })
    .await
    .expect("node prints its service lines");
    let mut spsp = spsp_line.split(' ');
    let spsp_url = spsp.next().unwrap_or_default().to_string();
    let spsp_pubkey = spsp.next().map(str::to_string);
    Running {
        child,
        addr,
        relay_url,
        relay_ilp,
        spsp_url,
        spsp_pubkey,
    }
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    common::http::get(&addr.to_string(), path).await.text()
}

async fn http_get_with(addr: std::net::SocketAddr, path: &str, header: (&str, &str)) -> String {
    common::http::get_with(&addr.to_string(), path, &[header])
        .await
        .text()
}

/// Runs the CLI with `args`, feeding `stdin`; returns (success, stdout).
async fn cli(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tollcast");
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .expect("CLI finishes")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn received_total(metrics: &str) -> Option<u128> {
    metrics
        .lines()
        .find(|l| l.starts_with("tollcast_spsp_received_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn req_ids(relay: &str, id: &str) -> String {
    let filter = format!(r#"{{"ids":["{id}"]}}"#);
    let (ok, out) = cli(&["event", "req", "--relay", relay, &filter], None).await;
    assert!(ok, "event req failed: {out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_hosts_relay_and_spsp() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let b_cfg = dir.path().join("b.toml");
    let b_spsp_keys = Keys::generate();
    let b_spsp_nsec = b_spsp_keys.secret_key().to_secret_hex();
    std::fs::write(
        &b_cfg,
        format!(
            r#"
[node]
name = "b"
ledger = "{d}/b.redb"
[[accounts]]
id = "a"
relation = "peer"
asset_code = "USD"
asset_scale = 9
auth_token = "ta"
credit_limit = 1000000000000
[[routes]]
prefix = "g.tollcast.a"
account = "a"
[spsp]
nostr_key = "{b_spsp_nsec}"
"#
        ),
    )
    .unwrap();
    let b = spawn_node(&b_cfg, true).await;
    assert_eq!(b.relay_url, format!("ws://{}/nostr", b.addr));
    assert_eq!(b.relay_ilp, "g.tollcast.b.nostr");
    assert_eq!(b.spsp_url, format!("http://{}/.well-known/pay", b.addr));
    assert!(std::path::Path::new(&format!("{d}/b.nostr.redb")).exists());
    assert_eq!(b.spsp_pubkey, Some(b_spsp_keys.public_key().to_hex()));
    // NIP-11 on the relay path names where paid writes go.
    let nip11 = http_get_with(b.addr, "/nostr", ("Accept", "application/nostr+json")).await;
    let doc: serde_json::Value = serde_json::from_str(&nip11).expect("NIP-11 JSON");
    assert_eq!(
        doc["tollcast"]["pay_to_write"]["ilp_address"], "g.tollcast.b.nostr",
        "{doc}"
    );

    let a_cfg = dir.path().join("a.toml");
    std::fs::write(
        &a_cfg,
        format!(
            r#"
[node]
name = "a"
ledger = "{d}/a.redb"
reconnect_min_ms = 20
reconnect_max_ms = 200
[nostr]
enabled = false
[spsp]
enabled = false
[[accounts]]
id = "b"
relation = "peer"
asset_code = "USD"
asset_scale = 9
btp_url = "ws://{}"
auth_token = "ta"
credit_limit = 1000000000000
[[accounts]]
id = "cli"
relation = "child"
asset_code = "USD"
asset_scale = 9
auth_token = "cli-token"
credit_limit = 1000000000000
[[routes]]
prefix = "g.tollcast.b"
account = "b"
"#,
            b.addr
        ),
    )
    .unwrap();
    let a = spawn_node(&a_cfg, false).await;
    // A dials B: wait until B shows the link up.
    tokio::time::timeout(TIMEOUT, async {
        loop {
            let v: serde_json::Value =
                serde_json::from_str(&http_get(b.addr, "/accounts").await).unwrap();
            if v["accounts"][0]["connected"] == true {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("A connects to B");
    let node_a = format!("btp+ws://:cli-token@{}", a.addr);
    let keys = Keys::generate();

    // (1) publish over B's relay WebSocket, read back with `tollcast event req`.
    let ev = EventBuilder::new(Kind::TextNote, "hello over the websocket")
        .finalize(&keys)
        .unwrap();
    let (ok, out) = cli(
        &["event", "publish", "--relay", &b.relay_url],
        Some(&serde_json::to_string(&ev).unwrap()),
    )
    .await;
    assert!(ok, "publish over WebSocket refused: {out}");
    assert!(out.contains(r#""accepted":true"#), "{out}");
    let got = req_ids(&b.relay_url, &ev.id.to_hex()).await;
    assert!(got.contains("hello over the websocket"), "REQ got: {got}");
    let metrics = http_get(b.addr, "/metrics").await;
    assert!(
        metrics.contains("tollcast_nostr_events_stored_total 1\n"),
        "relay counters missing from /metrics: {metrics}"
    );

    // (2) pay through A to B's SPSP URL: exactly N reaches B's receiver.
    assert_eq!(received_total(&http_get(b.addr, "/metrics").await), Some(0));
    const N: u64 = 12_345;
    let (ok, out) = cli(
        &[
            "pay",
            "--to",
            &b.spsp_url,
            "--amount",
            &N.to_string(),
            "--node",
            &node_a,
            "--timeout",
            "15",
        ],
        None,
    )
    .await;
    assert!(ok, "pay failed: {out}");
    assert_eq!(
        received_total(&http_get(b.addr, "/metrics").await),
        Some(u128::from(N))
    );

    // (2b) the same receiver over SPSP-over-Nostr: ask B's key on B's relay.
    const M: u64 = 777;
    let pk = b.spsp_pubkey.clone().unwrap();
    let (ok, out) = cli(
        &[
            "pay",
            "--to",
            &pk,
            "--relay",
            &b.relay_url,
            "--amount",
            &M.to_string(),
            "--node",
            &node_a,
            "--timeout",
            "15",
        ],
        None,
    )
    .await;
    assert!(ok, "pay over Nostr SPSP failed: {out}");
    assert_eq!(
        received_total(&http_get(b.addr, "/metrics").await),
        Some(u128::from(N + M))
    );

    // (3) pay-to-write through A to B's relay ILP address; readable over B's WebSocket.
    let paid = EventBuilder::new(Kind::TextNote, "paid write through A")
        .finalize(&keys)
        .unwrap();
    let (ok, out) = cli(
        &[
            "event",
            "publish",
            "--relay",
            &b.relay_ilp,
            "--node",
            &node_a,
        ],
        Some(&serde_json::to_string(&paid).unwrap()),
    )
    .await;
    assert!(ok, "paid write refused: {out}");
    let got = req_ids(&b.relay_url, &paid.id.to_hex()).await;
    assert!(got.contains("paid write through A"), "REQ got: {got}");
    // An underpaid write is refused and not stored.
    let ev = EventBuilder::new(Kind::TextNote, "underpaid")
        .finalize(&keys)
        .unwrap();
    let (ok, _) = cli(
        &[
            "event",
            "publish",
            "--relay",
            &b.relay_ilp,
            "--node",
            &node_a,
            "--amount",
            "1",
        ],
        Some(&serde_json::to_string(&ev).unwrap()),
    )
    .await;
    assert!(!ok, "an underpaid write must be refused");
    let got = req_ids(&b.relay_url, &ev.id.to_hex()).await;
    assert!(
        !got.contains("underpaid"),
        "underpaid event was stored: {got}"
    );

    // kill -9 B and restart it on the same config: the paid event is still there.
    let mut b = b;
    b.child.start_kill().unwrap();
    b.child.wait().await.unwrap();
    let b = spawn_node(&b_cfg, true).await;
    let got = req_ids(&b.relay_url, &paid.id.to_hex()).await;
    assert!(
        got.contains("paid write through A"),
        "lost after restart: {got}"
    );
}

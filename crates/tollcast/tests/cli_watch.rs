//! `tollcast watch` end to end with real processes: `tollcast origin` (synthetic source,
//! signed manifests and the live event on a Nostr relay), `tollcast relay` in credit mode (its
//! own ILP node dialing a "bank" node over BTP, its offer on Nostr) and `tollcast watch` (wallet
//! = an account at the bank). The viewer prints its endpoints and a `ready:` JSON line, serves
//! verified parts, pays the relay per second (the bank's ledger shows it) and prints status
//! lines. Bad input exits 1 with a message.

mod common;

use std::process::Stdio;
use std::time::Duration;

use nostr::prelude::Keys;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStderr, Command};
use tollcast_net::connector::node::accounts_view;
use tollcast_net::connector::{Node, NodeConfig};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Spawn `tollcast <args>` and read stdout until a line starts with `key`; returns the child,
/// the value after `key`, and the stdout lines read.
async fn spawn_until(args: &[&str], key: &str) -> (Child, String, Vec<String>, ChildStderr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tollcast");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let value = tokio::time::timeout(TIMEOUT, async {
        while let Some(l) = lines.next_line().await.unwrap() {
            seen.push(l.clone());
            if let Some(v) = l.strip_prefix(key) {
                return v.trim().to_string();
            }
        }
        panic!("tollcast {args:?} ended before printing `{key}`: {seen:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("tollcast {args:?} did not print `{key}` in time"));
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, value, seen, stderr)
}

async fn http_get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let r = common::http::get(addr, path).await;
    (r.status, r.body)
}

fn balance(node: &Node, id: &str) -> i128 {
    accounts_view(&node.connector)
        .unwrap()
        .accounts
        .into_iter()
        .find(|a| a.id == id)
        .unwrap()
        .balance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_finds_pays_and_serves_a_stream() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).display().to_string();
    // Nostr relay and the bank (wallet node), in process.
    let nostr = NostrRelay::open(RelayConfig::default(), dir.path().join("nostr.redb")).unwrap();
    let (naddr, _t) = nostr.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let nostr_url = format!("ws://{naddr}");
    let bank_toml = format!(
        "[node]\nname = \"bank\"\naddress = \"test.bank\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n\
         [[accounts]]\nid = \"alice\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\n\
         auth_token = \"alice-token\"\ncredit_limit = 100000000\n\n\
         [[accounts]]\nid = \"edge\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\n\
         auth_token = \"edge-token\"\n",
        d("bank.redb")
    );
    let bank = Node::start(NodeConfig::from_toml(&bank_toml, "bank").unwrap())
        .await
        .unwrap();

    // The creator's origin.
    let creator = Keys::generate();
    let (_origin, playlist, _, _oe) = spawn_until(
        &[
            "origin",
            "--listen",
            "127.0.0.1:0",
            "--store-dir",
            &d("origin"),
            "--size",
            "320x180",
            "--secret-key",
            &creator.secret_key().to_secret_hex(),
            "--stream-id",
            "show",
            "--relay",
            &nostr_url,
            "--title",
            "CLI show",
        ],
        "playlist:",
    )
    .await;
    let origin = playlist.trim_end_matches("/live/master.m3u8").to_string();
    let stream = format!("30311:{}:show", creator.public_key().to_hex());

    // A paid relay with its own ILP node under the bank.
    let edge_toml = dir.path().join("edge.toml");
    std::fs::write(
        &edge_toml,
        format!(
            "[node]\nname = \"edge\"\naddress = \"test.bank.edge\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n\
             [nostr]\nenabled = false\n\n\
             [[accounts]]\nid = \"bank\"\nrelation = \"parent\"\nasset_code = \"USD\"\nasset_scale = 6\n\
             btp_url = \"btp+ws://:edge-token@{}\"\ncredit_limit = 1000000000000\n",
            d("edge.redb"),
            bank.local_addr
        ),
    )
    .unwrap();
    let (_relay, relay_playlist, _, _re) = spawn_until(
        &[
            "relay",
            "--upstream",
            &origin,
            "--stream",
            &stream,
            "--nostr",
            &nostr_url,
            "--listen",
            "127.0.0.1:0",
            "--store-dir",
            &d("relay-cache"),
            "--price-per-second",
            "1000",
            "--node-config",
            &edge_toml.display().to_string(),
            "--billing-db",
            &d("billing.redb"),
        ],
        "playlist:",
    )
    .await;
    let relay_base = relay_playlist
        .trim_end_matches("/live/master.m3u8")
        .to_string();

    // The viewer.
    let node = format!("btp+ws://:alice-token@{}", bank.local_addr);
    let (mut watch, ready, seen, stderr) = spawn_until(
        &[
            "watch",
            &stream,
            "--nostr",
            &nostr_url,
            "--node",
            &node,
            "--wallet-account",
            "alice",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &d("viewer"),
            "--status-every",
            "1",
        ],
        "ready:",
    )
    .await;
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("ready JSON");
    assert!(
        seen.iter()
            .any(|l| l.starts_with("player: http://127.0.0.1:")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.starts_with("naddr: naddr1")),
        "{seen:?}"
    );
    assert_eq!(ready["stream"], stream);
    let listen = ready["listen"].as_str().unwrap().to_string();

    // The relay's offer may land after the viewer looked: it looks again every few seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let (code, body) = http_get(&listen, "/api/status").await;
        assert_eq!(code, 200);
        let s: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if s["relay"]["url"] == relay_base.as_str() {
            break s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no relay chosen: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(status["relay"]["price_per_second"], 1000);
    assert_eq!(status["stream"]["title"], "CLI show");

    // Verified parts through the viewer (the origin has no playlist until its first segment).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (code, master) = http_get(&listen, "/live/master.m3u8").await;
        if code == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{code} {}",
            String::from_utf8_lossy(&master)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let part = loop {
        let (code, pl) = http_get(&listen, "/live/source/index.m3u8").await;
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&pl));
        let pl = String::from_utf8_lossy(&pl).into_owned();
        if let Some(uri) = pl
            .lines()
            .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
            .filter_map(|l| l.split("URI=\"").nth(1))
            .map(|u| {
                u.trim_end_matches('"')
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .next()
        {
            break uri;
        }
        assert!(tokio::time::Instant::now() < deadline, "no parts listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (code, bytes) = http_get(&listen, &format!("/{part}")).await;
    assert_eq!(code, 200);
    let (_, direct) = http_get(origin.trim_start_matches("http://"), &format!("/{part}")).await;
    assert_eq!(bytes, direct, "the part as the origin has it");

    // Status lines on stderr, then money at the bank: alice pays, the edge is paid as much.
    let mut err_lines = BufReader::new(stderr).lines();
    let line = tokio::time::timeout(TIMEOUT, async {
        while let Some(l) = err_lines.next_line().await.unwrap() {
            if l.starts_with("playing |") {
                return l;
            }
        }
        panic!("no status line");
    })
    .await
    .expect("a playing status line");
    assert!(
        line.contains("latency") && line.contains("balance"),
        "{line}"
    );
    let paid = -balance(&bank, "alice");
    assert!(paid > 0, "alice paid nothing");
    assert_eq!(
        balance(&bank, "edge"),
        paid,
        "the bank passed it all to the relay"
    );
    // The player page is served beside the API.
    let (code, page) = http_get(&listen, "/").await;
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&page).contains("/web/hls.min.js"));
    let (_, m) = http_get(&listen, "/metrics").await;
    assert!(String::from_utf8_lossy(&m).contains("tollcast_viewer_parts_verified_total"));
    watch.kill().await.unwrap();
}

#[test]
fn bad_input_exits_1_with_what_to_do() {
    let out = common::run(
        &["watch", "not-a-stream", "--node", "btp+ws://:t@127.0.0.1:9"],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("naddr1"), "{err}");
    let out = common::run(&["watch", "30311:abc:d", "--node", "x"], "");
    assert_eq!(out.status.code(), Some(1));
    let out = common::run(&["watch", "--help"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("--max-price-per-second"));
}

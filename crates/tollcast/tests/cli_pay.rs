//! `tollcast pay` end to end: the binary resolves the payee (SPSP over HTTP, SPSP over Nostr
//! through a tollcast relay), dials a tollcast node over BTP as its child account and pays a
//! tollcast STREAM receiver behind that node. Amounts must arrive exactly.

use std::sync::Arc;
use std::time::Duration;

use tollcast_net::connector::{Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};
use tollcast_net::stream::{ReceiverConfig, StreamReceiver, spsp_http, spsp_nostr};
use tollcast_wire::address::Address;

struct Payee {
    node: Node,
    receiver: Arc<StreamReceiver>,
    _dir: tempfile::TempDir,
}

async fn payee() -> Payee {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
[node]
name = "b"
address = "test.b"
listen = "127.0.0.1:0"
ledger = "{}"

[[accounts]]
id = "cli"
relation = "child"
asset_code = "XYZ"
asset_scale = 9
auth_token = "cli-token"
credit_limit = 1000000000
"#,
        dir.path().join("ledger.redb").display()
    );
    let node = Node::start(NodeConfig::from_toml(&text, "test").unwrap())
        .await
        .unwrap();
    let receiver = Arc::new(StreamReceiver::new(ReceiverConfig::new(
        Address::new("test.b.recv").unwrap(),
        "XYZ",
        9,
    )));
    node.connector
        .add_local_handler("test.b.recv", receiver.clone());
    Payee {
        node,
        receiver,
        _dir: dir,
    }
}

async fn run_cli(args: &[&str]) -> std::process::Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(args)
        .output();
    tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("tollcast pay hung")
        .unwrap()
}

#[tokio::test]
async fn pays_an_spsp_http_endpoint_through_a_node() {
    let p = payee().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let spsp_addr = listener.local_addr().unwrap();
    let app = spsp_http::router(p.receiver.clone(), "/.well-known/pay");
    tokio::spawn(async move {
        tollcast_net::http_serve::serve(listener, app)
            .await
            .unwrap()
    });

    let node_url = format!("btp+ws://:cli-token@{}", p.node.local_addr);
    let to = format!("http://{spsp_addr}/.well-known/pay");
    let out = run_cli(&[
        "pay",
        "--node",
        &node_url,
        "--to",
        &to,
        "--amount",
        "5000000",
        "--asset-code",
        "XYZ",
        "--json",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout {stdout} stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["sent"], 5_000_000);
    assert_eq!(v["delivered"], 5_000_000);
    assert_eq!(v["destination_asset"]["code"], "XYZ");
    let dest = v["destination_account"].as_str().unwrap();
    let totals = p.receiver.connection_totals(dest).unwrap();
    assert_eq!(totals.total_received, 5_000_000);
    assert!(totals.closed, "the CLI closes its connection");

    // Human-readable output too.
    let out = run_cli(&[
        "pay",
        "--node",
        &node_url,
        "--to",
        &to,
        "--amount",
        "42",
        "--asset-code",
        "XYZ",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.contains("delivered 42 XYZ (scale 9)"), "{stdout}");
    assert_eq!(p.receiver.total_received(), 5_000_042);
}

#[tokio::test]
async fn pays_an_npub_through_a_tollcast_relay() {
    let p = payee().await;
    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("events.redb")).unwrap();
    let (relay_addr, _task) = relay.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let relay_url = format!("ws://{relay_addr}");

    let payee_keys = nostr::prelude::Keys::generate();
    let client = RelayClient::connect(&relay_url, ClientOptions::default()).unwrap();
    let server = spsp_nostr::serve(client, payee_keys.clone(), p.receiver.clone())
        .await
        .unwrap();

    use nostr::prelude::ToBech32;
    let npub = payee_keys.public_key().to_bech32().unwrap();
    let node_url = format!("btp+ws://:cli-token@{}", p.node.local_addr);
    let out = run_cli(&[
        "pay",
        "--node",
        &node_url,
        "--to",
        &npub,
        "--relay",
        &relay_url,
        "--amount",
        "777",
        "--asset-code",
        "XYZ",
        "--json",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout {stdout} stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["delivered"], 777);
    assert_eq!(p.receiver.total_received(), 777);
    server.abort();
}

#[tokio::test]
async fn bad_input_exits_1_with_a_clear_message() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "pay",
                "--node",
                "btp+ws://:t@127.0.0.1:1",
                "--to",
                "http://127.0.0.1:1/x",
                "--amount",
                "0",
            ],
            "--amount",
        ),
        (
            &[
                "pay",
                "--node",
                "btp+ws://:t@127.0.0.1:1",
                "--to",
                "npub1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
                "--amount",
                "5",
            ],
            "npub",
        ),
        (
            &[
                "pay",
                "--node",
                "btp+ws://:t@127.0.0.1:1",
                "--to",
                "ftp://x",
                "--amount",
                "5",
            ],
            "SPSP",
        ),
        (
            &[
                "pay",
                "--node",
                "btp+ws://:t@127.0.0.1:1",
                "--to",
                "http://127.0.0.1:1/pay",
                "--amount",
                "5",
                "--timeout",
                "5",
            ],
            "SPSP",
        ),
    ];
    for (args, needle) in cases {
        let out = run_cli(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

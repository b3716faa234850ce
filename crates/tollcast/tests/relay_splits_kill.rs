//! A share owed but not yet sent survives `kill -9` of the relay: a `tollcast relay` process
//! (credit mode, splits to a creator whose wallet node is down) books a viewer's payment, is
//! killed with SIGKILL, and restarted on the same `--splits-db`; once the creator's node is up
//! the restarted relay pays exactly the creator's share, and its books balance.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nostr::prelude::Keys;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::stream::{SenderConfig, StreamSender, spsp_http};

const TIMEOUT: Duration = Duration::from_secs(60);

struct Proc {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

fn spawn(args: &[&str]) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(args)
        .env_remove("TOLLCAST_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tollcast");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    Proc { child, lines }
}

impl Proc {
    async fn lines_for(&mut self, prefixes: &[&str]) -> Vec<String> {
        let mut found: Vec<Option<String>> = vec![None; prefixes.len()];
        tokio::time::timeout(TIMEOUT, async {
            while let Some(l) = self.lines.next_line().await.unwrap() {
                for (i, p) in prefixes.iter().enumerate() {
                    if found[i].is_none()
                        && let Some(v) = l.strip_prefix(p)
                    {
                        found[i] = Some(v.trim().to_string());
                    }
                }
                if found.iter().all(Option::is_some) {
                    return;
                }
            }
            panic!("process exited before printing {prefixes:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("no {prefixes:?} lines in time"));
        found.into_iter().map(Option::unwrap).collect()
    }
}

fn write_node(dir: &Path, name: &str, address: &str, listen: &str, body: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[node]\nname = \"{name}\"\naddress = \"{address}\"\nlisten = \"{listen}\"\nledger = \"{}\"\n\n{body}",
            dir.join(format!("{name}.redb")).display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn child(id: &str) -> String {
    format!(
        "[[accounts]]\nid = \"{id}\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\nauth_token = \"t-{id}\"\ncredit_limit = 1000000000000\n\n"
    )
}

fn parent(hub: SocketAddr, id: &str) -> String {
    format!(
        "[[accounts]]\nid = \"hub\"\nrelation = \"parent\"\nasset_code = \"USD\"\nasset_scale = 6\nbtp_url = \"ws://{hub}\"\nauth_token = \"t-{id}\"\ncredit_limit = 1000000000000\n\n"
    )
}

async fn get_json(url: &str) -> serde_json::Value {
    let u = url::Url::parse(url).unwrap();
    let addr = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        format!(
            "GET {} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
            u.path()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.unwrap();
    let body = buf.split_once("\r\n\r\n").unwrap().1;
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{url}: {e}: {body}"))
}

fn num(v: &serde_json::Value) -> i128 {
    v.as_i64()
        .map(i128::from)
        .or(v.as_u64().map(i128::from))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owed_share_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut hub = spawn(&[
        "node",
        "--config",
        &write_node(
            d,
            "hub",
            "test.hub",
            "127.0.0.1:0",
            &["relay", "creator", "viewer"].map(child).concat(),
        ),
    ]);
    let l = hub.lines_for(&["LISTENING ", "NOSTR "]).await;
    let hub_addr: SocketAddr = l[0].parse().unwrap();
    let nostr = l[1].split(' ').next().unwrap().to_string();
    // The creator's wallet node will listen here, but is down for now.
    let creator_listen = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let creator_spsp = format!("http://{creator_listen}/.well-known/pay");
    let relay_cfg = write_node(
        d,
        "relay",
        "test.hub.relay",
        "127.0.0.1:0",
        &parent(hub_addr, "relay"),
    );
    let stream = format!("30311:{}:k", Keys::generate().public_key().to_hex());
    let db = d.join("splits.redb").display().to_string();
    let billing = d.join("billing.redb").display().to_string();
    let cache = d.join("cache").display().to_string();
    let split = format!("creator={creator_spsp}=1");
    let args = [
        "relay",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "http://127.0.0.1:9",
        "--stream",
        &stream,
        "--nostr",
        &nostr,
        "--node-config",
        &relay_cfg,
        "--price-per-second",
        "1000",
        "--split",
        &split,
        "--relay-margin-ppm",
        "250000",
        "--batch-ms",
        "200",
        "--splits-db",
        &db,
        "--billing-db",
        &billing,
        "--store-dir",
        &cache,
    ];
    let mut relay = spawn(&args);
    let ready: serde_json::Value =
        serde_json::from_str(&relay.lines_for(&["ready: "]).await[0]).unwrap();
    let url = ready["url"].as_str().unwrap().to_string();

    // A viewer pays 100,003 through its own node under the hub.
    let vtext = write_node(
        d,
        "viewer",
        "test.hub.viewer",
        "127.0.0.1:0",
        &parent(hub_addr, "viewer"),
    );
    let viewer = Node::start(NodeConfig::load(Path::new(&vtext)).unwrap())
        .await
        .unwrap();
    assert!(
        viewer
            .connector
            .wait_connected(&AccountId::new("hub"), TIMEOUT)
            .await
    );
    let spsp = spsp_http::query(
        &format!("{url}/.well-known/pay/alice"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut cfg = SenderConfig::new(spsp.destination_account, spsp.shared_secret);
    cfg.source_address = Some(viewer.connector.address().clone());
    let mut s = StreamSender::connect(viewer.connector.sender(AccountId::local()), cfg)
        .await
        .unwrap();
    s.send(100_003).await.unwrap();
    // Booked (and committed) with the creator's share owed: its wallet is unreachable.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let creator_share = loop {
        let b = get_json(&format!("{url}/splits")).await;
        if num(&b["received"]) == 100_003 {
            let p = &b["payees"][0];
            assert_eq!(num(&p["sent"]), 0);
            break num(&p["owed"]);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "payment not booked: {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(creator_share, 100_003 - 100_003 / 4);
    // kill -9, then restart on the same books; the creator's node comes up.
    relay.child.kill().await.unwrap();
    let _ = relay.child.wait().await;
    let mut relay = spawn(&args);
    let ready: serde_json::Value =
        serde_json::from_str(&relay.lines_for(&["ready: "]).await[0]).unwrap();
    let url = ready["url"].as_str().unwrap().to_string();
    let b = get_json(&format!("{url}/splits")).await;
    assert_eq!(
        num(&b["received"]),
        100_003,
        "revenue survived kill -9: {b}"
    );
    assert_eq!(num(&b["payees"][0]["owed"]), creator_share);
    let mut creator = spawn(&[
        "node",
        "--config",
        &write_node(
            d,
            "creator",
            "test.hub.creator",
            &creator_listen.to_string(),
            &(parent(hub_addr, "creator") + "[nostr]\nenabled = false\n"),
        ),
    ]);
    creator.lines_for(&["LISTENING ", "SPSP "]).await;
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let b = loop {
        let b = get_json(&format!("{url}/splits")).await;
        let p = &b["payees"][0];
        if num(&p["owed"]) == 0 && num(&p["in_flight"]) == 0 {
            break b;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "share never paid: {b}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let p = &b["payees"][0];
    assert_eq!(
        num(&p["delivered"]),
        creator_share,
        "paid exactly once: {b}"
    );
    assert_eq!(
        num(&b["received"]),
        num(&b["margin"]) + num(&b["residue"]) + num(&p["target"])
    );
    // The creator's node's ledger: the hub owes it exactly the share.
    let accounts = get_json(&format!("http://{creator_listen}/accounts")).await;
    let hub_balance = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "hub")
        .map(|a| num(&a["balance"]))
        .unwrap();
    assert_eq!(hub_balance, -creator_share);
    for p in [&mut relay, &mut creator, &mut hub] {
        let _ = p.child.kill().await;
    }
}

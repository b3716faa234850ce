//! A share owed but not yet sent survives `kill -9` of the relay: a `tollcast relay` process
//! (credit mode, splits to a creator whose wallet node is down) books a viewer's payment, is
//! killed with SIGKILL, and restarted on the same `--splits-db`; once the creator's node is up
//! the restarted relay pays exactly the creator's share, and its books balance.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use nostr::prelude::Keys;
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::stream::{SenderConfig, StreamSender, spsp_http};

mod common;
use common::http::{get_json, num};
use common::nodes::{child_account, node_toml_at, parent_account};
use common::proc::spawn;

const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owed_share_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut hub = spawn(&[
        "node",
        "--config",
        &node_toml_at(
            d,
            "hub",
            "test.hub",
            "127.0.0.1:0",
            &["relay", "creator", "viewer"].map(child_account).concat(),
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
    let relay_cfg = node_toml_at(
        d,
        "relay",
        "test.hub.relay",
        "127.0.0.1:0",
        &parent_account(hub_addr, "relay"),
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
    let vtext = node_toml_at(
        d,
        "viewer",
        "test.hub.viewer",
        "127.0.0.1:0",
        &parent_account(hub_addr, "viewer"),
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
    relay.kill();
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
        &node_toml_at(
            d,
            "creator",
            "test.hub.creator",
            &creator_listen.to_string(),
            &(parent_account(hub_addr, "creator") + "[nostr]\nenabled = false\n"),
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
        p.kill();
    }
}

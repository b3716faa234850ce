//! Interop with the JS reference over real BTP on 127.0.0.1:
//! - ilp-plugin-btp as a client of a tollcast node: token auth, IL-DCP, paying through the
//!   node, F02 for no route, and being paid by the node;
//! - ilp-connector (JS) peered with a tollcast node: packets forwarded both ways through both
//!   connectors, amounts exact, ledgers conserved.

mod connector_util;

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use connector_util::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tollcast_net::connector::{AccountId, Node};

fn interop_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = root.join("tests/interop");
    assert!(
        dir.join("node_modules/ilp-connector").exists()
            && dir.join("node_modules/ilp-plugin-btp").exists(),
        "JS reference peers missing in {}: run scripts/setup.sh (npm install in tests/interop)",
        dir.display()
    );
    dir
}

fn spawn_js(script: &str, args: &[String]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let dir = interop_dir();
    let mut child = Command::new("node")
        .arg(dir.join("connector").join(script))
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js) must be installed");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// Reads JSON lines until one with `event == want`; returns every event seen.
async fn until(lines: &mut Lines<BufReader<ChildStdout>>, want: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            let Ok(v) = serde_json::from_str::<Value>(&l) else {
                continue;
            };
            assert_ne!(v["event"], "error", "JS side failed: {v}");
            let done = v["event"] == want;
            seen.push(v);
            if done {
                return;
            }
        }
        panic!("JS script ended before {want:?}; saw {seen:?}");
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {want:?}"));
    seen
}

fn event<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("no {name} event in {events:?}"))
}

async fn node(text: &str) -> Node {
    Node::start(cfg(text)).await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ilp_plugin_btp_client_gets_ildcp_and_pays_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let b = node(&format!(
        r#"
[node]
name = "b"
ledger = "{}/b.redb"
[[accounts]]
id = "js"
relation = "child"
asset_code = "USD"
asset_scale = 6
auth_token = "js-secret"
credit_limit = 1000000
"#,
        dir.path().display()
    ))
    .await;
    let got = Arc::new(Mutex::new(Vec::new()));
    b.connector
        .add_local_handler("g.tollcast.b.recv", receiver(got.clone()));
    let port = b.local_addr.port().to_string();
    let (mut child, mut lines) = spawn_js(
        "btp_client.js",
        &[
            port,
            "js-secret".into(),
            "g.tollcast.b.recv.from-js".into(),
            "1234".into(),
        ],
    );
    let ev = until(&mut lines, "ready").await;
    let ildcp = event(&ev, "ildcp");
    assert_eq!(ildcp["clientAddress"], "g.tollcast.b.js");
    assert_eq!(
        (ildcp["assetCode"].as_str(), ildcp["assetScale"].as_u64()),
        (Some("USD"), Some(6))
    );
    let paid = &event(&ev, "paid")["result"];
    assert_eq!(paid["type"], "fulfill", "{paid}");
    assert_eq!(paid["matches"], true);
    assert_eq!(*got.lock().unwrap(), vec![1234]);
    let noroute = &event(&ev, "noroute")["result"];
    assert_eq!(
        (noroute["type"].as_str(), noroute["code"].as_str()),
        (Some("reject"), Some("F02"))
    );
    assert_eq!(noroute["triggeredBy"], "g.tollcast.b");
    // The node pays the JS client at its IL-DCP address (child route).
    send(
        &b,
        prepare("g.tollcast.b.js.inbox", 500, Duration::from_secs(10)),
    )
    .await
    .expect("JS client fulfills");
    let ev = until(&mut lines, "got").await;
    assert_eq!(event(&ev, "got")["amount"], "500");
    let acc = b.connector.ledger().account("js").unwrap().unwrap();
    assert_eq!(
        (acc.balance, acc.pending_incoming, acc.pending_outgoing),
        (-1234 + 500, 0, 0)
    );
    drop(child.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ilp_connector_js_forwards_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (tc_port, alice_port) = (free_port(), free_port());
    let (mut child, mut lines) = spawn_js(
        "ilp_connector.js",
        &[
            tc_port.to_string(),
            alice_port.to_string(),
            "g.tollcast.t.recv.alice".into(),
            "4321".into(),
        ],
    );
    until(&mut lines, "starting").await;
    let t = node(&format!(
        r#"
[node]
name = "t"
ledger = "{}/t.redb"
reconnect_min_ms = 50
[[accounts]]
id = "jsconn"
relation = "peer"
asset_code = "USD"
asset_scale = 6
btp_url = "btp+ws://t:tc-secret@127.0.0.1:{tc_port}"
credit_limit = 1000000
[[routes]]
prefix = "g.js"
account = "jsconn"
"#,
        dir.path().display()
    ))
    .await;
    let got = Arc::new(Mutex::new(Vec::new()));
    t.connector
        .add_local_handler("g.tollcast.t.recv", receiver(got.clone()));
    assert!(
        t.connector
            .wait_connected(&AccountId::from("jsconn"), Duration::from_secs(30))
            .await,
        "tollcast dials ilp-connector"
    );
    let ev = until(&mut lines, "ready").await;
    assert_eq!(event(&ev, "ildcp")["clientAddress"], "g.js.alice");
    let paid = &event(&ev, "paid")["result"];
    assert_eq!(
        paid["type"], "fulfill",
        "JS alice -> ilp-connector -> tollcast: {paid}"
    );
    assert_eq!(
        *got.lock().unwrap(),
        vec![4321],
        "one-to-one, no spread: amount arrives exactly"
    );
    // tollcast -> ilp-connector -> JS alice.
    send(
        &t,
        prepare("g.js.alice.inbox", 777, Duration::from_secs(10)),
    )
    .await
    .expect("fulfilled through ilp-connector");
    let ev = until(&mut lines, "got").await;
    assert_eq!(event(&ev, "got")["amount"], "777");
    // An unknown JS child: ilp-connector's own REJECT (F00 "unknown account id") comes back
    // through tollcast intact, and nothing is booked.
    let r = send(&t, prepare("g.js.nobody", 1, Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert_eq!(r.code.as_str(), "F00", "{}", r.message);
    assert!(r.message.contains("unknown account"), "{}", r.message);
    assert_eq!(r.triggered_by.as_ref().unwrap().as_str(), "g.js");
    let acc = t.connector.ledger().account("jsconn").unwrap().unwrap();
    assert_eq!(
        (acc.balance, acc.pending_incoming, acc.pending_outgoing),
        (-4321 + 777, 0, 0)
    );
    drop(child.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
}

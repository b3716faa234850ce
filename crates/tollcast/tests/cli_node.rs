//! `tollcast node` as a real process in the middle of a line A - B - C: payments stream
//! through it, it is killed with SIGKILL mid-stream and restarted on the same ledger, and
//! its balances come back intact (every packet either fully booked or not at all, nothing
//! left pending); `tollcast balance` shows them.

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tollcast_net::connector::{
    AccountId, IlpService, IncomingRequest, Node, NodeConfig, ServiceFn,
};
use tollcast_wire::address::Address;
use tollcast_wire::ilp::{Fulfill, Prepare, condition_of};

const AMOUNT: u64 = 1000;
/// B's fee 1% + 1 on 1000: 11, so C receives 989.
const FORWARDED: u64 = 989;

async fn spawn_node(config: &std::path::Path, listen: &str) -> (Child, std::net::SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(["node", "--config"])
        .arg(config)
        .args(["--listen", listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn tollcast node");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Some(a) = l.strip_prefix("LISTENING ") {
                return a.parse().unwrap();
            }
        }
        panic!("node exited before listening");
    })
    .await
    .expect("node starts listening");
    (child, addr)
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    common::http::get(&addr.to_string(), path).await.text()
}

fn bal(n: &Node, acc: &str) -> (i128, i128, i128) {
    let a = n.connector.ledger().account(acc).unwrap().unwrap();
    (a.balance, a.pending_incoming, a.pending_outgoing)
}

fn edge(name: &str, dir: &std::path::Path, b: std::net::SocketAddr, token: &str) -> NodeConfig {
    NodeConfig::from_toml(
        &format!(
            r#"
[node]
name = "{name}"
ledger = "{}/{name}.redb"
reconnect_min_ms = 20
reconnect_max_ms = 200
[[accounts]]
id = "b"
relation = "peer"
asset_code = "USD"
asset_scale = 6
btp_url = "ws://{b}"
auth_token = "{token}"
credit_limit = 1000000000
[[routes]]
prefix = "g.tollcast"
account = "b"
"#,
            dir.display()
        ),
        "test",
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_then_restart_keeps_balances() {
    let dir = tempfile::tempdir().unwrap();
    let b_cfg = dir.path().join("b.toml");
    std::fs::write(
        &b_cfg,
        format!(
            r#"
[node]
name = "b"
ledger = "{}/b.redb"
[fee]
basis_points = 100
fixed = 1
[[accounts]]
id = "a"
relation = "peer"
asset_code = "USD"
asset_scale = 6
auth_token = "ta"
credit_limit = 1000000000
[[accounts]]
id = "c"
relation = "peer"
asset_code = "USD"
asset_scale = 6
auth_token = "tc"
credit_limit = 1000000000
[[routes]]
prefix = "g.tollcast.a"
account = "a"
[[routes]]
prefix = "g.tollcast.c"
account = "c"
"#,
            dir.path().display()
        ),
    )
    .unwrap();
    let (mut b, b_addr) = spawn_node(&b_cfg, "127.0.0.1:0").await;
    let a = Node::start(edge("a", dir.path(), b_addr, "ta"))
        .await
        .unwrap();
    let c = Node::start(edge("c", dir.path(), b_addr, "tc"))
        .await
        .unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let r = received.clone();
    c.connector.add_local_handler(
        "g.tollcast.c.recv",
        Arc::new(ServiceFn(move |req: IncomingRequest| {
            let r = r.clone();
            async move {
                let f: [u8; 32] = req.prepare.data[..].try_into().unwrap();
                r.fetch_add(req.prepare.amount, Ordering::SeqCst);
                Ok(Fulfill {
                    fulfillment: f,
                    data: Bytes::new(),
                })
            }
        })),
    );
    let link = AccountId::from("b");
    assert!(
        a.connector
            .wait_connected(&link, Duration::from_secs(20))
            .await
    );
    assert!(
        c.connector
            .wait_connected(&link, Duration::from_secs(20))
            .await
    );

    // Stream packets A -> C through B, one after another, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let fulfilled = Arc::new(AtomicU64::new(0));
    let sender = a.connector.sender(AccountId::local());
    let task = {
        let (stop, fulfilled) = (stop.clone(), fulfilled.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let pre: [u8; 32] = rand::random();
                let p = Prepare {
                    amount: AMOUNT,
                    expires_at: SystemTime::now() + Duration::from_secs(5),
                    execution_condition: condition_of(&pre),
                    destination: Address::new("g.tollcast.c.recv.x").unwrap(),
                    data: Bytes::copy_from_slice(&pre),
                };
                match sender
                    .handle(IncomingRequest {
                        from: AccountId::local(),
                        prepare: p,
                    })
                    .await
                {
                    Ok(_) => {
                        fulfilled.fetch_add(1, Ordering::SeqCst);
                    }
                    // B is down: the link is gone (T01) or the packet timed out; retry soon.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        })
    };
    let wait_for = |n: u64| {
        let f = fulfilled.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(60), async {
                while f.load(Ordering::SeqCst) < n {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("payments flow");
        }
    };
    wait_for(30).await;
    b.start_kill().unwrap(); // SIGKILL
    b.wait().await.unwrap();
    let at_kill = fulfilled.load(Ordering::SeqCst);
    let (mut b2, b2_addr) = spawn_node(&b_cfg, &b_addr.to_string()).await;
    assert_eq!(b2_addr, b_addr);
    assert!(
        a.connector
            .wait_connected(&link, Duration::from_secs(20))
            .await,
        "A reconnects to the restarted B"
    );
    assert!(
        c.connector
            .wait_connected(&link, Duration::from_secs(20))
            .await,
        "C reconnects"
    );
    wait_for(at_kill + 30).await;
    stop.store(true, Ordering::SeqCst);
    task.await.unwrap();

    // B's ledger after the restart, as its /accounts shows it.
    let v: serde_json::Value = serde_json::from_str(&http_get(b2_addr, "/accounts").await).unwrap();
    let get = |id: &str, f: &str| -> i128 {
        let acc = v["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == id)
            .unwrap();
        acc[f].as_i64().unwrap() as i128
    };
    for id in ["a", "c"] {
        assert_eq!(
            (get(id, "pending_incoming"), get(id, "pending_outgoing")),
            (0, 0),
            "nothing left pending at B/{id}"
        );
    }
    let (ab, abi, abo) = bal(&a, "b");
    let (cb, cbi, cbo) = bal(&c, "b");
    assert_eq!((abi, abo, cbi, cbo), (0, 0, 0, 0));
    let n = fulfilled.load(Ordering::SeqCst) as i128;
    assert_eq!(
        ab,
        n * AMOUNT as i128,
        "A owes B exactly what was fulfilled"
    );
    // Each link agrees, except at most the one packet in flight at the kill, if B had
    // committed it and the answer died with the process (B then holds the difference).
    let d_ab = ab + get("a", "balance");
    let d_bc = get("c", "balance") + cb;
    assert!(
        d_ab == 0 || d_ab == -(AMOUNT as i128),
        "A-B link off by {d_ab}"
    );
    assert!(
        d_bc == 0 || d_bc == -(FORWARDED as i128) || d_bc == FORWARDED as i128,
        "B-C link off by {d_bc}"
    );
    assert_eq!(
        -cb,
        received.load(Ordering::SeqCst) as i128,
        "C's ledger matches what its receiver got"
    );
    println!(
        "kill -9: {n} packets fulfilled ({at_kill} before the kill); link deltas after restart: A-B {d_ab}, B-C {d_bc}"
    );

    // `tollcast balance` shows B's accounts.
    let out = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(["balance", "--node", &format!("http://{b2_addr}")])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("node g.tollcast.b"), "{text}");
    assert!(text.contains(&get("a", "balance").to_string()), "{text}");
    b2.start_kill().unwrap();
    let _ = b2.wait().await;
}

#[tokio::test]
async fn bad_config_and_unreachable_node_exit_1_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[node]\nname = \"x\"\nledger = \"x.redb\"\n[[accounts]]\nid = \"p\"\nrelation = \"peer\"\nasset_code = \"USD\"\nasset_scale = 6\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(["node", "--config"])
        .arg(&p)
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("set btp_url (we connect) or auth_token"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args(["balance", "--node", "http://127.0.0.1:1"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is `tollcast node` running"));
}

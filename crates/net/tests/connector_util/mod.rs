//! Helpers shared by the connector integration tests: three real nodes on 127.0.0.1 in a
//! line (A - B - C) over BTP WebSockets, a test receiver, and conservation checks.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tollcast_net::connector::{
    AccountId, IlpReply, IlpService, IncomingRequest, Node, NodeConfig, ServiceFn,
};
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode;
use tollcast_wire::ilp::{Fulfill, Prepare, Reject};

pub struct Line {
    pub a: Node,
    pub b: Node,
    pub c: Node,
    pub received_a: Arc<Mutex<Vec<u64>>>,
    pub received_c: Arc<Mutex<Vec<u64>>>,
    pub dir: tempfile::TempDir,
}

/// B's fee: 1% + 10 base units on packets from A or C.
pub const FEE_BP: u32 = 100;
pub const FEE_FIXED: u64 = 10;

pub fn cfg(text: &str) -> NodeConfig {
    NodeConfig::from_toml(text, "test").expect("valid test config")
}

/// A receiver whose PREPARE data is the 32-byte preimage (test protocol, not STREAM):
/// `data = b"hang"` never answers, `data = b"wrong"` answers a non-matching fulfillment.
pub fn receiver(log: Arc<Mutex<Vec<u64>>>) -> Arc<dyn IlpService> {
    Arc::new(ServiceFn(move |req: IncomingRequest| {
        let log = log.clone();
        async move {
            if &req.prepare.data[..] == b"hang" {
                futures::future::pending::<()>().await;
            }
            if &req.prepare.data[..] == b"wrong" {
                return Ok(Fulfill {
                    fulfillment: [7u8; 32],
                    data: Bytes::new(),
                });
            }
            let Ok(f) = <[u8; 32]>::try_from(&req.prepare.data[..]) else {
                return Err(Reject::new(
                    ErrorCode::F06_UNEXPECTED_PAYMENT,
                    None,
                    "test receiver wants a preimage",
                ));
            };
            log.lock().unwrap().push(req.prepare.amount);
            Ok(Fulfill {
                fulfillment: f,
                data: Bytes::from_static(b"thanks"),
            })
        }
    }))
}

/// A PREPARE to `dest` that the test receiver fulfills.
pub fn prepare(dest: &str, amount: u64, expires_in: Duration) -> Prepare {
    let pre: [u8; 32] = rand::random();
    Prepare {
        amount,
        expires_at: SystemTime::now() + expires_in,
        execution_condition: Sha256::digest(pre).into(),
        destination: Address::new(dest).unwrap(),
        data: Bytes::copy_from_slice(&pre),
    }
}

pub async fn send(node: &Node, p: Prepare) -> IlpReply {
    node.connector
        .sender(AccountId::local())
        .handle(IncomingRequest {
            from: AccountId::local(),
            prepare: p,
        })
        .await
}

/// Starts B (server for both), then A and C (clients), waits for both links.
pub async fn line(extra_b: &str, extra_a_b: &str) -> Line {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let b = Node::start(cfg(&format!(
        r#"
[node]
name = "b"
ledger = "{d}/b.redb"
[fee]
basis_points = {FEE_BP}
fixed = {FEE_FIXED}
[rates]
USD = "1"
EUR = "1.08"
[[accounts]]
id = "a"
relation = "peer"
asset_code = "USD"
asset_scale = 6
auth_token = "token-a"
accept_btp_settlement = true
credit_limit = 5000000
max_packet_amount = 2000000
[[accounts]]
id = "c"
relation = "peer"
asset_code = "EUR"
asset_scale = 6
auth_token = "token-c"
credit_limit = 5000000
[[accounts]]
id = "mallory"
relation = "child"
asset_code = "USD"
asset_scale = 6
auth_token = "token-m"
credit_limit = 0
{extra_b}
[[routes]]
prefix = "g.tollcast.a"
account = "a"
[[routes]]
prefix = "g.tollcast.c"
account = "c"
"#
    )))
    .await
    .unwrap();
    let port = b.local_addr.port();
    let a = Node::start(cfg(&format!(
        r#"
[node]
name = "a"
ledger = "{d}/a.redb"
reconnect_min_ms = 20
[[accounts]]
id = "b"
relation = "peer"
asset_code = "USD"
asset_scale = 6
btp_url = "btp+ws://a:token-a@127.0.0.1:{port}"
credit_limit = 5000000
{extra_a_b}
[[routes]]
prefix = "g.tollcast"
account = "b"
"#
    )))
    .await
    .unwrap();
    let c = Node::start(cfg(&format!(
        r#"
[node]
name = "c"
ledger = "{d}/c.redb"
reconnect_min_ms = 20
[[accounts]]
id = "b"
relation = "peer"
asset_code = "EUR"
asset_scale = 6
btp_url = "ws://127.0.0.1:{port}"
auth_token = "token-c"
credit_limit = 5000000
[[routes]]
prefix = "g.tollcast"
account = "b"
"#
    )))
    .await
    .unwrap();
    let received_a = Arc::new(Mutex::new(Vec::new()));
    let received_c = Arc::new(Mutex::new(Vec::new()));
    a.connector
        .add_local_handler("g.tollcast.a.recv", receiver(received_a.clone()));
    c.connector
        .add_local_handler("g.tollcast.c.recv", receiver(received_c.clone()));
    let t = Duration::from_secs(10);
    assert!(
        a.connector.wait_connected(&AccountId::from("b"), t).await,
        "A -> B link"
    );
    assert!(
        c.connector.wait_connected(&AccountId::from("b"), t).await,
        "C -> B link"
    );
    assert!(b.connector.wait_connected(&AccountId::from("a"), t).await);
    assert!(b.connector.wait_connected(&AccountId::from("c"), t).await);
    Line {
        a,
        b,
        c,
        received_a,
        received_c,
        dir,
    }
}

pub fn balance(n: &Node, acc: &str) -> (i128, i128, i128) {
    let a = n.connector.ledger().account(acc).unwrap().unwrap();
    (a.balance, a.pending_incoming, a.pending_outgoing)
}

/// Money conservation across every link: each side's balance is the negation of the
/// other's, nothing is left pending, and every ledger's journal audits clean.
pub fn assert_conserved(l: &Line) {
    let (ab, abi, abo) = balance(&l.a, "b");
    let (ba, bai, bao) = balance(&l.b, "a");
    let (bc, bci, bco) = balance(&l.b, "c");
    let (cb, cbi, cbo) = balance(&l.c, "b");
    assert_eq!(
        ab + ba,
        0,
        "A-B link out of balance: A says {ab}, B says {ba}"
    );
    assert_eq!(
        bc + cb,
        0,
        "B-C link out of balance: B says {bc}, C says {cb}"
    );
    for (n, v) in [
        ("A/b", (abi, abo)),
        ("B/a", (bai, bao)),
        ("B/c", (bci, bco)),
        ("C/b", (cbi, cbo)),
    ] {
        assert_eq!(v, (0, 0), "{n} has money left pending");
    }
    for n in [&l.a, &l.b, &l.c] {
        n.connector.ledger().audit().expect("ledger audit");
    }
}

/// Waits (polling the ledger, bounded) until `f` holds.
pub async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

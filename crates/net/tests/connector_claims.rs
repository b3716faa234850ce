//! Settlement by signed payment-channel claims between real nodes over BTP WebSockets on
//! 127.0.0.1: three nodes in a line settle at their thresholds with cumulative claims (each
//! link's balances cancel, every ledger audits clean), and a hostile peer speaking raw BTP
//! gets forged, replayed and rolled-back claims refused with nothing changed, while valid
//! claims are credited exactly once and our latest claim is resent when it reconnects.

mod connector_util;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use connector_util::*;
use futures::{SinkExt, StreamExt};
use nostr::key::Keys;
use nostr::nips::nip19::ToBech32;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tollcast_ledger::{ChannelId, ChannelRole, Claim, EngineMessage, PROTOCOL_DATA_NAME};
use tollcast_net::connector::btp_codec::{self as btp, ContentType, Frame, ProtocolData};
use tollcast_net::connector::{AccountId, Node};

const T: Duration = Duration::from_secs(10);

fn hexkey(k: &Keys) -> String {
    k.secret_key().to_secret_hex()
}

/// A - B - C, all USD(6), no fee; every link settles by claims. A settles with B and B with
/// C once it owes 1.500000 USD, down to 0.
async fn claim_line(dir: &std::path::Path) -> (Node, Node, Node, Keys, Keys, Keys) {
    let (ka, kb, kc) = (Keys::generate(), Keys::generate(), Keys::generate());
    let d = dir.display();
    let b = Node::start(cfg(&format!(
        r#"
[node]
name = "b"
ledger = "{d}/b.redb"
node_key = "{nsec_b}"
[[accounts]]
id = "a"
relation = "peer"
asset_code = "USD"
asset_scale = 6
auth_token = "token-a"
credit_limit = 5000000
peer_pubkey = "{pa}"
[[accounts]]
id = "c"
relation = "peer"
asset_code = "USD"
asset_scale = 6
auth_token = "token-c"
credit_limit = 5000000
settle_threshold = 1500000
settle_to = 0
peer_pubkey = "{pc}"
[[routes]]
prefix = "g.tollcast.a"
account = "a"
[[routes]]
prefix = "g.tollcast.c"
account = "c"
"#,
        nsec_b = kb.secret_key().to_bech32().unwrap(),
        pa = ka.public_key().to_hex(),
        pc = kc.public_key().to_bech32().unwrap(),
    )))
    .await
    .unwrap();
    let port = b.local_addr.port();
    let a = Node::start(cfg(&format!(
        r#"
[node]
name = "a"
ledger = "{d}/a.redb"
node_key = "{ska}"
reconnect_min_ms = 20
[[accounts]]
id = "b"
relation = "peer"
asset_code = "USD"
asset_scale = 6
btp_url = "btp+ws://a:token-a@127.0.0.1:{port}"
credit_limit = 5000000
settle_threshold = 1500000
settle_to = 0
peer_pubkey = "{pb}"
[[routes]]
prefix = "g.tollcast"
account = "b"
"#,
        ska = hexkey(&ka),
        pb = kb.public_key().to_bech32().unwrap(),
    )))
    .await
    .unwrap();
    let c = Node::start(cfg(&format!(
        r#"
[node]
name = "c"
ledger = "{d}/c.redb"
node_key = "{skc}"
reconnect_min_ms = 20
[[accounts]]
id = "b"
relation = "peer"
asset_code = "USD"
asset_scale = 6
btp_url = "ws://127.0.0.1:{port}"
auth_token = "token-c"
credit_limit = 5000000
peer_pubkey = "{pb}"
[[routes]]
prefix = "g.tollcast"
account = "b"
"#,
        skc = hexkey(&kc),
        pb = kb.public_key().to_hex(),
    )))
    .await
    .unwrap();
    for (n, peer) in [(&a, "b"), (&c, "b"), (&b, "a"), (&b, "c")] {
        assert!(
            n.connector.wait_connected(&AccountId::from(peer), T).await,
            "link to {peer}"
        );
    }
    (a, b, c, ka, kb, kc)
}

fn conserved(a: &Node, b: &Node, c: &Node) {
    for (x, xa, y, ya) in [(a, "b", b, "a"), (b, "c", c, "b")] {
        let (bx, px_in, px_out) = balance(x, xa);
        let (by, py_in, py_out) = balance(y, ya);
        assert_eq!(bx + by, 0, "link out of balance: {bx} vs {by}");
        assert_eq!(
            (px_in, px_out, py_in, py_out),
            (0, 0, 0, 0),
            "money pending"
        );
    }
    for n in [a, b, c] {
        n.connector.ledger().audit().expect("ledger audit");
    }
}

fn cumulative(n: &Node, acc: &str, role: ChannelRole) -> (u64, u64) {
    let ch = n
        .connector
        .ledger()
        .channel_for(acc, role)
        .unwrap()
        .expect("channel opened at start");
    (ch.cumulative, ch.seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_settle_by_claims_at_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c, ka, kb, kc) = claim_line(dir.path()).await;
    assert_eq!(a.connector.node_pubkey(), ka.public_key().to_bytes());
    assert_eq!(b.connector.node_pubkey(), kb.public_key().to_bytes());
    assert_eq!(c.connector.node_pubkey(), kc.public_key().to_bytes());
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    c.connector
        .add_local_handler("g.tollcast.c.recv", receiver(got.clone()));

    send(&a, prepare("g.tollcast.c.recv.x", 1_000_000, T))
        .await
        .expect("fulfilled");
    assert_eq!(balance(&a, "b").0, 1_000_000, "below threshold: no claim");
    assert_eq!(cumulative(&a, "b", ChannelRole::Payer), (0, 0));
    send(&a, prepare("g.tollcast.c.recv.x", 1_000_000, T))
        .await
        .expect("fulfilled");
    eventually("A->B and B->C claims", || {
        balance(&a, "b").0 == 0
            && balance(&b, "a").0 == 0
            && balance(&b, "c").0 == 0
            && balance(&c, "b").0 == 0
    })
    .await;
    conserved(&a, &b, &c);
    assert_eq!(cumulative(&a, "b", ChannelRole::Payer), (2_000_000, 1));
    assert_eq!(cumulative(&b, "a", ChannelRole::Payee), (2_000_000, 1));
    assert_eq!(cumulative(&b, "c", ChannelRole::Payer), (2_000_000, 1));
    assert_eq!(cumulative(&c, "b", ChannelRole::Payee), (2_000_000, 1));

    // Two more: the next claims are cumulative (4.000000 in total, seq 2).
    for _ in 0..2 {
        send(&a, prepare("g.tollcast.c.recv.x", 1_000_000, T))
            .await
            .expect("fulfilled");
    }
    eventually("second round of claims", || {
        cumulative(&b, "a", ChannelRole::Payee) == (4_000_000, 2)
            && cumulative(&c, "b", ChannelRole::Payee) == (4_000_000, 2)
    })
    .await;
    eventually("balances settled", || {
        balance(&a, "b").0 == 0 && balance(&b, "c").0 == 0
    })
    .await;
    conserved(&a, &b, &c);
    assert_eq!(got.lock().unwrap().len(), 4);
    // Resending the latest claim (what a reconnect does) credits nothing more.
    a.connector
        .resend_latest_claim(&AccountId::from("b"))
        .await
        .expect("duplicate of the latest claim is acknowledged");
    assert_eq!(cumulative(&b, "a", ChannelRole::Payee), (4_000_000, 2));
    conserved(&a, &b, &c);
}

/// A raw BTP client: requests with answers, and Messages the node sends us queued.
struct Raw {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    inbox: VecDeque<(u32, Vec<ProtocolData>)>,
    next: u32,
}

impl Raw {
    async fn connect(node: &Node, token: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(node.btp_url())
            .await
            .unwrap();
        let mut r = Raw {
            ws,
            inbox: VecDeque::new(),
            next: 1,
        };
        let f = r
            .request(|id| {
                btp::encode_message(
                    id,
                    &[
                        btp::octets("auth", Bytes::new()),
                        ProtocolData::text("auth_username", ""),
                        ProtocolData::text("auth_token", token),
                    ],
                )
            })
            .await;
        assert!(matches!(f, Frame::Response { .. }), "auth: {f:?}");
        r
    }

    async fn next_frame(&mut self) -> Frame {
        loop {
            let m = tokio::time::timeout(T, self.ws.next())
                .await
                .expect("frame in time")
                .expect("socket open")
                .unwrap();
            if let WsMessage::Binary(b) = m {
                return btp::decode(b).unwrap();
            }
        }
    }

    async fn request(&mut self, build: impl FnOnce(u32) -> Bytes) -> Frame {
        let id = self.next;
        self.next += 1;
        self.ws.send(WsMessage::Binary(build(id))).await.unwrap();
        loop {
            match self.next_frame().await {
                Frame::Message {
                    request_id,
                    protocol_data,
                } => self.inbox.push_back((request_id, protocol_data)),
                f @ (Frame::Response { request_id, .. } | Frame::Error { request_id, .. })
                    if request_id == id =>
                {
                    return f;
                }
                _ => {}
            }
        }
    }

    /// Sends a claim as a BTP Message; `Err(message)` when the node refused it.
    async fn claim(&mut self, claim: &Claim) -> Result<(), String> {
        let data = EngineMessage::Claim {
            claim: claim.clone(),
        }
        .to_bytes();
        self.settlement_message(data).await
    }

    async fn settlement_message(&mut self, data: Vec<u8>) -> Result<(), String> {
        let pd = [ProtocolData::new(
            PROTOCOL_DATA_NAME,
            ContentType::APPLICATION_JSON,
            Bytes::from(data),
        )];
        match self.request(|id| btp::encode_message(id, &pd)).await {
            Frame::Response { .. } => Ok(()),
            Frame::Error { data, .. } => Err(String::from_utf8_lossy(&data).into_owned()),
            f => panic!("unexpected answer {f:?}"),
        }
    }

    /// The next settlement message the node sends us (answered with `ok` or an error).
    async fn settlement_from_node(&mut self, ok: bool) -> Claim {
        let (id, pd) = match self.inbox.pop_front() {
            Some(m) => m,
            None => loop {
                if let Frame::Message {
                    request_id,
                    protocol_data,
                } = self.next_frame().await
                {
                    break (request_id, protocol_data);
                }
            },
        };
        assert_eq!(pd[0].name, PROTOCOL_DATA_NAME);
        assert_eq!(pd[0].content_type, ContentType::APPLICATION_JSON);
        let answer = if ok {
            btp::encode_response(id, &[])
        } else {
            btp::encode_error(id, "T00", "UnreachableError", b"lost", &[])
        };
        self.ws.send(WsMessage::Binary(answer)).await.unwrap();
        match EngineMessage::from_bytes(&pd[0].data).unwrap() {
            EngineMessage::Claim { claim } => claim,
            m => panic!("expected a claim, got {m:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_peer_claims_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (h, mallory) = (Keys::generate(), Keys::generate());
    let d = dir.path().display();
    let n = Node::start(cfg(&format!(
        r#"
[node]
name = "n"
ledger = "{d}/n.redb"
[[accounts]]
id = "h"
relation = "peer"
asset_code = "USD"
asset_scale = 6
auth_token = "token-h"
credit_limit = 1000
settle_threshold = 1000000
settle_to = 0
peer_pubkey = "{ph}"
[[accounts]]
id = "t"
relation = "peer"
asset_code = "USD"
asset_scale = 6
auth_token = "token-t"
"#,
        ph = h.public_key().to_hex()
    )))
    .await
    .unwrap();
    // No node_key: generated into the key file beside the ledger.
    let key_file = dir.path().join("n.redb.key");
    let stored = std::fs::read_to_string(&key_file).expect("key file written on first start");
    assert_eq!(
        Keys::parse(stored.trim()).unwrap().public_key().to_bytes(),
        n.connector.node_pubkey()
    );
    let me = n.connector.node_pubkey();
    let ch = ChannelId::derive(&h.public_key().to_bytes(), &me, "USD", 6);
    let sign = |k: &Keys, cum: u64, seq: u64| Claim::sign(k, ch, "USD", 6, cum, seq).unwrap();
    let bal = || balance(&n, "h").0;
    let mut raw = Raw::connect(&n, "token-h").await;

    raw.claim(&sign(&h, 100, 1)).await.expect("valid claim");
    assert_eq!(bal(), 100, "credited exactly the claimed amount");
    let journal_len = || n.connector.ledger().journal(0, 10_000).unwrap().len();
    let before = journal_len();

    // Forged: signed by another key (as itself, and claiming to be h).
    let e = raw.claim(&sign(&mallory, 5_000, 2)).await.unwrap_err();
    assert!(e.contains("claim refused"), "{e}");
    let mut forged = sign(&mallory, 5_000, 2);
    forged.signer = h.public_key().to_bytes();
    let e = raw.claim(&forged).await.unwrap_err();
    assert!(e.contains("claim refused"), "{e}");
    // Tampered: a valid claim with its amount raised.
    let mut tampered = sign(&h, 200, 2);
    tampered.cumulative = 9_000;
    assert!(raw.claim(&tampered).await.is_err());
    // Another channel (wrong payee).
    let other = ChannelId::derive(&h.public_key().to_bytes(), &[7u8; 32], "USD", 6);
    assert!(
        raw.claim(&Claim::sign(&h, other, "USD", 6, 900, 2).unwrap())
            .await
            .is_err()
    );
    // Garbage and a hello trying to re-key the account.
    assert!(raw.settlement_message(b"{not json".to_vec()).await.is_err());
    let hello = EngineMessage::Hello {
        pubkey: mallory.public_key().to_hex(),
    };
    assert!(raw.settlement_message(hello.to_bytes()).await.is_err());
    assert_eq!((bal(), journal_len()), (100, before), "nothing changed");

    // A newer claim credits only the difference.
    let latest = sign(&h, 300, 2);
    raw.claim(&latest).await.expect("newer claim");
    assert_eq!(bal(), 300);
    let before = journal_len();
    // Replayed older claim, and a rolled-back one (higher seq, lower cumulative): refused.
    assert!(raw.claim(&sign(&h, 100, 1)).await.is_err(), "replay");
    assert!(raw.claim(&sign(&h, 250, 3)).await.is_err(), "rollback");
    assert!(
        raw.claim(&sign(&h, 400, 2)).await.is_err(),
        "same seq, new amount"
    );
    // The latest again (a reconnect resend) is acknowledged and credits nothing.
    raw.claim(&latest).await.expect("duplicate is idempotent");
    // A claim inside a BTP Transfer is judged by the claim, never by the amount field.
    let pd = [ProtocolData::new(
        PROTOCOL_DATA_NAME,
        ContentType::APPLICATION_JSON,
        Bytes::from(
            EngineMessage::Claim {
                claim: latest.clone(),
            }
            .to_bytes(),
        ),
    )];
    let f = raw
        .request(|id| btp::encode_transfer(id, 1_000_000, &pd))
        .await;
    assert!(matches!(f, Frame::Response { .. }), "{f:?}");
    assert_eq!((bal(), journal_len()), (300, before), "nothing changed");
    n.connector.ledger().audit().expect("audit");

    // An account without peer_pubkey takes no claims at all.
    let mut t = Raw::connect(&n, "token-t").await;
    let e = t.claim(&sign(&h, 1_000, 3)).await.unwrap_err();
    assert!(e.contains("no peer_pubkey"), "{e}");
    assert_eq!(balance(&n, "t").0, 0);

    // h prepays past n's threshold: n settles back by its own signed claim; we drop the
    // first delivery, n resends, and after a reconnect n resends its latest claim again.
    raw.claim(&sign(&h, 1_000_300, 3)).await.expect("prepay");
    let c1 = n_claim(&mut raw, false).await;
    let nk = n.connector.node_pubkey();
    c1.verify(&nk).expect("signed by n's key");
    assert_eq!(
        c1.channel_id,
        ChannelId::derive(&nk, &h.public_key().to_bytes(), "USD", 6)
    );
    assert_eq!((c1.cumulative, c1.seq), (1_000_300, 1));
    let c2 = n_claim(&mut raw, true).await;
    assert_eq!(
        (c2.cumulative, c2.seq),
        (1_000_300, 1),
        "resent after a failure"
    );
    eventually("n settled", || bal() == 0).await;
    drop(raw);
    let mut raw = Raw::connect(&n, "token-h").await;
    let c3 = n_claim(&mut raw, true).await;
    assert_eq!(
        (c3.cumulative, c3.seq),
        (1_000_300, 1),
        "resent on reconnect"
    );
    assert_eq!(bal(), 0, "resending pays nothing twice");
    n.connector.ledger().audit().expect("audit");
}

async fn n_claim(raw: &mut Raw, ok: bool) -> Claim {
    raw.settlement_from_node(ok).await
}

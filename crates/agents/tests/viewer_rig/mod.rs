//! Test market for the viewer agent, all real and on 127.0.0.1: the relay tests' origin +
//! Nostr relay ([`crate::common::start_origin`]), the stream's kind-30311 announcement, a
//! "bank" ILP node holding the viewer's wallet account and the relays' accounts, paid relays
//! (each with its own ILP node dialing the bank over BTP, a STREAM receiver, credit-mode
//! billing and a kind-31312 offer), each behind a TCP front door that can be killed (every
//! socket dropped, like a dead process), and optionally tampering with the parts it serves.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tollcast_agents::relay::Relay;
use tollcast_agents::relay::billing::{Billing, BillingConfig};
use tollcast_agents::relay::offer::OfferSettings;
use tollcast_agents::viewer::wallet::{Wallet, WalletConfig};
use tollcast_agents::viewer::{Viewer, ViewerConfig};
use tollcast_events::live::{LiveEvent, LiveStatus};
use tollcast_events::nostr::prelude::Keys;
use tollcast_net::connector::node::accounts_view;
use tollcast_net::connector::{AccountsView, Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::stream::StreamReceiver;

use crate::common::{Rig, start_origin};

pub const TOKEN: &str = "viewer-token";

/// A TCP front door forwarding to `target`; [`FrontDoor::kill`] closes it and every open
/// connection at once.
pub struct FrontDoor {
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
    conns: Arc<std::sync::Mutex<JoinSet<()>>>,
}

impl FrontDoor {
    pub async fn open(target: SocketAddr) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let conns = Arc::new(std::sync::Mutex::new(JoinSet::new()));
        let c2 = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = l.accept().await {
                let _ = inbound.set_nodelay(true);
                c2.lock().unwrap().spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(target).await {
                        let _ = out.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
            }
        });
        Self {
            addr,
            accept,
            conns,
        }
    }

    pub fn kill(&self) {
        self.accept.abort();
        self.conns.lock().unwrap().abort_all();
    }
}

/// A paid relay of the market.
pub struct PaidRelay {
    pub name: String,
    pub keys: Keys,
    pub relay: Relay,
    pub door: FrontDoor,
    pub node: Node,
    pub receiver: Arc<StreamReceiver>,
    pub billing: Arc<Billing>,
    pub price_per_second: u64,
    advertise: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl PaidRelay {
    pub fn url(&self) -> String {
        format!("http://{}", self.door.addr)
    }
    /// Money this relay's node received from the bank (its ledger's view).
    pub fn node_received(&self) -> i128 {
        -account(&self.node, "bank").balance
    }
    /// Kill it: front door and connections gone, no more offers.
    pub fn kill(&self) {
        self.advertise.abort();
        self.door.kill();
    }
}

pub fn account(node: &Node, id: &str) -> tollcast_net::connector::AccountView {
    let v: AccountsView = accounts_view(&node.connector).unwrap();
    v.accounts
        .into_iter()
        .find(|a| a.id == id)
        .unwrap_or_else(|| panic!("account {id} missing"))
}

pub struct Market {
    pub rig: Rig,
    pub bank: Node,
    pub relays: Vec<PaidRelay>,
    pub naddr: String,
    pub funds: u64,
    _dir: tempfile::TempDir,
}

/// How a relay of the market behaves.
#[derive(Clone, Copy)]
pub struct RelaySpec {
    pub price_per_second: u64,
    /// Flip a byte in every part it serves.
    pub tamper: bool,
}

pub fn honest(price_per_second: u64) -> RelaySpec {
    RelaySpec {
        price_per_second,
        tamper: false,
    }
}

/// Start the market: origin, announcement, bank (the viewer's account may owe `funds`), and
/// one paid relay per spec (names ra, rb, ...).
pub async fn market(funds: u64, specs: &[RelaySpec]) -> Market {
    let rig = start_origin().await;
    let dir = tempfile::tempdir().unwrap();
    let mut bank_toml = format!(
        "[node]\nname = \"bank\"\naddress = \"test.bank\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n\
         [[accounts]]\nid = \"viewer\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\n\
         auth_token = \"{TOKEN}\"\ncredit_limit = {funds}\n",
        dir.path().join("bank.redb").display()
    );
    let names: Vec<String> = (0..specs.len())
        .map(|i| format!("r{}", (b'a' + i as u8) as char))
        .collect();
    for n in &names {
        bank_toml.push_str(&format!(
            "\n[[accounts]]\nid = \"{n}\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\n\
             auth_token = \"{n}-token\"\n"
        ));
    }
    let bank = Node::start(NodeConfig::from_toml(&bank_toml, "bank").unwrap())
        .await
        .unwrap();

    // The stream's announcement.
    let mut live = LiveEvent::new(rig.stream.identifier.clone());
    live.title = Some("Viewer test stream".into());
    live.summary = Some("synthetic 320x180".into());
    live.status = Some(LiveStatus::Live);
    live.starts = Some(1);
    live.relays = vec![rig.nostr_url.clone()];
    let ev = live.sign(&rig.keys, None).unwrap();
    let nostr = RelayClient::connect(&rig.nostr_url, ClientOptions::default()).unwrap();
    assert!(
        nostr
            .publish(&ev, Duration::from_secs(5))
            .await
            .unwrap()
            .accepted
    );
    let naddr = rig.stream.to_naddr(&[&rig.nostr_url]).unwrap();

    let mut relays = Vec::new();
    for (name, spec) in names.iter().zip(specs) {
        relays.push(paid_relay(&rig, &bank, name, *spec, &nostr).await);
    }
    // Media is flowing before anyone watches.
    rig.wait_manifests(1).await;
    Market {
        rig,
        bank,
        relays,
        naddr,
        funds,
        _dir: dir,
    }
}

async fn tamper(req: Request, next: Next) -> Response {
    // Chunks by name (`/{sha256}[.ext]`), as relays and viewers fetch them.
    let name = req.uri().path().trim_start_matches('/');
    let is_part = name.len() >= 64 && name[..64].bytes().all(|b| b.is_ascii_hexdigit());
    let resp = next.run(req).await;
    if !is_part || !resp.status().is_success() {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let mut bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap()
        .to_vec();
    if let Some(b) = bytes.last_mut() {
        *b ^= 0x55;
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn paid_relay(
    rig: &Rig,
    bank: &Node,
    name: &str,
    spec: RelaySpec,
    nostr: &RelayClient,
) -> PaidRelay {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[node]\nname = \"{name}\"\naddress = \"test.bank.{name}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n\
         [[accounts]]\nid = \"bank\"\nrelation = \"parent\"\nasset_code = \"USD\"\nasset_scale = 6\n\
         btp_url = \"btp+ws://:{name}-token@{}\"\ncredit_limit = 1000000000000\n",
        dir.path().join("node.redb").display(),
        bank.local_addr
    );
    let node = Node::start(NodeConfig::from_toml(&toml, name).unwrap())
        .await
        .unwrap();
    assert!(
        node.connector
            .wait_connected(
                &tollcast_net::connector::AccountId::new("bank"),
                Duration::from_secs(10)
            )
            .await,
        "relay node {name} could not reach the bank"
    );
    let receiver = StreamReceiver::attach(&node.connector, "relay", "USD", 6, None).unwrap();
    let billing = Arc::new(Billing::new(BillingConfig {
        price_per_second: spec.price_per_second,
        grace: Duration::from_secs(3),
        asset_code: "USD".into(),
        asset_scale: 6,
        pay_to: None,
    }));
    billing.follow(&receiver);
    let (relay, inner_addr, rdir) = rig
        .relay_paid(
            &format!("http://{}", rig.origin_addr),
            Some(billing.clone()),
            Some(receiver.clone()),
            Duration::from_secs(8),
        )
        .await;
    let inner_addr = if spec.tamper {
        // A second face of the same relay that corrupts the parts it serves.
        let router = relay
            .paid_router(receiver.clone())
            .layer(middleware::from_fn(tamper));
        crate::common::serve(router).await
    } else {
        inner_addr
    };
    let door = FrontDoor::open(inner_addr).await;
    let keys = Keys::generate();
    let url = format!("http://{}", door.addr);
    let advertise = relay.advertise(
        keys.clone(),
        vec![nostr.clone()],
        OfferSettings {
            ilp_address: receiver.config().server_address.to_string(),
            spsp: vec![format!("{url}/.well-known/pay")],
            url: Some(url),
            price_per_gb: None,
            capacity: 100,
            every: Duration::from_secs(30),
        },
    );
    std::mem::forget(rdir);
    PaidRelay {
        name: name.to_string(),
        keys,
        relay,
        door,
        node,
        receiver,
        billing,
        price_per_second: spec.price_per_second,
        advertise,
        _dir: dir,
    }
}

/// A running viewer with its HTTP address.
pub struct TestViewer {
    pub viewer: Viewer,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

pub fn viewer_config(m: &Market) -> ViewerConfig {
    ViewerConfig {
        nostr: vec![m.rig.nostr_url.clone()],
        stall_ms: 1_500,
        pay_ahead_ms: 1_500,
        discovery_timeout_ms: 3_000,
        ..ViewerConfig::default()
    }
}

impl Market {
    /// Wait until every relay's offer is on the Nostr relay.
    pub async fn offers_published(&self) {
        use tollcast_events::nostr::prelude::{Filter, Kind};
        let c = RelayClient::connect(&self.rig.nostr_url, ClientOptions::default()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let evs = c
                .fetch(
                    vec![
                        Filter::new()
                            .kind(Kind::from(tollcast_events::offer::KIND_RELAY_OFFER))
                            .identifier(self.rig.stream.to_string()),
                    ],
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            if evs.len() >= self.relays.len() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "relay offers never published"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn viewer(&self, cfg: ViewerConfig) -> TestViewer {
        self.offers_published().await;
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::connect(
            &WalletConfig {
                node: format!("btp+ws://:{TOKEN}@{}", self.bank.local_addr),
                token: None,
                asset_code: "USD".into(),
                asset_scale: 6,
                account: Some("viewer".into()),
            },
            &dir.path().join("wallet.redb"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        let viewer = Viewer::start(
            cfg,
            Keys::generate(),
            &self.naddr,
            Arc::new(wallet),
            &dir.path().join("cache"),
        )
        .await
        .unwrap();
        let addr = crate::common::serve(viewer.router()).await;
        TestViewer {
            viewer,
            addr,
            _dir: dir,
        }
    }

    /// What the bank says about `id`.
    pub fn bank_balance(&self, id: &str) -> i128 {
        account(&self.bank, id).balance
    }
}

/// POST `body` (JSON) to `path`.
pub async fn post_json(addr: SocketAddr, path: &str, body: &str) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Parse the media playlist: (msn of the first segment, chunk names in order: each full
/// segment's parts and the open segment's parts).
pub fn part_names(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .filter_map(|l| {
            let uri = if let Some(rest) = l.strip_prefix("#EXT-X-PART:") {
                rest.split(',')
                    .find_map(|kv| kv.strip_prefix("URI=\""))
                    .map(|u| u.trim_end_matches('"'))
            } else {
                None
            }?;
            let name = uri.rsplit('/').next()?;
            Some(name.to_string())
        })
        .collect()
}

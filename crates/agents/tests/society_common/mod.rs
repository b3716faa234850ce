//! Test rig for chat, tips and moderation: ILP nodes on 127.0.0.1 (a creator node hosting a
//! Nostr relay with the chat gate and a tip receiving agent, wallet nodes as its children
//! over BTP), and ledger sums for conservation checks.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tollcast_agents::chat::ChatGate;
use tollcast_agents::tips::{TipService, TipServiceConfig};
use tollcast_events::nostr::prelude::{Event, Keys};
use tollcast_net::connector::{AccountId, IlpService, Node, NodeConfig};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};
use tollcast_wire::address::Address;

pub const T: Duration = Duration::from_secs(15);

pub async fn node(name: &str, address: &str, rest: &str) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[node]\nname = \"{name}\"\naddress = \"{address}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n{rest}",
        dir.path().join("ledger.redb").display()
    );
    (
        Node::start(NodeConfig::from_toml(&text, "test").unwrap())
            .await
            .unwrap(),
        dir,
    )
}

/// What `n` owes its peer `account` (negative: the peer owes `n`).
pub fn balance(n: &Node, account: &str) -> i128 {
    tollcast_net::connector::node::accounts_view(&n.connector)
        .unwrap()
        .accounts
        .into_iter()
        .find(|a| a.id == account)
        .unwrap()
        .balance
}

pub async fn serve(router: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = tollcast_net::http_serve::serve(l, router).await;
    });
    addr
}

/// The creator's node: relay (chat gate at `test.c.nostr`), tip agent (`test.c.tips`).
pub struct CreatorSide {
    pub node: Node,
    pub relay: NostrRelay,
    pub relay_url: String,
    pub relay_ilp: Address,
    pub gate: ChatGate,
    pub tips: Arc<TipService>,
    pub tip_url: String,
    pub tip_agent: Keys,
    _dirs: Vec<tempfile::TempDir>,
}

/// A wallet node, child of the creator node.
pub struct Wallet {
    pub node: Node,
    pub name: String,
    _dir: tempfile::TempDir,
}

impl Wallet {
    pub fn sender(&self) -> Arc<dyn IlpService> {
        self.node.connector.sender(AccountId::local())
    }
    /// What this wallet paid out so far (it owes the creator node this much).
    pub fn paid(&self) -> i128 {
        balance(&self.node, "c")
    }
}

pub async fn creator_side(creator: &Keys, children: &[&str]) -> CreatorSide {
    let mut accounts = String::new();
    for c in children {
        accounts.push_str(&format!(
            "[[accounts]]\nid = \"{c}\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\nauth_token = \"token-{c}\"\ncredit_limit = 1000000000\n\n"
        ));
    }
    let (node, nd) = node("c", "test.c", &accounts).await;
    let rdir = tempfile::tempdir().unwrap();
    let mut rc = RelayConfig::default();
    rc.pricing.base_per_byte = 2;
    rc.info.ilp_address = Some("test.c.nostr".into());
    let relay = NostrRelay::open(rc, rdir.path().join("events.redb")).unwrap();
    let (raddr, _t) = relay
        .clone()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let relay_url = format!("ws://{raddr}");
    let relay_ilp = Address::new("test.c.nostr").unwrap();
    let gate = ChatGate::new(&relay, relay_ilp.clone());
    node.connector
        .add_local_handler("test.c.nostr", Arc::new(gate.clone()));
    let tip_agent = Keys::generate();
    let mut cfg = TipServiceConfig::new("USD", 6);
    cfg.publish_relays = vec![relay_url.clone()];
    let tips = TipService::attach(
        &node.connector,
        tip_agent.clone(),
        creator.public_key(),
        cfg,
    )
    .unwrap();
    let taddr = serve(tips.router()).await;
    CreatorSide {
        node,
        relay,
        relay_url,
        relay_ilp,
        gate,
        tips,
        tip_url: format!("http://{taddr}"),
        tip_agent,
        _dirs: vec![nd, rdir],
    }
}

pub async fn wallet(name: &str, creator: &CreatorSide) -> Wallet {
    let (node, dir) = node(
        name,
        &format!("test.{name}"),
        &format!(
            "[[accounts]]\nid = \"c\"\nrelation = \"parent\"\nasset_code = \"USD\"\nasset_scale = 6\nbtp_url = \"{}\"\nauth_token = \"token-{name}\"\n\n[[routes]]\nprefix = \"test.c\"\naccount = \"c\"\n",
            creator.node.btp_url()
        ),
    )
    .await;
    assert!(
        node.connector.wait_connected(&AccountId::new("c"), T).await,
        "wallet {name} connected to the creator node"
    );
    Wallet {
        node,
        name: name.to_string(),
        _dir: dir,
    }
}

/// Publish `ev` over the relay WebSocket and require an OK true.
pub async fn publish(url: &str, ev: &Event) {
    use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
    let c = RelayClient::connect(url, ClientOptions::default()).unwrap();
    let ack = c.publish(ev, T).await.unwrap();
    assert!(ack.accepted, "relay accepted {}: {}", ev.kind, ack.message);
}

/// Stored events matching `filter`, read back over the relay WebSocket.
pub async fn fetch(url: &str, filter: tollcast_events::nostr::prelude::Filter) -> Vec<Event> {
    use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
    let c = RelayClient::connect(url, ClientOptions::default()).unwrap();
    c.fetch(vec![filter], T).await.unwrap()
}

/// Every bilateral pair nets to zero, and what the wallets paid is what the creator's
/// services received.
pub fn assert_conserved(creator: &CreatorSide, wallets: &[&Wallet]) {
    let mut paid: i128 = 0;
    for w in wallets {
        let mine = balance(&w.node, "c");
        let theirs = balance(&creator.node, &w.name);
        assert_eq!(
            mine + theirs,
            0,
            "ledgers of {} and c mirror each other",
            w.name
        );
        paid += mine;
    }
    let received = creator
        .gate
        .counters()
        .amount_received
        .load(std::sync::atomic::Ordering::Relaxed) as i128
        + creator.tips.total_received() as i128
        + creator
            .relay
            .metrics()
            .ilp_amount_received
            .load(std::sync::atomic::Ordering::Relaxed) as i128;
    assert_eq!(
        paid, received,
        "money paid by wallets = money received by the relay and tip agent"
    );
}

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
    /// While set, new connections are accepted and then never answered (a stalled process).
    frozen: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<JoinSet<()>>>,
}

impl FrontDoor {
    pub async fn open(target: SocketAddr) -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), target)
    }

    fn serve(l: TcpListener, target: SocketAddr) -> Self {
        let addr = l.local_addr().unwrap();
        let conns = Arc::new(std::sync::Mutex::new(JoinSet::new()));
        let c2 = conns.clone();
        let frozen = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f2 = frozen.clone();
        let accept = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((mut inbound, _)) = l.accept().await {
                if f2.load(std::sync::atomic::Ordering::SeqCst) {
                    held.push(inbound);
                    continue;
                }
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
            frozen,
            conns,
        }
    }

    /// Stop answering: requests from now on hang (open connections finish).
    pub fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn kill(&self) {
        self.accept.abort();
        self.conns.lock().unwrap().abort_all();
    }

    /// A door at `addr` again (after [`Self::kill`]: the same port comes back).
    pub async fn reopen(addr: SocketAddr, target: SocketAddr) -> Self {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            // The killed listener is dropped by its aborted task; give it a moment.
            match TcpListener::bind(addr).await {
                Ok(l) => return Self::serve(l, target),
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "cannot bind {addr} again: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
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
    /// With [`RelaySpec::link_door`]: the door the node's BTP link to the bank runs through
    /// (kill it: the Interledger path bank -> relay is down), and the bank's address.
    pub link: std::sync::Mutex<Option<FrontDoor>>,
    pub link_addr: Option<SocketAddr>,
    advertise: JoinHandle<()>,
    _spsp_nostr: Option<JoinHandle<()>>,
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
    /// Cut the Interledger link between this relay's node and the bank.
    pub fn cut_link(&self) {
        self.link
            .lock()
            .unwrap()
            .as_ref()
            .expect("link_door")
            .kill();
    }

    /// Restore the link on the same port (the node redials it).
    pub async fn restore_link(&self) {
        let addr = self.link.lock().unwrap().as_ref().expect("link_door").addr;
        let door = FrontDoor::reopen(addr, self.link_addr.unwrap()).await;
        *self.link.lock().unwrap() = Some(door);
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
    /// The creator's tip receiver (on the bank node).
    pub creator: Arc<StreamReceiver>,
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
    /// Charge twice the advertised price (and allow only 500 ms of grace).
    pub overcharge: bool,
    /// Advertise an SPSP endpoint that refuses every payment (answers 404).
    pub refuse_payment: bool,
    /// SPSP over Nostr: None, not offered; Some(true), the offer lists the relay's key
    /// (`nostr:nprofile1…`) and the relay answers for it; Some(false), listed but silent.
    pub spsp_nostr: Option<bool>,
    /// The relay node's BTP link to the bank goes through a [`FrontDoor`] (`PaidRelay::link`).
    pub link_door: bool,
}

pub fn honest(price_per_second: u64) -> RelaySpec {
    RelaySpec {
        price_per_second,
        tamper: false,
        overcharge: false,
        refuse_payment: false,
        spsp_nostr: None,
        link_door: false,
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
    // The creator takes tips at an SPSP receiver on the bank (`spsp` tag of the live event).
    let creator = StreamReceiver::attach(&bank.connector, "creator", "USD", 6, None).unwrap();
    let creator_spsp = crate::common::serve(tollcast_net::stream::spsp_http::router(
        creator.clone(),
        "/.well-known/pay",
    ))
    .await;
    let ev = {
        use tollcast_events::nostr::prelude::{FinalizeEvent, Tag};
        live.to_builder()
            .unwrap()
            .tag(
                Tag::parse([
                    "spsp".to_string(),
                    format!("http://{creator_spsp}/.well-known/pay"),
                ])
                .unwrap(),
            )
            .tag(Tag::parse(["chat_price", "7", "USD", "6"]).unwrap())
            .finalize(&rig.keys)
            .unwrap()
    };
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
        creator,
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
    let link = if spec.link_door {
        Some(FrontDoor::open(bank.local_addr).await)
    } else {
        None
    };
    let toml = format!(
        "[node]\nname = \"{name}\"\naddress = \"test.bank.{name}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n{}\n\
         [[accounts]]\nid = \"bank\"\nrelation = \"parent\"\nasset_code = \"USD\"\nasset_scale = 6\n\
         btp_url = \"btp+ws://:{name}-token@{}\"\ncredit_limit = 1000000000000\n",
        dir.path().join("node.redb").display(),
        // A link that is cut and restored is redialed within a second.
        if spec.link_door {
            "reconnect_max_ms = 1000\n"
        } else {
            ""
        },
        link.as_ref().map_or(bank.local_addr, |d| d.addr)
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
        price_per_second: spec.price_per_second * if spec.overcharge { 2 } else { 1 },
        grace: Duration::from_millis(if spec.overcharge { 500 } else { 3_000 }),
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
    let mut settings = OfferSettings {
        ilp_address: receiver.config().server_address.to_string(),
        spsp: vec![if spec.refuse_payment {
            format!("{url}/no-such-pay-endpoint")
        } else {
            format!("{url}/.well-known/pay")
        }],
        url: Some(url),
        price_per_gb: None,
        capacity: 100,
        every: Duration::from_secs(30),
    };
    let mut spsp_nostr_task = None;
    if let Some(answers) = spec.spsp_nostr {
        settings
            .spsp
            .push(tollcast_agents::relay::agent::spsp_nostr_uri(
                &keys.public_key(),
                &[nostr.url().to_string()],
            ));
        if answers {
            spsp_nostr_task = Some(
                tollcast_net::stream::spsp_nostr::serve(
                    nostr.clone(),
                    keys.clone(),
                    receiver.clone(),
                )
                .await
                .unwrap(),
            );
        }
    }
    let advertise = if spec.overcharge {
        // Advertise the honest price, bill twice that.
        let mut offer = relay.offer(&settings);
        offer.price_per_minute = Some(tollcast_events::Price::new(
            spec.price_per_second * 60,
            "USD",
            6,
        ));
        let ev = offer.sign(&keys, None).unwrap();
        assert!(
            nostr
                .publish(&ev, Duration::from_secs(5))
                .await
                .unwrap()
                .accepted
        );
        tokio::spawn(async {})
    } else {
        relay.advertise(keys.clone(), vec![nostr.clone()], settings)
    };
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
        link_addr: link.as_ref().map(|_| bank.local_addr),
        link: std::sync::Mutex::new(link),
        advertise,
        _spsp_nostr: spsp_nostr_task,
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
        self.viewer_with_keys(cfg, Keys::generate()).await
    }

    /// Publish `keys`' follow list (kind 3) naming `follows`.
    pub async fn follow(
        &self,
        keys: &Keys,
        follows: &[tollcast_events::nostr::prelude::PublicKey],
    ) {
        use tollcast_events::nostr::prelude::{EventBuilder, FinalizeEvent, Kind, Tag};
        let mut b = EventBuilder::new(Kind::ContactList, "");
        for pk in follows {
            b = b.tag(Tag::parse(["p".to_string(), pk.to_hex()]).unwrap());
        }
        let ev = b.finalize(keys).unwrap();
        let c = RelayClient::connect(&self.rig.nostr_url, ClientOptions::default()).unwrap();
        assert!(
            c.publish(&ev, Duration::from_secs(5))
                .await
                .unwrap()
                .accepted
        );
    }

    pub async fn viewer_with_keys(&self, cfg: ViewerConfig, keys: Keys) -> TestViewer {
        self.viewer_via(cfg, keys, self.bank.local_addr).await
    }

    /// A viewer whose wallet link to the bank goes through a [`FrontDoor`] (kill it: the
    /// wallet link is down; [`FrontDoor::reopen`] its address to restore it).
    pub async fn viewer_with_wallet_door(&self, cfg: ViewerConfig) -> (TestViewer, FrontDoor) {
        let door = FrontDoor::open(self.bank.local_addr).await;
        let v = self.viewer_via(cfg, Keys::generate(), door.addr).await;
        (v, door)
    }

    /// A viewer whose wallet dials the bank at `bank`.
    pub async fn viewer_via(&self, cfg: ViewerConfig, keys: Keys, bank: SocketAddr) -> TestViewer {
        self.offers_published().await;
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::connect(
            &WalletConfig {
                node: format!("btp+ws://:{TOKEN}@{bank}"),
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
            keys,
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

/// A part as a player got it.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: tokio::time::Instant,
    pub msn: u64,
    pub part: u32,
    pub hash: String,
}

/// (msn, part index, chunk name) of every part a media playlist lists.
pub fn parts_with_position(playlist: &str) -> Vec<(u64, u32, String)> {
    let mut out = Vec::new();
    let (mut msn, mut idx) = (0u64, 0u32);
    let mut lines = playlist.lines();
    while let Some(l) = lines.next() {
        if let Some(v) = l.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            msn = v.trim().parse().unwrap();
        } else if let Some(v) = l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS=") {
            msn += v.split(',').next().unwrap().parse::<u64>().unwrap();
        } else if let Some(rest) = l.strip_prefix("#EXT-X-PART:") {
            let uri = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("URI=\""))
                .unwrap()
                .trim_end_matches('"');
            out.push((msn, idx, uri.rsplit('/').next().unwrap().to_string()));
            idx += 1;
        } else if l.starts_with("#EXTINF") {
            lines.next();
            msn += 1;
            idx = 0;
        }
    }
    out
}

/// Play like an LL-HLS player for `duration`: blocking reloads for the next part, every new
/// part fetched in order (bytes checked against their name). Returns the parts in the order
/// they arrived and the number of failed requests.
pub async fn play(
    addr: SocketAddr,
    duration: Duration,
    mut during: impl FnMut(Duration),
) -> (Vec<Arrival>, u32) {
    use tollcast_media::store::sha256_hex;
    let t0 = tokio::time::Instant::now();
    let mut got: Vec<Arrival> = Vec::new();
    let mut failures = 0u32;
    let mut next: Option<(u64, u32)> = None;
    while t0.elapsed() < duration {
        during(t0.elapsed());
        let path = match next {
            None => "/live/source/index.m3u8".to_string(),
            Some((m, p)) => format!("/live/source/index.m3u8?_HLS_msn={m}&_HLS_part={p}"),
        };
        let r = crate::common::get(addr, &path).await;
        if r.status != 200 {
            failures += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let listed = parts_with_position(&r.text());
        let last = got.last().map(|a| (a.msn, a.part));
        let fresh: Vec<_> = listed
            .into_iter()
            .filter(|(m, p, _)| match last {
                None => true,
                Some(l) => (*m, *p) > l,
            })
            .collect();
        // Start at the live edge: the newest segment's parts.
        let fresh: Vec<_> = if last.is_none() {
            let edge = fresh.last().map(|f| f.0).unwrap_or(0);
            fresh.into_iter().filter(|f| f.0 == edge).collect()
        } else {
            fresh
        };
        for (m, p, name) in fresh {
            loop {
                let c = crate::common::get(addr, &format!("/{name}")).await;
                if c.status == 200 {
                    assert_eq!(sha256_hex(&c.body), name.split('.').next().unwrap());
                    got.push(Arrival {
                        at: tokio::time::Instant::now(),
                        msn: m,
                        part: p,
                        hash: name.clone(),
                    });
                    break;
                }
                failures += 1;
                assert!(
                    t0.elapsed() < duration + Duration::from_secs(20),
                    "part {name} never served: {}",
                    c.text()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        next = match (got.last(), next) {
            (Some(a), Some(prev)) if (a.msn, a.part + 1) == prev => Some((a.msn + 1, 0)),
            (Some(a), _) => Some((a.msn, a.part + 1)),
            (None, n) => n,
        };
    }
    (got, failures)
}

/// Check that `got` has no gap: each part follows the previous one (next part of the same
/// segment, or part 0 of the next segment, given each segment's part count from `counts`).
pub fn assert_contiguous(got: &[Arrival]) {
    for w in got.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let ok = (b.msn == a.msn && b.part == a.part + 1) || (b.msn == a.msn + 1 && b.part == 0);
        assert!(
            ok,
            "part missing between {}.{} and {}.{}",
            a.msn, a.part, b.msn, b.part
        );
    }
}

/// Gaps between consecutive part arrivals, longest first.
pub fn gaps(got: &[Arrival]) -> Vec<Duration> {
    let mut g: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    g.sort_by(|a, b| b.cmp(a));
    g
}

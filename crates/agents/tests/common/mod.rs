//! Test rig for the relay agent: a real origin (tollcast-media, ffmpeg synthetic source) on
//! 127.0.0.1, a real Nostr relay the origin publishes its signed manifests to, relays following
//! them, and a minimal HTTP/1.1 client over real TCP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tollcast_agents::relay::billing::Billing;
use tollcast_agents::relay::manifests::ManifestBook;
use tollcast_agents::relay::nostr::follow_manifests;
use tollcast_agents::relay::{Relay, RelayConfig};
use tollcast_events::nostr::prelude::{Event, Keys};
use tollcast_events::{Role, StreamAddress};
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::Source;
use tollcast_media::ingest::synthetic::SyntheticOptions;
use tollcast_media::live::{LiveConfig, LiveEvent, LiveHandle, ManifestSigner, spawn_live};
use tollcast_media::manifest::SegmentManifest;
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig as NostrConfig};
use tollcast_net::stream::StreamReceiver;

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// GET `path` with extra header lines (`"Name: value"`), `Connection: close`.
pub async fn get_with(addr: SocketAddr, path: &str, headers: &[&str]) -> HttpResponse {
    request(addr, "GET", path, headers).await
}

/// `method` `path` with extra header lines, `Connection: close`.
pub async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[&str]) -> HttpResponse {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(25), s.read_to_end(&mut buf))
        .await
        .expect("response in time")
        .unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(": ")
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    let mut body = buf[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

pub async fn get(addr: SocketAddr, path: &str) -> HttpResponse {
    get_with(addr, path, &[]).await
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(p) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..p]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[p + 2..p + 2 + n]);
        b = &b[p + 2 + n + 2..];
    }
    out
}

/// Serve `router` on 127.0.0.1:0.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = tollcast_net::http_serve::serve(l, router).await;
    });
    addr
}

/// A live origin with its Nostr relay.
pub struct Rig {
    pub origin_addr: SocketAddr,
    pub origin: Origin,
    pub stream: StreamAddress,
    pub keys: Keys,
    pub nostr_url: String,
    /// Signed segment manifests (31311) published so far (also on the Nostr relay).
    pub manifests: Arc<Mutex<Vec<Event>>>,
    /// Signed part manifests (21311) published so far (fanned out live by the Nostr relay).
    pub part_manifests: Arc<Mutex<Vec<Event>>>,
    pub live: LiveHandle,
    _dirs: Vec<tempfile::TempDir>,
}

/// Start a Nostr relay and a synthetic 320x180 origin publishing its signed manifests there.
pub async fn start_origin() -> Rig {
    start_origin_with(SyntheticOptions {
        width: 320,
        height: 180,
        fps: 15,
        video_kbps: 150,
        duration: None,
    })
    .await
}

/// [`start_origin`] with another synthetic source (e.g. a higher bitrate for bigger chunks).
pub async fn start_origin_with(source: SyntheticOptions) -> Rig {
    start_origin_cut(
        source,
        CutterConfig {
            part_target: 0.2,
            segment_target: 1.0,
        },
    )
    .await
}

/// [`start_origin_with`] with other part/segment targets.
pub async fn start_origin_cut(source: SyntheticOptions, cut: CutterConfig) -> Rig {
    let ndir = tempfile::tempdir().unwrap();
    let nostr = NostrRelay::open(NostrConfig::default(), ndir.path().join("events.redb")).unwrap();
    let (naddr, _task) = nostr.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let nostr_url = format!("ws://{naddr}");

    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 128 * 1024 * 1024).unwrap();
    let origin = Origin::new(
        store,
        PlaylistConfig {
            part_target: cut.part_target,
            segment_target: cut.segment_target,
            window: 12,
        },
    );
    let origin_addr = serve(origin.router()).await;
    let mut cfg = LiveConfig::new(Source::Synthetic(source));
    cfg.cutter = cut;
    let keys = Keys::generate();
    let stream = StreamAddress::new(keys.public_key(), "relay-test");
    cfg.signer = Some(ManifestSigner {
        keys: keys.clone(),
        stream: stream.clone(),
        role: Role::Streamer,
    });
    let live = spawn_live(cfg, origin.clone()).await.unwrap();
    let mut rx = live.subscribe();
    let publisher = RelayClient::connect(&nostr_url, ClientOptions::default()).unwrap();
    let manifests = Arc::new(Mutex::new(Vec::new()));
    let part_manifests = Arc::new(Mutex::new(Vec::new()));
    let (m2, p2) = (manifests.clone(), part_manifests.clone());
    tokio::spawn(async move {
        while let Ok(ev) = rx.recv().await {
            let (ev, list) = match ev {
                LiveEvent::ManifestSigned(ev) => (ev, &m2),
                LiveEvent::PartManifestSigned(ev) => (ev, &p2),
                _ => continue,
            };
            let ack = publisher
                .publish(&ev, Duration::from_secs(5))
                .await
                .expect("manifest published");
            assert!(
                ack.accepted,
                "nostr relay refused the manifest: {}",
                ack.message
            );
            list.lock().await.push(*ev);
        }
    });
    Rig {
        origin_addr,
        origin,
        stream,
        keys,
        nostr_url,
        manifests,
        part_manifests,
        live,
        _dirs: vec![ndir, dir],
    }
}

impl Rig {
    /// The relay offer `author` published on the rig's Nostr relay (waits up to 5 s).
    pub async fn wait_offer(
        &self,
        author: tollcast_events::nostr::prelude::PublicKey,
    ) -> tollcast_events::offer::RelayOffer {
        use tollcast_events::nostr::prelude::{Filter, Kind};
        use tollcast_events::offer::{KIND_RELAY_OFFER, RelayOffer};
        let nostr = RelayClient::connect(&self.nostr_url, ClientOptions::default()).unwrap();
        let filter = Filter::new()
            .kind(Kind::from(KIND_RELAY_OFFER))
            .author(author);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let evs = nostr
                .fetch(vec![filter.clone()], Duration::from_secs(5))
                .await
                .unwrap();
            if let Some(ev) = evs.first() {
                return RelayOffer::from_event(ev).unwrap();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "relay offer never published"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until at least `n` manifests were published; returns them parsed.
    pub async fn wait_manifests(&self, n: usize) -> Vec<SegmentManifest> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            {
                let m = self.manifests.lock().await;
                if m.len() >= n {
                    return m
                        .iter()
                        .map(|e| SegmentManifest::from_event(e).unwrap().0)
                        .collect();
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "origin published fewer than {n} manifests in 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A relay of this stream pulling from `upstream`, following manifests on the rig's Nostr
    /// relay; returns it with its bound HTTP address.
    pub async fn relay(
        &self,
        upstream: &str,
        billing: Option<Arc<Billing>>,
        manifest_wait: Duration,
    ) -> (Relay, SocketAddr, tempfile::TempDir) {
        self.relay_paid(upstream, billing, None, manifest_wait)
            .await
    }

    /// Like [`Self::relay`], serving SPSP for `receiver` too (credit mode).
    pub async fn relay_paid(
        &self,
        upstream: &str,
        billing: Option<Arc<Billing>>,
        receiver: Option<Arc<StreamReceiver>>,
        manifest_wait: Duration,
    ) -> (Relay, SocketAddr, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), 64 * 1024 * 1024).unwrap();
        let book = Arc::new(ManifestBook::new(self.stream.clone(), []));
        let client = RelayClient::connect(&self.nostr_url, ClientOptions::default()).unwrap();
        let task = follow_manifests(&client, book.clone(), &[], None)
            .await
            .unwrap();
        // The subscription lives as long as the task; keep the client alive with it.
        tokio::spawn(async move {
            let _client = client;
            let _ = task.await;
        });
        let mut cfg = RelayConfig::new(upstream);
        cfg.manifest_wait = manifest_wait;
        let relay = Relay::new(cfg, store, book, billing).unwrap();
        let addr = serve(match receiver {
            Some(r) => relay.paid_router(r),
            None => relay.router(),
        })
        .await;
        (relay, addr, dir)
    }
}

/// Wait until `book` of `relay` knows `hash` (its manifest arrived over Nostr).
pub async fn wait_known(relay: &Relay, hash: &str) {
    let r = relay
        .manifests()
        .wait_for(hash, Duration::from_secs(15))
        .await;
    assert!(
        r.is_some(),
        "manifest listing {hash} never reached the relay"
    );
}

/// A tollcast ILP node from a TOML accounts body (ledger in a temp dir), on 127.0.0.1:0.
pub async fn ilp_node(
    name: &str,
    address: &str,
    accounts_toml: &str,
) -> (tollcast_net::connector::Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.redb");
    let text = format!(
        "[node]\nname = \"{name}\"\naddress = \"{address}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n{accounts_toml}",
        ledger.display()
    );
    let cfg = tollcast_net::connector::NodeConfig::from_toml(&text, "test").unwrap();
    (
        tollcast_net::connector::Node::start(cfg).await.unwrap(),
        dir,
    )
}

/// Balance of `account` in `node`'s ledger (what the node owes that peer).
pub fn ledger_balance(node: &tollcast_net::connector::Node, account: &str) -> i128 {
    node.connector
        .ledger()
        .account(account)
        .unwrap()
        .map_or(0, |a| a.balance)
}

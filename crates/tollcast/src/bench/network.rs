//! `tollcast bench network`: a whole tollcast network in one process, each agent on its own
//! named tokio runtime, talking over real sockets on 127.0.0.1:
//!
//! - an encoder (ffmpeg test pattern, x264 zerolatency) pushing RTMP like OBS does;
//! - the origin (tollcast-media: RTMP ingest -> ffmpeg remux -> CMAF parts -> LL-HLS) signing a
//!   part manifest per part and a manifest per segment and publishing them to a Nostr relay;
//! - a relay tree: relay A pulls from the origin, edge relays pull from A; every relay verifies
//!   each chunk against the signed manifests it follows on Nostr;
//! - N paying viewers: LL-HLS players (blocking playlist reloads, then the parts they list) on
//!   an edge, each paying the edge in credit mode: STREAM over BTP from a wallet ILP node to the
//!   edge's ILP node, whose STREAM receiver credits the edge's billing;
//! - probe players at the origin and at relay A, so each hop's added latency is measured;
//! - with a ladder (`--ladder`): a transcoder agent on its own runtime takes a paid NIP-90 job
//!   from the streamer (job client + the streamer's wallet node paying per unit), pulls the
//!   source from the origin, runs ONE ffmpeg for the ladder and serves the rungs from its job
//!   origin; a second branch (job origin -> rung relay A -> rung edge -> paying rung viewers,
//!   probes at the job origin and at the rung relay) puts the transcode stage on a viewer path.
//!
//! Every part's capture time, fragment time (out of ffmpeg) and availability come from the
//! origin's pipeline events; every player records when it had each part. The stages telescope:
//! encode + cut + origin delivery + hop A + hop edge + player buffer = capture -> playing. On
//! the rung path, a rung part's capture time is its playlist's PROGRAM-DATE-TIME (the ladder
//! dates rung parts from the source's capture clock) and it is matched to the source part it
//! overlaps most: encode + cut + transcode (source part available at the origin -> rung part
//! listed at the job origin) + job origin delivery + hop A + hop edge + player buffer.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use nostr::prelude::{Keys, PublicKey};
use tokio::runtime::Runtime;
use tollcast_agents::relay::billing::{Billing, BillingConfig};
use tollcast_agents::relay::manifests::ManifestBook;
use tollcast_agents::relay::native::{FetchStats, NativeFetcher, NativePricing, NativeServer};
use tollcast_agents::relay::nostr::follow_manifests;
use tollcast_agents::relay::{Relay, RelayConfig};
use tollcast_agents::transcoder::job_client::{ActiveJob, JobClient, JobClientConfig};
use tollcast_agents::transcoder::{Transcoder, TranscoderConfig, Wallet};
use tollcast_events::{Price, Role, StreamAddress};
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::Source;
use tollcast_media::ladder::Rung;
use tollcast_media::live::{LiveConfig, LiveEvent, LiveHandle, ManifestSigner, spawn_live};
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig as NostrConfig};
use tollcast_net::stream::{ReceiverEvent, SenderConfig, StreamReceiver, StreamSender, spsp_http};
use tollcast_wire::address::Address;

use super::http::Client;
use super::machine::Machine;
use super::report::{self, Raw};
use super::{cpu, meter, playlist};

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Measurement window (after warm-up).
    pub duration: Duration,
    /// Paying viewers (spread over the edges).
    pub viewers: usize,
    /// Edge relays under relay A.
    pub edges: usize,
    /// LL-HLS part target, ms.
    pub part_ms: u32,
    /// Segment target, s.
    pub segment_s: f64,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    /// Credit mode price, base units (USD, scale 6) per second.
    pub price_per_second: u64,
    /// A viewer pays this often (each payment buys this much time).
    pub pay_every: Duration,
    /// Also play the origin and an edge with hls.js in headless Chromium during the window.
    pub hlsjs: bool,
    /// How viewers pay the edges.
    pub mode: Mode,
    /// Transcoding ladder (empty: no transcoder, no rung path). Rungs at or above the source
    /// height are dropped by the transcoder.
    pub ladder: Vec<Rung>,
    /// x264 preset of the ladder.
    pub ladder_preset: String,
    /// Paying viewers of the first rung (on the rung branch).
    pub rung_viewers: usize,
}

/// Paid delivery mode of the edge relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Viewers stream money per second; parts over HTTP while the balance covers them.
    Credit,
    /// Parts travel inside the FULFILLs of the STREAM packets that pay for them.
    Native,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(30),
            viewers: 8,
            edges: 2,
            part_ms: 200,
            segment_s: 1.0,
            width: 1280,
            height: 720,
            fps: 30,
            video_kbps: 3000,
            price_per_second: 100,
            pay_every: Duration::from_secs(1),
            hlsjs: false,
            mode: Mode::Credit,
            ladder: Vec::new(),
            ladder_preset: "veryfast".into(),
            rung_viewers: 2,
        }
    }
}

/// `360p` or `360p:700` (kbit/s) -> a rung; the width follows the source's aspect ratio
/// (the transcoder refits it) and the bit rate defaults to the usual ladder's.
pub fn parse_rung(s: &str) -> anyhow::Result<Rung> {
    let s = s.trim();
    let (h, kbps) = match s.split_once(':') {
        Some((h, k)) => (h, Some(k)),
        None => (s, None),
    };
    let height: u32 = h
        .strip_suffix('p')
        .and_then(|n| n.parse().ok())
        .filter(|n| (16..=4320).contains(n))
        .ok_or_else(|| anyhow!("--ladder `{s}`: want a height like 360p or 360p:700 (kbit/s)"))?;
    let kbps: u64 =
        match kbps {
            Some(k) => k.parse().ok().filter(|k| *k >= 50).ok_or_else(|| {
                anyhow!("--ladder `{s}`: the bit rate after `:` is kbit/s, >= 50")
            })?,
            None => match height {
                h if h >= 720 => 2800,
                h if h >= 480 => 1200,
                h if h >= 360 => 700,
                h if h >= 240 => 400,
                _ => 150,
            },
        };
    // 16:9 width, even; the transcoder recomputes it from the source.
    let width = ((height as u64 * 16 / 9) as u32 + 1) & !1;
    Ok(Rung::new(&format!("{height}p"), width, height, kbps * 1000))
}

/// One part as the origin produced it (times: ms since the Unix epoch).
#[derive(Debug, Clone)]
pub struct PartInfo {
    pub duration_s: f64,
    pub size: usize,
    pub capture_ms: f64,
    pub fragment_ms: f64,
    pub available_ms: f64,
}

/// When a playlist first listed a live part, and what it said of it.
#[derive(Debug, Clone, Copy)]
pub struct Listed {
    /// When the playlist listing it arrived (ms since the epoch).
    pub at_ms: f64,
    /// Capture time from EXT-X-PROGRAM-DATE-TIME (ms since the epoch).
    pub capture_ms: Option<f64>,
    pub duration_s: f64,
    /// Position of the part in its segment (0 = first).
    pub index: u32,
}

/// When one player had each part (hash -> ms since the epoch) and what went wrong.
#[derive(Debug, Default)]
pub struct PlayerLog {
    pub recv: HashMap<String, f64>,
    /// Live parts (not the first playlist's backlog) by when a playlist first listed them.
    pub listed: HashMap<String, Listed>,
    pub part_hold_back_s: Option<f64>,
    /// (when, what): failed requests (first 1,000).
    pub errors: Vec<(f64, String)>,
    /// ILP-native: (when done, ms) per part fetch, and the fetcher's totals.
    pub native_fetch: Vec<(f64, f64)>,
    pub native: Option<FetchStats>,
    pub body_bytes: u64,
    pub requests: u64,
}

/// One payment: when it started, how long until fulfilled, the sender's total after it.
#[derive(Debug, Clone)]
pub struct PaymentLog {
    pub viewer: String,
    pub start_ms: f64,
    pub rtt_ms: f64,
    pub total_after: u64,
}

pub fn epoch_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// A runtime that shuts down in the background when dropped (dropping a plain runtime inside
/// another runtime's task panics).
pub struct Rt(Option<Runtime>);

impl std::ops::Deref for Rt {
    type Target = Runtime;
    fn deref(&self) -> &Runtime {
        self.0.as_ref().expect("runtime present until drop")
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

pub(crate) fn runtime(name: &str, workers: usize) -> anyhow::Result<Rt> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        // Keep blocking threads alive: an exited thread's CPU time leaves /proc/self/task.
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .with_context(|| format!("cannot start runtime {name}"))?;
    Ok(Rt(Some(rt)))
}

/// Run `fut` on `rt`, wait for it here.
pub(crate) async fn on<T: Send + 'static>(
    rt: &Runtime,
    fut: impl std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    rt.spawn(fut)
        .await
        .map_err(|e| anyhow!("task failed: {e}"))?
}

pub(crate) struct OriginUp {
    pub addr: SocketAddr,
    pub rtmp: SocketAddr,
    pub live: LiveHandle,
    pub origin: Origin,
}

pub(crate) async fn start_origin(
    opts: Options,
    dir: std::path::PathBuf,
    keys: Keys,
    stream: StreamAddress,
    nostr_url: String,
    parts: Arc<Mutex<HashMap<String, PartInfo>>>,
) -> anyhow::Result<OriginUp> {
    let store = ChunkStore::open(&dir, 512 * 1024 * 1024)?;
    let cut = CutterConfig {
        part_target: opts.part_ms as f64 / 1000.0,
        segment_target: opts.segment_s,
    };
    let origin = Origin::new(
        store,
        PlaylistConfig {
            part_target: cut.part_target,
            segment_target: cut.segment_target,
            window: 12,
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let router = origin.router();
    tokio::spawn(async move {
        let _ = tollcast_net::http_serve::serve(l, router).await;
    });
    let mut cfg = LiveConfig::new(Source::Rtmp {
        listen: "127.0.0.1:0".parse()?,
        app: "live".into(),
        key: "bench".into(),
    });
    cfg.cutter = cut;
    cfg.signer = Some(ManifestSigner {
        keys,
        stream,
        role: Role::Streamer,
    });
    let live = spawn_live(cfg, origin.clone()).await?;
    let rtmp = live
        .rtmp_addr
        .ok_or_else(|| anyhow!("RTMP ingest did not bind"))?;
    let mut rx = live.subscribe();
    let publisher = RelayClient::connect(&nostr_url, ClientOptions::default())
        .map_err(|e| anyhow!("nostr client: {e}"))?;
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(LiveEvent::Part {
                    hash,
                    size,
                    duration,
                    capture_ms,
                    available_ms,
                    fragment_ms,
                    ..
                }) => {
                    let info = PartInfo {
                        duration_s: duration,
                        size,
                        capture_ms: capture_ms as f64,
                        fragment_ms: fragment_ms as f64,
                        available_ms: available_ms as f64,
                    };
                    parts
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(hash, info);
                }
                // Segment (31311) and part (21311, ephemeral, one per part) manifests alike;
                // published concurrently so a slow publish never holds up the part events.
                Ok(LiveEvent::ManifestSigned(ev)) | Ok(LiveEvent::PartManifestSigned(ev)) => {
                    let c = publisher.clone();
                    tokio::spawn(async move {
                        if let Err(e) = c.publish(&ev, Duration::from_secs(5)).await {
                            tracing::warn!("manifest not published: {e}");
                        }
                    });
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            }
        }
    });
    Ok(OriginUp {
        addr,
        rtmp,
        live,
        origin,
    })
}

/// A relay of `stream` pulling from `upstream`, following manifests on `nostr_url`.
pub(crate) async fn start_relay(
    stream: StreamAddress,
    nostr_url: String,
    upstream: String,
    dir: std::path::PathBuf,
    billing: Option<Arc<Billing>>,
    receiver: Option<Arc<StreamReceiver>>,
) -> anyhow::Result<(Relay, SocketAddr)> {
    start_relay_trusting(
        stream,
        nostr_url,
        upstream,
        dir,
        billing,
        receiver,
        Vec::new(),
    )
    .await
}

/// [`start_relay`] that also trusts manifests signed by `signers` (a transcoder's key).
pub(crate) async fn start_relay_trusting(
    stream: StreamAddress,
    nostr_url: String,
    upstream: String,
    dir: std::path::PathBuf,
    billing: Option<Arc<Billing>>,
    receiver: Option<Arc<StreamReceiver>>,
    signers: Vec<PublicKey>,
) -> anyhow::Result<(Relay, SocketAddr)> {
    let store = ChunkStore::open(&dir, 256 * 1024 * 1024)?;
    let book = Arc::new(ManifestBook::new(stream, signers.iter().copied()));
    let client = RelayClient::connect(&nostr_url, ClientOptions::default())
        .map_err(|e| anyhow!("nostr client: {e}"))?;
    let task = follow_manifests(&client, book.clone(), &signers, None)
        .await
        .map_err(|e| anyhow!("following manifests: {e}"))?;
    tokio::spawn(async move {
        let _client = client;
        let _ = task.await;
    });
    let relay =
        Relay::new(RelayConfig::new(upstream), store, book, billing).map_err(|e| anyhow!("{e}"))?;
    let router = match receiver {
        Some(r) => relay.paid_router(r),
        None => relay.router(),
    };
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        let _ = tollcast_net::http_serve::serve(l, router).await;
    });
    Ok((relay, addr))
}

const WALLET_TOKEN: &str = "bench-wallet-token";

fn node_config(text: String) -> anyhow::Result<NodeConfig> {
    NodeConfig::from_toml(&text, "bench").map_err(|e| anyhow!("node config: {e}"))
}

/// The ledger file of a node in `dir`, or an in-memory one (no commit thread: nodes off the
/// measured payment path, so their commits do not mix with the reported payment CPU).
fn ledger_path(dir: &Path, durable: bool) -> String {
    if durable {
        dir.join("ledger.redb").display().to_string()
    } else {
        tollcast_net::connector::node::MEMORY_LEDGER.to_string()
    }
}

/// An edge's ILP node with the relay's STREAM receiver and credit-mode billing on it.
pub(crate) async fn start_edge_ilp(
    i: usize,
    dir: std::path::PathBuf,
    price: u64,
) -> anyhow::Result<(Node, Arc<StreamReceiver>, Arc<Billing>)> {
    start_edge_ilp_named(format!("edge{i}"), dir, price, true).await
}

/// [`start_edge_ilp`] at `test.bench.<name>`; `durable`: redb ledger and billing store.
pub(crate) async fn start_edge_ilp_named(
    name: String,
    dir: std::path::PathBuf,
    price: u64,
    durable: bool,
) -> anyhow::Result<(Node, Arc<StreamReceiver>, Arc<Billing>)> {
    let text = format!(
        "[node]\nname = \"{name}\"\naddress = \"test.bench.{name}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n\
         [[accounts]]\nid = \"wallet\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\n\
         auth_token = \"{WALLET_TOKEN}\"\ncredit_limit = 1000000000000\n",
        ledger_path(&dir, durable)
    );
    let node = Node::start(node_config(text)?)
        .await
        .map_err(|e| anyhow!("edge node: {e}"))?;
    let receiver = StreamReceiver::attach(&node.connector, "relay", "USD", 6, None)
        .map_err(|e| anyhow!("receiver: {e}"))?;
    let cfg = BillingConfig {
        price_per_second: price,
        grace: Duration::from_secs(3),
        asset_code: "USD".into(),
        asset_scale: 6,
        pay_to: None,
    };
    let billing = Arc::new(if durable {
        Billing::open(cfg, &dir.join("billing.redb")).map_err(|e| anyhow!("billing: {e}"))?
    } else {
        Billing::new(cfg)
    });
    billing.follow(&receiver);
    Ok((node, receiver, billing))
}

pub(crate) async fn start_wallet(
    dir: std::path::PathBuf,
    edges: Vec<SocketAddr>,
) -> anyhow::Result<Node> {
    let peers = edges
        .into_iter()
        .enumerate()
        .map(|(i, a)| (format!("edge{i}"), a))
        .collect();
    start_wallet_named("wallet", dir, peers, true).await
}

/// A wallet node at `test.bench.<name>` peered with each `(name, BTP address)` and routing
/// `test.bench.<name>` to it.
pub(crate) async fn start_wallet_named(
    name: &str,
    dir: std::path::PathBuf,
    peers: Vec<(String, SocketAddr)>,
    durable: bool,
) -> anyhow::Result<Node> {
    let mut text = format!(
        "[node]\nname = \"{name}\"\naddress = \"test.bench.{name}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n",
        ledger_path(&dir, durable)
    );
    for (id, a) in &peers {
        text.push_str(&format!(
            "[[accounts]]\nid = \"{id}\"\nrelation = \"peer\"\nasset_code = \"USD\"\nasset_scale = 6\n\
             btp_url = \"ws://{a}\"\nauth_token = \"{WALLET_TOKEN}\"\n\n\
             [[routes]]\nprefix = \"test.bench.{id}\"\naccount = \"{id}\"\n\n"
        ));
    }
    let node = Node::start(node_config(text)?)
        .await
        .map_err(|e| anyhow!("{name} node: {e}"))?;
    for (id, _) in &peers {
        if !node
            .connector
            .wait_connected(&AccountId::new(id.clone()), Duration::from_secs(15))
            .await
        {
            bail!("the {name} node did not connect to {id}'s ILP node");
        }
    }
    Ok(node)
}

/// A simulated LL-HLS player of `{base}/live/{rendition}/index.m3u8` at `addr`: blocking
/// playlist reloads, then every new part it lists (chunks at `{base}/<hash>.m4s`).
#[allow(clippy::too_many_arguments)]
async fn player(
    addr: SocketAddr,
    base: String,
    rendition: String,
    viewer: Option<String>,
    log: Arc<Mutex<PlayerLog>>,
    stop: Arc<AtomicBool>,
    mut native: Option<NativeFetcher>,
) {
    let mut c = Client::new(addr, viewer);
    let mut next: Option<(u64, u32)> = None;
    let mut seen = std::collections::HashSet::new();
    while !stop.load(Ordering::Relaxed) {
        let path = match next {
            None => format!("{base}/live/{rendition}/index.m3u8"),
            Some((m, p)) => {
                format!("{base}/live/{rendition}/index.m3u8?_HLS_msn={m}&_HLS_part={p}")
            }
        };
        let fail = |log: &Arc<Mutex<PlayerLog>>, e: String| {
            let mut g = log.lock().unwrap_or_else(|p| p.into_inner());
            if g.errors.len() < 1000 {
                g.errors.push((epoch_ms(), e));
            }
        };
        let text = match c.get(&path).await {
            Ok((200, body)) => String::from_utf8_lossy(&body).into_owned(),
            Ok((s, body)) => {
                fail(&log, format!("{s} {}", String::from_utf8_lossy(&body)));
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => {
                fail(&log, e.to_string());
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let listed_at = epoch_ms();
        let l = playlist::parse(&text);
        if l.part_hold_back.is_some() {
            log.lock()
                .unwrap_or_else(|p| p.into_inner())
                .part_hold_back_s = l.part_hold_back;
        }
        let first = next.is_none();
        for p in &l.parts {
            if !seen.insert(p.hash.clone()) || first {
                // The first playlist's backlog is history, not live parts.
                continue;
            }
            log.lock().unwrap_or_else(|p| p.into_inner()).listed.insert(
                p.hash.clone(),
                Listed {
                    at_ms: listed_at,
                    capture_ms: p.capture_ms,
                    duration_s: p.duration,
                    index: p.index,
                },
            );
            let got = match native.as_mut() {
                Some(f) => {
                    let t0 = epoch_ms();
                    match f.fetch(&p.hash, None).await {
                        Ok(_) => {
                            let t = epoch_ms();
                            let mut g = log.lock().unwrap_or_else(|p| p.into_inner());
                            g.native_fetch.push((t, t - t0));
                            g.native = Some(f.stats());
                            drop(g);
                            Ok((200, bytes::Bytes::new()))
                        }
                        Err(e) => Err(anyhow!("ILP-native fetch: {e}")),
                    }
                }
                None => c.get(&format!("{base}/{}.m4s", p.hash)).await,
            };
            match got {
                Ok((200, _)) => {
                    let t = epoch_ms();
                    log.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .recv
                        .insert(p.hash.clone(), t);
                }
                Ok((s, body)) => fail(&log, format!("{s} {}", String::from_utf8_lossy(&body))),
                Err(e) => fail(&log, e.to_string()),
            }
        }
        next = Some((l.open_msn, l.open_parts));
        if l.ended {
            break;
        }
    }
    let mut g = log.lock().unwrap_or_else(|p| p.into_inner());
    g.native = native.as_ref().map(|f| f.stats());
    g.body_bytes = c.body_bytes;
    g.requests = c.requests;
}

/// A viewer's payments: prepay, then `price x every` each `every`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn payer(
    wallet: Arc<dyn tollcast_net::connector::IlpService>,
    edge: SocketAddr,
    viewer: String,
    price: u64,
    every: Duration,
    log: Arc<Mutex<Vec<PaymentLog>>>,
    stop: Arc<AtomicBool>,
    ready: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let spsp = spsp_http::query(
        &format!("http://{edge}/.well-known/pay/{viewer}"),
        Duration::from_secs(10),
    )
    .await
    .map_err(|e| anyhow!("SPSP: {e}"))?;
    let mut cfg = SenderConfig::new(spsp.destination_account, spsp.shared_secret);
    cfg.source_address = Some(Address::new("test.bench.wallet").map_err(|e| anyhow!("{e}"))?);
    let mut s = StreamSender::connect(wallet, cfg)
        .await
        .map_err(|e| anyhow!("STREAM connect: {e}"))?;
    let per = price.saturating_mul(every.as_millis() as u64) / 1000;
    let mut total = 0u64;
    let mut amount = per.saturating_mul(4); // prepay: a few seconds ahead
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = true;
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let start_ms = epoch_ms();
        let t = Instant::now();
        s.send(amount).await.map_err(|e| anyhow!("payment: {e}"))?;
        let rtt_ms = t.elapsed().as_secs_f64() * 1000.0;
        total += amount;
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(PaymentLog {
                viewer: viewer.clone(),
                start_ms,
                rtt_ms,
                total_after: total,
            });
        if first {
            ready.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        amount = per;
    }
    let _ = s.close().await;
    Ok(())
}

pub(crate) fn encoder(rtmp: SocketAddr, o: &Options) -> anyhow::Result<tokio::process::Child> {
    let gop = ((o.fps as f64 * o.segment_s).round() as u32)
        .max(1)
        .to_string();
    tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!(
            "testsrc2=size={}x{}:rate={}",
            o.width, o.height, o.fps
        ))
        .args([
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-g", &gop, "-keyint_min", &gop, "-sc_threshold", "0"])
        .arg("-b:v")
        .arg(format!("{}k", o.video_kbps))
        .arg("-maxrate")
        .arg(format!("{}k", o.video_kbps))
        .arg("-bufsize")
        .arg(format!("{}k", o.video_kbps))
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(format!("rtmp://{rtmp}/live/bench"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run ffmpeg (install it: apt-get install ffmpeg)")
}

const HLSJS_SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/interop/bench/hlsjs_latency.mjs"
);

/// Start hls.js in headless Chromium on `url` for `secs` (tests/interop/bench/hlsjs_latency.mjs).
fn hlsjs_player(
    url: String,
    secs: u64,
    viewer: Option<&str>,
) -> anyhow::Result<tokio::process::Child> {
    let script = Path::new(HLSJS_SCRIPT);
    let modules = script
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("node_modules"));
    if !modules.is_some_and(|m| m.join("hls.js").exists() && m.join("playwright-core").exists()) {
        bail!(
            "--hlsjs needs hls.js and playwright-core in tests/interop/node_modules: run scripts/setup.sh"
        );
    }
    let mut c = tokio::process::Command::new("node");
    c.arg(script).arg(url).arg(secs.to_string());
    if let Some(v) = viewer {
        c.arg(v);
    }
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run node (Node.js 20) for --hlsjs")
}

/// ILP-native prices: the credit-mode price per second, spread over the parts of a second.
fn native_pricing(o: &Options) -> NativePricing {
    NativePricing {
        price_per_gb: 0,
        price_per_part: (o.price_per_second * o.part_ms as u64 / 1000).max(1),
    }
}

/// CPU of every agent at one instant.
#[derive(Debug, Clone, Default)]
pub struct CpuSnap {
    pub threads: BTreeMap<String, u64>,
    pub encoder_ns: u64,
    pub remux_ns: u64,
    /// The transcoder's ladder ffmpeg (the child whose command line encodes with libx264).
    pub ladder_ns: u64,
    pub process_ns: u64,
    /// Milliseconds of source the transcoder has turned into every rung so far.
    pub transcoded_ms: u64,
}

fn snap(encoder_pid: Option<u32>, transcoder: Option<&Transcoder>) -> CpuSnap {
    let (mut remux, mut ladder) = (0, 0);
    for pid in cpu::children_named("ffmpeg") {
        if Some(pid) == encoder_pid {
            continue;
        }
        let ns = cpu::process_ns(pid).unwrap_or(0);
        // The origin's remux copies the streams; the ladder encodes.
        if cpu::cmdline(pid).contains("libx264") {
            ladder += ns;
        } else {
            remux += ns;
        }
    }
    CpuSnap {
        threads: cpu::threads_by_name(),
        encoder_ns: encoder_pid.and_then(cpu::process_ns).unwrap_or(0),
        remux_ns: remux,
        ladder_ns: ladder,
        process_ns: cpu::self_ns(),
        transcoded_ms: transcoder.map_or(0, |t| t.metrics().transcoded_ms.load(Ordering::Relaxed)),
    }
}

/// Price the streamer pays the transcoder per transcoded minute (micro-USD), per unit of
/// `XCODE_UNIT_SECS`, with `XCODE_CREDIT_SECS` of work ahead of payment (as the demo does).
const XCODE_PRICE_PER_MINUTE: u64 = 1_200;
const XCODE_UNIT_SECS: f64 = 4.0;
const XCODE_CREDIT_SECS: f64 = 8.0;
const STREAMER_TOKEN: &str = "bench-streamer-token";

/// The transcoder agent on its own ILP node (in-memory ledger), serving its jobs and SPSP.
pub(crate) struct XcodeUp {
    pub agent: Transcoder,
    pub node: Node,
    pub addr: SocketAddr,
}

pub(crate) async fn start_transcoder(
    dir: std::path::PathBuf,
    nostr_url: String,
    preset: String,
) -> anyhow::Result<XcodeUp> {
    let text = format!(
        "[node]\nname = \"xcode\"\naddress = \"test.bench.xcode\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n\
         [[accounts]]\nid = \"streamer\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\n\
         auth_token = \"{STREAMER_TOKEN}\"\ncredit_limit = 1000000000000\n",
        ledger_path(&dir, false)
    );
    let node = Node::start(node_config(text)?)
        .await
        .map_err(|e| anyhow!("transcoder node: {e}"))?;
    let receiver = StreamReceiver::attach(&node.connector, "pay", "USD", 6, None)
        .map_err(|e| anyhow!("transcoder receiver: {e}"))?;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    let cfg = TranscoderConfig {
        price_per_minute: XCODE_PRICE_PER_MINUTE,
        preset,
        unit_secs: XCODE_UNIT_SECS,
        credit_secs: XCODE_CREDIT_SECS,
        store_dir: dir.join("chunks"),
        store_mib: 256,
        ..TranscoderConfig::default()
    };
    let agent = Transcoder::start(
        cfg,
        Keys::generate(),
        std::slice::from_ref(&nostr_url),
        Wallet {
            receiver: receiver.clone(),
            spsp_base: format!("http://{addr}/.well-known/pay"),
        },
    )
    .await
    .map_err(|e| anyhow!("transcoder agent: {e}"))?;
    agent.set_public_url(&format!("http://{addr}"));
    let app = agent
        .router()
        .merge(spsp_http::router(receiver, "/.well-known/pay"));
    tokio::spawn(async move {
        let _ = tollcast_net::http_serve::serve(l, app).await;
    });
    Ok(XcodeUp { agent, node, addr })
}

/// The streamer's side of the job: its wallet node (peered with the transcoder's node) and
/// the job client, which requests the ladder, accepts the offer and pays per unit delivered.
/// Returns once the transcoder published its result (the first rung segment is out).
pub(crate) async fn place_job(
    o: Options,
    dir: std::path::PathBuf,
    xcode_node: SocketAddr,
    nostr_url: String,
    stream: StreamAddress,
    creator: Keys,
    origin: SocketAddr,
) -> anyhow::Result<(Node, ActiveJob)> {
    let text = format!(
        "[node]\nname = \"streamer\"\naddress = \"test.bench.streamer\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n\
         [[accounts]]\nid = \"xcode\"\nrelation = \"peer\"\nasset_code = \"USD\"\nasset_scale = 6\n\
         btp_url = \"ws://{xcode_node}\"\nauth_token = \"{STREAMER_TOKEN}\"\n\n\
         [[routes]]\nprefix = \"test.bench.xcode\"\naccount = \"xcode\"\n",
        ledger_path(&dir, false)
    );
    let wallet = Node::start(node_config(text)?)
        .await
        .map_err(|e| anyhow!("streamer wallet node: {e}"))?;
    if !wallet
        .connector
        .wait_connected(&AccountId::new("xcode"), Duration::from_secs(15))
        .await
    {
        bail!("the streamer's wallet did not connect to the transcoder's ILP node");
    }
    let jc = JobClient::new(
        JobClientConfig {
            stream,
            source_url: format!("http://{origin}"),
            rungs: o.ladder.clone(),
            bid_per_minute: Price::new(XCODE_PRICE_PER_MINUTE, "USD", 6),
            max_price_per_minute: XCODE_PRICE_PER_MINUTE * 5,
            part_target: o.part_ms as f64 / 1000.0,
            segment_target: o.segment_s,
            offer_window: Duration::from_millis(700),
            result_timeout: Duration::from_secs(40),
        },
        creator,
        std::slice::from_ref(&nostr_url),
        wallet.connector.sender(AccountId::local()),
        AccountId::local(),
    )
    .map_err(|e| anyhow!("job client: {e}"))?;
    let job = jc
        .start()
        .await
        .map_err(|e| anyhow!("placing the transcoding job: {e}"))?;
    Ok((wallet, job))
}

/// Names of one branch of the relay tree: runtimes (thread names, for CPU accounting), ILP
/// addresses and viewer ids.
#[derive(Clone, Copy)]
struct BranchNames {
    relay_a: &'static str,
    edge: &'static str,
    eilp: &'static str,
    pay: &'static str,
    /// ILP name of edge `i` is `{ilp_edge}{i}` (`test.bench.{ilp_edge}{i}`).
    ilp_edge: &'static str,
    wallet: &'static str,
    viewer: &'static str,
}

const SOURCE_BRANCH: BranchNames = BranchNames {
    relay_a: "tcb-relay-a",
    edge: "tcb-edge-",
    eilp: "tcb-eilp-",
    pay: "tcb-pay",
    ilp_edge: "edge",
    wallet: "wallet",
    viewer: "viewer",
};

const RUNG_BRANCH: BranchNames = BranchNames {
    relay_a: "tcb-rung-a",
    edge: "tcb-redge-",
    eilp: "tcb-reilp-",
    pay: "tcb-rpay",
    ilp_edge: "redge",
    wallet: "rwallet",
    viewer: "rviewer",
};

/// What one branch serves and how big it is.
struct BranchSpec {
    names: BranchNames,
    /// The branch's upstream (the origin, or the transcoder's job origin under `base`).
    upstream: SocketAddr,
    base: String,
    rendition: String,
    /// Keys besides the creator's whose manifests the relays accept (the transcoder's).
    signers: Vec<PublicKey>,
    edges: usize,
    viewers: usize,
    /// Durable ledgers and billing stores (the source branch, whose payment CPU is reported).
    durable: bool,
}

/// A running branch: upstream -> relay A -> edges -> paying viewers, with probe players at
/// the upstream and at relay A. Fields drop in order: agents first, their runtimes last.
struct Branch {
    relay_a: Relay,
    edges: Vec<(Relay, SocketAddr)>,
    _edge_nodes: Vec<Node>,
    _wallet: Node,
    meters: Vec<(SocketAddr, Arc<meter::Counts>)>,
    payer_tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    player_tasks: Vec<tokio::task::JoinHandle<()>>,
    probe_up: Arc<Mutex<PlayerLog>>,
    probe_a: Arc<Mutex<PlayerLog>>,
    viewers: Vec<Arc<Mutex<PlayerLog>>>,
    payments: Arc<Mutex<Vec<PaymentLog>>>,
    credits: Arc<Mutex<Vec<(String, u64, f64)>>>,
    _rts: Vec<Rt>,
}

fn take_log(l: &Arc<Mutex<PlayerLog>>) -> PlayerLog {
    std::mem::take(&mut *l.lock().unwrap_or_else(|p| p.into_inner()))
}

impl Branch {
    fn viewers_playing(&self) -> bool {
        self.viewers
            .iter()
            .all(|l| !l.lock().unwrap_or_else(|p| p.into_inner()).recv.is_empty())
    }

    fn last_viewer_error(&self) -> Option<String> {
        self.viewers.iter().find_map(|l| {
            let g = l.lock().unwrap_or_else(|p| p.into_inner());
            g.errors.last().map(|(_, e)| e.clone())
        })
    }

    fn stop_tasks(&self) {
        for t in &self.player_tasks {
            t.abort();
        }
        for t in &self.payer_tasks {
            t.abort();
        }
    }

    fn edge_bytes_served(&self) -> Vec<u64> {
        self.edges
            .iter()
            .map(|(r, _)| r.metrics().bytes_served.load(Ordering::Relaxed))
            .collect()
    }
}

/// Start a branch: relay A under `spec.upstream`, edges under A each with its ILP node
/// (credit-mode billing or ILP-native server), a wallet paying the edges, payers (credit
/// mode), probes and viewers (players on `rt_view`). Returns once every payer has paid once.
async fn start_branch(
    opts: &Options,
    spec: BranchSpec,
    stream: &StreamAddress,
    nostr_url: &str,
    root: &Path,
    rt_view: &Runtime,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Branch> {
    let n = spec.names;
    let dir = |d: String| -> anyhow::Result<std::path::PathBuf> {
        let d = root.join(d);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    };
    let upstream_url = format!("http://{}{}", spec.upstream, spec.base);
    let mut rts = Vec::new();
    let rt_a = runtime(n.relay_a, 1)?;
    let (relay_a, a_addr) = on(
        &rt_a,
        start_relay_trusting(
            stream.clone(),
            nostr_url.to_string(),
            upstream_url,
            dir(n.relay_a.into())?,
            None,
            None,
            spec.signers.clone(),
        ),
    )
    .await?;
    rts.push(rt_a);
    let mut edges = Vec::new();
    let mut edge_nodes = Vec::new();
    let mut meters = Vec::new();
    let mut receivers = Vec::new();
    let mut rts_eilp = Vec::new();
    for i in 0..spec.edges {
        let rt_ilp = runtime(&format!("{}{i}", n.eilp), 1)?;
        let rt_edge = runtime(&format!("{}{i}", n.edge), 1)?;
        let (node, receiver, billing) = on(
            &rt_ilp,
            start_edge_ilp_named(
                format!("{}{i}", n.ilp_edge),
                dir(format!("{}{i}-ilp", n.edge))?,
                opts.price_per_second,
                spec.durable,
            ),
        )
        .await?;
        let (relay, addr) = on(
            &rt_edge,
            start_relay_trusting(
                stream.clone(),
                nostr_url.to_string(),
                format!("http://{a_addr}"),
                dir(format!("{}{i}", n.edge))?,
                // ILP-native: HTTP (playlists) free, parts paid inside STREAM packets.
                (opts.mode == Mode::Credit).then_some(billing),
                Some(receiver.clone()),
                spec.signers.clone(),
            ),
        )
        .await?;
        if opts.mode == Mode::Native {
            receiver.set_responder(Some(NativeServer::new(relay.clone(), native_pricing(opts))));
        }
        meters.push(meter::start(node.local_addr).await?);
        edges.push((relay, addr));
        edge_nodes.push(node);
        receivers.push(receiver);
        rts.push(rt_edge);
        rts_eilp.push(rt_ilp);
    }

    // Credit latency: when each edge's receiver saw money (tag = viewer id).
    let credits: Arc<Mutex<Vec<(String, u64, f64)>>> = Arc::default();
    for (i, r) in receivers.iter().enumerate() {
        let mut sub = r.subscribe();
        let credits = credits.clone();
        rts_eilp[i].spawn(async move {
            loop {
                match sub.recv().await {
                    Ok(ReceiverEvent::Money {
                        tag: Some(tag),
                        connection_total,
                        ..
                    }) => credits.lock().unwrap_or_else(|p| p.into_inner()).push((
                        tag.to_string(),
                        connection_total,
                        epoch_ms(),
                    )),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        });
    }
    rts.extend(rts_eilp);

    // Wallet and payers.
    let rt_pay = runtime(n.pay, 1)?;
    let peers = meters
        .iter()
        .enumerate()
        .map(|(i, (a, _))| (format!("{}{i}", n.ilp_edge), *a))
        .collect();
    let wallet = on(
        &rt_pay,
        start_wallet_named(n.wallet, dir(n.wallet.into())?, peers, spec.durable),
    )
    .await?;
    let payments: Arc<Mutex<Vec<PaymentLog>>> = Arc::default();
    let paying = Arc::new(AtomicU64::new(0));
    let mut payer_tasks = Vec::new();
    let payers = if opts.mode == Mode::Credit {
        spec.viewers
    } else {
        0
    };
    let viewer_id = |v: usize| format!("{}{v}", n.viewer);
    for v in 0..payers {
        let edge = edges[v % spec.edges].1;
        payer_tasks.push(rt_pay.spawn(payer(
            wallet.connector.sender(AccountId::local()),
            edge,
            viewer_id(v),
            opts.price_per_second,
            opts.pay_every,
            payments.clone(),
            stop.clone(),
            paying.clone(),
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while (paying.load(Ordering::Relaxed) as usize) < payers {
        if let Some(t) = payer_tasks.iter_mut().find(|t| t.is_finished()) {
            return Err(match t.await {
                Ok(Err(e)) => e.context("a viewer could not pay"),
                Ok(Ok(())) => anyhow!("a payer stopped early"),
                Err(e) => anyhow!("a payer failed: {e}"),
            });
        }
        if Instant::now() > deadline {
            bail!("viewers could not pay within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rts.push(rt_pay);

    // Players: probes at the upstream and at relay A, paying viewers on the edges.
    let probe_up: Arc<Mutex<PlayerLog>> = Arc::default();
    let probe_a: Arc<Mutex<PlayerLog>> = Arc::default();
    let viewers: Vec<Arc<Mutex<PlayerLog>>> = (0..spec.viewers).map(|_| Arc::default()).collect();
    let mut player_tasks = vec![
        rt_view.spawn(player(
            spec.upstream,
            spec.base.clone(),
            spec.rendition.clone(),
            None,
            probe_up.clone(),
            stop.clone(),
            None,
        )),
        rt_view.spawn(player(
            a_addr,
            String::new(),
            spec.rendition.clone(),
            None,
            probe_a.clone(),
            stop.clone(),
            None,
        )),
    ];
    for (v, log) in viewers.iter().enumerate() {
        let edge = edges[v % spec.edges].1;
        let native = match opts.mode {
            Mode::Credit => None,
            Mode::Native => {
                let svc = wallet.connector.sender(AccountId::local());
                let viewer = viewer_id(v);
                let pricing = native_pricing(opts);
                let from = format!("test.bench.{}", n.wallet);
                Some(
                    on(rt_view, async move {
                        let spsp = spsp_http::query(
                            &format!("http://{edge}/.well-known/pay/{viewer}"),
                            Duration::from_secs(10),
                        )
                        .await
                        .map_err(|e| anyhow!("SPSP: {e}"))?;
                        let mut cfg =
                            SenderConfig::new(spsp.destination_account, spsp.shared_secret);
                        cfg.source_address = Some(Address::new(&from).map_err(|e| anyhow!("{e}"))?);
                        NativeFetcher::connect(svc, cfg, pricing)
                            .await
                            .map_err(|e| anyhow!("ILP-native connect: {e}"))
                    })
                    .await?,
                )
            }
        };
        player_tasks.push(rt_view.spawn(player(
            edge,
            String::new(),
            spec.rendition.clone(),
            Some(viewer_id(v)),
            log.clone(),
            stop.clone(),
            native,
        )));
    }
    Ok(Branch {
        relay_a,
        edges,
        _edge_nodes: edge_nodes,
        _wallet: wallet,
        meters,
        payer_tasks,
        player_tasks,
        probe_up,
        probe_a,
        viewers,
        payments,
        credits,
        _rts: rts,
    })
}

/// The transcoder, its paid job and the rung branch.
struct RungSide {
    branch: Branch,
    rendition: String,
    agent: Transcoder,
    job: ActiveJob,
    /// Streamer's wallet, transcoder's node, their runtimes (dropped last).
    _nodes: Vec<Node>,
    _rts: Vec<Rt>,
}

/// Run the network for `opts.duration` (plus warm-up and drain) and measure it.
pub async fn run(opts: Options) -> anyhow::Result<report::NetworkReport> {
    if opts.viewers == 0 || opts.edges == 0 {
        bail!("--viewers and --edges must be at least 1");
    }
    if !opts.ladder.is_empty() && opts.rung_viewers == 0 {
        bail!("--rung-viewers must be at least 1 with a ladder (or --ladder none)");
    }
    let mut machine = Machine::describe();
    let tmp = tempfile::tempdir()?;
    let dir = |n: &str| -> anyhow::Result<std::path::PathBuf> {
        let d = tmp.path().join(n);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    };

    // Nostr relay (main runtime).
    let nostr = NostrRelay::open(NostrConfig::default(), tmp.path().join("nostr.redb"))
        .map_err(|e| anyhow!("nostr relay: {e}"))?;
    let (naddr, _nostr_task) = nostr.serve("127.0.0.1:0".parse()?).await?;
    let nostr_url = format!("ws://{naddr}");

    // Origin.
    let rt_origin = runtime("tcb-origin", 1)?;
    let keys = Keys::generate();
    let stream = StreamAddress::new(keys.public_key(), "bench");
    let parts: Arc<Mutex<HashMap<String, PartInfo>>> = Arc::default();
    let origin = on(
        &rt_origin,
        start_origin(
            opts.clone(),
            dir("origin")?,
            keys.clone(),
            stream.clone(),
            nostr_url.clone(),
            parts.clone(),
        ),
    )
    .await?;
    let mut enc = encoder(origin.rtmp, &opts)?;
    let encoder_pid = enc.id();

    // The transcoder and the streamer's paid job with it (placed while the tree starts).
    let rt_view = runtime("tcb-view", 1)?;
    let stop = Arc::new(AtomicBool::new(false));
    let xcode = if opts.ladder.is_empty() {
        None
    } else {
        let rt_xcode = runtime("tcb-xcode", 1)?;
        let rt_xpay = runtime("tcb-xpay", 1)?;
        let x = on(
            &rt_xcode,
            start_transcoder(dir("xcode")?, nostr_url.clone(), opts.ladder_preset.clone()),
        )
        .await?;
        let placing = rt_xpay.spawn(place_job(
            opts.clone(),
            dir("streamer-wallet")?,
            x.node.local_addr,
            nostr_url.clone(),
            stream.clone(),
            keys.clone(),
            origin.addr,
        ));
        Some((x, placing, rt_xcode, rt_xpay))
    };

    let source = start_branch(
        &opts,
        BranchSpec {
            names: SOURCE_BRANCH,
            upstream: origin.addr,
            base: String::new(),
            rendition: "source".into(),
            signers: Vec::new(),
            edges: opts.edges,
            viewers: opts.viewers,
            durable: true,
        },
        &stream,
        &nostr_url,
        tmp.path(),
        &rt_view,
        &stop,
    )
    .await?;

    let rung = match xcode {
        None => None,
        Some((x, placing, rt_xcode, rt_xpay)) => {
            let (wallet, job) = placing
                .await
                .map_err(|e| anyhow!("job placement failed: {e}"))??;
            let base = job
                .result
                .origin
                .strip_prefix(&format!("http://{}", x.addr))
                .ok_or_else(|| {
                    anyhow!(
                        "the job origin {} is not the transcoder's",
                        job.result.origin
                    )
                })?
                .to_string();
            let rendition = job
                .result
                .renditions
                .iter()
                .find(|r| r.as_str() != "source")
                .cloned()
                .ok_or_else(|| {
                    anyhow!("the transcoder made no rung (is --ladder below the source size?)")
                })?;
            let branch = start_branch(
                &opts,
                BranchSpec {
                    names: RUNG_BRANCH,
                    upstream: x.addr,
                    base,
                    rendition: rendition.clone(),
                    signers: vec![x.agent.pubkey()],
                    edges: 1,
                    viewers: opts.rung_viewers,
                    durable: false,
                },
                &stream,
                &nostr_url,
                tmp.path(),
                &rt_view,
                &stop,
            )
            .await?;
            Some(RungSide {
                branch,
                rendition,
                agent: x.agent,
                job,
                _nodes: vec![wallet, x.node],
                _rts: vec![rt_xcode, rt_xpay],
            })
        }
    };

    // Warm-up: until every viewer has had a live part (the edges got their first manifests).
    let warm_deadline = Instant::now() + Duration::from_secs(45);
    loop {
        if source.viewers_playing() && rung.as_ref().is_none_or(|r| r.branch.viewers_playing()) {
            break;
        }
        if let Ok(Some(st)) = enc.try_wait() {
            bail!("the encoder (ffmpeg) exited early: {st}");
        }
        if Instant::now() > warm_deadline {
            let why = source
                .last_viewer_error()
                .or_else(|| rung.as_ref().and_then(|r| r.branch.last_viewer_error()))
                .unwrap_or_else(|| "no error seen".into());
            bail!("viewers received no live part within 45 s (last error: {why})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Measurement window.
    let m0 = source.edge_bytes_served();
    let a0 = source
        .relay_a
        .metrics()
        .bytes_served
        .load(Ordering::Relaxed);
    let w0: Vec<u64> = source.meters.iter().map(|(_, c)| c.total()).collect();
    let players = if opts.hlsjs {
        let secs = opts.duration.as_secs().max(5);
        vec![
            Some(hlsjs_player(
                format!("http://{}/live/master.m3u8", origin.addr),
                secs,
                None,
            )?),
            Some(hlsjs_player(
                format!("http://{}/live/master.m3u8", source.edges[0].1),
                secs,
                Some("viewer0"),
            )?),
        ]
    } else {
        Vec::new()
    };
    let agent = rung.as_ref().map(|r| &r.agent);
    let c0 = snap(encoder_pid, agent);
    let t_start = epoch_ms();
    tokio::time::sleep(opts.duration).await;
    let c1 = snap(encoder_pid, agent);
    let t_end = epoch_ms();
    let w1: Vec<u64> = source.meters.iter().map(|(_, c)| c.total()).collect();
    let m1 = source.edge_bytes_served();
    let a1 = source
        .relay_a
        .metrics()
        .bytes_served
        .load(Ordering::Relaxed);
    // Drain: parts of the window still travelling, and the later parts that decide play-out.
    tokio::time::sleep(Duration::from_secs(3) + Duration::from_millis(opts.part_ms as u64 * 6))
        .await;
    let mut browser = Vec::new();
    for p in players.into_iter().flatten() {
        browser.push(
            match tokio::time::timeout(
                opts.duration + Duration::from_secs(90),
                p.wait_with_output(),
            )
            .await
            {
                Ok(Ok(out)) => {
                    let text = String::from_utf8_lossy(&out.stdout);
                    match serde_json::from_str::<serde_json::Value>(text.trim()) {
                        Ok(v) => Ok(v),
                        Err(_) => Err(format!(
                            "hls.js player said: {} {}",
                            text.trim(),
                            String::from_utf8_lossy(&out.stderr).trim()
                        )),
                    }
                }
                Ok(Err(e)) => Err(format!("hls.js player: {e}")),
                Err(_) => Err("hls.js player did not finish".into()),
            },
        );
    }
    stop.store(true, Ordering::Relaxed);
    machine.load_end = super::machine::loadavg();
    source.stop_tasks();
    if let Some(r) = &rung {
        r.branch.stop_tasks();
    }
    let _ = enc.kill().await;
    origin.live.abort();

    let rung_raw = rung.as_ref().map(|r| report::RungRaw {
        rendition: r.rendition.clone(),
        ladder: opts.ladder.clone(),
        renditions: r.job.result.renditions.clone(),
        preset: opts.ladder_preset.clone(),
        probe_job: take_log(&r.branch.probe_up),
        probe_a: take_log(&r.branch.probe_a),
        viewers: r.branch.viewers.iter().map(take_log).collect(),
        payments: r
            .branch
            .payments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len(),
        streamer_paid: r.job.paid(),
    });
    let raw = Raw {
        opts: opts.clone(),
        machine,
        t_start,
        t_end,
        parts: parts.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        probe_origin: take_log(&source.probe_up),
        probe_a: take_log(&source.probe_a),
        viewers: source.viewers.iter().map(take_log).collect(),
        payments: source
            .payments
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        credits: source
            .credits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        cpu: (c0, c1),
        edge_bytes_served: m1.iter().zip(&m0).map(|(b, a)| b - a).collect(),
        relay_a_bytes_served: a1 - a0,
        payment_wire_bytes: w1.iter().zip(&w0).map(|(b, a)| b - a).collect(),
        browser,
        rung: rung_raw,
    };
    let rep = report::analyse(&raw);

    // Tear down the runtimes without blocking this one.
    drop(source);
    drop(rung);
    drop((rt_view, rt_origin));
    rep
}

/// Write report.md, report.json and measured.toml into `out`.
pub fn write_out(rep: &report::NetworkReport, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("report.md"), report::markdown(rep))?;
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(rep)?)?;
    std::fs::write(out.join("measured.toml"), report::measured_toml(rep)?)?;
    Ok(())
}

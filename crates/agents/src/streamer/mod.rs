//! The streamer agent: the creator's go-live side. One [`Streamer::start`] runs
//!
//! - the ingest (RTMP listener with stream-key check, SRT listener, or the synthetic source),
//!   cut into CMAF parts/segments by `tollcast_media::live`, stored by hash;
//! - the LL-HLS origin (HTTP) plus `/metrics` and `/api/status` on the same port;
//! - segment manifests signed with the creator's key, published to Nostr;
//! - the NIP-53 kind-30311 announcement ([`announce`]) with tollcast tags (price, SPSP,
//!   revenue split, chat price), kept current: `current_participants` follows the viewers that
//!   relays report in their offers ([`audience`]);
//! - the creator's wallet ([`wallet`]): an ILP node whose STREAM receiver takes the earnings.
//!
//! [`config`] is `streamer.toml`; [`obs`] renders the OBS settings; [`transcode`] is the hook
//! through which a NIP-90 transcoding job is (re)placed, e.g. after a verifier's report.

pub mod announce;
pub mod audience;
pub mod config;
pub mod hire;
pub mod obs;
pub mod transcode;
pub mod wallet;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::sync::{Mutex, broadcast};
use tollcast_events::live::{LiveEvent as Announcement, LiveStatus, Participant};
use tollcast_events::nostr::prelude::{Keys, PublicKey, Timestamp, ToBech32};
use tollcast_events::split::{SplitRole, SplitShare, Splits};
use tollcast_events::{Role, StreamAddress};
use tollcast_media::live::{LiveConfig, LiveEvent, LiveHandle, ManifestSigner, spawn_live};
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};

use announce::Announcer;
use audience::Audience;
use config::{StreamerConfig, parse_price};
use obs::IngestPoint;
use wallet::Wallet;

/// Streamer failures.
#[derive(Debug, thiserror::Error)]
pub enum StreamerError {
    #[error("{0}")]
    Config(String),
    #[error("media: {0}")]
    Media(String),
    #[error("nostr: {0}")]
    Nostr(String),
    #[error("wallet: {0}")]
    Wallet(String),
    #[error("{0}")]
    Io(String),
}

/// What a running streamer serves (printed as `key: value` lines and the `ready:` JSON).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamerInfo {
    /// Multivariant playlist of the origin.
    pub playlist: String,
    /// Origin HTTP address.
    pub http: SocketAddr,
    /// `rtmp`, `srt` or `synthetic`.
    pub source: String,
    /// RTMP: OBS's "Server" (`rtmp://host:port/app`).
    pub rtmp_server: Option<String>,
    /// RTMP: the stream key.
    pub stream_key: Option<String>,
    /// Full push URL (`rtmp://host:port/app/key` or `srt://...`).
    pub ingest_url: Option<String>,
    /// Creator's public key (hex) and npub.
    pub pubkey: String,
    pub npub: String,
    /// `30311:<pubkey>:<d>`.
    pub stream: String,
    /// NIP-19 naddr with relay hints.
    pub naddr: String,
    /// Nostr relays used.
    pub nostr_relays: Vec<String>,
    /// Creator's SPSP endpoint and node (wallet on).
    pub spsp: Option<String>,
    pub node: Option<SocketAddr>,
    pub ilp_address: Option<String>,
}

/// A status snapshot (the status line and `/api/status`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamerStatus {
    /// An encoder session is producing parts.
    pub live: bool,
    /// Viewers reported by relays.
    pub viewers: u64,
    /// Relays with an unexpired offer for the stream.
    pub relays: usize,
    /// Base units received by the creator's wallet.
    pub earnings: u128,
    pub asset_code: String,
    pub asset_scale: u8,
    /// Median capture -> playlist delay of the last segment's parts, ms.
    pub latency_ms: Option<i64>,
    /// Segments produced so far.
    pub segments: u64,
    /// The transcoder (hex) holding the NIP-90 ladder job, if one is placed.
    pub transcoder: Option<String>,
    /// Services paid per stream-hour (`[[hire]]`).
    pub hired: Vec<hire::HireStatus>,
}

#[derive(Default)]
struct Counters {
    /// The transcoder holding the NIP-90 job.
    transcoder: Arc<std::sync::Mutex<Option<PublicKey>>>,
    live: AtomicBool,
    segments: AtomicU64,
    latency_ms: AtomicI64,
    hires: std::sync::Mutex<Vec<(hire::HireSection, Arc<hire::HireTotals>)>>,
}

/// A running streamer. Dropping it stops the pipeline; call [`Streamer::end`] first to
/// announce the end.
pub struct Streamer {
    pub info: StreamerInfo,
    keys: Keys,
    live: Option<LiveHandle>,
    origin: Origin,
    counters: Arc<Counters>,
    audience: Audience,
    wallet: Option<Arc<Wallet>>,
    announcer: Option<Arc<Mutex<Announcer>>>,
    clients: Vec<RelayClient>,
    events: broadcast::Sender<LiveEvent>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    http_task: Option<tokio::task::JoinHandle<()>>,
    job: Arc<Mutex<Option<transcode::CurrentJob>>>,
    transcode: transcode::TranscodeHook,
}

impl Drop for Streamer {
    fn drop(&mut self) {
        for t in self.tasks.iter().chain(&self.http_task) {
            t.abort();
        }
    }
}

/// The creator's keys: `secret_key`, else the key file (created with a fresh key if missing).
pub fn load_keys(secret: Option<&str>, key_file: &Path) -> Result<Keys, StreamerError> {
    if let Some(k) = secret {
        return Keys::parse(k).map_err(|_| {
            StreamerError::Config("stream.secret_key must be a 64-hex or nsec secret key".into())
        });
    }
    match std::fs::read_to_string(key_file) {
        Ok(text) => Keys::parse(text.trim()).map_err(|_| {
            StreamerError::Config(format!(
                "{} does not hold a hex or nsec secret key",
                key_file.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keys = Keys::generate();
            write_private(key_file, &keys.secret_key().to_secret_hex()).map_err(|e| {
                StreamerError::Io(format!(
                    "cannot create key file {}: {e}",
                    key_file.display()
                ))
            })?;
            Ok(keys)
        }
        Err(e) => Err(StreamerError::Io(format!(
            "cannot read key file {}: {e}",
            key_file.display()
        ))),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

impl Streamer {
    /// Start everything `cfg` asks for; returns once the origin, the ingest listener and the
    /// wallet are listening and the live announcement went out.
    pub async fn start(cfg: StreamerConfig) -> Result<Streamer, StreamerError> {
        cfg.validate()?;
        let keys = load_keys(cfg.stream.secret_key.as_deref(), &cfg.stream.key_file)?;
        let stream_key = cfg.effective_stream_key();
        let source = cfg.source(&stream_key)?;

        // The wallet first: its node may host the Nostr relay everything else uses.
        let wallet = if cfg.wallet.enabled {
            Some(Arc::new(Wallet::start(&cfg.wallet).await?))
        } else {
            None
        };
        let mut relay_urls = cfg.nostr.relays.clone();
        if relay_urls.is_empty()
            && let Some(u) = wallet.as_ref().and_then(|w| w.nostr_url())
        {
            relay_urls.push(u);
        }
        let mut clients = Vec::new();
        for url in &relay_urls {
            clients.push(
                RelayClient::connect(url, ClientOptions::default())
                    .map_err(|e| StreamerError::Nostr(format!("{url}: {e}")))?,
            );
        }

        let store = ChunkStore::open(
            &cfg.origin.store_dir,
            cfg.origin.store_mib.saturating_mul(1024 * 1024),
        )
        .map_err(|e| {
            StreamerError::Io(format!(
                "opening the chunk store in {}: {e}",
                cfg.origin.store_dir.display()
            ))
        })?;
        let cut = cfg.cutter();
        let origin = Origin::new(
            store,
            PlaylistConfig {
                part_target: cut.part_target,
                segment_target: cut.segment_target,
                window: cfg.origin.window,
            },
        );
        let listener = tokio::net::TcpListener::bind(cfg.origin.listen)
            .await
            .map_err(|e| {
                StreamerError::Io(format!(
                    "cannot listen on {} ({e}; in use? set [origin] listen = \"127.0.0.1:0\")",
                    cfg.origin.listen
                ))
            })?;
        let http = listener
            .local_addr()
            .map_err(|e| StreamerError::Io(e.to_string()))?;
        let public = cfg
            .origin
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{http}"));
        let playlist = format!("{}/live/master.m3u8", public.trim_end_matches('/'));
        let stream = StreamAddress::new(keys.public_key(), cfg.stream.id.clone());
        let hints: Vec<&str> = relay_urls.iter().map(String::as_str).collect();
        let naddr = stream
            .to_naddr(&hints)
            .map_err(|e| StreamerError::Config(format!("naddr: {e}")))?;

        let mut live_cfg = LiveConfig::new(source);
        live_cfg.cutter = cut;
        live_cfg.end_on_disconnect = cfg.ingest.end_on_disconnect;
        live_cfg.signer = Some(ManifestSigner {
            keys: keys.clone(),
            stream: stream.clone(),
            role: Role::Streamer,
        });
        let live = spawn_live(live_cfg, origin.clone())
            .await
            .map_err(|e| StreamerError::Media(e.to_string()))?;
        let ingest = match (&cfg.ingest.source, live.rtmp_addr) {
            (config::SourceKind::Rtmp, Some(addr)) => IngestPoint::Rtmp {
                server: format!("rtmp://{addr}/{}", cfg.ingest.app),
                key: stream_key.clone(),
            },
            (config::SourceKind::Srt, _) => IngestPoint::Srt {
                url: match &cfg.ingest.srt_passphrase {
                    Some(p) => format!("srt://{}?passphrase={p}", cfg.ingest.srt_listen),
                    None => format!("srt://{}", cfg.ingest.srt_listen),
                },
            },
            _ => IngestPoint::Synthetic,
        };

        let spsp = wallet.as_ref().and_then(|w| w.spsp_url());
        let info = StreamerInfo {
            playlist: playlist.clone(),
            http,
            source: format!("{:?}", ingest.kind()).to_lowercase(),
            rtmp_server: match &ingest {
                IngestPoint::Rtmp { server, .. } => Some(server.clone()),
                _ => None,
            },
            stream_key: matches!(ingest, IngestPoint::Rtmp { .. }).then(|| stream_key.clone()),
            ingest_url: ingest.push_url(),
            pubkey: keys.public_key().to_hex(),
            npub: keys
                .public_key()
                .to_bech32()
                .map_err(|e| StreamerError::Config(e.to_string()))?,
            stream: stream.to_string(),
            naddr,
            nostr_relays: relay_urls.clone(),
            spsp: spsp.clone(),
            node: wallet.as_ref().map(|w| w.services.node.local_addr),
            ilp_address: wallet
                .as_ref()
                .and_then(|w| w.receiver())
                .map(|r| r.config().server_address.to_string()),
        };

        // The announcement: NIP-53 tags plus tollcast's price / spsp / split / chat price.
        let extra = extra_tags(
            &cfg,
            keys.public_key(),
            spsp.as_deref(),
            info.ilp_address.as_deref(),
        )?;
        let base = Announcement {
            title: cfg.stream.title.clone(),
            summary: cfg.stream.summary.clone(),
            image: cfg.stream.image.clone(),
            streaming: vec![playlist.clone()],
            status: Some(LiveStatus::Live),
            starts: Some(Timestamp::now().as_secs()),
            hashtags: cfg.stream.tags.clone(),
            current_participants: Some(0),
            participants: vec![Participant {
                pubkey: keys.public_key(),
                relay: relay_urls.first().cloned(),
                role: Some("Host".into()),
                proof: None,
            }],
            relays: relay_urls.clone(),
            ..Announcement::new(cfg.stream.id.clone())
        };
        let announcer = (!clients.is_empty()).then(|| {
            Arc::new(Mutex::new(Announcer::new(
                keys.clone(),
                base,
                extra,
                clients.clone(),
            )))
        });

        let audience = Audience::new(stream.clone());
        let counters = Arc::new(Counters::default());
        let (events, _) = broadcast::channel(1024);
        let mut me = Streamer {
            info,
            keys,
            live: None,
            origin: origin.clone(),
            counters,
            audience,
            wallet,
            announcer,
            clients,
            events,
            tasks: Vec::new(),
            http_task: None,
            job: Arc::new(Mutex::new(None)),
            transcode: transcode::TranscodeHook::default(),
        };
        // HTTP: the origin plus /metrics and /api/status.
        let router = origin.router().merge(me.status_router());
        me.http_task = Some(tokio::spawn(async move {
            if let Err(e) = tollcast_net::http_serve::serve(listener, router).await {
                eprintln!("origin HTTP server stopped: {e}");
            }
        }));
        me.spawn_pipeline_watch(live.subscribe());
        me.live = Some(live);
        for c in &me.clients {
            match me.audience.follow(c).await {
                Ok(t) => me.tasks.push(t),
                Err(e) => tracing::warn!("cannot follow relay offers on {}: {e}", c.url()),
            }
        }
        if let Some(an) = &me.announcer {
            an.lock().await.live().await;
            me.spawn_announce_loop(Duration::from_secs(cfg.nostr.announce_every.max(1)));
        }
        me.start_transcoding(&cfg, &relay_urls, &stream).await?;
        me.start_hires(&cfg)?;
        Ok(me)
    }

    /// `[[hire]]`: pay each service per stream-hour from the wallet while the stream runs.
    fn start_hires(&mut self, cfg: &StreamerConfig) -> Result<(), StreamerError> {
        if cfg.hire.is_empty() {
            return Ok(());
        }
        let Some(wallet) = self.wallet.clone() else {
            return Err(StreamerError::Config(
                "[[hire]] needs the wallet: hired services are paid from it".into(),
            ));
        };
        let mut hires = self
            .counters
            .hires
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for h in &cfg.hire {
            let totals = Arc::new(hire::HireTotals::default());
            let from = tollcast_net::connector::AccountId::new(h.pay_from.clone());
            let service = wallet.services.node.connector.sender(from);
            self.tasks
                .push(tokio::spawn(hire::pay(service, h.clone(), totals.clone())));
            hires.push((h.clone(), totals));
        }
        Ok(())
    }

    /// `[transcode]`: follow the trusted verifiers' reports, and place the NIP-90 job in the
    /// background when enabled (offers take `offer_window_ms`).
    async fn start_transcoding(
        &mut self,
        cfg: &StreamerConfig,
        relay_urls: &[String],
        stream: &StreamAddress,
    ) -> Result<(), StreamerError> {
        let t = &cfg.transcode;
        let verifiers = t
            .verifiers
            .iter()
            .filter_map(|v| PublicKey::parse(v).ok())
            .collect::<Vec<_>>();
        if !verifiers.is_empty() {
            for c in &self.clients {
                let task = transcode::follow_reports(
                    c,
                    stream.clone(),
                    verifiers.clone(),
                    self.transcode.clone(),
                )
                .await
                .map_err(|e| StreamerError::Nostr(format!("verifier reports: {e}")))?;
                self.tasks.push(task);
            }
        }
        if !t.enabled {
            return Ok(());
        }
        let Some(wallet) = self.wallet.clone() else {
            return Err(StreamerError::Config(
                "[transcode] enabled needs the wallet: the transcoder is paid from it".into(),
            ));
        };
        let bid = parse_price(t.bid_per_minute.as_deref().unwrap_or("1000:USD:6"))?;
        let rungs = t
            .ladder
            .iter()
            .map(|r| {
                crate::verifier::parse_rung(r)
                    .map(|x| {
                        tollcast_media::ladder::Rung::new(&x.name, x.width, x.height, x.video_bps)
                    })
                    .map_err(|e| StreamerError::Config(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let from = tollcast_net::connector::AccountId::new(t.pay_from.clone());
        let client = crate::transcoder::job_client::JobClient::new(
            crate::transcoder::job_client::JobClientConfig {
                stream: stream.clone(),
                source_url: format!("http://{}", self.info.http),
                rungs,
                max_price_per_minute: t
                    .max_price_per_minute
                    .unwrap_or(bid.amount.saturating_mul(4)),
                bid_per_minute: bid,
                part_target: cfg.origin.part_target,
                segment_target: cfg.origin.segment_target,
                offer_window: Duration::from_millis(t.offer_window_ms),
                result_timeout: Duration::from_secs(30),
            },
            self.keys.clone(),
            relay_urls,
            wallet.services.node.connector.sender(from.clone()),
            from,
        )
        .map_err(|e| StreamerError::Config(format!("[transcode]: {e}")))?;
        let hook = self.transcode.clone();
        let slot = self.job.clone();
        let holder = self.counters.transcoder.clone();
        self.tasks.push(tokio::spawn(async move {
            match transcode::place_job(client, &hook, holder).await {
                Ok(job) => *slot.lock().await = Some(job),
                Err(e) => eprintln!("transcoding: no job placed: {e}"),
            }
        }));
        Ok(())
    }

    /// The transcoder currently holding the job, if any.
    pub async fn transcoder(&self) -> Option<PublicKey> {
        let cur = self.job.lock().await.clone()?;
        let job = cur.lock().await;
        job.as_ref().map(|j| j.transcoder)
    }

    /// The creator's keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The origin (e.g. to add a transcoded rendition).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Pipeline events (parts, segments, signed manifests, sessions).
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Who reports viewers.
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// The transcoding hook (see [`transcode`]).
    pub fn transcode(&self) -> &transcode::TranscodeHook {
        &self.transcode
    }

    /// The creator's wallet node, if running.
    pub fn wallet(&self) -> Option<&Wallet> {
        self.wallet.as_deref()
    }

    /// The latest signed announcement.
    pub async fn announcement(&self) -> Option<tollcast_events::nostr::prelude::Event> {
        match &self.announcer {
            Some(a) => a.lock().await.last_event().cloned(),
            None => None,
        }
    }

    /// Status snapshot.
    pub fn status(&self) -> StreamerStatus {
        status_of(&self.counters, &self.audience, self.wallet.as_deref())
    }

    /// OBS settings for this streamer.
    pub fn obs_settings(&self, cfg: &StreamerConfig) -> String {
        let p = match (&self.info.rtmp_server, &self.info.stream_key) {
            (Some(s), Some(k)) => IngestPoint::Rtmp {
                server: s.clone(),
                key: k.clone(),
            },
            _ => match (&self.info.source[..], &self.info.ingest_url) {
                ("srt", Some(u)) => IngestPoint::Srt { url: u.clone() },
                _ => IngestPoint::Synthetic,
            },
        };
        obs::obs_settings(&p, &cfg.obs, cfg.origin.segment_target)
    }

    /// A future that resolves when the pipeline finishes (a synthetic source with a duration,
    /// an ended stream). It owns the pipeline: dropping it stops the ingest. Called again, it
    /// never resolves.
    pub fn finished(
        &mut self,
    ) -> impl std::future::Future<Output = Result<(), StreamerError>> + Send + 'static {
        let live = self.live.take();
        async move {
            match live {
                Some(l) => l
                    .join()
                    .await
                    .map_err(|e| StreamerError::Media(e.to_string())),
                None => std::future::pending().await,
            }
        }
    }

    /// Announce the end (status ended) and stop the announcement loop.
    pub async fn end(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        if let Some(an) = &self.announcer {
            an.lock().await.ended().await;
        }
    }

    fn status_router(&self) -> Router {
        let counters = self.counters.clone();
        let audience = self.audience.clone();
        let wallet = self.wallet.clone();
        let info = self.info.clone();
        let (c2, a2, w2) = (counters.clone(), audience.clone(), wallet.clone());
        Router::new()
            .route(
                "/api/status",
                get(move || {
                    let s = status_of(&counters, &audience, wallet.as_deref());
                    let info = info.clone();
                    async move { axum::Json(serde_json::json!({ "status": s, "info": info })) }
                }),
            )
            .route(
                "/metrics",
                get(move || {
                    let s = status_of(&c2, &a2, w2.as_deref());
                    async move { metrics_text(&s) }
                }),
            )
    }

    /// Forward pipeline events, keep counters, publish manifests.
    fn spawn_pipeline_watch(&mut self, mut rx: broadcast::Receiver<LiveEvent>) {
        let counters = self.counters.clone();
        let clients = self.clients.clone();
        let out = self.events.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut lat: Vec<i64> = Vec::new();
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => ev,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                match &ev {
                    LiveEvent::SessionStarted { .. } => {}
                    LiveEvent::Part {
                        capture_ms,
                        available_ms,
                        ..
                    } => {
                        counters.live.store(true, Ordering::Relaxed);
                        lat.push(available_ms - capture_ms);
                    }
                    LiveEvent::Segment(_) => {
                        counters.segments.fetch_add(1, Ordering::Relaxed);
                        lat.sort_unstable();
                        if let Some(m) = lat.get(lat.len() / 2) {
                            counters.latency_ms.store(*m, Ordering::Relaxed);
                        }
                        lat.clear();
                    }
                    // Segment (31311) and part (21311, ephemeral) manifests alike.
                    LiveEvent::ManifestSigned(m) | LiveEvent::PartManifestSigned(m) => {
                        for c in &clients {
                            let (c, m) = (c.clone(), m.clone());
                            tokio::spawn(async move {
                                match c.publish(&m, Duration::from_secs(5)).await {
                                    Ok(a) if a.accepted => {}
                                    Ok(a) => eprintln!(
                                        "relay {} refused manifest {}: {}",
                                        c.url(),
                                        m.id,
                                        a.message
                                    ),
                                    Err(e) => eprintln!(
                                        "relay {}: manifest {} not published: {e}",
                                        c.url(),
                                        m.id
                                    ),
                                }
                            });
                        }
                    }
                    LiveEvent::SessionEnded { .. } => counters.live.store(false, Ordering::Relaxed),
                    LiveEvent::Init { .. } => {}
                }
                let _ = out.send(ev);
            }
        }));
    }

    /// Re-publish the announcement every `every`, and at once (at most every 2 s) when the
    /// viewer count changes.
    fn spawn_announce_loop(&mut self, every: Duration) {
        let Some(an) = self.announcer.clone() else {
            return;
        };
        let mut viewers = self.audience.watch();
        self.tasks.push(tokio::spawn(async move {
            let mut t = tokio::time::interval(every);
            t.tick().await;
            loop {
                tokio::select! {
                    _ = t.tick() => {
                        an.lock().await.live().await;
                    }
                    r = viewers.changed() => {
                        if r.is_err() { break; }
                        let n = *viewers.borrow_and_update();
                        let mut a = an.lock().await;
                        if a.set_viewers(n) {
                            a.live().await;
                        }
                        drop(a);
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        }));
    }
}

fn status_of(c: &Counters, a: &Audience, w: Option<&Wallet>) -> StreamerStatus {
    let (asset_code, asset_scale) = w.map(|w| w.asset()).unwrap_or_default();
    let segs = c.segments.load(Ordering::Relaxed);
    StreamerStatus {
        live: c.live.load(Ordering::Relaxed),
        viewers: a.viewers(),
        relays: a.relays().len(),
        earnings: w.map(|w| w.earnings()).unwrap_or(0),
        asset_code,
        asset_scale,
        latency_ms: (segs > 0).then(|| c.latency_ms.load(Ordering::Relaxed)),
        segments: segs,
        transcoder: c
            .transcoder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|k| k.to_hex()),
        hired: c
            .hires
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(h, t)| hire::HireStatus::of(h, t))
            .collect(),
    }
}

fn metrics_text(s: &StreamerStatus) -> String {
    format!(
        "# TYPE tollcast_streamer_live gauge\ntollcast_streamer_live {}\n\
         # TYPE tollcast_streamer_viewers gauge\ntollcast_streamer_viewers {}\n\
         # TYPE tollcast_streamer_relays gauge\ntollcast_streamer_relays {}\n\
         # TYPE tollcast_streamer_earnings_total counter\n\
         tollcast_streamer_earnings_total{{asset_code=\"{}\",asset_scale=\"{}\"}} {}\n\
         # TYPE tollcast_streamer_segments_total counter\ntollcast_streamer_segments_total {}\n\
         # TYPE tollcast_streamer_capture_to_playlist_ms gauge\ntollcast_streamer_capture_to_playlist_ms {}\n",
        s.live as u8,
        s.viewers,
        s.relays,
        s.asset_code,
        s.asset_scale,
        s.earnings,
        s.segments,
        s.latency_ms.unwrap_or(0),
    )
}

/// tollcast tags of the live event beyond NIP-53: `price` (per minute), `spsp` and `ilp`
/// (where the creator is paid), `split` (revenue shares), `chat_price`.
fn extra_tags(
    cfg: &StreamerConfig,
    creator: PublicKey,
    spsp: Option<&str>,
    ilp: Option<&str>,
) -> Result<Vec<Vec<String>>, StreamerError> {
    let mut extra = Vec::new();
    let price = cfg
        .pricing
        .price_per_minute
        .as_deref()
        .map(parse_price)
        .transpose()?;
    if let Some(p) = &price {
        extra.push(vec![
            "price".into(),
            "minute".into(),
            p.amount.to_string(),
            p.asset_code.clone(),
            p.asset_scale.to_string(),
        ]);
    }
    if let Some(s) = spsp {
        extra.push(vec!["spsp".into(), s.to_string()]);
    }
    if let Some(i) = ilp {
        extra.push(vec!["ilp".into(), i.to_string()]);
    }
    // Revenue split (tollcast_events::split): the creator's own share to the wallet first.
    let mut shares = Vec::new();
    if let Some(s) = spsp
        && cfg.pricing.creator_weight > 0
    {
        let mut me = SplitShare::new(SplitRole::Creator, s, cfg.pricing.creator_weight);
        me.pubkey = Some(creator);
        shares.push(me);
    }
    for s in &cfg.pricing.split {
        shares.push(s.share()?);
    }
    for t in (Splits { shares }).to_tags() {
        extra.push(t.as_slice().to_vec());
    }
    if let Some(c) = cfg.pricing.chat_price {
        let (code, scale) = price
            .as_ref()
            .map(|p| (p.asset_code.clone(), p.asset_scale))
            .unwrap_or((cfg.wallet.asset_code.clone(), cfg.wallet.asset_scale));
        extra.push(vec![
            "chat_price".into(),
            c.to_string(),
            code,
            scale.to_string(),
        ]);
    }
    // Chat rules in the chat agent's tag format (agents::chat::settings).
    if cfg.pricing.slow_mode > 0 {
        extra.push(vec!["slow_mode".into(), cfg.pricing.slow_mode.to_string()]);
    }
    if cfg.pricing.subscribers_only {
        extra.push(vec!["chat_mode".into(), "subscribers".into()]);
    }
    Ok(extra)
}

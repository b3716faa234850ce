//! Starting a whole relay agent from one config: the one path behind both `tollcast relay`
//! (flags) and `tollcast node --role relay` (a `[relay]` section), so the two cannot drift.
//!
//! [`RelayAgent::start`] opens the chunk cache, follows the stream's manifests on Nostr, binds
//! the HTTP listener and, on a paid relay (an ILP connector given), attaches the credit-mode
//! receiver and its [`Billing`], the ILP-native receiver, the revenue [`Splitter`], SPSP over
//! Nostr for the relay's key (kinds 23194/23195: credentials tagged with the requesting
//! viewer's pubkey, which is the viewer id the viewer agent presents), the takedown watch and
//! the periodic relay offer. Everything it spawned stops when the agent is dropped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tollcast_events::nostr::prelude::{Filter, Keys, Kind, PublicKey, Timestamp};
use tollcast_events::split::{SplitShare, Splits};
use tollcast_events::{Price, StreamAddress};
use tollcast_media::store::ChunkStore;
use tollcast_net::connector::{AccountId, Connector};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::stream::{StreamReceiver, spsp_http, spsp_nostr};

use super::billing::{Billing, BillingConfig};
use super::http::{NATIVE_PAY_PATH, PAY_PATH};
use super::manifests::ManifestBook;
use super::moderation::{TakedownPolicy, TakedownWatch};
use super::native::{NativePricing, NativeServer};
use super::nostr::follow_manifests;
use super::offer::OfferSettings;
use super::splits::{SplitsConfig, Splitter};
use super::{Relay, RelayConfig, RelayError};

fn d_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}
fn d_store_dir() -> PathBuf {
    PathBuf::from("tollcast-relay-cache")
}
fn d_store_mib() -> u64 {
    512
}
fn d_manifest_wait() -> u64 {
    8000
}
fn d_grace() -> u64 {
    3000
}
fn d_billing_db() -> PathBuf {
    PathBuf::from("tollcast-relay-billing.redb")
}
fn d_capacity() -> u64 {
    1000
}
fn d_margin() -> u32 {
    100_000
}
fn d_batch() -> u64 {
    5000
}
fn d_splits_db() -> PathBuf {
    PathBuf::from("tollcast-relay-splits.redb")
}
fn d_threshold() -> u32 {
    2
}
fn d_offer_every() -> u64 {
    60
}
fn yes() -> bool {
    true
}

/// Everything a relay agent needs (the `[relay]` section of a node config; `tollcast relay`
/// maps its flags onto it). Only `upstream` and `stream` are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayAgentConfig {
    /// Where to pull from: the origin's or a parent relay's base URL.
    pub upstream: String,
    /// The stream: naddr1... or `30311:<author hex>:<d>`.
    pub stream: String,
    /// Nostr relays with the stream's manifests; the offer is published and SPSP over Nostr
    /// answered there too. At least one (`tollcast node` fills in its own relay).
    #[serde(default)]
    pub nostr: Vec<String>,
    /// Also trust manifests signed by these keys (hex or npub), e.g. the stream's transcoder.
    #[serde(default)]
    pub signers: Vec<String>,
    /// HTTP address for viewers (default 127.0.0.1:8081; port 0 picks a free port).
    #[serde(default = "d_listen")]
    pub listen: SocketAddr,
    /// Public base URL for the offer (default http://<bound listen address>).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Chunk cache directory (default `tollcast-relay-cache`) and bound in MiB (default 512).
    #[serde(default = "d_store_dir")]
    pub store_dir: PathBuf,
    #[serde(default = "d_store_mib")]
    pub store_mib: u64,
    /// Longest a chunk waits for its signed manifest, ms (default 8000).
    #[serde(default = "d_manifest_wait")]
    pub manifest_wait_ms: u64,
    /// Viewer id presented to a paid upstream relay.
    #[serde(default)]
    pub upstream_viewer: Option<String>,
    /// Credit mode: base units per second of service (unset: no credit mode).
    #[serde(default)]
    pub price_per_second: Option<u64>,
    /// Credit mode: service continues this long after paid time ran out (default 3000 ms).
    #[serde(default = "d_grace")]
    pub grace_ms: u64,
    /// Credit mode: viewers' balances across restarts.
    #[serde(default = "d_billing_db")]
    pub billing_db: PathBuf,
    /// Asset viewers pay in (default USD, scale 6; `tollcast node` defaults to its `[spsp]`
    /// asset).
    #[serde(default)]
    pub asset_code: Option<String>,
    #[serde(default)]
    pub asset_scale: Option<u8>,
    /// Key signing the offer and answering SPSP over Nostr (hex or nsec; default: the
    /// caller's, else a fresh key).
    #[serde(default)]
    pub secret_key: Option<String>,
    /// Viewers advertised as capacity (default 1000).
    #[serde(default = "d_capacity")]
    pub capacity: u64,
    /// The offer is re-published this often, seconds (default 60; it expires after three).
    #[serde(default = "d_offer_every")]
    pub offer_every_s: u64,
    /// Credit mode: also answer SPSP over Nostr (kinds 23194/23195) for the relay's key and
    /// say so in the offer (default true).
    #[serde(default = "yes")]
    pub spsp_nostr: bool,
    /// ILP-native mode: chunks by hash over STREAM, bytes inside the FULFILLs paying them.
    #[serde(default)]
    pub native: bool,
    /// ILP-native only: chunks are not served over HTTP (playlists still are).
    #[serde(default)]
    pub native_only: bool,
    /// ILP-native: base units per 10^9 bytes and per chunk.
    #[serde(default)]
    pub price_per_gb: u64,
    #[serde(default)]
    pub price_per_part: u64,
    /// Revenue split payees `role=spsp_url_or_pointer=weight`.
    #[serde(default)]
    pub splits: Vec<String>,
    /// Read the split from the stream's signed kind-30311 event instead.
    #[serde(default)]
    pub splits_from_event: bool,
    /// Splits: this relay's margin in ppm of revenue (default 100000 = 10 %).
    #[serde(default = "d_margin")]
    pub relay_margin_ppm: u32,
    /// Splits: the upstream relay's SPSP endpoint and share in ppm.
    #[serde(default)]
    pub upstream_pay_to: Option<String>,
    #[serde(default)]
    pub upstream_ppm: u32,
    /// Splits: pay out owed shares every this many ms (default 5000) and book them here.
    #[serde(default = "d_batch")]
    pub batch_ms: u64,
    #[serde(default = "d_splits_db")]
    pub splits_db: PathBuf,
    /// Honour takedown votes of these moderators (hex or npub).
    #[serde(default)]
    pub moderators: Vec<String>,
    /// Takedown votes of trusted moderators needed to stop serving (default 2).
    #[serde(default = "d_threshold")]
    pub takedown_threshold: u32,
}

impl RelayAgentConfig {
    /// A free relay of `stream` pulling from `upstream`, every other setting at its default.
    pub fn new(upstream: impl Into<String>, stream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into(),
            stream: stream.into(),
            nostr: Vec::new(),
            signers: Vec::new(),
            listen: d_listen(),
            public_url: None,
            store_dir: d_store_dir(),
            store_mib: d_store_mib(),
            manifest_wait_ms: d_manifest_wait(),
            upstream_viewer: None,
            price_per_second: None,
            grace_ms: d_grace(),
            billing_db: d_billing_db(),
            asset_code: None,
            asset_scale: None,
            secret_key: None,
            capacity: d_capacity(),
            offer_every_s: d_offer_every(),
            spsp_nostr: true,
            native: false,
            native_only: false,
            price_per_gb: 0,
            price_per_part: 0,
            splits: Vec::new(),
            splits_from_event: false,
            relay_margin_ppm: d_margin(),
            upstream_pay_to: None,
            upstream_ppm: 0,
            batch_ms: d_batch(),
            splits_db: d_splits_db(),
            moderators: Vec::new(),
            takedown_threshold: d_threshold(),
        }
    }

    fn is_native(&self) -> bool {
        self.native || self.native_only
    }

    fn wants_splits(&self) -> bool {
        !self.splits.is_empty() || self.splits_from_event || self.upstream_pay_to.is_some()
    }
}

/// `naddr1...` or `30311:<hex>:<d>`.
pub fn parse_stream(s: &str) -> Result<StreamAddress, RelayError> {
    if s.starts_with("naddr1") {
        return StreamAddress::from_naddr(s).map_err(|e| cfg_err(format!("stream: {e}")));
    }
    s.parse().map_err(|e| {
        cfg_err(format!(
            "stream: {e} (want naddr1... or 30311:<hex pubkey>:<d>)"
        ))
    })
}

fn cfg_err(m: impl Into<String>) -> RelayError {
    RelayError::Config(m.into())
}

fn parse_key(s: &str) -> Result<PublicKey, RelayError> {
    PublicKey::parse(s).map_err(|_| cfg_err(format!("`{s}` is not a hex or npub public key")))
}

/// The stream's splits from its newest signed live event on any of `clients`.
pub async fn splits_from_event(
    clients: &[RelayClient],
    stream: &StreamAddress,
) -> Result<Splits, RelayError> {
    let filter = Filter::new()
        .kind(Kind::from(tollcast_events::live::KIND_LIVE_EVENT))
        .author(stream.pubkey)
        .identifier(stream.identifier.clone());
    let mut newest: Option<tollcast_events::nostr::prelude::Event> = None;
    for c in clients {
        let evs = c
            .fetch(vec![filter.clone()], Duration::from_secs(5))
            .await
            .map_err(|e| cfg_err(format!("fetching the live event from {}: {e}", c.url())))?;
        for ev in evs {
            if newest.as_ref().is_none_or(|n| ev.created_at > n.created_at) {
                newest = Some(ev);
            }
        }
    }
    let ev = newest.ok_or_else(|| {
        cfg_err(format!(
            "splits from the live event: no kind-30311 event for {stream} on the Nostr relays; \
             publish it first or give the split as role=pay_to=weight"
        ))
    })?;
    Splits::from_live_event(&ev).map_err(|e| cfg_err(format!("the live event's split tags: {e}")))
}

/// The `spsp` offer value saying `pubkey` answers SPSP over Nostr on `relays`.
pub fn spsp_nostr_uri(pubkey: &PublicKey, relays: &[String]) -> String {
    tollcast_events::offer::SpspNostr {
        pubkey: *pubkey,
        relays: relays.to_vec(),
    }
    .to_uri()
}

/// Aborts its task when dropped.
struct Task(tokio::task::JoinHandle<()>);
impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running relay agent. Dropping it stops its tasks (HTTP server, subscriptions, offers,
/// payouts); the ILP connector it was given is the caller's.
pub struct RelayAgent {
    pub relay: Relay,
    pub stream: StreamAddress,
    /// The bound HTTP address and the public base URL.
    pub http: SocketAddr,
    pub public_url: String,
    /// The key signing the offer (and answering SPSP over Nostr).
    pub keys: Keys,
    pub clients: Vec<RelayClient>,
    /// Credit mode: the receiver viewers pay (`<node>.relay`) and the balances.
    pub credit: Option<(Arc<StreamReceiver>, Arc<Billing>)>,
    /// ILP-native mode: the receiver answering chunk requests (`<node>.native`).
    pub native: Option<Arc<StreamReceiver>>,
    pub splitter: Option<Arc<Splitter>>,
    /// Whether SPSP over Nostr is answered for [`Self::keys`].
    pub spsp_nostr: bool,
    cfg: RelayAgentConfig,
    _takedown: Option<TakedownWatch>,
    _tasks: Vec<Task>,
}

impl RelayAgent {
    /// Start the relay described by `cfg`. `connector` (the ILP node's) makes it paid: credit
    /// mode needs `price_per_second`, ILP-native mode `native`; without one, a free relay.
    /// `default_keys` sign the offer when `cfg.secret_key` is unset (else a fresh key).
    pub async fn start(
        cfg: RelayAgentConfig,
        connector: Option<&Arc<Connector>>,
        default_keys: Option<Keys>,
    ) -> Result<Self, RelayError> {
        let stream = parse_stream(&cfg.stream)?;
        let signers = cfg
            .signers
            .iter()
            .map(|s| parse_key(s))
            .collect::<Result<Vec<_>, _>>()?;
        let native = cfg.is_native();
        if connector.is_none() {
            if cfg.price_per_second.is_some() || native {
                return Err(cfg_err(
                    "a paid relay (price per second or ILP-native) needs an ILP node",
                ));
            }
            if cfg.wants_splits() {
                return Err(cfg_err(
                    "revenue splits are paid from the relay's ILP node: give one",
                ));
            }
        }
        if cfg.nostr.is_empty() {
            return Err(cfg_err(
                "no Nostr relay to follow the stream's manifests on",
            ));
        }
        let shares = cfg
            .splits
            .iter()
            .map(|s| {
                SplitShare::parse_cli(s)
                    .map_err(|e| cfg_err(format!("split {s}: {e} (want role=pay_to=weight)")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keys = match &cfg.secret_key {
            Some(k) => Keys::parse(k)
                .map_err(|_| cfg_err("the secret key must be a 64-hex or nsec secret key"))?,
            None => default_keys.clone().unwrap_or_else(Keys::generate),
        };
        let store = ChunkStore::open(&cfg.store_dir, cfg.store_mib.saturating_mul(1024 * 1024))
            .map_err(|e| {
                cfg_err(format!(
                    "opening the chunk cache in {}: {e}",
                    cfg.store_dir.display()
                ))
            })?;
        let book = Arc::new(ManifestBook::new(stream.clone(), signers.clone()));
        let mut tasks = Vec::new();
        let mut clients = Vec::new();
        for url in &cfg.nostr {
            let c = RelayClient::connect(url, ClientOptions::default())
                .map_err(|e| cfg_err(format!("nostr {url}: {e} (want ws://host:port)")))?;
            // Manifests of the last ten minutes cover any live window; older ones are VOD's.
            let since = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(600));
            let t = follow_manifests(&c, book.clone(), &signers, Some(since))
                .await
                .map_err(|e| cfg_err(format!("nostr {url}: {e}")))?;
            tasks.push(Task(t));
            clients.push(c);
        }
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|e| {
                cfg_err(format!(
                    "cannot listen on {} ({e}; in use? use port 0, e.g. 127.0.0.1:0)",
                    cfg.listen
                ))
            })?;
        let http = listener
            .local_addr()
            .map_err(|e| cfg_err(format!("listener address: {e}")))?;
        let public = cfg.public_url.clone().unwrap_or(format!("http://{http}"));
        let asset_code = cfg.asset_code.clone().unwrap_or_else(|| "USD".into());
        let asset_scale = cfg.asset_scale.unwrap_or(6);
        let attach = |conn: &Arc<Connector>, segment: &str| {
            StreamReceiver::attach(conn, segment, &asset_code, asset_scale, None).map_err(|e| {
                cfg_err(format!(
                    "the node address cannot take a {segment} receiver: {e}"
                ))
            })
        };

        // Credit mode: viewers are credited by their credentials' tag (the SPSP path's viewer
        // id over HTTP, the requester's pubkey over Nostr).
        let mut credit = None;
        if let (Some(pps), Some(conn)) = (cfg.price_per_second, connector) {
            let receiver = attach(conn, "relay")?;
            let billing = Arc::new(
                Billing::open(
                    BillingConfig {
                        price_per_second: pps,
                        grace: Duration::from_millis(cfg.grace_ms),
                        asset_code: asset_code.clone(),
                        asset_scale,
                        pay_to: Some(format!("{public}{PAY_PATH}/{{viewer}}")),
                    },
                    &cfg.billing_db,
                )
                .map_err(|e| cfg_err(format!("billing db {}: {e}", cfg.billing_db.display())))?,
            );
            tasks.push(Task(billing.follow(&receiver)));
            credit = Some((receiver, billing));
        }
        let native_receiver = match connector {
            Some(conn) if native => Some(attach(conn, "native")?),
            _ => None,
        };
        let mut rc = RelayConfig::new(cfg.upstream.clone());
        rc.manifest_wait = Duration::from_millis(cfg.manifest_wait_ms);
        rc.upstream_viewer = cfg.upstream_viewer.clone();
        rc.ilp_only_chunks = cfg.native_only;
        let relay = Relay::new(rc, store, book, credit.as_ref().map(|(_, b)| b.clone()))?;
        if let Some(r) = &native_receiver {
            r.set_responder(Some(NativeServer::new(
                relay.clone(),
                NativePricing {
                    price_per_gb: cfg.price_per_gb,
                    price_per_part: cfg.price_per_part,
                },
            )));
        }
        let mut router = match &credit {
            Some((receiver, _)) => relay.paid_router(receiver.clone()),
            None => relay.router(),
        };
        if let Some(r) = &native_receiver {
            router = router.merge(spsp_http::router(r.clone(), NATIVE_PAY_PATH));
        }
        let mut splitter = None;
        if cfg.wants_splits()
            && let Some(conn) = connector
        {
            let mut sc = SplitsConfig::new(stream.to_string());
            sc.relay_margin_ppm = cfg.relay_margin_ppm;
            sc.upstream_pay_to = cfg.upstream_pay_to.clone();
            sc.upstream_ppm = cfg.upstream_ppm;
            sc.batch = Duration::from_millis(cfg.batch_ms.max(10));
            sc.shares = if cfg.splits_from_event {
                splits_from_event(&clients, &stream).await?
            } else {
                Splits { shares }
            };
            let s = Splitter::open(sc, &cfg.splits_db)
                .map_err(|e| cfg_err(format!("splits db {}: {e}", cfg.splits_db.display())))?;
            for r in credit.iter().map(|(r, _)| r).chain(native_receiver.iter()) {
                tasks.push(Task(s.follow(r)));
            }
            tasks.push(Task(
                s.run(conn.sender(AccountId::local()), conn.address().clone()),
            ));
            // The books of the stream, for dashboards and audits (StreamBooks JSON).
            let books = s.clone();
            router = router.route(
                "/splits",
                axum::routing::get(move || {
                    let books = books.clone();
                    async move { axum::Json(books.books()) }
                }),
            );
            splitter = Some(s);
        }
        // Takedown decisions of trusted moderators: every route answers 451 + notice.
        let takedown = if cfg.moderators.is_empty() {
            None
        } else {
            let policy = TakedownPolicy {
                moderators: cfg.moderators.clone(),
                threshold: cfg.takedown_threshold,
                relays: cfg.nostr.clone(),
            };
            let notice_keys =
                (cfg.secret_key.is_some() || default_keys.is_some()).then(|| keys.clone());
            let w = TakedownWatch::start(stream.clone(), &policy, notice_keys)
                .await
                .map_err(|e| cfg_err(format!("moderators: {e}")))?;
            router = w.guard(router);
            Some(w)
        };
        tasks.push(Task(tokio::spawn(async move {
            if let Err(e) = tollcast_net::http_serve::serve(listener, router).await {
                tracing::error!("relay HTTP server stopped: {e}");
            }
        })));
        // SPSP over Nostr for the relay's key: credentials tagged with the requester's pubkey.
        let mut spsp_nostr_on = false;
        if cfg.spsp_nostr
            && let Some((receiver, _)) = &credit
        {
            for c in &clients {
                let t = spsp_nostr::serve(c.clone(), keys.clone(), receiver.clone())
                    .await
                    .map_err(|e| cfg_err(format!("SPSP over Nostr on {}: {e}", c.url())))?;
                tasks.push(Task(t));
            }
            spsp_nostr_on = true;
        }
        let agent = Self {
            relay,
            stream,
            http,
            public_url: public,
            keys,
            clients,
            credit,
            native: native_receiver,
            splitter,
            spsp_nostr: spsp_nostr_on,
            cfg,
            _takedown: takedown,
            _tasks: tasks,
        };
        let mut agent = agent;
        if let Some(s) = agent.offer_settings() {
            let t = agent
                .relay
                .advertise(agent.keys.clone(), agent.clients.clone(), s);
            agent._tasks.push(Task(t));
        }
        Ok(agent)
    }

    /// What the offer says beyond what the relay knows (None: a free relay, no offer).
    pub fn offer_settings(&self) -> Option<OfferSettings> {
        let mut spsp = Vec::new();
        let mut ilp_address = String::new();
        if let Some((r, _)) = &self.credit {
            spsp.push(format!("{}{PAY_PATH}", self.public_url));
            ilp_address = r.config().server_address.to_string();
        }
        if let Some(r) = &self.native {
            spsp.push(format!("{}{NATIVE_PAY_PATH}", self.public_url));
            if ilp_address.is_empty() {
                ilp_address = r.config().server_address.to_string();
            }
        }
        if ilp_address.is_empty() {
            return None;
        }
        if self.spsp_nostr {
            // After the HTTP endpoint: offer readers that take the first `spsp` keep using it.
            let urls: Vec<String> = self.clients.iter().map(|c| c.url().to_string()).collect();
            spsp.push(spsp_nostr_uri(&self.keys.public_key(), &urls));
        }
        let c = &self.cfg;
        Some(OfferSettings {
            ilp_address,
            spsp,
            url: Some(self.public_url.clone()),
            price_per_gb: (self.native.is_some() && c.price_per_gb > 0).then(|| {
                Price::new(
                    c.price_per_gb,
                    c.asset_code.clone().unwrap_or_else(|| "USD".into()),
                    c.asset_scale.unwrap_or(6),
                )
            }),
            capacity: c.capacity,
            every: Duration::from_secs(c.offer_every_s.max(1)),
        })
    }

    pub fn config(&self) -> &RelayAgentConfig {
        &self.cfg
    }

    /// `key: value` lines for people (printed before `ready:`).
    pub fn lines(&self) -> Vec<(String, String)> {
        let c = &self.cfg;
        let public = &self.public_url;
        let mut out = vec![
            ("playlist".to_string(), format!("{public}/live/master.m3u8")),
            ("upstream".to_string(), c.upstream.clone()),
        ];
        if let Some((r, _)) = &self.credit {
            out.push((
                "credit mode".into(),
                format!(
                    "{} {} (scale {}) per second, pay via SPSP {public}{PAY_PATH}/<viewer id>{} (ILP {})",
                    c.price_per_second.unwrap_or(0),
                    r.config().asset_code,
                    r.config().asset_scale,
                    if self.spsp_nostr {
                        format!(" or SPSP over Nostr to {}", self.keys.public_key().to_hex())
                    } else {
                        String::new()
                    },
                    r.config().server_address,
                ),
            ));
        }
        if let Some(r) = &self.native {
            out.push((
                "ILP-native mode".into(),
                format!(
                    "{} per GB + {} per chunk ({} scale {}), SPSP {public}{NATIVE_PAY_PATH}/<viewer id> (ILP {}){}",
                    c.price_per_gb,
                    c.price_per_part,
                    r.config().asset_code,
                    r.config().asset_scale,
                    r.config().server_address,
                    if c.native_only {
                        ", chunks not served over HTTP"
                    } else {
                        ""
                    }
                ),
            ));
        }
        if let Some(s) = &self.splitter {
            let sc = s.config();
            out.push((
                "splits".into(),
                format!(
                    "margin {} ppm, upstream {} ppm, {} payees, paid every {} ms, books in {}",
                    sc.relay_margin_ppm,
                    sc.upstream_ppm,
                    sc.shares.shares.len(),
                    sc.batch.as_millis(),
                    c.splits_db.display()
                ),
            ));
        }
        out
    }

    /// The machine-readable summary (the relay's part of `ready: {json}`).
    pub fn ready(&self) -> Value {
        let c = &self.cfg;
        let public = &self.public_url;
        let credit_ilp = self
            .credit
            .as_ref()
            .map(|(r, _)| r.config().server_address.to_string());
        json!({
            "url": public,
            "http": self.http.to_string(),
            "playlist": format!("{public}/live/master.m3u8"),
            "upstream": c.upstream,
            "stream": self.stream.to_string(),
            "pubkey": self.keys.public_key().to_hex(),
            "metrics": format!("{public}/metrics"),
            "price_per_second": c.price_per_second,
            "ilp_address": credit_ilp,
            "credit": self.credit.as_ref().map(|(r, _)| json!({
                "spsp": format!("{public}{PAY_PATH}"),
                "spsp_nostr": self.spsp_nostr.then(|| self.keys.public_key().to_hex()),
                "ilp_address": r.config().server_address.to_string(),
                "price_per_second": c.price_per_second,
            })),
            "native": self.native.as_ref().map(|r| json!({
                "spsp": format!("{public}{NATIVE_PAY_PATH}"),
                "ilp_address": r.config().server_address.to_string(),
                "price_per_gb": c.price_per_gb,
                "price_per_part": c.price_per_part,
                "only": c.native_only,
            })),
            "asset_code": c.asset_code.clone().unwrap_or_else(|| "USD".into()),
            "asset_scale": c.asset_scale.unwrap_or(6),
            "splits": self.splitter.as_ref().map(|_| format!("{public}/splits")),
            "splits_db": self.splitter.as_ref().map(|_| c.splits_db.display().to_string()),
        })
    }

    /// One status line of counters (printed every few seconds by the commands).
    pub fn status_line(&self) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let m = self.relay.metrics();
        format!(
            "relay: manifests {} hashes, upstream chunk fetches {}, cache hits {}, refused {}, served {} bytes, 402s {}",
            self.relay.manifests().len(),
            m.upstream_chunk_fetches.load(Relaxed),
            m.cache_hits.load(Relaxed),
            m.refused_chunks.load(Relaxed),
            m.bytes_served.load(Relaxed),
            m.payment_required.load(Relaxed),
        )
    }
}

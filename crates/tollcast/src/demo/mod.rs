//! `tollcast demo`: the whole network on 127.0.0.1 in one process tree, for a newcomer to see it
//! work and for scripted end-to-end runs.
//!
//! What runs (each agent is this same binary as a child process, or an in-process wallet):
//! - hub: `tollcast node` — ILP connector every other party hangs under, the stream's Nostr
//!   relay (/nostr) and SPSP; it lends each viewer wallet a credit line (the faucet);
//! - creator: `tollcast node` — the creator's wallet node (SPSP receiver for tips and splits);
//! - streamer: `tollcast origin --source synthetic` — test pattern with the clock burned in,
//!   LL-HLS origin, signed segment manifests and the NIP-53 announcement on the hub's relay;
//! - transcoder: `tollcast transcode` with its own node under the hub — answers the streamer's
//!   paid NIP-90 job (placed from this process on the streamer's wallet, paid per transcoded
//!   unit), serves the source mirrored plus a 240p/144p ladder; relay-a pulls from it;
//! - recorder: `tollcast record` — keeps every segment, publishes a NIP-71 VOD at the end;
//! - moderator: `tollcast moderate` — watches the chat on the hub's relay;
//! - relay-a (parent) and relay-b (edge, pulls from relay-a and pays it per second):
//!   `tollcast relay` in credit mode, each with its own ILP node under the hub, paying the
//!   creator a revenue split;
//! - viewer: `tollcast watch` — the page's viewer agent (relay choice, payments, verification);
//! - `--viewers N` simulated viewers (in process): each pays its relay every second over
//!   STREAM and fetches every new part (plus a page wallet for `--page-via relay`);
//! - this process: serves the viewer page and the dashboard, reads every ledger once a second.
//!
//! Submodules: [`child`] (processes), [`topology`] (node configs), [`viewers`] (simulated
//! viewers), [`books`] (ledger sums), [`server`] (pages + API), [`hls`], [`http`].

pub mod books;
pub mod child;
pub mod hls;
pub mod http;
pub mod server;
pub mod topology;
pub mod transcode;
pub mod viewers;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nostr::prelude::{Keys, ToBech32};
use serde::Serialize;
use tollcast_events::StreamAddress;

use books::{Books, LedgerSource};
use child::{Agent, Spec, write_file};
use http::Http;
use topology::{ASSET_CODE, ASSET_SCALE, Member};
use viewers::{RelayChoice, SimViewer};

/// What the streamer pays its moderator per stream-hour (micro-USD): 0.036 USD/h, so a 30 s
/// demo shows a few payments of 5 s each.
pub const MODERATOR_PRICE_PER_HOUR: u64 = 36_000;

/// What `tollcast demo` is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub viewers: usize,
    pub duration: Option<f64>,
    pub listen: SocketAddr,
    pub dir: Option<PathBuf>,
    pub keep: bool,
    pub verbose: bool,
    /// Price of relay-a and relay-b per second, base units (micro-USD).
    pub price_a: u64,
    pub price_b: u64,
    /// Each viewer wallet's credit line, base units.
    pub wallet: u64,
    pub fee_basis_points: u32,
    /// What each relay keeps of its viewers' money (ppm); the rest goes to the creator.
    pub relay_margin_ppm: u32,
    pub title: String,
    /// Serve the page through the viewer agent (`tollcast watch`, verified parts, failover)
    /// or straight from the relay the page's own wallet pays.
    pub page_via_viewer: bool,
}

/// An agent as the page and dashboard list it.
#[derive(Clone, Debug, Serialize)]
pub struct AgentInfo {
    pub name: String,
    pub role: String,
    pub what: String,
    pub url: Option<String>,
}

/// A relay agent of the demo.
#[derive(Clone, Debug, Serialize)]
pub struct RelayInfo {
    pub name: String,
    pub url: String,
    pub pubkey: String,
    pub price_per_second: u64,
    pub ilp_address: String,
    pub node_url: String,
    pub upstream: String,
}

impl RelayInfo {
    pub fn choice(&self) -> RelayChoice {
        RelayChoice {
            name: self.name.clone(),
            url: self.url.clone(),
            price_per_second: self.price_per_second,
        }
    }
}

/// The stream as announced.
#[derive(Clone, Debug, Serialize)]
pub struct StreamInfo {
    pub address: String,
    pub naddr: String,
    pub title: String,
    pub summary: String,
    pub host: String,
    pub nostr_url: String,
    pub starts: u64,
    pub creator_spsp: String,
}

/// Relay counters as last read.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RelayCounters {
    pub upstream_fetches: Option<u64>,
    pub cache_hits: Option<u64>,
    pub bytes_served: Option<u64>,
    pub payment_required: Option<u64>,
}

/// A rendition of the ladder and how fresh its newest part is.
#[derive(Clone, Debug, Serialize)]
pub struct Rung {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Reads the origin's multivariant playlist and each rendition's newest part: a rendition is
/// healthy while its newest part is less than 3 s old.
async fn ladder(http: &Http, origin: &str) -> Vec<Rung> {
    let t = Duration::from_secs(3);
    let master = format!("{origin}/live/master.m3u8");
    let Ok(m) = http.get(&master, None, t).await else {
        return vec![Rung {
            name: s("origin"),
            ok: false,
            detail: s("the origin does not answer"),
        }];
    };
    let mut out = Vec::new();
    for v in hls::parse_variants(&m.text()) {
        let name = v.uri.trim_end_matches("/index.m3u8").to_string();
        let mut detail = format!(
            "{} · {} kb/s",
            v.resolution.clone().unwrap_or_else(|| s("?")),
            v.bandwidth.unwrap_or(0) / 1000
        );
        let url = format!("{origin}/live/{}", v.uri);
        let newest = match http.get(&url, None, t).await {
            Ok(a) if a.status.is_success() => hls::parse_media(&a.text())
                .parts
                .last()
                .and_then(|p| Some(p.capture_ms? + (p.duration * 1000.0) as i64)),
            _ => None,
        };
        let ok = match newest {
            Some(end) => {
                let age = now_ms() - end;
                detail.push_str(&format!(" · newest part {:.1} s old", age as f64 / 1000.0));
                age < 3000
            }
            None => {
                detail.push_str(" · no parts");
                false
            }
        };
        out.push(Rung { name, ok, detail });
    }
    out
}

/// One point of the dashboard's time series.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    pub t: i64,
    pub viewers: usize,
    pub roles: HashMap<String, i128>,
}

/// Everything the web server and the collector share.
pub struct Demo {
    pub http: Http,
    pub stream: StreamInfo,
    pub relays: Vec<RelayInfo>,
    pub agents: Vec<AgentInfo>,
    pub page: SimViewer,
    pub page_keys: Keys,
    /// The viewer agent's base URL (`tollcast watch`), when it runs: the page's API and
    /// LL-HLS are proxied to it.
    pub watch: Option<String>,
    pub viewers: Vec<SimViewer>,
    /// Wallets of relays paying their parent relay (not viewers).
    pub payers: Vec<SimViewer>,
    pub ledgers: Vec<LedgerSource>,
    /// The hub relay's pay-to-write ILP address (chat is paid per byte there).
    pub nostr_ilp: String,
    pub series: Mutex<VecDeque<Point>>,
    pub books: Mutex<Option<Books>>,
    pub counters: Mutex<HashMap<String, RelayCounters>>,
    /// The renditions the origin serves, as last checked.
    pub ladder: Mutex<Vec<Rung>>,
    /// Where the ladder is read: the transcoder's job origin, or the streamer's.
    pub origin: String,
    /// The paid transcoding job, when placed.
    pub transcoding: Option<transcode::Transcoding>,
    /// The moderator's base URL and its last `/status` answer.
    pub moderator: Option<String>,
    /// The streamer's wallet paying the moderator per stream-hour.
    pub moderator_pay: Option<(
        tokio::task::JoinHandle<()>,
        Arc<tollcast_agents::streamer::hire::HireTotals>,
    )>,
    pub moderation: Mutex<Option<serde_json::Value>>,
    /// Latency the page reported (ms), with when.
    pub page_latency: Mutex<Option<(f64, Instant)>>,
    pub started: Instant,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `p`-th percentile (0..=100) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn units(amount: i128) -> String {
    format!(
        "{} {ASSET_CODE}",
        crate::cmd::balance::units(amount, ASSET_SCALE)
    )
}

impl Demo {
    /// All viewers the demo drives (the page's wallet first).
    pub fn all_viewers(&self) -> impl Iterator<Item = &SimViewer> {
        std::iter::once(&self.page).chain(self.viewers.iter())
    }

    /// Every wallet paying a relay: viewers and relays paying their parent.
    pub fn all_wallets(&self) -> impl Iterator<Item = &SimViewer> {
        self.all_viewers().chain(self.payers.iter())
    }

    /// Latency samples of every simulated viewer, sorted.
    pub fn latency_samples(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .viewers
            .iter()
            .flat_map(|x| x.stats.latency_samples())
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    }

    /// Reads ledgers and relay counters; appends a point to the series.
    async fn collect(&self) {
        if let Ok(b) = books::read(&self.http, &self.ledgers).await {
            let mut roles: HashMap<String, i128> = HashMap::new();
            for p in &b.parties {
                *roles.entry(p.role.clone()).or_default() += p.net;
            }
            let viewers = self.all_viewers().count();
            let mut s = self.series.lock().unwrap_or_else(|e| e.into_inner());
            if s.len() == 900 {
                s.pop_front();
            }
            s.push_back(Point {
                t: now_ms(),
                viewers,
                roles,
            });
            *self.books.lock().unwrap_or_else(|e| e.into_inner()) = Some(b);
        }
        if let Some(m) = &self.moderator
            && let Ok(a) = self
                .http
                .get(&format!("{m}/status"), None, Duration::from_secs(2))
                .await
            && a.status.is_success()
        {
            *self.moderation.lock().unwrap_or_else(|e| e.into_inner()) =
                serde_json::from_slice(&a.body).ok();
        }
        let l = ladder(&self.http, &self.origin).await;
        *self.ladder.lock().unwrap_or_else(|e| e.into_inner()) = l;
        for r in &self.relays {
            if let Some(c) = relay_counters(&self.http, &r.url).await {
                self.counters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(r.name.clone(), c);
            }
        }
    }
}

/// Relay counters from its `/metrics` (Prometheus text), when it serves one.
async fn relay_counters(http: &Http, url: &str) -> Option<RelayCounters> {
    let a = http
        .get(&format!("{url}/metrics"), None, Duration::from_secs(2))
        .await
        .ok()?;
    if !a.status.is_success() {
        return None;
    }
    let text = a.text();
    let find = |needle: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains(needle))
            .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .reduce(|a, b| a + b)
    };
    Some(RelayCounters {
        upstream_fetches: find("upstream_chunk_fetches"),
        cache_hits: find("cache_hits"),
        bytes_served: find("bytes_served"),
        payment_required: find("payment_required"),
    })
}

/// The relay's periodic stderr status line, parsed (used while it has no /metrics):
/// `manifests N hashes, upstream chunk fetches N, cache hits N, refused N, served N bytes, 402s N`.
pub fn parse_relay_status(line: &str) -> Option<RelayCounters> {
    let num_after = |key: &str| -> Option<u64> {
        let i = line.find(key)? + key.len();
        line[i..]
            .split(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())?
            .parse()
            .ok()
    };
    if !line.starts_with("manifests ") {
        return None;
    }
    Some(RelayCounters {
        upstream_fetches: num_after("upstream chunk fetches "),
        cache_hits: num_after("cache hits "),
        bytes_served: num_after("served "),
        payment_required: num_after("402s "),
    })
}

fn port_of(addr: &str) -> anyhow::Result<u16> {
    addr.trim()
        .rsplit(':')
        .next()
        .and_then(|p| {
            p.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        })
        .with_context(|| format!("no port in {addr:?}"))
}

/// Runs the demo until Ctrl-C or `--duration`; prints the summary.
pub async fn run(o: Options) -> anyhow::Result<()> {
    let dir = match &o.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!(
            "tollcast-demo-{}",
            hex::encode(rand::random::<[u8; 4]>())
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut agents: Vec<Agent> = Vec::new();
    let result = run_in(&o, &dir, &mut agents).await;
    // Stop every child, newest first (edges before what they depend on).
    for a in agents.iter_mut().rev() {
        a.stop(Duration::from_secs(5)).await;
    }
    if !o.keep && o.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        println!("demo files kept in {}", dir.display());
    }
    result
}

async fn start(
    agents: &mut Vec<Agent>,
    o: &Options,
    dir: &std::path::Path,
    name: &str,
    args: Vec<String>,
    ready: Vec<&'static str>,
    env: Vec<(String, String)>,
) -> anyhow::Result<usize> {
    status(&format!("starting {name}…"));
    let a = Agent::start(
        Spec {
            name: name.into(),
            args,
            ready_prefixes: ready,
            verbose: o.verbose,
            log: dir.join(format!("{name}.log")),
            env,
        },
        Duration::from_secs(60),
    )
    .await?;
    agents.push(a);
    Ok(agents.len() - 1)
}

fn status(s: &str) {
    eprintln!("demo: {s}");
}

fn s(x: impl Into<String>) -> String {
    x.into()
}

async fn run_in(o: &Options, dir: &std::path::Path, agents: &mut Vec<Agent>) -> anyhow::Result<()> {
    let started = Instant::now();
    // Listen for Ctrl-C/SIGTERM from the start: a signal arriving while the demo is busy is
    // kept until it looks (a fresh ctrl_c() future per loop turn could miss it).
    use tokio::signal::unix::{SignalKind, signal};
    let mut sigint = signal(SignalKind::interrupt()).context("listening for Ctrl-C")?;
    let mut sigterm = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let http = Http::new();
    // Parties under the hub.
    let relay_a = Member::new("relay-a", 0);
    let relay_b = Member::new("relay-b", 0);
    let relay_b_up = Member::new("relay-b-upstream", o.wallet);
    let creator = Member::new("creator", 0);
    let transcoder = Member::new("transcoder", 0);
    // The moderator's node: the streamer's wallet pays it per stream-hour.
    let moderator_m = Member::new("moderator", 0);
    // The streamer's wallet: pays the transcoding job (a credit line like a viewer's).
    let streamer_wallet = Member::new("streamer-wallet", o.wallet);
    let page = Member::new("page-viewer", o.wallet);
    let watcher = Member::new("watch-viewer", o.wallet);
    let sims: Vec<Member> = (1..=o.viewers)
        .map(|i| Member::new(&format!("viewer-{i}"), o.wallet))
        .collect();
    let mut members = vec![
        relay_a.clone(),
        relay_b.clone(),
        relay_b_up.clone(),
        creator.clone(),
        transcoder.clone(),
        moderator_m.clone(),
        streamer_wallet.clone(),
        page.clone(),
        watcher.clone(),
    ];
    members.extend(sims.iter().cloned());

    // 1. The hub: connector, Nostr relay, SPSP.
    let hub_cfg = write_file(
        dir,
        "hub.toml",
        &topology::hub_toml(dir, &members, o.fee_basis_points),
    )?;
    let hub = start(
        agents,
        o,
        dir,
        "hub",
        vec![s("node"), s("--config"), hub_cfg.display().to_string()],
        vec!["LISTENING "],
        vec![],
    )
    .await?;
    let (hub_port, nostr_url, nostr_ilp) = {
        let out = agents[hub].out.lock().unwrap_or_else(|e| e.into_inner());
        let port = port_of(
            &out.line("LISTENING ")
                .context("hub printed no LISTENING line")?,
        )?;
        let line = out.line("NOSTR ").context("hub hosts no Nostr relay")?;
        let mut f = line.split_whitespace();
        let nostr = f.next().context("hub's NOSTR line has no URL")?.to_string();
        let ilp = f.next().unwrap_or_default().to_string();
        (port, nostr, ilp)
    };
    let hub_url = format!("http://127.0.0.1:{hub_port}");

    // 2. The creator's wallet node (receives tips; SPSP at its /.well-known/pay).
    let creator_cfg = write_file(
        dir,
        "creator.toml",
        &format!(
            "{}\n[nostr]\nenabled = false\n",
            topology::member_toml(dir, &creator, hub_port, true)
        ),
    )?;
    let cr = start(
        agents,
        o,
        dir,
        "creator",
        vec![s("node"), s("--config"), creator_cfg.display().to_string()],
        vec!["LISTENING "],
        vec![],
    )
    .await?;
    let (creator_url, creator_spsp) = {
        let out = agents[cr].out.lock().unwrap_or_else(|e| e.into_inner());
        let port = port_of(
            &out.line("LISTENING ")
                .context("creator node printed no LISTENING")?,
        )?;
        let spsp = out
            .line("SPSP ")
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .context("creator node has no SPSP endpoint")?;
        (format!("http://127.0.0.1:{port}"), spsp)
    };

    // 3. The streamer: synthetic source, LL-HLS origin, signed manifests, announcement.
    let streamer_keys = Keys::generate();
    let transcoder_keys = Keys::generate();
    let stream = StreamAddress::new(streamer_keys.public_key(), "live".to_string());
    let blurb = "A synthetic test pattern with the wall clock burned in: compare it with your own clock to see the latency.";
    let og = start(
        agents,
        o,
        dir,
        "streamer",
        vec![
            s("origin"),
            s("--source"),
            s("synthetic"),
            s("--listen"),
            s("127.0.0.1:0"),
            s("--store-dir"),
            dir.join("origin-chunks").display().to_string(),
            s("--stream-id"),
            s("live"),
            s("--relay"),
            nostr_url.clone(),
            s("--title"),
            o.title.clone(),
            s("--summary"),
            s(blurb),
            s("--tag"),
            s("tollcast"),
            s("--price-per-minute"),
            format!("{}:{ASSET_CODE}:{ASSET_SCALE}", o.price_b * 60),
            s("--spsp"),
            creator_spsp.clone(),
            s("--announce-every"),
            s("30"),
            // Viewers trust the rung manifests of the transcoder the stream names.
            s("--transcoder"),
            transcoder_keys.public_key().to_hex(),
        ],
        vec!["playlist: ", "announced "],
        vec![(
            s("TOLLCAST_SECRET_KEY"),
            streamer_keys.secret_key().to_secret_hex(),
        )],
    )
    .await?;
    let (origin_url, naddr) = {
        let out = agents[og].out.lock().unwrap_or_else(|e| e.into_inner());
        let pl = out
            .value("playlist")
            .context("origin printed no playlist")?;
        let base = pl.trim_end_matches("/live/master.m3u8").to_string();
        let naddr = out
            .line("announced (NIP-53 kind 30311): ")
            .unwrap_or_default();
        (base, naddr)
    };

    // 3b. The recorder: follows the signed manifests, keeps every segment (from the origin),
    // and publishes a NIP-71 VOD once the stream ends.
    let recorder = match start(
        agents,
        o,
        dir,
        "recorder",
        vec![
            s("record"),
            s("--stream"),
            stream.to_string(),
            s("--relay"),
            nostr_url.clone(),
            s("--mirror"),
            origin_url.clone(),
            s("--listen"),
            s("127.0.0.1:0"),
            s("--store-dir"),
            dir.join("recorder-chunks").display().to_string(),
        ],
        vec!["http: "],
        vec![],
    )
    .await
    {
        Ok(i) => agents[i]
            .out
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .value("http"),
        Err(e) => {
            status(&format!(
                "the recorder did not start, going on without it: {e:#}"
            ));
            None
        }
    };

    // 3c. The moderator: watches the stream's chat on the hub's relay and acts on its rules;
    // paid per stream-hour on its own node under the hub (by the streamer's wallet, below).
    let moderator_keys = Keys::generate();
    let moderator_cfg = write_file(
        dir,
        &format!("{}.toml", moderator_m.id),
        &topology::member_toml(dir, &moderator_m, hub_port, false),
    )?;
    let moderator = match start(
        agents,
        o,
        dir,
        "moderator",
        vec![
            s("moderate"),
            s("--relay"),
            nostr_url.clone(),
            s("--stream"),
            stream.to_string(),
            s("--banned-word"),
            s("buy followers"),
            s("--listen"),
            s("127.0.0.1:0"),
            s("--node"),
            moderator_cfg.display().to_string(),
            s("--price-per-hour"),
            MODERATOR_PRICE_PER_HOUR.to_string(),
        ],
        vec!["ready: "],
        vec![(
            s("TOLLCAST_SECRET_KEY"),
            moderator_keys.secret_key().to_secret_hex(),
        )],
    )
    .await
    {
        Ok(i) => {
            let out = agents[i].out.lock().unwrap_or_else(|e| e.into_inner());
            let r = out.ready.clone().unwrap_or_default();
            let field = |k: &str| r[k].as_str().map(str::to_string);
            match (field("url"), field("spsp"), field("node_http")) {
                (Some(url), Some(spsp), Some(node)) => Some((url, spsp, node)),
                _ => {
                    status(
                        "the moderator's ready line lacks url/spsp/node_http: going on without it",
                    );
                    None
                }
            }
        }
        Err(e) => {
            status(&format!(
                "the moderator did not start, going on without it: {e:#}"
            ));
            None
        }
    };

    // 3d. The transcoder and its paid job: relay-a pulls the job's origin (source mirrored +
    // ladder) instead of the streamer's. Without it the demo goes on with the source only.
    let transcoding = match transcode::place(
        agents,
        o,
        dir,
        &transcoder,
        &streamer_wallet,
        hub_port,
        &nostr_url,
        &origin_url,
        &stream,
        &streamer_keys,
        &transcoder_keys,
    )
    .await
    {
        Ok(t) => Some(t),
        Err(e) => {
            status(&format!(
                "the transcoding job was not placed, relays pull the source only: {e:#}"
            ));
            None
        }
    };
    // The streamer's wallet hires the moderator: paid every 5 s, a period ahead.
    let moderator_pay = match (&transcoding, &moderator) {
        (Some(t), Some((_, spsp, _))) => {
            let totals = Arc::new(tollcast_agents::streamer::hire::HireTotals::default());
            let hire = tollcast_agents::streamer::hire::HireSection {
                role: s("moderator"),
                spsp: spsp.clone(),
                price_per_hour: MODERATOR_PRICE_PER_HOUR,
                every_secs: 5,
                pay_from: s("local"),
            };
            let task = tokio::spawn(tollcast_agents::streamer::hire::pay(
                t.wallet
                    .connector
                    .sender(tollcast_net::connector::AccountId::local()),
                hire,
                totals.clone(),
            ));
            Some((task, totals))
        }
        _ => None,
    };
    let first_upstream = transcoding
        .as_ref()
        .map(|t| t.origin().trim_end_matches('/').to_string())
        .unwrap_or_else(|| origin_url.clone());

    // 4. Relays: relay-a pulls from the transcoder's job origin (or the streamer's origin),
    // relay-b from relay-a (and pays it).
    let mut relays: Vec<RelayInfo> = Vec::new();
    let relay_specs = [
        (&relay_a, first_upstream.clone(), o.price_a, None::<&Member>),
        (&relay_b, String::new(), o.price_b, Some(&relay_b_up)),
    ];
    let mut upstream_payer: Option<SimViewer> = None;
    for (m, upstream, price, pays_with) in relay_specs {
        let upstream = if upstream.is_empty() {
            relays[0].url.clone()
        } else {
            upstream
        };
        if let Some(w) = pays_with {
            // The child relay's wallet starts paying its parent before the child pulls.
            upstream_payer = Some(
                SimViewer::start(dir, w, hub_port, relays[0].choice(), false)
                    .await
                    .context("relay-b's upstream wallet")?,
            );
        }
        let keys = Keys::generate();
        let node_cfg = write_file(
            dir,
            &format!("{}.toml", m.id),
            &topology::member_toml(dir, m, hub_port, false),
        )?;
        let mut args = vec![
            s("relay"),
            s("--upstream"),
            upstream.clone(),
            s("--stream"),
            stream.to_string(),
            s("--nostr"),
            nostr_url.clone(),
            s("--listen"),
            s("127.0.0.1:0"),
            s("--store-dir"),
            dir.join(format!("{}-cache", m.id)).display().to_string(),
            s("--billing-db"),
            dir.join(format!("{}-billing.redb", m.id))
                .display()
                .to_string(),
            s("--price-per-second"),
            price.to_string(),
            s("--node-config"),
            node_cfg.display().to_string(),
            s("--asset-code"),
            s(ASSET_CODE),
            s("--asset-scale"),
            ASSET_SCALE.to_string(),
        ];
        if let Some(t) = &transcoding {
            // The rungs' manifests are signed by the transcoder's key.
            args.push(s("--signer"));
            args.push(t.pubkey.clone());
        }
        if let Some(w) = pays_with {
            args.push(s("--upstream-viewer"));
            args.push(w.id.clone());
        }
        // Revenue split: the relay keeps its margin and pays the rest to the creator's wallet.
        args.extend([
            s("--split"),
            format!("creator={creator_spsp}=1"),
            s("--relay-margin-ppm"),
            o.relay_margin_ppm.to_string(),
            s("--batch-ms"),
            s("2000"),
            s("--splits-db"),
            dir.join(format!("{}-splits.redb", m.id))
                .display()
                .to_string(),
        ]);
        let i = start(
            agents,
            o,
            dir,
            &m.id,
            args,
            vec!["playlist: ", "credit mode: ", "ready: "],
            vec![(s("TOLLCAST_SECRET_KEY"), keys.secret_key().to_secret_hex())],
        )
        .await?;
        let out = agents[i].out.lock().unwrap_or_else(|e| e.into_inner());
        let url = out
            .value("playlist")
            .context("relay printed no playlist")?
            .trim_end_matches("/live/master.m3u8")
            .to_string();
        // The relay's ILP node: its BTP URL in the ready line (http on the same port).
        let node_addr = out
            .ready
            .as_ref()
            .and_then(|r| r["node"]["btp"].as_str())
            .map(|b| {
                b.trim_start_matches("ws://")
                    .trim_end_matches('/')
                    .to_string()
            })
            .context("relay's ready line names no ILP node")?;
        relays.push(RelayInfo {
            name: m.id.clone(),
            url,
            pubkey: keys.public_key().to_hex(),
            price_per_second: price,
            ilp_address: format!("{}.relay", m.address()),
            node_url: format!("http://{node_addr}"),
            upstream,
        });
    }
    let upstream_payer = upstream_payer.context("relay-b has no upstream wallet")?;

    // 5. Wallets: the page's viewer and the simulated viewers (two on the edge for one on the
    // parent), each paying its relay every second.
    // 5. The viewer agent (`tollcast watch`) the page talks to: it finds the stream and the
    // relays' offers on Nostr, pays the best relay from its wallet at the hub and verifies
    // every part. Without it (it failed to start) the page is served by this process through
    // its own paying wallet.
    let page_keys = Keys::generate();
    let watch = if !o.page_via_viewer {
        None
    } else {
        match start(
            agents,
            o,
            dir,
            "viewer",
            vec![
                s("watch"),
                stream.to_string(),
                s("--nostr"),
                nostr_url.clone(),
                s("--node"),
                watcher.btp_url(hub_port),
                s("--wallet-account"),
                watcher.id.clone(),
                s("--listen"),
                s("127.0.0.1:0"),
                s("--data-dir"),
                dir.join("viewer").display().to_string(),
            ],
            vec!["player: "],
            vec![(
                s("TOLLCAST_SECRET_KEY"),
                page_keys.secret_key().to_secret_hex(),
            )],
        )
        .await
        {
            Ok(i) => {
                let out = agents[i].out.lock().unwrap_or_else(|e| e.into_inner());
                out.value("player")
                    .map(|p| p.trim_end_matches('/').to_string())
            }
            Err(e) => {
                status(&format!(
                    "the viewer agent did not start; the page is served by the demo itself: {e:#}"
                ));
                None
            }
        }
    };

    status("funding viewer wallets and starting to pay the relays…");
    let page_viewer = SimViewer::start_with(
        dir,
        &page,
        hub_port,
        relays[1].choice(),
        false,
        watch.is_none(),
    )
    .await?;
    let mut sim = Vec::new();
    for (i, m) in sims.iter().enumerate() {
        let r = if i % 3 == 2 { &relays[0] } else { &relays[1] };
        sim.push(SimViewer::start(dir, m, hub_port, r.choice(), true).await?);
    }

    let mut ledgers = vec![LedgerSource {
        id: None,
        role: s("hub"),
        url: Some(hub_url.clone()),
    }];
    ledgers.push(LedgerSource {
        id: Some(creator.id.clone()),
        role: s("creator"),
        url: Some(creator_url.clone()),
    });
    if let Some(t) = &transcoding {
        ledgers.push(LedgerSource {
            id: Some(transcoder.id.clone()),
            role: s("transcoder"),
            url: Some(t.node_url.clone()),
        });
        // The streamer's wallet pays the job (the creator's cost, kept apart from the
        // creator's wallet so tips and splits show there unmixed).
        ledgers.push(LedgerSource {
            id: Some(streamer_wallet.id.clone()),
            role: s("streamer"),
            url: Some(format!("http://{}", t.wallet.local_addr)),
        });
    }
    if let Some((_, _, node)) = &moderator {
        ledgers.push(LedgerSource {
            id: Some(moderator_m.id.clone()),
            role: s("moderator"),
            url: Some(node.clone()),
        });
    }
    for r in &relays {
        ledgers.push(LedgerSource {
            id: Some(r.name.clone()),
            role: s("relay"),
            url: Some(r.node_url.clone()),
        });
    }
    if watch.is_some() {
        // The viewer agent's wallet node keeps its ledger to itself: the hub's side stands in.
        ledgers.push(LedgerSource {
            id: Some(watcher.id.clone()),
            role: s("viewer"),
            url: None,
        });
    }
    for v in std::iter::once(&page_viewer)
        .chain(sim.iter())
        .chain(std::iter::once(&upstream_payer))
    {
        ledgers.push(LedgerSource {
            id: Some(v.id.clone()),
            // A relay's upstream wallet is the relay's cost, not a viewer's.
            role: if v.id == relay_b_up.id {
                s("relay")
            } else {
                s("viewer")
            },
            url: Some(format!("http://{}", v.node.local_addr)),
        });
    }

    let mut infos = vec![
        AgentInfo {
            name: s("hub"),
            role: s("ILP connector + Nostr relay"),
            what: s(
                "routes every payment (fee per packet), hosts the stream's Nostr relay (announcement, manifests, chat), lends each wallet its credit line",
            ),
            url: Some(hub_url.clone()),
        },
        AgentInfo {
            name: s("streamer"),
            role: s("streamer / origin"),
            what: s(
                "synthetic test pattern with the clock burned in -> CMAF parts -> LL-HLS origin; signs segment manifests, announces the stream (NIP-53)",
            ),
            url: Some(origin_url.clone()),
        },
        AgentInfo {
            name: s("creator"),
            role: s("creator wallet"),
            what: s(
                "the creator's node: receives the relays' revenue splits and viewers' tips over STREAM (SPSP)",
            ),
            url: Some(creator_url.clone()),
        },
    ];
    if let Some(t) = &transcoding {
        infos.push(AgentInfo {
            name: s("transcoder"),
            role: s("transcoder (NIP-90)"),
            what: format!(
                "answered the streamer's paid NIP-90 job: mirrors the source and makes the {} ladder (one ffmpeg), signs rung manifests; paid {}/min of source from the streamer's wallet",
                t.job.result.renditions.join("/"),
                units(transcode::PRICE_PER_MINUTE as i128)
            ),
            url: Some(t.http.clone()),
        });
    }
    for r in &relays {
        infos.push(AgentInfo {
            name: r.name.clone(),
            role: s("relay (CDN edge)"),
            what: format!(
                "verifies every chunk against the signed manifests, caches, serves viewers who pay {}/s, keeps {:.0} % and pays the rest to the creator; pulls from {}",
                units(r.price_per_second as i128),
                o.relay_margin_ppm as f64 / 10_000.0,
                if r.upstream == origin_url { "the origin" } else if r.upstream == first_upstream { "the transcoder's job origin" } else { "relay-a (paying it per second)" }
            ),
            url: Some(r.url.clone()),
        });
    }
    infos.push(AgentInfo {
        name: s("viewers"),
        role: s("simulated viewers"),
        what: format!(
            "{} wallets with {} of credit each, paying their relay every second and fetching every part",
            o.viewers,
            units(o.wallet as i128)
        ),
        url: None,
    });

    if let Some((m, _, _)) = &moderator {
        infos.push(AgentInfo {
            name: s("moderator"),
            role: s("moderator"),
            what: format!(
                "reads the stream's chat on the hub's relay and acts on its rules (here: the phrase 'buy followers' is banned); the streamer's wallet pays it {}/hour",
                units(MODERATOR_PRICE_PER_HOUR as i128)
            ),
            url: Some(m.clone()),
        });
    }
    if let Some(r) = &recorder {
        infos.push(AgentInfo {
            name: s("recorder"),
            role: s("recorder (VOD)"),
            what: s("follows the signed manifests, stores every segment (hash-checked), publishes a NIP-71 video event when the stream ends"),
            url: Some(r.clone()),
        });
    }
    if let Some(w) = &watch {
        infos.push(AgentInfo {
            name: s("viewer"),
            role: s("viewer agent (tollcast watch)"),
            what: format!(
                "the page's viewer: finds the stream and relay offers on Nostr, pays the best relay per second from its wallet ({} credit at the hub), verifies every part before the player gets it, fails over",
                units(o.wallet as i128)
            ),
            url: Some(w.clone()),
        });
    }
    let demo = Arc::new(Demo {
        http: http.clone(),
        stream: StreamInfo {
            address: stream.to_string(),
            naddr,
            title: o.title.clone(),
            summary: s(blurb),
            host: streamer_keys.public_key().to_bech32().unwrap_or_default(),
            nostr_url: nostr_url.clone(),
            starts: (now_ms() / 1000) as u64,
            creator_spsp,
        },
        relays,
        agents: infos,
        page: page_viewer,
        page_keys,
        watch,
        viewers: sim,
        payers: vec![upstream_payer],
        ledgers,
        nostr_ilp,
        series: Mutex::new(VecDeque::new()),
        books: Mutex::new(None),
        counters: Mutex::new(HashMap::new()),
        ladder: Mutex::new(Vec::new()),
        origin: first_upstream.clone(),
        transcoding,
        moderator: moderator.as_ref().map(|m| m.0.clone()),
        moderator_pay,
        moderation: Mutex::new(None),
        page_latency: Mutex::new(None),
        started,
    });

    // 6. The web server: viewer page, dashboard, API.
    let listener = tokio::net::TcpListener::bind(o.listen)
        .await
        .with_context(|| format!("cannot listen on {} (try --listen 127.0.0.1:0)", o.listen))?;
    let web = listener.local_addr()?;
    let router = server::router(demo.clone());
    tokio::spawn(async move {
        if let Err(e) = tollcast_net::http_serve::serve(listener, router).await {
            eprintln!("demo web server stopped: {e}");
        }
    });

    // Relay counters from their status lines until they serve /metrics.
    for (i, r) in demo.relays.iter().enumerate() {
        let idx = agents.iter().position(|a| a.name == r.name).unwrap_or(i);
        let mut rx = agents[idx].stderr_rx.clone();
        let (d, name) = (demo.clone(), r.name.clone());
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let line = rx.borrow_and_update().clone();
                if let Some(c) = parse_relay_status(&line) {
                    d.counters
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(name.clone(), c);
                }
            }
        });
    }
    {
        let d = demo.clone();
        tokio::spawn(async move {
            let mut t = tokio::time::interval(Duration::from_secs(1));
            loop {
                t.tick().await;
                d.collect().await;
            }
        });
    }

    println!();
    println!(
        "tollcast demo is running ({:.1} s to start). Open:",
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("    http://{web}/");
    println!();
    println!("dashboard: http://{web}/dashboard");
    for a in &demo.agents {
        println!(
            "  {:<10} {:<28} {}{}",
            a.name,
            a.role,
            a.what,
            a.url
                .as_ref()
                .map(|u| format!(" [{u}]"))
                .unwrap_or_default()
        );
    }
    println!("stream: {} ({})", demo.stream.address, demo.stream.naddr);
    println!(
        "ready: {}",
        serde_json::json!({
            "url": format!("http://{web}/"),
            "dashboard": format!("http://{web}/dashboard"),
            "hub": hub_url,
            "nostr": nostr_url,
            "origin": origin_url,
            "creator": creator_url,
            "stream": demo.stream.address,
            "relays": demo.relays,
            "ledgers": demo.ledgers,
            "transcoder": demo.transcoding.as_ref().map(|t| serde_json::json!({
                "http": t.http,
                "pubkey": t.pubkey,
                "origin": t.origin(),
                "renditions": t.job.result.renditions,
            })),
        })
    );
    match o.duration {
        Some(d) => println!("running for {d} s (Ctrl-C stops earlier)"),
        None => println!("Ctrl-C stops everything"),
    }

    // 7. Supervise: status line every 5 s; stop on Ctrl-C, --duration or a dead agent.
    let deadline = o
        .duration
        .map(|d| tokio::time::Instant::now() + Duration::from_secs_f64(d));
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.tick().await;
    let stop_reason = loop {
        let sleep_until = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sigint.recv() => break "Ctrl-C",
            _ = sigterm.recv() => break "SIGTERM",
            _ = sleep_until => break "--duration reached",
            _ = tick.tick() => {
                for a in agents.iter_mut() {
                    if let Some(st) = a.exited() {
                        bail!("{} stopped ({st}); last output:\n{}(log: {})", a.name, a.tail(), a.log.display());
                    }
                }
                eprintln!("{}", status_line(&demo));
            }
        }
    };
    status(&format!(
        "{stop_reason}: stopping payments, settling, reading the ledgers…"
    ));
    let result = summary(&demo).await;
    // End the stream: the streamer announces `ended`, the recorder writes and publishes the VOD.
    if recorder.is_some()
        && let Some(st) = agents.iter_mut().find(|a| a.name == "streamer")
    {
        st.stop(Duration::from_secs(10)).await;
        if let Some(rec) = agents.iter().find(|a| a.name == "recorder") {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let vod = rec
                    .out
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .value("vod");
                if let Some(v) = vod {
                    let j: serde_json::Value = serde_json::from_str(&v).unwrap_or_default();
                    println!(
                        "  recording: {} segments, {:.0} s, VOD {} (NIP-71 kind {} event {})",
                        j["segments"],
                        j["duration"].as_f64().unwrap_or(0.0),
                        j["url"].as_str().unwrap_or(""),
                        j["kind"],
                        j["nevent"].as_str().unwrap_or("")
                    );
                    break;
                }
                if Instant::now() > deadline {
                    println!("  recording: no VOD published within 20 s of the stream's end");
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    result
}

fn status_line(d: &Demo) -> String {
    let parts: u64 = d.viewers.iter().map(|v| v.stats.parts.load(Relaxed)).sum();
    let paid: u64 = d.all_wallets().map(|v| v.stats.paid.load(Relaxed)).sum();
    let lat = d.latency_samples();
    let b = d.books.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let earned = b
        .as_ref()
        .map(|b| {
            format!(
                "relays {} · transcoder {} · moderator {} · creator {} · hub {}",
                units(b.by_role("relay")),
                units(b.by_role("transcoder")),
                units(b.by_role("moderator")),
                units(b.by_role("creator")),
                units(b.by_role("hub"))
            )
        })
        .unwrap_or_default();
    // The page's wallet keeps its error for /api/status; the others report it once here.
    let errs: Vec<String> = d
        .viewers
        .iter()
        .chain(d.payers.iter())
        .filter_map(|v| {
            v.stats
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map(|e| format!("{}: {}", v.id, e.chars().take(160).collect::<String>()))
        })
        .take(2)
        .collect();
    format!(
        "[{:>4.0}s] parts {parts} · latency p50 {:.2} s · paid {} · {earned}{}",
        d.started.elapsed().as_secs_f64(),
        percentile(&lat, 50.0) / 1000.0,
        units(paid as i128),
        if errs.is_empty() {
            String::new()
        } else {
            format!(" · {}", errs.join("; "))
        }
    )
}

async fn summary(d: &Demo) -> anyhow::Result<()> {
    // Stop paying and fetching, then let in-flight packets settle before reading ledgers.
    for v in d.all_wallets() {
        v.switch_off().await;
    }
    if let Some(t) = &d.transcoding {
        t.job.stop_paying();
    }
    if let Some((task, _)) = &d.moderator_pay {
        task.abort();
    }
    let mut books = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        match books::read(&d.http, &d.ledgers).await {
            Ok(b) if b.pending == 0 => {
                books = Some(b);
                break;
            }
            Ok(b) => books = Some(b),
            Err(e) => status(&format!("reading ledgers: {e:#}")),
        }
    }
    let b = books.context("could not read the ledgers")?;
    let parts: u64 = d.viewers.iter().map(|v| v.stats.parts.load(Relaxed)).sum();
    let bytes: u64 = d.viewers.iter().map(|v| v.stats.bytes.load(Relaxed)).sum();
    let payments: u64 = d
        .all_wallets()
        .map(|v| v.stats.payments.load(Relaxed))
        .sum();
    let payment_errors: u64 = d
        .all_wallets()
        .map(|v| v.stats.payment_errors.load(Relaxed))
        .sum();
    let refused: u64 = d
        .viewers
        .iter()
        .map(|v| v.stats.refused_402.load(Relaxed))
        .sum();
    let lat = d.latency_samples();
    let fetching = d
        .viewers
        .iter()
        .filter(|v| v.stats.parts.load(Relaxed) > 0)
        .count();
    println!();
    println!("summary after {:.0} s:", d.started.elapsed().as_secs_f64());
    println!(
        "  parts delivered: {parts} ({:.1} MB) to {fetching} simulated viewers; 402 answers: {refused}",
        bytes as f64 / 1e6
    );
    if !lat.is_empty() {
        println!(
            "  latency capture -> viewer: p50 {:.2} s, p90 {:.2} s, p99 {:.2} s ({} parts)",
            percentile(&lat, 50.0) / 1000.0,
            percentile(&lat, 90.0) / 1000.0,
            percentile(&lat, 99.0) / 1000.0,
            lat.len()
        );
    }
    println!(
        "  payments: {payments} STREAM payments ({payment_errors} failed), viewers paid {}",
        units(-b.by_role("viewer"))
    );
    println!("  earnings by role:");
    for role in [
        "creator",
        "streamer",
        "relay",
        "transcoder",
        "moderator",
        "hub",
    ] {
        let who: Vec<String> = b
            .parties
            .iter()
            .filter(|p| p.role == role)
            .map(|p| format!("{} {}", p.name, units(p.net)))
            .collect();
        println!(
            "    {role:<10} {:>16}   ({})",
            units(b.by_role(role)),
            who.join(", ")
        );
    }
    if let Some(t) = &d.transcoding {
        println!(
            "  transcoding: {} paid for {:.1} s of source transcoded into {} ({})",
            units(t.job.paid() as i128),
            t.job.delivered_secs(),
            t.job.result.renditions.join(", "),
            t.job
                .payment_error()
                .map(|e| format!("last payment error: {e}"))
                .unwrap_or_else(|| s("no payment error"))
        );
    }
    if b.balanced {
        println!(
            "  books balanced: yes ({} ledgers sum to 0, every hub link booked on both sides, nothing in flight)",
            b.parties.len()
        );
    } else {
        println!(
            "  books balanced: NO (sum {}, in flight {}, mismatched links {:?})",
            b.total, b.pending, b.mismatched
        );
    }
    if parts == 0 && !d.viewers.is_empty() {
        bail!("no part reached any simulated viewer");
    }
    if !b.balanced {
        bail!("the books do not balance");
    }
    Ok(())
}

//! Simulated paying viewers, in the demo process: each has its own wallet node (a child of the
//! hub, funded by the hub's credit line), streams money to its relay over ILP STREAM once a
//! second (credentials from the relay's SPSP `/.well-known/pay/<viewer id>`), and fetches every
//! new LL-HLS part from the relay with its viewer id, measuring how late each part arrives.
//! The same machinery pays a child relay's upstream (a payer that does not fetch).

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::stream::{SenderConfig, StreamSender, spsp_http};

use super::hls;
use super::http::Http;
use super::topology::{ASSET_CODE, ASSET_SCALE, Member, member_toml};

/// Latency samples kept per viewer.
const SAMPLES: usize = 600;
/// Seconds of service bought up front (covers the first second's STREAM round trips).
const PREPAY_SECONDS: u64 = 3;

/// Which relay a viewer watches and pays.
#[derive(Clone, Debug, PartialEq)]
pub struct RelayChoice {
    pub name: String,
    /// Base URL, e.g. http://127.0.0.1:PORT
    pub url: String,
    /// Base units per second.
    pub price_per_second: u64,
}

/// What a viewer did, readable at any time.
#[derive(Default)]
pub struct ViewerStats {
    pub parts: AtomicU64,
    pub bytes: AtomicU64,
    pub refused_402: AtomicU64,
    pub fetch_errors: AtomicU64,
    /// Source units sent (fulfilled) in total.
    pub paid: AtomicU64,
    /// Payments (one STREAM send each) that went through.
    pub payments: AtomicU64,
    pub payment_errors: AtomicU64,
    /// Part lateness: wall clock at arrival minus capture time of the part's end, ms.
    pub latencies: Mutex<VecDeque<f64>>,
    pub last_error: Mutex<Option<String>>,
    /// Capture time of the newest part fetched (ms since the epoch).
    pub newest_capture_ms: AtomicU64,
}

impl ViewerStats {
    fn error(&self, e: impl std::fmt::Display) {
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
    }

    pub fn latency_samples(&self) -> Vec<f64> {
        self.latencies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

/// A simulated viewer (or a relay's upstream payer when it does not fetch).
pub struct SimViewer {
    pub id: String,
    pub stats: Arc<ViewerStats>,
    relay: watch::Sender<RelayChoice>,
    pub node: Node,
    /// Asks the pay loop to stop between payments (aborting a send mid-flight would leave a
    /// packet's reservation pending at the wallet node).
    stop: watch::Sender<bool>,
    /// Whether this wallet pays a relay (false: tips only).
    pub pays: bool,
    pay_task: Mutex<Option<JoinHandle<()>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl SimViewer {
    /// Starts the wallet node, connects it to the hub, then starts paying `relay` (and
    /// fetching from it when `fetch`). The viewer id on the relay is `member.id`.
    pub async fn start(
        dir: &Path,
        member: &Member,
        hub_port: u16,
        relay: RelayChoice,
        fetch: bool,
    ) -> anyhow::Result<SimViewer> {
        Self::start_with(dir, member, hub_port, relay, fetch, true).await
    }

    /// [`Self::start`]; `pay: false` keeps the wallet idle (used for tips only).
    pub async fn start_with(
        dir: &Path,
        member: &Member,
        hub_port: u16,
        relay: RelayChoice,
        fetch: bool,
        pay: bool,
    ) -> anyhow::Result<SimViewer> {
        let cfg = NodeConfig::from_toml(&member_toml(dir, member, hub_port, false), &member.id)
            .map_err(|e| anyhow::anyhow!("wallet config of {}: {e}", member.id))?;
        let node = Node::start(cfg)
            .await
            .map_err(|e| anyhow::anyhow!("wallet node of {}: {e}", member.id))?;
        if !node
            .connector
            .wait_connected(&AccountId::new("hub"), Duration::from_secs(15))
            .await
        {
            bail!("wallet {} could not connect to the hub", member.id);
        }
        let stats = Arc::new(ViewerStats::default());
        let (tx, rx) = watch::channel(relay);
        let (stop, stop_rx) = watch::channel(false);
        let pay_task = pay.then(|| {
            tokio::spawn(pay_loop(
                node.connector.clone(),
                member.id.clone(),
                rx.clone(),
                stop_rx,
                stats.clone(),
            ))
        });
        let mut tasks = Vec::new();
        if fetch && pay {
            tasks.push(tokio::spawn(fetch_loop(
                member.id.clone(),
                rx,
                stats.clone(),
            )));
        }
        Ok(SimViewer {
            id: member.id.clone(),
            stats,
            relay: tx,
            node,
            stop,
            pays: pay,
            pay_task: Mutex::new(pay_task),
            tasks: Mutex::new(tasks),
        })
    }

    pub fn relay(&self) -> RelayChoice {
        self.relay.borrow().clone()
    }

    /// Watch (and pay) another relay from now on.
    pub fn switch(&self, to: RelayChoice) {
        self.relay.send_replace(to);
    }

    /// Stops fetching at once and paying after the payment under way; returns when the
    /// pay loop has ended (the wallet node keeps running until dropped).
    pub async fn switch_off(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
        self.stop.send_replace(true);
        let task = self
            .pay_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(t) = task {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
    }
}

impl Drop for SimViewer {
    fn drop(&mut self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
        if let Some(t) = self
            .pay_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            t.abort();
        }
    }
}

async fn connect_sender(
    connector: &Arc<tollcast_net::connector::Connector>,
    relay: &RelayChoice,
    id: &str,
) -> anyhow::Result<StreamSender> {
    let spsp = spsp_http::query(
        &format!("{}/.well-known/pay/{id}", relay.url),
        Duration::from_secs(5),
    )
    .await
    .with_context(|| format!("SPSP at relay {}", relay.name))?;
    let mut cfg = SenderConfig::new(spsp.destination_account, spsp.shared_secret);
    cfg.source_asset = Some((ASSET_CODE.into(), ASSET_SCALE));
    cfg.packet_timeout = Duration::from_secs(10);
    StreamSender::connect(connector.sender(AccountId::local()), cfg)
        .await
        .with_context(|| format!("STREAM to relay {}", relay.name))
}

/// Pays the chosen relay `price_per_second` every second (a few seconds up front), reconnecting
/// on a switch or an error.
async fn pay_loop(
    connector: Arc<tollcast_net::connector::Connector>,
    id: String,
    mut relay: watch::Receiver<RelayChoice>,
    mut stop: watch::Receiver<bool>,
    stats: Arc<ViewerStats>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let choice = relay.borrow_and_update().clone();
        let mut sender = match connect_sender(&connector, &choice, &id).await {
            Ok(s) => s,
            Err(e) => {
                stats.payment_errors.fetch_add(1, Relaxed);
                stats.error(format!("{e:#}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut first = true;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let seconds = if first { PREPAY_SECONDS } else { 1 };
                    first = false;
                    let before = sender.totals().sent;
                    let r = sender.send(choice.price_per_second * seconds).await;
                    let moved = sender.totals().sent.saturating_sub(before);
                    stats.paid.fetch_add(moved, Relaxed);
                    match r {
                        Ok(_) => { stats.payments.fetch_add(1, Relaxed); }
                        Err(e) => {
                            stats.payment_errors.fetch_add(1, Relaxed);
                            stats.error(format!("payment to relay {}: {e}", choice.name));
                            break;
                        }
                    }
                }
                r = relay.changed() => {
                    if r.is_err() { return; }
                    break;
                }
                _ = stop.changed() => break,
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), sender.close()).await;
    }
}

fn resolve(base: &str, rel: &str) -> anyhow::Result<String> {
    let b = url::Url::parse(base).with_context(|| format!("bad URL {base}"))?;
    Ok(b.join(rel)
        .with_context(|| format!("bad URI {rel}"))?
        .to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Follows the live edge of the chosen relay: blocking playlist reloads for the next part,
/// every new part fetched once.
async fn fetch_loop(id: String, mut relay: watch::Receiver<RelayChoice>, stats: Arc<ViewerStats>) {
    let http = Http::new();
    let t = Duration::from_secs(10);
    // Fetch once money is on its way (the relay answers 402 before the first payment).
    while stats.payments.load(Relaxed) == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    loop {
        let choice = relay.borrow_and_update().clone();
        tokio::select! {
            r = follow(&http, &choice, &id, &stats, t) => {
                if let Err(e) = r {
                    stats.fetch_errors.fetch_add(1, Relaxed);
                    stats.error(format!("{e:#}"));
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            r = relay.changed() => if r.is_err() { return },
        }
    }
}

async fn follow(
    http: &Http,
    relay: &RelayChoice,
    id: &str,
    stats: &ViewerStats,
    t: Duration,
) -> anyhow::Result<()> {
    let master_url = format!("{}/live/master.m3u8", relay.url);
    let m = http.get(&master_url, Some(id), t).await?;
    if m.status.as_u16() == 402 {
        stats.refused_402.fetch_add(1, Relaxed);
        bail!("relay {} asks for payment (402): {}", relay.name, m.text());
    }
    if !m.status.is_success() {
        bail!("relay {}: master playlist {}", relay.name, m.status);
    }
    let variants = hls::parse_master(&m.text());
    let variant = variants
        .first()
        .context("master playlist lists no variant")?;
    let media_url = resolve(&master_url, variant)?;
    let mut next: Option<(u64, u32)> = None;
    let mut init_done = false;
    loop {
        let url = match next {
            Some((msn, part)) => format!("{media_url}?_HLS_msn={msn}&_HLS_part={part}"),
            None => media_url.clone(),
        };
        let a = http.get(&url, Some(id), t).await?;
        if a.status.as_u16() == 402 {
            stats.refused_402.fetch_add(1, Relaxed);
            bail!("relay {} asks for payment (402)", relay.name);
        }
        if !a.status.is_success() {
            // A position the server will not wait for: fall back to a plain reload.
            next = None;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let pl = hls::parse_media(&a.text());
        if !init_done && let Some(init) = &pl.init {
            let r = http.get(&resolve(&url, init)?, Some(id), t).await?;
            if r.status.is_success() {
                init_done = true;
            }
        }
        let fresh: Vec<&hls::Part> = match next {
            Some((msn, part)) => pl
                .parts
                .iter()
                .filter(|p| (p.msn, p.index) >= (msn, part))
                .collect(),
            // Join at the live edge.
            None => pl.parts.iter().rev().take(2).rev().collect(),
        };
        for p in &fresh {
            let r = http.get(&resolve(&url, &p.uri)?, Some(id), t).await?;
            match r.status.as_u16() {
                200 => {
                    stats.parts.fetch_add(1, Relaxed);
                    stats.bytes.fetch_add(r.body.len() as u64, Relaxed);
                    if let Some(c) = p.capture_ms {
                        let end = c + (p.duration * 1000.0) as i64;
                        let late = (now_ms() - end) as f64;
                        let mut l = stats.latencies.lock().unwrap_or_else(|e| e.into_inner());
                        if l.len() == SAMPLES {
                            l.pop_front();
                        }
                        l.push_back(late);
                        stats.newest_capture_ms.fetch_max(c.max(0) as u64, Relaxed);
                    }
                }
                402 => {
                    stats.refused_402.fetch_add(1, Relaxed);
                }
                _ => {
                    stats.fetch_errors.fetch_add(1, Relaxed);
                }
            }
        }
        if pl.ended {
            return Ok(());
        }
        next = match pl.parts.last() {
            Some(p) => Some((p.msn, p.index + 1)),
            None => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                None
            }
        };
    }
}

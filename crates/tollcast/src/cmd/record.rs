//! `tollcast record`: the recorder agent (live-to-VOD) for one stream. Follows the stream's
//! signed segment manifests on Nostr, fetches and verifies every segment from the `--mirror`
//! sources (tried in order), and when the stream ends writes a content-addressed HLS VOD,
//! publishes a NIP-71 video event (kind 34235) pointing at it by hash, and serves it (paid per
//! GB with `--price-per-gb` + `--node-config`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use nostr::prelude::{Keys, ToBech32};
use serde_json::json;
use tollcast_agents::recorder::per_gb::{GbBilling, GbPrice};
use tollcast_agents::recorder::{Recorder, RecorderConfig};
use tollcast_events::StreamAddress;
use tollcast_media::store::ChunkStore;
use tollcast_net::connector::{Node, NodeConfig};
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::RelayPool;
use tollcast_net::stream::StreamReceiver;

#[derive(clap::Args)]
#[command(
    long_about = "Record a live stream into a verified, content-addressed VOD.\n\n\
Follows the stream's signed segment manifests (kind 31311) on the --relay Nostr relays and \
fetches every init and segment from the --mirror sources in order (origin, relays, other \
recorders): a source that lacks a chunk is skipped, one that sends bytes not matching the signed \
hash is refused. When the stream ends (its kind-30311 announcement says ended, or a source's \
playlist has EXT-X-ENDLIST) it writes HLS VOD playlists naming every chunk by hash, publishes a \
NIP-71 video event (kind 34235) with the playlist's hash and an `a` tag of the live event, and \
keeps serving the VOD until Ctrl-C.\n\n\
Prints `key: value` lines and `ready: {json}` once serving, then `vod: {json}` when the VOD is \
published. /metrics has the counters.\n\n\
Example: tollcast record --stream naddr1... --relay ws://127.0.0.1:7777 --mirror http://127.0.0.1:8080"
)]
pub struct Args {
    /// The stream: naddr1... or 30311:<author hex pubkey>:<d>.
    #[arg(long)]
    stream: String,
    /// Nostr relay (ws://) with the stream's manifests and announcement; where the video event
    /// is published. Repeatable, at least one.
    #[arg(long = "relay", required = true)]
    relays: Vec<String>,
    /// Source of chunks (http://host:port of the origin or a relay); repeatable, tried in order.
    #[arg(long = "mirror", required = true)]
    mirrors: Vec<String>,
    /// Also trust manifests signed by this key (hex or npub), e.g. the stream's transcoder.
    #[arg(long = "signer")]
    signers: Vec<String>,
    /// HTTP address serving the VOD (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Public base URL of this recorder, for the video event (default http://<listen address>).
    #[arg(long)]
    public_url: Option<String>,
    /// Other base URLs that will hold the same VOD (named as `fallback` in the video event).
    #[arg(long = "fallback-url")]
    fallback_urls: Vec<String>,
    /// Directory of the chunk store (created if missing).
    #[arg(long, default_value = "tollcast-recorder-chunks")]
    store_dir: PathBuf,
    /// Chunk store bound in MiB.
    #[arg(long, default_value_t = 8192)]
    store_mib: u64,
    /// Secret key (hex or nsec) signing the video event; a fresh key if omitted.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// After the end is seen, wait this long (ms) for late manifests.
    #[arg(long, default_value_t = 1500)]
    settle_ms: u64,
    /// Treat the stream as ended after this many seconds without a new manifest (0 = never).
    #[arg(long, default_value_t = 120)]
    idle_end_secs: u64,
    /// Attempts per segment before it is left out.
    #[arg(long, default_value_t = 5)]
    fetch_attempts: u32,
    /// VOD price: base units per 10^9 bytes (needs --node-config).
    #[arg(long)]
    price_per_gb: Option<u64>,
    /// Asset viewers pay in.
    #[arg(long, default_value = "USD")]
    asset_code: String,
    /// That asset's scale.
    #[arg(long, default_value_t = 6)]
    asset_scale: u8,
    /// The ILP node (connector TOML) that receives viewers' payments.
    #[arg(long)]
    node_config: Option<PathBuf>,
    /// Paid VOD: file keeping viewers' accounts (money received, bytes served) across restarts.
    #[arg(long, default_value = "tollcast-recorder-billing.redb")]
    billing_db: PathBuf,
    /// Exit once the video event is published (default: keep serving the VOD until Ctrl-C).
    #[arg(long)]
    exit_when_done: bool,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let stream: StreamAddress = if a.stream.starts_with("naddr1") {
        StreamAddress::from_naddr(&a.stream).map_err(|e| anyhow::anyhow!("--stream: {e}"))?
    } else {
        a.stream
            .parse()
            .map_err(|e| anyhow::anyhow!("--stream: {e} (want naddr1... or 30311:<hex>:<d>)"))?
    };
    if a.price_per_gb.is_some() != a.node_config.is_some() {
        bail!("a paid VOD needs both --price-per-gb and --node-config (the ILP node paid)");
    }
    for r in &a.relays {
        if !(r.starts_with("ws://") || r.starts_with("wss://")) {
            bail!("--relay {r}: want a ws:// or wss:// URL");
        }
    }
    let keys = match &a.secret_key {
        Some(k) => Keys::parse(k).context("--secret-key must be a 64-hex or nsec secret key")?,
        None => Keys::generate(),
    };
    let store = ChunkStore::open(&a.store_dir, a.store_mib.saturating_mul(1024 * 1024))
        .with_context(|| format!("opening the chunk store in {}", a.store_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? try --listen 127.0.0.1:0)",
                a.listen
            )
        })?;
    let http = listener.local_addr()?;
    let public = a
        .public_url
        .clone()
        .unwrap_or(format!("http://{http}"))
        .trim_end_matches('/')
        .to_string();
    let cfg = RecorderConfig {
        mirrors: a.mirrors.clone(),
        signers: a.signers.clone(),
        fetch_attempts: a.fetch_attempts,
        settle_ms: a.settle_ms,
        idle_end_ms: a.idle_end_secs.saturating_mul(1000),
        price_per_gb: a.price_per_gb,
        asset_code: a.asset_code.clone(),
        asset_scale: a.asset_scale,
        ..RecorderConfig::default()
    };
    let mut paid: Option<(Node, Arc<StreamReceiver>)> = None;
    let mut billing = None;
    if let (Some(ppg), Some(path)) = (a.price_per_gb, &a.node_config) {
        let ncfg = NodeConfig::load(path)
            .map_err(|e| anyhow::anyhow!("--node-config {}: {e}", path.display()))?;
        let node = Node::start(ncfg)
            .await
            .map_err(|e| anyhow::anyhow!("starting the ILP node: {e}"))?;
        let receiver = StreamReceiver::attach(
            &node.connector,
            "recorder",
            &a.asset_code,
            a.asset_scale,
            None,
        )
        .map_err(|e| anyhow::anyhow!("node address cannot take a receiver: {e}"))?;
        let b = Arc::new(
            GbBilling::open(
                GbPrice {
                    price_per_gb: ppg,
                    asset_code: a.asset_code.clone(),
                    asset_scale: a.asset_scale,
                    pay_to: Some(format!("{public}/.well-known/pay/{{viewer}}")),
                },
                &a.billing_db,
            )
            .map_err(|e| anyhow::anyhow!("--billing-db {}: {e}", a.billing_db.display()))?,
        );
        b.follow(&receiver);
        billing = Some(b);
        paid = Some((node, receiver));
    }
    let rec =
        Recorder::new(stream.clone(), cfg, store, billing).map_err(|e| anyhow::anyhow!("{e}"))?;
    let router = match &paid {
        Some((_, receiver)) => rec.paid_router(receiver.clone()),
        None => rec.router(),
    };
    tokio::spawn(async move {
        if let Err(e) = tollcast_net::http_serve::serve(listener, router).await {
            eprintln!("recorder HTTP server stopped: {e}");
        }
    });
    let pool = RelayPool::new(&a.relays, ClientOptions::default())
        .map_err(|e| anyhow::anyhow!("--relay: {e}"))?;
    println!("recording: {stream}");
    println!("http: {public}");
    println!("metrics: {public}/metrics");
    println!("pubkey: {}", keys.public_key().to_bech32()?);
    if let Some((_, r)) = &paid {
        println!(
            "price: {} {} (scale {}) per GB, pay via SPSP {public}/.well-known/pay/<viewer id> (ILP {})",
            a.price_per_gb.unwrap_or(0),
            a.asset_code,
            a.asset_scale,
            r.config().server_address
        );
    }
    println!(
        "ready: {}",
        json!({
            "http": public,
            "metrics": format!("{public}/metrics"),
            "vod_api": format!("{public}/api/vod"),
            "pubkey": keys.public_key().to_hex(),
            "stream": stream.to_string(),
            "mirrors": a.mirrors,
            "price_per_gb": a.price_per_gb,
            "spsp": paid.as_ref().map(|_| format!("{public}/.well-known/pay")),
            "ilp_address": paid.as_ref().map(|(_, r)| r.config().server_address.to_string()),
        })
    );
    let mut bases = vec![public.clone()];
    bases.extend(a.fallback_urls.iter().cloned());
    let done = tokio::select! {
        r = rec.run(&pool, &keys, &bases) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let Some(done) = done else {
        eprintln!("stopping before the stream ended: no VOD written");
        return Ok(());
    };
    let (vod, ev) = done.map_err(|e| anyhow::anyhow!("{e}"))?;
    let hints: Vec<&str> = a.relays.iter().map(String::as_str).take(3).collect();
    let m = rec.metrics();
    use std::sync::atomic::Ordering::Relaxed;
    eprintln!(
        "recorded {} segments ({} bytes, {:.1} s), {} left out; VOD {public}/{}.m3u8",
        vod.segments,
        vod.bytes,
        vod.duration,
        m.segments_missing.load(Relaxed),
        vod.master
    );
    println!(
        "vod: {}",
        json!({
            "url": format!("{public}/{}.m3u8", vod.master),
            "master": vod.master,
            "duration": vod.duration,
            "segments": vod.segments,
            "bytes": vod.bytes,
            "event_id": ev.id.to_hex(),
            "kind": ev.kind.as_u16(),
            "nevent": nostr::prelude::Nip19Event::new(ev.id).relays(hints.iter().filter_map(|r| nostr::prelude::RelayUrl::parse(r).ok())).to_bech32().unwrap_or_default(),
        })
    );
    if a.exit_when_done {
        return Ok(());
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}

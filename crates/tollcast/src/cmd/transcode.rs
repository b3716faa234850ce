//! `tollcast transcode`: run a transcoder agent. It sells the adaptive ladder of live streams
//! as paid NIP-90 jobs (kind 5200 requests, 7000 offers, 6200 results), runs one ffmpeg per
//! job for the whole ladder, serves each job's LL-HLS origin (relays use it as upstream) and is
//! paid per transcoded minute over ILP STREAM to its own receiver. Prints `key: value` lines
//! and `ready: {json}` once serving.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use nostr::prelude::{Keys, ToBech32};
use tollcast_agents::transcoder::{Transcoder, TranscoderConfig, Wallet};
use tollcast_net::connector::{Node, NodeConfig};
use tollcast_net::stream::{StreamReceiver, spsp_http};

/// Run a transcoder agent: answer NIP-90 transcode requests on Nostr with a price per minute,
/// make the ladder (one ffmpeg per job: e.g. 720p/480p/360p H.264 + AAC, aligned segments),
/// serve it over LL-HLS and get paid per transcoded minute over Interledger.
///
/// The wallet is an account at an ILP node: `--node-config node.toml` starts that node here
/// (its peers in the TOML); `--node btp+ws://name:token@host:port --ilp-address g.x.y` runs a
/// minimal node that is a child of that parent. Payments arrive at `<node address>.transcoder`
/// through the SPSP endpoint this agent serves at `/.well-known/pay/<job>`.
///
/// HTTP (`--listen`): `/jobs/<job>/live/master.m3u8` (source mirrored + rungs),
/// `/status` (JSON), `/metrics` (Prometheus). Example:
/// `tollcast transcode --nostr ws://127.0.0.1:7777 --node-config examples/node-bob.toml
///  --price-per-minute 1000 --listen 127.0.0.1:8090`
#[derive(clap::Args)]
pub struct Args {
    /// Nostr relay URL(s) to take requests from and publish offers, manifests and results on.
    #[arg(long = "nostr", required = true)]
    nostr: Vec<String>,
    /// Secret key (hex or nsec) that signs offers, results and rung manifests; fresh if omitted.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// `[transcoder]` settings from a TOML file (flags below override them).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Price per transcoded minute of source, in base units of --asset-code.
    #[arg(long)]
    price_per_minute: Option<u64>,
    /// Asset of the price (default USD).
    #[arg(long)]
    asset_code: Option<String>,
    /// Scale of the asset (default 6).
    #[arg(long)]
    asset_scale: Option<u8>,
    /// Jobs run at once (each is one ffmpeg; default 1).
    #[arg(long)]
    capacity: Option<u32>,
    /// x264 preset (default veryfast; ultrafast for small machines).
    #[arg(long)]
    preset: Option<String>,
    /// Seconds of media per payment unit (default 60: paid per minute).
    #[arg(long)]
    unit_secs: Option<f64>,
    /// Seconds transcoded ahead of payment before a job stops (default 60).
    #[arg(long)]
    credit_secs: Option<f64>,
    /// HTTP address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Public base URL when behind a proxy (default http://<listen address>).
    #[arg(long)]
    public_url: Option<String>,
    /// Directory of the chunk store (created if missing).
    #[arg(long)]
    store_dir: Option<PathBuf>,
    /// Chunk store bound in MiB.
    #[arg(long)]
    store_mib: Option<u64>,
    /// The wallet's ILP node config (TOML, as for `tollcast node`).
    #[arg(long, conflicts_with = "node")]
    node_config: Option<PathBuf>,
    /// Or: the parent node to connect to as a child, `btp+ws://name:token@host:port`.
    #[arg(long)]
    node: Option<String>,
    /// With --node: this transcoder's ILP address (under the parent's).
    #[arg(long, requires = "node")]
    ilp_address: Option<String>,
    /// With --node: the ledger file of the minimal node.
    #[arg(long, requires = "node")]
    ledger: Option<PathBuf>,
}

fn load_config(a: &Args) -> anyhow::Result<TranscoderConfig> {
    let mut cfg = match &a.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("--config {}", p.display()))?;
            let v: toml::Value =
                toml::from_str(&text).with_context(|| format!("--config {}", p.display()))?;
            match v.get("transcoder") {
                Some(t) => t
                    .clone()
                    .try_into()
                    .with_context(|| format!("[transcoder] in {}", p.display()))?,
                None => TranscoderConfig::default(),
            }
        }
        None => TranscoderConfig::default(),
    };
    if let Some(x) = a.price_per_minute {
        cfg.price_per_minute = x;
    }
    if let Some(x) = &a.asset_code {
        cfg.asset_code = x.clone();
    }
    if let Some(x) = a.asset_scale {
        cfg.asset_scale = x;
    }
    if let Some(x) = a.capacity {
        cfg.capacity = x;
    }
    if let Some(x) = &a.preset {
        cfg.preset = x.clone();
    }
    if let Some(x) = a.unit_secs {
        cfg.unit_secs = x;
    }
    if let Some(x) = a.credit_secs {
        cfg.credit_secs = x;
    }
    if let Some(x) = &a.store_dir {
        cfg.store_dir = x.clone();
    }
    if let Some(x) = a.store_mib {
        cfg.store_mib = x;
    }
    if let Some(x) = &a.public_url {
        cfg.public_url = Some(x.clone());
    }
    cfg.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(cfg)
}

async fn start_node(a: &Args, cfg: &TranscoderConfig) -> anyhow::Result<Node> {
    let ncfg = match (&a.node_config, &a.node) {
        (Some(path), _) => NodeConfig::load(path)
            .map_err(|e| anyhow::anyhow!("--node-config {}: {e}", path.display()))?,
        (None, Some(url)) => {
            let Some(addr) = &a.ilp_address else {
                bail!(
                    "--node needs --ilp-address (this transcoder's ILP address, e.g. g.tollcast.hub.tx1)"
                );
            };
            let ledger = a
                .ledger
                .clone()
                .unwrap_or_else(|| cfg.store_dir.join("wallet.redb"));
            std::fs::create_dir_all(&cfg.store_dir)
                .with_context(|| format!("creating {}", cfg.store_dir.display()))?;
            let text = format!(
                "[node]\nname = \"transcoder\"\naddress = {addr:?}\nlisten = \"127.0.0.1:0\"\nledger = {:?}\n\n\
                 [nostr]\nenabled = false\n\n[spsp]\nenabled = false\n\n\
                 [[accounts]]\nid = \"parent\"\nrelation = \"parent\"\nasset_code = {:?}\nasset_scale = {}\nbtp_url = {url:?}\ncredit_limit = 1000000000000\n\n\
                 [[routes]]\nprefix = {:?}\naccount = \"parent\"\n",
                ledger.display().to_string(),
                cfg.asset_code,
                cfg.asset_scale,
                addr.split('.').next().unwrap_or("g"),
            );
            NodeConfig::from_toml(&text, "--node").map_err(|e| anyhow::anyhow!("--node: {e}"))?
        }
        (None, None) => bail!(
            "the transcoder is paid at an ILP node: give --node-config <node.toml> or --node <btp+ws://name:token@host:port> --ilp-address <address>"
        ),
    };
    Node::start(ncfg)
        .await
        .map_err(|e| anyhow::anyhow!("starting the ILP node: {e}"))
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let cfg = load_config(&a)?;
    for u in &a.nostr {
        if !(u.starts_with("ws://") || u.starts_with("wss://")) {
            bail!("--nostr {u}: a relay URL starts with ws:// or wss://");
        }
    }
    let keys = match &a.secret_key {
        Some(k) => Keys::parse(k).context("--secret-key must be a 64-hex or nsec secret key")?,
        None => Keys::generate(),
    };
    let node = start_node(&a, &cfg).await?;
    let receiver = StreamReceiver::attach(
        &node.connector,
        "transcoder",
        &cfg.asset_code,
        cfg.asset_scale,
        None,
    )
    .map_err(|e| anyhow::anyhow!("node address cannot take a receiver: {e}"))?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let http = listener.local_addr()?;
    let public = cfg
        .public_url
        .clone()
        .unwrap_or(format!("http://{http}"))
        .trim_end_matches('/')
        .to_string();
    let spsp = format!("{public}/.well-known/pay");
    let agent = Transcoder::start(
        cfg.clone(),
        keys.clone(),
        &a.nostr,
        Wallet {
            receiver: receiver.clone(),
            spsp_base: spsp.clone(),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    agent.set_public_url(&public);
    let app = agent
        .router()
        .merge(spsp_http::router(receiver.clone(), "/.well-known/pay"));
    tokio::spawn(async move {
        if let Err(e) = tollcast_net::http_serve::serve(listener, app).await {
            tracing::error!("HTTP server stopped: {e}");
        }
    });
    let ilp = receiver.config().server_address.to_string();
    let npub = keys.public_key().to_bech32().unwrap_or_default();
    println!("pubkey: {}", keys.public_key().to_hex());
    println!("npub: {npub}");
    println!("http: {public}");
    println!("status: {public}/status");
    println!("metrics: {public}/metrics");
    println!("spsp: {spsp}");
    println!("ilp_address: {ilp}");
    println!("btp: {}", node.btp_url());
    println!(
        "price: {} {} per minute (scale {}), paid every {} s, credit {} s, {} slot(s)",
        cfg.price_per_minute,
        cfg.asset_code,
        cfg.asset_scale,
        cfg.unit_secs,
        cfg.credit_secs,
        cfg.capacity
    );
    for u in &a.nostr {
        println!("nostr: {u}");
    }
    let ready = serde_json::json!({
        "http": public,
        "pubkey": keys.public_key().to_hex(),
        "npub": npub,
        "spsp": spsp,
        "ilp_address": ilp,
        "btp": node.btp_url(),
        "node_http": format!("http://{}", node.local_addr),
        "status": format!("{public}/status"),
        "metrics": format!("{public}/metrics"),
        "nostr": a.nostr,
        "price_per_minute": cfg.price_per_minute,
        "asset_code": cfg.asset_code,
        "asset_scale": cfg.asset_scale,
        "capacity": cfg.capacity,
    });
    println!("ready: {ready}");
    // One line per job change, until Ctrl-C.
    let mut seen: std::collections::HashMap<String, String> = Default::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {}
        }
        for (tag, state, secs, received) in agent.jobs() {
            let st = format!("{state:?}").to_lowercase();
            if seen.get(&tag) != Some(&st) {
                println!(
                    "job: {tag} {st} ({secs:.1} s transcoded, {received} received) {public}/jobs/{tag}/live/master.m3u8"
                );
                seen.insert(tag, st);
            }
        }
    }
    Ok(())
}

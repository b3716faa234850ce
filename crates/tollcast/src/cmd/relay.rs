//! `tollcast relay`: run a relay agent (CDN edge) for one stream: pull chunks from an origin or
//! a parent relay, verify them against the stream's signed manifests (followed on Nostr), cache
//! and serve LL-HLS; optionally paid (credit mode over ILP STREAM) and advertised on Nostr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use nostr::prelude::{Keys, PublicKey, Timestamp};
use tollcast_agents::relay::billing::{Billing, BillingConfig};
use tollcast_agents::relay::manifests::ManifestBook;
use tollcast_agents::relay::nostr::follow_manifests;
use tollcast_agents::relay::offer::OfferSettings;
use tollcast_agents::relay::{Relay, RelayConfig};
use tollcast_events::StreamAddress;
use tollcast_media::store::ChunkStore;
use tollcast_net::connector::{Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::stream::StreamReceiver;

/// Run a relay agent for one stream.
///
/// Example: `tollcast relay --upstream http://127.0.0.1:8080 --stream 30311:<hex pubkey>:live
/// --nostr ws://127.0.0.1:7777`, then play `http://127.0.0.1:8081/live/master.m3u8`.
/// Chain relays by giving another relay's URL as `--upstream`. Add `--price-per-second` and
/// `--node-config` to charge viewers (credit mode): they pay over ILP STREAM via the SPSP
/// endpoint `/.well-known/pay/<viewer id>` and send `Authorization: Bearer <viewer id>`.
#[derive(clap::Args)]
pub struct Args {
    /// Where to pull from: the origin's or a parent relay's base URL (http://host:port).
    #[arg(long)]
    upstream: String,
    /// Viewer id to present to a paid upstream relay (pay it at its
    /// `/.well-known/pay/<this id>`, e.g. with `tollcast pay`).
    #[arg(long)]
    upstream_viewer: Option<String>,
    /// The stream: `30311:<author hex pubkey>:<d>` (its live event address).
    #[arg(long)]
    stream: String,
    /// Nostr relay (ws://) carrying the stream's segment manifests; repeatable, at least one.
    #[arg(long = "nostr", required = true)]
    nostr: Vec<String>,
    /// Also trust manifests signed by this key (hex or npub), e.g. the stream's transcoder.
    #[arg(long = "signer")]
    signers: Vec<String>,
    /// HTTP address to serve viewers on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// Directory of the chunk cache (created if missing).
    #[arg(long, default_value = "tollcast-relay-cache")]
    store_dir: PathBuf,
    /// Chunk cache bound in MiB; oldest chunks are evicted beyond it.
    #[arg(long, default_value_t = 512)]
    store_mib: u64,
    /// Longest a fetched chunk waits for the manifest that signs it, in ms.
    #[arg(long, default_value_t = 8000)]
    manifest_wait_ms: u64,
    /// Credit mode: base units a viewer pays per second of service (needs --node-config).
    #[arg(long)]
    price_per_second: Option<u64>,
    /// Credit mode: service continues this many ms after paid time ran out.
    #[arg(long, default_value_t = 3000)]
    grace_ms: u64,
    /// Credit mode: asset viewers pay in (as the node's accounts count it).
    #[arg(long, default_value = "USD")]
    asset_code: String,
    /// Credit mode: that asset's scale (decimal places of its base unit).
    #[arg(long, default_value_t = 6)]
    asset_scale: u8,
    /// Credit mode: file keeping viewers' balances across restarts.
    #[arg(long, default_value = "tollcast-relay-billing.redb")]
    billing_db: PathBuf,
    /// Credit mode: the ILP node (connector TOML) that receives viewers' payments.
    #[arg(long)]
    node_config: Option<PathBuf>,
    /// Secret key (hex or nsec) signing the relay offer; a fresh key if omitted.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    secret_key: Option<String>,
    /// Viewers advertised as capacity in the relay offer.
    #[arg(long, default_value_t = 1000)]
    capacity: u64,
    /// Public base URL of this relay for the offer (default http://<listen address>).
    #[arg(long)]
    public_url: Option<String>,
}

fn parse_key(s: &str) -> anyhow::Result<PublicKey> {
    PublicKey::parse(s).with_context(|| format!("`{s}` is not a hex or npub public key"))
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let stream: StreamAddress = a
        .stream
        .parse()
        .map_err(|e| anyhow::anyhow!("--stream: {e} (want 30311:<hex pubkey>:<d>)"))?;
    let signers = a
        .signers
        .iter()
        .map(|s| parse_key(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if a.price_per_second.is_some() != a.node_config.is_some() {
        bail!("credit mode needs both --price-per-second and --node-config (the ILP node paid)");
    }
    let store = ChunkStore::open(&a.store_dir, a.store_mib.saturating_mul(1024 * 1024))
        .with_context(|| format!("opening the chunk cache in {}", a.store_dir.display()))?;
    let book = Arc::new(ManifestBook::new(stream.clone(), signers.clone()));
    let mut clients = Vec::new();
    for url in &a.nostr {
        let c = RelayClient::connect(url, ClientOptions::default())
            .map_err(|e| anyhow::anyhow!("--nostr {url}: {e} (want ws://host:port)"))?;
        // Manifests of the last ten minutes cover any live window; older ones are VOD's business.
        let since = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(600));
        follow_manifests(&c, book.clone(), &signers, Some(since))
            .await
            .map_err(|e| anyhow::anyhow!("--nostr {url}: {e}"))?;
        clients.push(c);
    }

    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? try --listen 127.0.0.1:0)",
                a.listen
            )
        })?;
    let http = listener.local_addr()?;
    let public = a.public_url.clone().unwrap_or(format!("http://{http}"));

    // Credit mode: a STREAM receiver on the node, crediting viewers by their credential tag.
    let mut paid = None;
    if let (Some(pps), Some(path)) = (a.price_per_second, &a.node_config) {
        let cfg = NodeConfig::load(path)
            .map_err(|e| anyhow::anyhow!("--node-config {}: {e}", path.display()))?;
        let node = Node::start(cfg)
            .await
            .map_err(|e| anyhow::anyhow!("starting the ILP node: {e}"))?;
        let receiver =
            StreamReceiver::attach(&node.connector, "relay", &a.asset_code, a.asset_scale, None)
                .map_err(|e| anyhow::anyhow!("node address cannot take a receiver: {e}"))?;
        let billing = Arc::new(
            Billing::open(
                BillingConfig {
                    price_per_second: pps,
                    grace: Duration::from_millis(a.grace_ms),
                    asset_code: a.asset_code.clone(),
                    asset_scale: a.asset_scale,
                    pay_to: Some(format!("{public}/.well-known/pay/{{viewer}}")),
                },
                &a.billing_db,
            )
            .map_err(|e| anyhow::anyhow!("--billing-db {}: {e}", a.billing_db.display()))?,
        );
        billing.follow(&receiver);
        paid = Some((node, receiver, billing));
    }
    let billing = paid.as_ref().map(|(_, _, b)| b.clone());
    let mut cfg = RelayConfig::new(a.upstream.clone());
    cfg.manifest_wait = Duration::from_millis(a.manifest_wait_ms);
    cfg.upstream_viewer = a.upstream_viewer.clone();
    let relay = Relay::new(cfg, store, book, billing).map_err(|e| anyhow::anyhow!("{e}"))?;
    let router = match &paid {
        Some((_, receiver, _)) => relay.paid_router(receiver.clone()),
        None => relay.router(),
    };
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            eprintln!("relay HTTP server stopped: {e}");
        }
    });
    println!("playlist: {public}/live/master.m3u8");
    println!("upstream: {}", a.upstream);
    if let Some((node, receiver, _)) = &paid {
        println!(
            "credit mode: {} {} (scale {}) per second, pay via SPSP {public}/.well-known/pay/<viewer id> (ILP {} at node {})",
            a.price_per_second.unwrap_or(0),
            receiver.config().asset_code,
            receiver.config().asset_scale,
            receiver.config().server_address,
            node.local_addr
        );
        let keys = match &a.secret_key {
            Some(k) => {
                Keys::parse(k).context("--secret-key must be a 64-hex or nsec secret key")?
            }
            None => Keys::generate(),
        };
        relay.advertise(
            keys,
            clients.clone(),
            OfferSettings {
                ilp_address: receiver.config().server_address.to_string(),
                spsp: vec![format!("{public}/.well-known/pay")],
                url: Some(public.clone()),
                price_per_gb: None,
                capacity: a.capacity,
                every: Duration::from_secs(60),
            },
        );
    }
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => {
                let m = relay.metrics();
                use std::sync::atomic::Ordering::Relaxed;
                eprintln!(
                    "manifests {} hashes, upstream chunk fetches {}, cache hits {}, refused {}, served {} bytes, 402s {}",
                    relay.manifests().len(),
                    m.upstream_chunk_fetches.load(Relaxed),
                    m.cache_hits.load(Relaxed),
                    m.refused_chunks.load(Relaxed),
                    m.bytes_served.load(Relaxed),
                    m.payment_required.load(Relaxed),
                );
            }
        }
    }
    Ok(())
}

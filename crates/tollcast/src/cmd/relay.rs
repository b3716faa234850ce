//! `tollcast relay`: run a relay agent (CDN edge) for one stream: pull chunks from an origin or
//! a parent relay, verify them against the stream's signed manifests (followed on Nostr), cache
//! and serve LL-HLS; optionally paid — credit mode (money per second over ILP STREAM) and/or
//! ILP-native mode (chunk bytes inside the FULFILLs that pay for them) — with revenue splits
//! forwarded over ILP in batches, and advertised on Nostr. Prints `ready: {json}` once serving.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use nostr::prelude::{Keys, PublicKey};
use tollcast_agents::relay::agent::{RelayAgent, RelayAgentConfig};
use tollcast_events::split::SplitShare;
use tollcast_net::connector::{Node, NodeConfig};

/// Run a relay agent for one stream.
///
/// Example: `tollcast relay --upstream http://127.0.0.1:8080 --stream 30311:<hex pubkey>:live
/// --nostr ws://127.0.0.1:7777`, then play `http://127.0.0.1:8081/live/master.m3u8`.
/// Chain relays by giving another relay's URL as `--upstream`. Add `--price-per-second` and
/// `--node-config` to charge viewers (credit mode): they pay over ILP STREAM via the SPSP
/// endpoint `/.well-known/pay/<viewer id>` and send `Authorization: Bearer <viewer id>`.
/// `--native` adds ILP-native delivery (SPSP at `/.well-known/pay-native/<viewer id>`, chunks
/// requested by hash over STREAM, priced by `--price-per-gb` / `--price-per-part`);
/// `--native-only` stops serving chunks over HTTP. A paid relay also answers SPSP over Nostr
/// (kinds 23194/23195) for the offer's key, crediting the requesting viewer's pubkey. Revenue splits: `--split
/// creator=<spsp>=<weight>` (repeatable) or `--splits-from-event` (the `split` tags of the
/// stream's signed kind-30311 event), plus `--relay-margin-ppm` and `--upstream-pay-to` /
/// `--upstream-ppm`; shares are paid every `--batch-ms` and booked in `--splits-db`.
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
    /// ILP-native mode: serve chunks by hash over STREAM, bytes inside the FULFILLs that pay
    /// for them (needs --node-config and a price).
    #[arg(long)]
    native: bool,
    /// ILP-native only: chunks are not served over HTTP at all (playlists still are).
    #[arg(long)]
    native_only: bool,
    /// ILP-native mode: base units per 10^9 bytes delivered.
    #[arg(long, default_value_t = 0)]
    price_per_gb: u64,
    /// ILP-native mode: base units per chunk delivered (spread over its bytes).
    #[arg(long, default_value_t = 0)]
    price_per_part: u64,
    /// Revenue split payee `role=spsp_url_or_pointer=weight` (role: creator, transcoder,
    /// relay, upstream); repeatable. The rest after margin and upstream share goes by weight.
    #[arg(long = "split")]
    splits: Vec<String>,
    /// Read the split from the `split` tags of the stream's signed kind-30311 live event.
    #[arg(long)]
    splits_from_event: bool,
    /// Splits: this relay's margin, parts per million of viewer revenue (100000 = 10 %).
    #[arg(long, default_value_t = 100_000)]
    relay_margin_ppm: u32,
    /// Splits: SPSP endpoint of the upstream relay, paid `--upstream-ppm` of revenue.
    #[arg(long)]
    upstream_pay_to: Option<String>,
    /// Splits: the upstream relay's share, parts per million of viewer revenue.
    #[arg(long, default_value_t = 0)]
    upstream_ppm: u32,
    /// Splits: pay out owed shares every this many ms.
    #[arg(long, default_value_t = 5000)]
    batch_ms: u64,
    /// Splits: file keeping the books (revenue, shares sent) across restarts.
    #[arg(long, default_value = "tollcast-relay-splits.redb")]
    splits_db: PathBuf,
    /// Honour takedown votes (kind 1985) of this moderator (hex or npub); repeatable. When
    /// `--takedown-threshold` of them vote takedown, every route answers 451 with the reason.
    #[arg(long = "moderator")]
    moderator: Vec<String>,
    /// Takedown votes of trusted moderators needed to stop serving.
    #[arg(long, default_value_t = 2)]
    takedown_threshold: u32,
    /// Credit mode: do not answer SPSP over Nostr (kinds 23194/23195) for the offer's key; by
    /// default viewers may get credentials either way and the offer lists both.
    #[arg(long)]
    no_spsp_nostr: bool,
}

impl Args {
    /// The agent's config (the same one `tollcast node --role relay` reads from `[relay]`).
    fn agent_config(&self) -> RelayAgentConfig {
        let mut c = RelayAgentConfig::new(self.upstream.clone(), self.stream.clone());
        c.upstream_viewer = self.upstream_viewer.clone();
        c.nostr = self.nostr.clone();
        c.signers = self.signers.clone();
        c.listen = self.listen;
        c.store_dir = self.store_dir.clone();
        c.store_mib = self.store_mib;
        c.manifest_wait_ms = self.manifest_wait_ms;
        c.price_per_second = self.price_per_second;
        c.grace_ms = self.grace_ms;
        c.asset_code = Some(self.asset_code.clone());
        c.asset_scale = Some(self.asset_scale);
        c.billing_db = self.billing_db.clone();
        c.secret_key = self.secret_key.clone();
        c.capacity = self.capacity;
        c.public_url = self.public_url.clone();
        c.spsp_nostr = !self.no_spsp_nostr;
        c.native = self.native;
        c.native_only = self.native_only;
        c.price_per_gb = self.price_per_gb;
        c.price_per_part = self.price_per_part;
        c.splits = self.splits.clone();
        c.splits_from_event = self.splits_from_event;
        c.relay_margin_ppm = self.relay_margin_ppm;
        c.upstream_pay_to = self.upstream_pay_to.clone();
        c.upstream_ppm = self.upstream_ppm;
        c.batch_ms = self.batch_ms;
        c.splits_db = self.splits_db.clone();
        c.moderators = self.moderator.clone();
        c.takedown_threshold = self.takedown_threshold;
        c
    }
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    // Mistakes named by their flags; the agent checks the rest.
    a.stream
        .parse::<tollcast_events::StreamAddress>()
        .map_err(|e| anyhow::anyhow!("--stream: {e} (want 30311:<hex pubkey>:<d>)"))?;
    for s in &a.signers {
        PublicKey::parse(s).with_context(|| format!("`{s}` is not a hex or npub public key"))?;
    }
    let native = a.native || a.native_only;
    if a.price_per_second.is_some() && a.node_config.is_none() {
        bail!("credit mode needs both --price-per-second and --node-config (the ILP node paid)");
    }
    if native && a.node_config.is_none() {
        bail!("ILP-native mode (--native) needs --node-config (the ILP node viewers pay)");
    }
    if a.node_config.is_some() && a.price_per_second.is_none() && !native {
        bail!("--node-config is for a paid relay: add --price-per-second and/or --native");
    }
    for s in &a.splits {
        SplitShare::parse_cli(s)
            .map_err(|e| anyhow::anyhow!("--split {s}: {e} (want role=pay_to=weight)"))?;
    }
    let want_splits = !a.splits.is_empty() || a.splits_from_event || a.upstream_pay_to.is_some();
    if want_splits && a.node_config.is_none() {
        bail!("revenue splits are paid from the relay's ILP node: give --node-config");
    }
    if let Some(k) = &a.secret_key {
        Keys::parse(k).context("--secret-key must be a 64-hex or nsec secret key")?;
    }
    let node = match &a.node_config {
        Some(path) => {
            let cfg = NodeConfig::load(path)
                .map_err(|e| anyhow::anyhow!("--node-config {}: {e}", path.display()))?;
            Some(
                Node::start(cfg)
                    .await
                    .map_err(|e| anyhow::anyhow!("starting the ILP node: {e}"))?,
            )
        }
        None => None,
    };
    let agent = RelayAgent::start(a.agent_config(), node.as_ref().map(|n| &n.connector), None)
        .await
        .map_err(|e| anyhow::anyhow!("{e} (see tollcast relay --help)"))?;
    for (k, v) in agent.lines() {
        println!("{k}: {v}");
    }
    let mut ready = agent.ready();
    if let Some(n) = &node {
        println!("node: {} (BTP {})", n.connector.address(), n.btp_url());
        ready["node"] = serde_json::json!({
            "address": n.connector.address().to_string(),
            "btp": n.btp_url(),
        });
    }
    println!("ready: {ready}");
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick() => eprintln!("{}", agent.status_line()),
        }
    }
    Ok(())
}

//! `tollcast moderate`: run a moderator agent (rules, mute lists, takedown votes), paid per
//! stream-hour over STREAM when `--node` gives it an in-process node to receive on.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use nostr::prelude::Keys;
use serde_json::json;
use tollcast_agents::moderator::{ModeratorAgent, ModeratorConfig};
use tollcast_net::connector::{Node, NodeConfig};
use tollcast_net::stream::StreamReceiver;

#[derive(clap::Args)]
#[command(long_about = "Run a moderator agent for one or more streams.\n\n\
It watches the streams' chat (kind 1311) and NIP-56 reports (kind 1984) on --relay, mutes \
rule breakers (banned words, message rate, new accounts) by publishing a NIP-51 mute list \
(kind 10000) and a per-stream block set (kind 30000 `block:<stream>`) that chat relays \
honour, and votes on takedowns (kind 1985 labels) once enough distinct viewers report a \
stream; relays that trust it stop serving when enough trusted moderators agree. An appeal \
(kind 1985 `appeal`) makes it re-review.\n\n\
It charges --price-per-hour (base units per stream-hour) to whoever pays its SPSP receiver \
(`--node` runs an in-process tollcast node for that) and stops moderating while unpaid.\n\n\
Settings come from --config (TOML, the [moderator] table or a bare one) and flags override.\n\
Prints `pubkey:`, `status:`, `spsp:` and a `ready: {json}` line once running.\n\n\
Example: tollcast moderate --relay ws://127.0.0.1:7777/nostr --stream naddr1... \
--banned-word 'buy followers' --key $NSEC")]
pub struct Args {
    /// Moderator config TOML (a `[moderator]` table or its fields at top level).
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Nostr relay to watch and publish to (ws://…). Repeat for several.
    #[arg(long)]
    relay: Vec<String>,
    /// Stream to moderate: naddr1… or 30311:<pubkey hex>:<d>. Repeat for several.
    #[arg(long)]
    stream: Vec<String>,
    /// The agent's secret key (nsec or hex); default: a new key each run.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    key: Option<String>,
    /// A banned word or phrase. Repeat for several.
    #[arg(long)]
    banned_word: Vec<String>,
    /// Report type that counts toward a takedown vote (illegal, nudity, …). Repeat.
    #[arg(long)]
    report_type: Vec<String>,
    /// Distinct reporters needed before it votes takedown.
    #[arg(long)]
    reports_needed: Option<u32>,
    /// Price per stream-hour in base units (0: free).
    #[arg(long)]
    price_per_hour: Option<u64>,
    /// Seconds of free moderation before the first payment.
    #[arg(long)]
    grace_secs: Option<u64>,
    /// Node config (TOML) of an in-process node whose STREAM receiver takes the payments.
    #[arg(long)]
    node: Option<std::path::PathBuf>,
    /// HTTP listen address (`/status`, `/metrics`, `/.well-known/pay`).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

fn load_config(path: &std::path::Path) -> anyhow::Result<ModeratorConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let v: toml::Value =
        toml::from_str(&text).with_context(|| format!("{} is not TOML", path.display()))?;
    let table = v.get("moderator").cloned().unwrap_or(v);
    table
        .try_into()
        .with_context(|| format!("{}: bad [moderator] settings", path.display()))
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let mut cfg = match &a.config {
        Some(p) => load_config(p)?,
        None => ModeratorConfig::default(),
    };
    cfg.relays.extend(a.relay.iter().cloned());
    cfg.streams.extend(a.stream.iter().cloned());
    cfg.rules.banned_words.extend(a.banned_word.iter().cloned());
    if !a.report_type.is_empty() {
        cfg.takedown.report_types = a.report_type.clone();
    }
    if let Some(n) = a.reports_needed {
        cfg.takedown.reports_needed = n;
    }
    if let Some(p) = a.price_per_hour {
        cfg.billing.price_per_hour = p;
    }
    if let Some(g) = a.grace_secs {
        cfg.billing.grace_secs = g;
    }
    let keys = match &a.key {
        Some(k) => Keys::parse(k).context("--key must be an nsec or 64-hex secret key")?,
        None => Keys::generate(),
    };
    let mut node = None;
    let receiver = match &a.node {
        Some(p) => {
            let ncfg = NodeConfig::load(p).with_context(|| format!("{}", p.display()))?;
            let n = Node::start(ncfg).await.context("starting the node")?;
            let rx = StreamReceiver::attach(
                &n.connector,
                "moderation",
                &cfg.billing.asset_code,
                cfg.billing.asset_scale,
                None,
            )
            .map_err(|e| anyhow::anyhow!("receiver address: {e}"))?;
            node = Some(n);
            Some(rx)
        }
        None if cfg.billing.price_per_hour > 0 => bail!(
            "--price-per-hour needs --node <node.toml>: the agent receives its pay on that node"
        ),
        None => None,
    };
    let agent = ModeratorAgent::start(cfg, keys, receiver.clone()).await?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let base = format!("http://{addr}");
    let pubkey = agent.pubkey().to_hex();
    println!("pubkey: {pubkey}");
    println!("status: {base}/status");
    println!("metrics: {base}/metrics");
    let spsp = receiver.as_ref().map(|_| format!("{base}/.well-known/pay"));
    if let Some(s) = &spsp {
        println!("spsp: {s}");
    }
    println!(
        "ready: {}",
        json!({"pubkey": pubkey, "url": base, "status": format!("{base}/status"),
               "metrics": format!("{base}/metrics"), "spsp": spsp,
               "btp": node.as_ref().map(|n| n.btp_url()),
               "node_http": node.as_ref().map(|n| format!("http://{}", n.local_addr))})
    );
    let app = agent.router();
    tokio::select! {
        r = tollcast_net::http_serve::serve(listener, app) => r.context("moderator HTTP server")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(agent);
    drop(node);
    Ok(())
}

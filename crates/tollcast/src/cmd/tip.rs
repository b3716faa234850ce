//! `tollcast tip`: tip a stream's creator over STREAM and get a signed receipt (kind 9737);
//! `tollcast tip serve`: run a creator's receiving agent on an in-process tollcast node.

use std::time::Duration;

use anyhow::{Context, bail};
use nostr::prelude::{Keys, PublicKey};
use serde_json::json;
use tollcast_agents::chat::resolve;
use tollcast_agents::tips::{TipService, TipServiceConfig, tip};
use tollcast_agents::viewer::wallet::{Wallet, WalletConfig};
use tollcast_events::tip::tip_endpoints;
use tollcast_net::connector::{Node, NodeConfig};

#[derive(clap::Args)]
#[command(
    long_about = "Tip a stream's creator: a STREAM payment from your account at a \
tollcast node to the creator's receiving agent (named by the live event's `tip` tag), which \
signs a tip receipt (kind 9737: payer, amount, message, stream, RFC 0039 STREAM receipt) and \
publishes it to the stream's relay. Prints {receipt_id, requested, delivered, shortfall, sent}.\n\n\
`tollcast tip serve` runs a receiving agent for a creator on an in-process node.\n\n\
Example: tollcast tip --relay ws://127.0.0.1:7777/nostr --stream naddr1... \
--node btp+ws://:TOKEN@127.0.0.1:7768 --key $NSEC --amount 1000 --message 'great show'"
)]
pub struct Args {
    #[command(subcommand)]
    serve: Option<Serve>,
    /// The stream's Nostr relay (ws://…).
    #[arg(long)]
    relay: Option<String>,
    /// The stream: naddr1… or 30311:<pubkey hex>:<d>.
    #[arg(long)]
    stream: Option<String>,
    /// Your secret key (nsec or hex).
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Your account at a tollcast node: btp+ws://:TOKEN@HOST:PORT.
    #[arg(long, env = "TOLLCAST_NODE")]
    node: Option<String>,
    /// What the creator should receive, in base units of the receiver's asset.
    #[arg(long)]
    amount: Option<u64>,
    /// Asset code (yours and the receiver's).
    #[arg(long, default_value = "USD")]
    asset_code: String,
    /// Asset scale.
    #[arg(long, default_value_t = 6)]
    asset_scale: u8,
    /// The tip message.
    #[arg(long, default_value = "")]
    message: String,
}

#[derive(clap::Subcommand)]
enum Serve {
    /// Run a receiving agent: an in-process node (`--config node.toml`) with a STREAM receiver
    /// at `<node>.tips` and the tip HTTP routes on `--listen`. Prints `tip: <url>`,
    /// `agent: <pubkey>` and a `ready: {json}` line.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Node config (TOML) of the in-process node that receives the money.
    #[arg(long)]
    config: std::path::PathBuf,
    /// The agent's secret key (signs receipts).
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    key: String,
    /// The creator whose tips this agent receives (npub or hex).
    #[arg(long)]
    creator: String,
    /// Relays the receipts are published to (ws://…). Repeat for several.
    #[arg(long)]
    publish_relay: Vec<String>,
    /// HTTP listen address of the tip routes.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Asset the receiver counts in.
    #[arg(long, default_value = "USD")]
    asset_code: String,
    #[arg(long, default_value_t = 6)]
    asset_scale: u8,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    if let Some(Serve::Serve(s)) = a.serve {
        return serve(s).await;
    }
    let need = |v: &Option<String>, flag: &str| -> anyhow::Result<String> {
        v.clone()
            .with_context(|| format!("{flag} is required (see tollcast tip --help)"))
    };
    let relay = need(&a.relay, "--relay")?;
    let stream = super::chat::parse_stream(&need(&a.stream, "--stream")?)?;
    let keys = Keys::parse(&need(&a.key, "--key")?).context("--key must be an nsec or hex key")?;
    let node = need(&a.node, "--node")?;
    let Some(amount) = a.amount.filter(|x| *x > 0) else {
        bail!("--amount must be more than 0");
    };
    let t = Duration::from_secs(10);
    let target = resolve(&relay, &stream, t).await?;
    let Some((endpoint, agent)) = tip_endpoints(&target.live).into_iter().next() else {
        bail!(
            "the stream's live event names no tip endpoint (`tip` tag): this creator takes no tips"
        );
    };
    let tmp = tempfile::tempdir()?;
    let wallet = Wallet::connect(
        &WalletConfig {
            node,
            token: None,
            asset_code: a.asset_code.clone(),
            asset_scale: a.asset_scale,
            account: None,
        },
        &tmp.path().join("tip-wallet.redb"),
        t,
    )
    .await?;
    let out = tip(
        &keys,
        wallet.service(),
        &endpoint,
        agent,
        &stream,
        amount,
        (&a.asset_code, a.asset_scale),
        &a.message,
        vec![relay],
    )
    .await?;
    println!(
        "{}",
        json!({"receipt_id": out.receipt.id.to_hex(), "requested": out.requested,
               "delivered": out.delivered, "shortfall": out.shortfall(), "sent": out.sent})
    );
    if out.shortfall() > 0 {
        tracing::warn!(
            "the creator received {} of the {} asked for (the path's rate or fees moved, or the \
             payment stopped early): the receipt states what arrived",
            out.delivered,
            out.requested
        );
    }
    Ok(())
}

async fn serve(a: ServeArgs) -> anyhow::Result<()> {
    let keys = Keys::parse(&a.key).context("--key must be an nsec or hex key")?;
    let creator = PublicKey::parse(&a.creator).context("--creator must be an npub or hex key")?;
    let cfg = NodeConfig::load(&a.config).with_context(|| format!("{}", a.config.display()))?;
    let node = Node::start(cfg).await.context("starting the node")?;
    let mut tc = TipServiceConfig::new(a.asset_code, a.asset_scale);
    tc.publish_relays = a.publish_relay;
    let svc = TipService::attach(&node.connector, keys, creator, tc)?;
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let url = format!("http://{addr}");
    println!("tip: {url}");
    println!("agent: {}", svc.pubkey().to_hex());
    println!("btp: {}", node.btp_url());
    println!(
        "ready: {}",
        json!({"tip": url, "agent": svc.pubkey().to_hex(), "btp": node.btp_url(),
               "tag": ["tip", url, svc.pubkey().to_hex()]})
    );
    let app = svc.router();
    tokio::select! {
        r = tollcast_net::http_serve::serve(listener, app) => r.context("tip server")?,
        _ = tokio::signal::ctrl_c() => {}
    }
    drop(node);
    Ok(())
}

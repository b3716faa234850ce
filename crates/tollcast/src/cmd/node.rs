//! `tollcast node`: run an ILP connector node (BTP peering, routing, fees, rates, ledger,
//! IL-DCP, /metrics and /accounts) from a TOML config.

use std::path::PathBuf;

use anyhow::Context;
use tollcast_net::connector::{Node, NodeConfig};

#[derive(clap::Args)]
#[command(long_about = "Run an Interledger connector node.\n\n\
The config (TOML) names the node, its listen address (BTP WebSocket at /, Prometheus text at \
/metrics, balances as JSON at /accounts), its durable ledger file, its accounts (peers it dials \
with btp_url, peers that dial it with auth_token), routes, fees and exchange rates. See \
examples/node-*.toml for commented configs.\n\n\
On start the node rolls back every packet left in flight by a crash, so balances survive kill -9.")]
pub struct Args {
    /// Path of the node's TOML config.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Override the listen address from the config (e.g. 127.0.0.1:0).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let mut cfg = NodeConfig::load(&args.config)
        .with_context(|| "fix the config (see examples/node-alice.toml for a commented example)")?;
    if let Some(l) = args.listen {
        cfg.node.listen = l;
    }
    let node = Node::start(cfg).await?;
    // One machine-readable line so scripts and tests can find the port.
    println!(
        "tollcast node {} listening on {} (BTP ws://{0}/, metrics http://{0}/metrics)",
        node.connector.address().as_str(),
        node.local_addr
    );
    println!("LISTENING {}", node.local_addr);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

//! `tollcast node`: run a whole tollcast node from a TOML config: the ILP connector (BTP
//! peering, routing, fees, rates, ledger, IL-DCP, /metrics and /accounts), the Nostr relay
//! (WebSocket at /nostr, pay-to-write over ILP) and the STREAM receiver with SPSP
//! (/.well-known/pay). The assembly lives in `tollcast_net::node_services`.

use std::path::PathBuf;

use anyhow::Context;
use tollcast_net::connector::NodeConfig;
use tollcast_net::node_services::NodeServices;

#[derive(clap::Args)]
#[command(
    long_about = "Run a tollcast node: Interledger connector, Nostr relay and SPSP receiver.\n\n\
Everything is served on the node's one HTTP port (the config's listen address):\n  \
/                  BTP WebSocket (peers and local clients)\n  \
/nostr             Nostr relay WebSocket; NIP-11 with Accept: application/nostr+json\n  \
/.well-known/pay   SPSP endpoint of the node's STREAM receiver (<node address>.pay)\n  \
/metrics           Prometheus text (connector, relay, receiver)\n  \
/accounts          balances as JSON\n\n\
Paid Nostr writes arrive over ILP at <node address>.nostr (see `tollcast event publish`). \
The config (TOML) names the node, its durable ledger file, its accounts (peers it dials with \
btp_url, peers that dial it with auth_token), routes, fees and exchange rates; optional \
[nostr] (event store, prices, write policy) and [spsp] (receiver asset, secret, SPSP over \
Nostr) sections tune or disable (enabled = false) the services. See examples/node-*.toml.\n\n\
On start it prints `NOSTR <ws url> <ILP address>` and `SPSP <url>` for the \
enabled services, then `LISTENING <addr>` once all is ready. \
The node rolls back every packet left in flight by a crash, so balances \
survive kill -9."
)]
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
    let svc = NodeServices::start(cfg).await?;
    let node = &svc.node;
    let mut out = format!(
        "tollcast node {} listening on {} (BTP ws://{1}/, metrics http://{1}/metrics)\n",
        node.connector.address().as_str(),
        node.local_addr
    );
    // Machine-readable lines so scripts and tests can find the services. LISTENING comes
    // last: once it is printed everything is ready, and a reader may stop reading there.
    if let Some(r) = &svc.relay {
        out.push_str(&format!("NOSTR {} {}\n", r.url, r.ilp_address.as_str()));
    }
    if let Some(s) = &svc.spsp {
        match &s.nostr_pubkey {
            Some(pk) => out.push_str(&format!("SPSP {} {}\n", s.url, pk.to_hex())),
            None => out.push_str(&format!("SPSP {}\n", s.url)),
        }
    }
    out.push_str(&format!("LISTENING {}\n", node.local_addr));
    // A closed stdout (the reader went away) must not stop the node.
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}

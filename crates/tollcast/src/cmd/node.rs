//! `tollcast node`: run a whole tollcast node from a TOML config: the ILP connector (BTP
//! peering, routing, fees, rates, ledger, IL-DCP, /metrics and /accounts), the Nostr relay
//! (WebSocket at /nostr, pay-to-write over ILP) and the STREAM receiver with SPSP
//! (/.well-known/pay). The assembly lives in `tollcast_net::node_services`.
//!
//! With `--role relay|transcoder|moderator|recorder|verifier` the node also runs that role's
//! agent with the options of the config's `[relay]` / `[transcoder]` / ... section ([`roles`]).

mod roles;

use std::path::PathBuf;

use anyhow::Context;
use tollcast_net::node_services::NodeServices;

pub use roles::Role;

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
enabled services, a `ready: {json}` line, then `LISTENING <addr>` once all is ready. \
The node rolls back every packet left in flight by a crash, so balances \
survive kill -9.\n\n\
Operators: `--role relay|transcoder|moderator|recorder|verifier` runs that agent beside the \
node with the options of the config's section of the same name (`[relay]`, `[transcoder]`, \
`[moderator]`, `[recorder]`, `[verifier]`); see examples/node-relay.toml and \
examples/node-*.toml. The relay and verifier run in this process on the node's ILP connector \
and Nostr relay. [recorder] holds the long flags of `tollcast record`; [transcoder] and \
[moderator] hold the agent's config keys plus the command's flags (transcoder: nostr, \
secret_key, listen; moderator: key, listen); those commands run in this process, a paid one \
with this node's config as its node."
)]
pub struct Args {
    /// Path of the node's TOML config.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Override the listen address from the config (e.g. 127.0.0.1:0).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Also run this agent, configured by the config's section of the same name.
    #[arg(long, value_enum)]
    pub role: Option<Role>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let (mut cfg, sections) = roles::load(&args.config)
        .with_context(|| "fix the config (see examples/node-alice.toml for a commented example)")?;
    if let Some(l) = args.listen {
        cfg.node.listen = l;
    }
    if args.role.is_none()
        && let Some(name) = sections.keys().next()
    {
        eprintln!(
            "note: the config has a [{name}] section; run with --role {name} to start that agent"
        );
    }
    // Roles that run a command which starts the node itself (its --node-config).
    if let Some(role) = args.role
        && role.runs_own_node()
    {
        return roles::run_command_role(role, &cfg, &sections).await;
    }
    let svc = NodeServices::start(cfg.clone()).await?;
    // Paid chat: chat and reactions to streams announced on this relay follow the creator's
    // rules (price per message, slow mode, subscribers, mute lists); other writes unchanged.
    if let Some(r) = &svc.relay {
        let gate = tollcast_agents::chat::ChatGate::new(&r.relay, r.ilp_address.clone());
        svc.node
            .connector
            .add_local_handler(r.ilp_address.as_str(), std::sync::Arc::new(gate));
    }
    let agent = match args.role {
        Some(role) => Some(roles::start_in_process(role, &cfg, &svc, &sections).await?),
        None => None,
    };
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
    let mut ready = serde_json::json!({
        "node": node.local_addr.to_string(),
        "ilp_address": node.connector.address().as_str(),
        "nostr": svc.relay.as_ref().map(|r| r.url.clone()),
        "spsp": svc.spsp.as_ref().map(|s| s.url.clone()),
    });
    if let Some(a) = &agent {
        for (k, v) in &a.lines {
            out.push_str(&format!("{k}: {v}\n"));
        }
        ready["role"] = serde_json::json!(a.role);
        ready[a.role.as_str()] = a.ready.clone();
    }
    out.push_str(&format!("ready: {ready}\n"));
    out.push_str(&format!("LISTENING {}\n", node.local_addr));
    // A closed stdout (the reader went away) must not stop the node.
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    drop(stdout);
    match agent {
        Some(mut a) => a.run_until_ctrl_c().await,
        None => {
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            Ok(())
        }
    }
}

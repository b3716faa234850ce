//! `tollcast pay`: resolve a payee (SPSP over HTTP, or SPSP over Nostr for an npub), open a
//! STREAM connection through a tollcast node and send an amount; prints what arrived.
//!
//! How the CLI reaches the network: it starts a small in-process node whose only account is
//! the node given with `--node` (relation parent, dialed over BTP with the account's token),
//! and sends from its own funds through it. At the node, the packets are booked on that
//! account, so the node's operator gives the account a `credit_limit` (or prepaid balance).

use std::time::Duration;

use anyhow::{Context, bail};
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::stream::spsp_http;
use tollcast_net::stream::spsp_nostr;
use tollcast_net::stream::{SenderConfig, SpspDetails, StreamSender};

#[derive(clap::Args)]
#[command(
    long_about = "Send a STREAM payment (RFC 0029) and print what arrived.\n\n\
The payee is an SPSP endpoint (http://host:port/path, or $host/path) or a Nostr public key \
(npub1... or hex), asked over --relay with an encrypted SPSP request (kinds 23194/23195, NIP-44).\n\n\
The payment goes through the tollcast node given with --node, as the account whose BTP token \
is in the URL: btp+ws://:TOKEN@HOST:PORT. Amounts are in base units of that account's asset.\n\n\
Example: tollcast pay --node btp+ws://:s3cret@127.0.0.1:7768 --to http://127.0.0.1:8080/.well-known/pay --amount 1000"
)]
pub struct Args {
    /// Payee: SPSP URL (http://...), payment pointer ($host/path), or npub/hex public key.
    #[arg(long)]
    pub to: String,
    /// Amount to send, in base units of your account's asset at the node.
    #[arg(long)]
    pub amount: u64,
    /// Your account at a tollcast node: btp+ws://:TOKEN@HOST:PORT (or ws://HOST:PORT with --token).
    #[arg(long, env = "TOLLCAST_NODE")]
    pub node: String,
    /// BTP auth token, if not in the --node URL.
    #[arg(long, env = "TOLLCAST_NODE_TOKEN")]
    pub token: Option<String>,
    /// Asset code of your account at the node.
    #[arg(long, default_value = "USD")]
    pub asset_code: String,
    /// Asset scale of your account at the node.
    #[arg(long, default_value_t = 9)]
    pub asset_scale: u8,
    /// Nostr relay to reach an npub payee on (ws://... or wss://...).
    #[arg(long)]
    pub relay: Option<String>,
    /// Your Nostr secret key (nsec or hex) for SPSP over Nostr; default: a one-time key.
    #[arg(long, env = "TOLLCAST_NSEC", hide_env_values = true)]
    pub nsec: Option<String>,
    /// Largest amount per ILP packet (default: whatever the path allows).
    #[arg(long)]
    pub max_packet: Option<u64>,
    /// Accepted exchange-rate slippage below the probed rate, in percent.
    #[arg(long, default_value_t = 1.0)]
    pub slippage: f64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn is_pubkey(s: &str) -> bool {
    s.starts_with("npub1") || (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn resolve(args: &Args, timeout: Duration) -> anyhow::Result<SpspDetails> {
    if is_pubkey(&args.to) {
        let payee = spsp_nostr::parse_pubkey(&args.to).context("--to: not a valid npub")?;
        let Some(relay_url) = &args.relay else {
            bail!("--to is a Nostr key: also give --relay ws://... where the payee listens");
        };
        let keys = match &args.nsec {
            Some(k) => nostr::prelude::Keys::parse(k)
                .context("--nsec: not a valid nsec or hex secret key")?,
            None => nostr::prelude::Keys::generate(),
        };
        let relay = RelayClient::connect(relay_url, ClientOptions::default()).context("--relay")?;
        return spsp_nostr::query(&relay, &keys, &payee, timeout)
            .await
            .context("SPSP over Nostr failed");
    }
    spsp_http::query(&args.to, timeout)
        .await
        .context("SPSP query failed")
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    if args.amount == 0 {
        bail!("--amount must be at least 1");
    }
    if !(0.0..=100.0).contains(&args.slippage) {
        bail!("--slippage is a percentage between 0 and 100");
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    let details = resolve(&args, timeout).await?;

    // A throwaway in-process node whose parent is the user's node.
    let dir = std::env::temp_dir().join(format!("tollcast-pay-{}", hex::encode(rand_bytes())));
    std::fs::create_dir_all(&dir).context("creating a temporary directory")?;
    let result = pay_through_node(&args, &details, &dir, timeout).await;
    let _ = std::fs::remove_dir_all(&dir);
    let (receipt, asset) = result?;

    let (dcode, dscale) = asset.unwrap_or_else(|| ("?".into(), 0));
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "destination_account": details.destination_account.as_str(),
                "sent": receipt.sent,
                "delivered": receipt.delivered,
                "packets": receipt.packets,
                "destination_asset": { "code": dcode, "scale": dscale },
            })
        );
    } else {
        println!(
            "sent {} (your base units) -> delivered {} {} (scale {}) to {} in {} packet(s)",
            receipt.sent,
            receipt.delivered,
            dcode,
            dscale,
            details.destination_account.as_str(),
            receipt.packets
        );
    }
    Ok(())
}

fn rand_bytes() -> [u8; 8] {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut b = [0u8; 8];
    b.copy_from_slice(&(t.as_nanos() as u64 ^ std::process::id() as u64).to_be_bytes());
    b
}

type PayOutcome = (tollcast_net::stream::SendReceipt, Option<(String, u8)>);

async fn pay_through_node(
    args: &Args,
    details: &SpspDetails,
    dir: &std::path::Path,
    timeout: Duration,
) -> anyhow::Result<PayOutcome> {
    let ledger = dir.join("ledger.redb");
    let token_line = match &args.token {
        Some(t) => format!("auth_token = {}\n", toml_str(t)),
        None => String::new(),
    };
    let text = format!(
        "[node]\nname = \"pay-cli\"\naddress = \"private.tollcast.pay-cli\"\nlisten = \"127.0.0.1:0\"\nledger = {}\n\n\
         [[accounts]]\nid = \"upstream\"\nrelation = \"parent\"\nasset_code = {}\nasset_scale = {}\nbtp_url = {}\n{token_line}",
        toml_str(&ledger.display().to_string()),
        toml_str(&args.asset_code),
        args.asset_scale,
        toml_str(&args.node),
    );
    let cfg =
        NodeConfig::from_toml(&text, "--node").context("--node: give btp+ws://:TOKEN@HOST:PORT")?;
    let node = Node::start(cfg).await.context("starting the local node")?;
    let upstream = AccountId::new("upstream");
    if !node.connector.wait_connected(&upstream, timeout).await {
        bail!(
            "could not connect to the node at {} (check the URL and the token)",
            args.node
        );
    }
    let mut cfg = SenderConfig::new(details.destination_account.clone(), details.shared_secret);
    cfg.source_asset = Some((args.asset_code.clone(), args.asset_scale));
    cfg.slippage_ppm = (args.slippage * 10_000.0).round() as u32;
    let work = async {
        let mut s = StreamSender::connect(node.connector.sender(AccountId::local()), cfg)
            .await
            .context("opening the STREAM connection")?;
        if let Some(m) = args.max_packet {
            s.set_max_packet_amount(m);
        }
        let sent = s.send(args.amount).await;
        let asset = s.remote_asset().cloned();
        let totals = s.totals();
        let _ = s.close().await;
        match sent {
            Ok(r) => Ok((r, asset)),
            Err(e) => Err(anyhow::anyhow!(
                "payment stopped after sending {} and delivering {}: {e}",
                totals.sent,
                totals.delivered
            )),
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("payment did not finish within {timeout:?}")))
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

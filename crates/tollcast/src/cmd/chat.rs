//! `tollcast chat send|read`: paid live chat (NIP-53 kind 1311) from the command line.

use std::time::Duration;

use anyhow::{Context, bail};
use nostr::prelude::{Filter, Keys, Kind, SingleLetterTag};
use serde_json::json;
use tollcast_agents::chat::{ChatClient, resolve};
use tollcast_agents::viewer::wallet::{Wallet, WalletConfig};
use tollcast_events::StreamAddress;
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::{PoolItem, RelayPool};
use tollcast_wire::address::Address;

#[derive(clap::Args)]
#[command(long_about = "Paid live chat for a stream (NIP-53 kind 1311).\n\n\
`send` signs a message with your key and writes it to the stream's relay with an ILP payment \
(pay-to-write) from your account at a tollcast node; the price is the creator's `chat_price` \
from the live event (the creator and its moderators chat free). `read` prints the stream's \
chat, reactions and tip receipts as JSON lines.\n\n\
Example: tollcast chat send --relay ws://127.0.0.1:7777/nostr --stream naddr1... \
--node btp+ws://:TOKEN@127.0.0.1:7768 --key $NSEC 'hello'")]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Subcommand)]
enum Cmd {
    /// Sign and pay-to-write one chat message; prints {id, paid}.
    Send(SendArgs),
    /// Print the stream's chat (1311), reactions (7) and tip receipts (9737) as JSON lines.
    Read(ReadArgs),
}

#[derive(clap::Args)]
struct SendArgs {
    /// The stream's Nostr relay (ws://…), where its live event is and chat goes.
    #[arg(long)]
    relay: String,
    /// The stream: naddr1… or 30311:<pubkey hex>:<d>.
    #[arg(long)]
    stream: String,
    /// Your secret key (nsec or hex).
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    key: String,
    /// Your account at a tollcast node: btp+ws://:TOKEN@HOST:PORT.
    #[arg(long, env = "TOLLCAST_NODE")]
    node: String,
    /// Asset code of that account.
    #[arg(long, default_value = "USD")]
    asset_code: String,
    /// Asset scale of that account.
    #[arg(long, default_value_t = 6)]
    asset_scale: u8,
    /// Pay this much instead of the stream's price (base units).
    #[arg(long)]
    amount: Option<u64>,
    /// Pay-to-write ILP address of the relay (default: from its NIP-11 document).
    #[arg(long)]
    relay_ilp: Option<String>,
    /// Where the local wallet node keeps its ledger (default: a temp dir).
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
    /// The message.
    message: String,
}

#[derive(clap::Args)]
struct ReadArgs {
    /// The stream's Nostr relay (ws://…). Repeat for several.
    #[arg(long, required = true)]
    relay: Vec<String>,
    /// The stream: naddr1… or 30311:<pubkey hex>:<d>.
    #[arg(long)]
    stream: String,
    /// Keep printing new messages as they arrive.
    #[arg(long)]
    follow: bool,
    /// Seconds to wait for stored messages.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

pub fn parse_stream(s: &str) -> anyhow::Result<StreamAddress> {
    tollcast_agents::moderator::agent::parse_stream(s)
        .map_err(|e| anyhow::anyhow!("{e}: give naddr1… or 30311:<pubkey hex>:<d>"))
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    match a.cmd {
        Cmd::Send(s) => send(s).await,
        Cmd::Read(r) => read(r).await,
    }
}

async fn send(a: SendArgs) -> anyhow::Result<()> {
    let stream = parse_stream(&a.stream)?;
    let keys = Keys::parse(&a.key).context("--key must be an nsec or 64-hex secret key")?;
    let t = Duration::from_secs(10);
    let target = resolve(&a.relay, &stream, t).await?;
    let relay_ilp = match (&a.relay_ilp, &target.relay_ilp) {
        (Some(x), _) => Address::new(x).context("--relay-ilp is not an ILP address")?,
        (None, Some(x)) => x.clone(),
        (None, None) => bail!(
            "the relay {} advertises no pay-to-write address; give --relay-ilp",
            a.relay
        ),
    };
    let tmp = tempfile::tempdir()?;
    let dir = a
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let wallet = Wallet::connect(
        &WalletConfig {
            node: a.node.clone(),
            token: None,
            asset_code: a.asset_code.clone(),
            asset_scale: a.asset_scale,
            account: None,
        },
        &dir.join("chat-wallet.redb"),
        t,
    )
    .await?;
    let mut client = ChatClient::new(keys, wallet.service(), relay_ilp, stream)
        .with_settings(&target.settings)
        .with_relay_hint(a.relay.clone());
    if let Some(pb) = target.per_byte {
        client = client.with_per_byte(pb);
    }
    if let Some(x) = a.amount {
        client = client.with_price(x);
    }
    match client.send(&a.message).await {
        Ok(s) => {
            println!("{}", json!({"id": s.event.id.to_hex(), "paid": s.paid}));
            Ok(())
        }
        Err(e) => bail!("{e}"),
    }
}

async fn read(a: ReadArgs) -> anyhow::Result<()> {
    let stream = parse_stream(&a.stream)?;
    let pool = RelayPool::new(&a.relay, ClientOptions::default())?;
    let f = Filter::new()
        .kinds([
            Kind::from(tollcast_events::chat::KIND_LIVE_CHAT),
            Kind::from(tollcast_events::reaction::KIND_REACTION),
            Kind::from(tollcast_events::tip::KIND_TIP_RECEIPT),
        ])
        .custom_tag(SingleLetterTag::LOWERCASE_A, stream.to_string());
    let mut sub = pool.subscribe(vec![f]).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(a.timeout);
    loop {
        let item = if a.follow {
            sub.recv().await
        } else {
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(i) => i,
                Err(_) => bail!(
                    "relays did not finish sending stored messages in {} s",
                    a.timeout
                ),
            }
        };
        match item {
            Some(PoolItem::Event { event, .. }) => println!("{}", serde_json::to_string(&event)?),
            Some(PoolItem::AllEose) if !a.follow => return Ok(()),
            Some(_) => {}
            None => return Ok(()),
        }
    }
}

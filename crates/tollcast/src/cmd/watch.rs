//! `tollcast watch`: run the viewer agent for one stream: find it and its relays on Nostr,
//! pay the best relay per second from your wallet (an account at a tollcast node, dialed over
//! BTP like `tollcast pay`), and serve a local player URL where every part is verified before
//! it plays; switches relays on failure. Prints the endpoints and a `ready: {json}` line on
//! stdout, then a status line (state, relay, latency, balance) every few seconds on stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use nostr::prelude::{Keys, ToBech32};
use tollcast_agents::viewer::wallet::{Wallet, WalletConfig};
use tollcast_agents::viewer::{Viewer, ViewerConfig};

#[derive(clap::Args)]
#[command(long_about = "Watch a live stream through a paid relay, verified.\n\n\
The stream is an naddr1... (NIP-19 address of its kind-30311 live event), an npub1.../hex key \
(that author's newest live stream) or 30311:<hex pubkey>:<d>. The viewer looks for the stream \
and its relay offers (kind 31312) on the --nostr relays (and the relay hints), ranks relays by \
price, measured round-trip time and whether you follow their operator, pays the chosen relay \
per second over Interledger STREAM from your wallet account at the --node, and serves the \
player at http://<listen>/ (LL-HLS at /live/master.m3u8, status at /api/status). Every part \
is checked against its SHA-256 name and the creator's signed manifest before it plays. A relay \
that dies, stalls, cheats or overcharges is dropped for the next one without losing a part.\n\n\
Example: tollcast watch naddr1... --nostr ws://127.0.0.1:7768/nostr \
--node btp+ws://:s3cret@127.0.0.1:7768 --wallet-account alice")]
pub struct Args {
    /// What to watch: naddr1..., npub1... (or hex key), or 30311:<hex pubkey>:<d>.
    pub stream: String,
    /// Nostr relay to look on (ws:// or wss://); repeatable. naddr relay hints are added.
    #[arg(long = "nostr")]
    pub nostr: Vec<String>,
    /// Your wallet: btp+ws://:TOKEN@HOST:PORT of your account at a tollcast node.
    #[arg(long, env = "TOLLCAST_NODE")]
    pub node: String,
    /// BTP auth token, if not in the --node URL.
    #[arg(long, env = "TOLLCAST_NODE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Your account's id at the node (to show its balance from the node's /accounts);
    /// default: the user part of the --node URL (btp+ws://alice:TOKEN@...), if any.
    #[arg(long)]
    pub wallet_account: Option<String>,
    /// Asset code of your account at the node.
    #[arg(long, default_value = "USD")]
    pub asset_code: String,
    /// Asset scale of your account at the node.
    #[arg(long, default_value_t = 6)]
    pub asset_scale: u8,
    /// Where to serve the player (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Your Nostr secret key (nsec or hex): your viewer id and follow list. Default: a fresh key.
    #[arg(long, env = "TOLLCAST_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Never pay a relay more than this many base units per second.
    #[arg(long)]
    pub max_price_per_second: Option<u64>,
    /// A relay silent this long (ms) is stalled and dropped.
    #[arg(long, default_value_t = 3000)]
    pub stall_ms: u64,
    /// Paid time is kept this far ahead (ms): the most a failing relay can cost you.
    #[arg(long, default_value_t = 2000)]
    pub pay_ahead_ms: u64,
    /// Directory for the verified-part cache and the local node's ledger (default: a fresh
    /// temporary directory, removed on exit).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seconds between status lines on stderr (0: none).
    #[arg(long, default_value_t = 5)]
    pub status_every: u64,
    /// How to get STREAM credentials from the relay: auto (SPSP over Nostr when its offer
    /// names a key for it, else or on no answer within 3 s over HTTP), http or nostr.
    #[arg(long, default_value = "auto")]
    pub spsp: tollcast_agents::viewer::payer::SpspMethod,
}

/// The pages (`/` viewer page, `/dashboard`, `/web/*`), merged beside the viewer's routes
/// (they share no path).
fn pages() -> axum::Router {
    crate::web::web_router()
}

fn units(amount: i128, scale: u8) -> String {
    crate::cmd::balance::units(amount, scale)
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    let keys = match &a.secret_key {
        Some(k) => Keys::parse(k).context("--secret-key must be an nsec or 64-hex secret key")?,
        None => Keys::generate(),
    };
    // Fail early on a bad target, before dialing anything.
    tollcast_agents::viewer::discovery::Target::parse(&a.stream)?;
    if a.nostr.is_empty() && !a.stream.starts_with("naddr1") {
        anyhow::bail!("give --nostr ws://... (where the stream and its relays are announced)");
    }
    let (dir, _tmp) = match &a.data_dir {
        Some(d) => {
            std::fs::create_dir_all(d)
                .with_context(|| format!("creating --data-dir {}", d.display()))?;
            (d.clone(), None)
        }
        None => {
            let t = tempdir()?;
            (t.0.clone(), Some(t))
        }
    };
    let listener = tokio::net::TcpListener::bind(a.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (in use? try --listen 127.0.0.1:0)",
                a.listen
            )
        })?;
    let local = listener.local_addr()?;

    let wallet = Wallet::connect(
        &WalletConfig {
            node: a.node.clone(),
            token: a.token.clone(),
            asset_code: a.asset_code.clone(),
            asset_scale: a.asset_scale,
            account: a.wallet_account.clone(),
        },
        &dir.join("wallet-node.redb"),
        Duration::from_secs(10),
    )
    .await?;
    let cfg = ViewerConfig {
        nostr: a.nostr.clone(),
        max_price_per_second: a.max_price_per_second,
        stall_ms: a.stall_ms,
        pay_ahead_ms: a.pay_ahead_ms,
        spsp: a.spsp,
        ..ViewerConfig::default()
    };
    let viewer = Viewer::start(
        cfg,
        keys.clone(),
        &a.stream,
        Arc::new(wallet),
        &dir.join("cache"),
    )
    .await?;

    let app = viewer.router().merge(pages());
    tokio::spawn(async move {
        if let Err(e) = tollcast_net::http_serve::serve(listener, app).await {
            eprintln!("viewer HTTP server stopped: {e}");
        }
    });

    let base = format!("http://{local}");
    let s = viewer.status();
    println!("player: {base}/");
    println!("playlist: {base}/live/master.m3u8");
    println!("status: {base}/api/status");
    println!(
        "stream: {} ({})",
        s.stream.address,
        s.stream.title.clone().unwrap_or_default()
    );
    println!("naddr: {}", s.stream.naddr);
    println!(
        "viewer: {}",
        keys.public_key().to_bech32().unwrap_or_default()
    );
    println!(
        "wallet: {}",
        a.node.split('@').next_back().unwrap_or(&a.node)
    );
    match &s.relay {
        Some(r) => println!(
            "relay: {} ({} {} scale {} per second)",
            r.url, r.price_per_second, s.stream.asset_code, s.stream.asset_scale
        ),
        None => println!("relay: none ({})", s.message.clone().unwrap_or_default()),
    }
    println!(
        "ready: {}",
        serde_json::json!({
            "player": format!("{base}/"),
            "playlist": format!("{base}/live/master.m3u8"),
            "status": format!("{base}/api/status"),
            "listen": local.to_string(),
            "stream": s.stream.address,
            "naddr": s.stream.naddr,
            "viewer_pubkey": s.viewer.pubkey,
            "npub": s.viewer.npub,
            "relay": s.relay,
            "state": s.state,
        })
    );

    let every = Duration::from_secs(a.status_every.max(1));
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tick.tick(), if a.status_every > 0 => {
                let s = viewer.status();
                eprintln!(
                    "{} | relay {} | latency {} | balance {} {} | spent {} | parts {} ok {} refused{}",
                    s.state.as_str(),
                    s.relay.as_ref().map(|r| format!("{} @ {}/s", r.url, r.price_per_second)).unwrap_or_else(|| "none".into()),
                    s.latency_ms.map(|l| format!("{l:.0} ms")).unwrap_or_else(|| "-".into()),
                    units(s.wallet.balance as i128, s.wallet.asset_scale),
                    s.wallet.asset_code,
                    units(s.wallet.spent as i128, s.wallet.asset_scale),
                    s.parts.verified,
                    s.parts.rejected,
                    s.message.map(|m| format!(" | {m}")).unwrap_or_default(),
                );
            }
        }
    }
    viewer.shutdown().await;
    Ok(())
}

/// A fresh directory under the system temp dir, removed when the guard drops.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> anyhow::Result<TempDir> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let p = std::env::temp_dir().join(format!("tollcast-watch-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    Ok(TempDir(p))
}

//! `tollcast demo`: start a whole tollcast network on 127.0.0.1 (hub node with Nostr relay,
//! streamer, two relays in a tree, creator wallet, paying viewers), print one URL to open, and
//! at the end a summary of parts, payments, earnings by role and whether the books balance.
//! The orchestration lives in `crate::demo`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(clap::Args)]
#[command(
    long_about = "Start a whole tollcast network on this machine and open it in a browser.\n\n\
Runs, as child processes of this one: a hub node (Interledger connector, Nostr relay, SPSP), the \
creator's wallet node, a streamer (synthetic test pattern with the clock burned in, LL-HLS origin, \
signed segment manifests, NIP-53 announcement), a transcoder (`tollcast transcode` on its own ILP \
node: answers the streamer's paid NIP-90 job, placed from this process on the streamer's wallet \
and paid per transcoded unit; serves the source mirrored plus a 240p/144p ladder), a recorder \
(VOD, NIP-71), a moderator, two relays in a tree (relay-a pulls the transcoder's job origin, \
relay-b pulls from relay-a and pays it per second; both pay the creator a \
revenue split), each relay on its own ILP node, and the viewer agent (`tollcast watch`) the page \
talks to. In this process: --viewers simulated viewers, each with its own wallet node paying its \
relay every second over ILP STREAM and fetching every part.\n\n\
Prints one URL: the viewer page (player, latency, wallet ticking down, relay switch, chat, tips); \
/dashboard shows earnings by role from the real ledgers. Ctrl-C (or --duration) stops everything \
and prints a summary: parts delivered, payments, earnings by role, and whether the books balance \
(every ledger summed). Exit code 0 only if they do. Child logs go to files in the demo directory \
(-v echoes them)."
)]
pub struct Args {
    /// Simulated paying viewers (each with its own wallet node).
    #[arg(long, default_value_t = 3)]
    pub viewers: usize,
    /// Stop after this many seconds and print the summary (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Address of the web page (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Directory for configs, ledgers, caches and logs (default: a fresh temporary directory,
    /// removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Keep the temporary directory (logs, ledgers) after the end.
    #[arg(long)]
    pub keep: bool,
    /// Price of relay-a (the parent relay), micro-USD per second.
    #[arg(long, default_value_t = 40)]
    pub price_a: u64,
    /// Price of relay-b (the edge relay), micro-USD per second.
    #[arg(long, default_value_t = 60)]
    pub price_b: u64,
    /// Credit line of each viewer wallet, micro-USD.
    #[arg(long, default_value_t = 5_000_000)]
    pub wallet: u64,
    /// Share of viewer money each relay keeps, percent; it pays the rest to the creator
    /// (revenue split).
    #[arg(long, default_value_t = 50.0)]
    pub relay_margin: f64,
    /// Hub connector fee, basis points of each packet.
    #[arg(long, default_value_t = 10)]
    pub fee_bp: u32,
    /// How the browser page gets the stream: `viewer` (through the viewer agent, `tollcast
    /// watch`: it picks and pays a relay and verifies every part) or `relay` (straight from
    /// relay-b, paid by the demo's page wallet; the relay verifies every part too).
    #[arg(long, default_value = "viewer", value_parser = ["viewer", "relay"])]
    pub page_via: String,
    /// Title of the stream.
    #[arg(long, default_value = "tollcast demo: live test pattern")]
    pub title: String,
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    if a.viewers > 200 {
        anyhow::bail!("--viewers: at most 200 on one machine");
    }
    if let Some(d) = a.duration
        && !(d > 0.0 && d.is_finite())
    {
        anyhow::bail!("--duration must be a positive number of seconds");
    }
    if !(0.0..=100.0).contains(&a.relay_margin) {
        anyhow::bail!("--relay-margin is a percentage from 0 to 100");
    }
    if a.price_a == 0 || a.price_b == 0 {
        anyhow::bail!("--price-a and --price-b must be at least 1");
    }
    crate::demo::run(crate::demo::Options {
        viewers: a.viewers,
        duration: a.duration,
        listen: a.listen,
        dir: a.dir,
        keep: a.keep,
        // -v on the command line lowers the log filter to info: echo child logs then.
        verbose: tracing::enabled!(tracing::Level::INFO),
        price_a: a.price_a,
        price_b: a.price_b,
        wallet: a.wallet,
        fee_basis_points: a.fee_bp,
        relay_margin_ppm: (a.relay_margin * 10_000.0).round() as u32,
        title: a.title,
        page_via_viewer: a.page_via == "viewer",
    })
    .await
}

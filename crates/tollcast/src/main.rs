//! tollcast: the command-line entry point (CLI, config, web UI, demo orchestration).

mod bench;
mod cmd;
mod demo;
mod web;

use clap::{Parser, Subcommand};

/// tollcast — a decentralized live-streaming network: agents find each other over Nostr,
/// pay each other over Interledger, and carry control messages as TOON-encoded Nostr events.
#[derive(Parser)]
#[command(name = "tollcast", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// More log detail (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect and build ILPv4 packets (PREPARE/FULFILL/REJECT) as hex <-> JSON.
    Ilp(cmd::ilp::Args),
    /// Run a tollcast node: ILP connector (BTP, routing, fees, rates, ledger), Nostr relay, SPSP.
    Node(cmd::node::Args),
    /// Show a running node's accounts and balances.
    Balance(cmd::balance::Args),
    /// Go live (streamer agent: OBS/RTMP, SRT or test pattern -> LL-HLS, Nostr, wallet); `stream decode|encode`: STREAM packets.
    Stream(cmd::stream::Args),
    /// Convert JSON <-> TOON (spec v4.0 defaults) on stdin/stdout.
    Toon(cmd::toon::Args),
    /// Sign, verify, publish and query Nostr events.
    Event(cmd::event::Args),
    /// Send a STREAM payment to an SPSP URL or an npub through a tollcast node; prints what arrived.
    Pay(cmd::pay::Args),
    /// Run a relay agent (CDN edge) for a stream: verified, cached LL-HLS fan-out, optionally paid.
    Relay(cmd::relay::Args),
    /// List live streams from your follow graph (1st/2nd degree), by tag, ranked locally.
    Discover(cmd::discover::Args),
    /// Record a live stream into a verified, content-addressed HLS VOD + NIP-71 event; serve it.
    Record(cmd::record::Args),
    /// Economic model: per-role revenue, cost, margin, break-even, creator share vs Twitch/YouTube.
    Econ(cmd::econ::Args),
    /// Run a live LL-HLS origin: ingest (synthetic/RTMP/SRT) -> CMAF parts -> chunk store -> HTTP.
    Origin(cmd::origin::Args),
    /// Watch a stream: find it and its relays on Nostr, pay the best relay per second, serve a verified local player.
    Watch(cmd::watch::Args),
    /// Paid live chat: send a message (pay-to-write at the creator's price) or read a stream's chat.
    Chat(cmd::chat::Args),
    /// Tip a stream's creator over STREAM and get a signed receipt; `tip serve` runs a receiving agent.
    Tip(cmd::tip::Args),
    /// Run a moderator agent: chat rules, NIP-51 mute lists, takedown votes; paid per stream-hour.
    Moderate(cmd::moderate::Args),
    /// Start a whole network on this machine (streamer, relays, paying viewers) and open it in a browser.
    Demo(cmd::demo::Args),
    /// Measure a whole network on this machine: latency budget by stage, payment overhead, relay cost.
    Bench(cmd::bench::Args),
    /// Run a transcoder agent: sell the adaptive ladder of live streams as paid NIP-90 jobs (one ffmpeg per job).
    Transcode(cmd::transcode::Args),
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Ilp(a) => cmd::ilp::run(a).await,
        Command::Node(a) => cmd::node::run(a).await,
        Command::Balance(a) => cmd::balance::run(a).await,
        Command::Stream(a) => cmd::stream::run(a).await,
        Command::Toon(a) => cmd::toon::run(a).await,
        Command::Event(a) => cmd::event::run(a).await,
        Command::Pay(a) => cmd::pay::run(a).await,
        Command::Relay(a) => cmd::relay::run(a).await,
        Command::Discover(a) => cmd::discover::run(a).await,
        Command::Record(a) => cmd::record::run(a).await,
        Command::Econ(a) => cmd::econ::run(a).await,
        Command::Origin(a) => cmd::origin::run(a).await,
        Command::Watch(a) => cmd::watch::run(a).await,
        Command::Chat(a) => cmd::chat::run(a).await,
        Command::Tip(a) => cmd::tip::run(a).await,
        Command::Moderate(a) => cmd::moderate::run(a).await,
        Command::Demo(a) => cmd::demo::run(a).await,
        Command::Bench(a) => cmd::bench::run(a).await,
        Command::Transcode(a) => cmd::transcode::run(a).await,
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

//! `tollcast bench`: measurements that answer the brief. `network` runs a whole network
//! (encoder, origin, transcoder, relay tree, paying viewers) in this process for a set time and
//! reports the latency budget per stage, payment overhead per chunk, relay cost per
//! viewer-hour and transcoder CPU per ladder-minute.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

use crate::bench::{network, report};

/// Measure tollcast on this machine.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Run encoder -> origin -> relay A -> edge relays -> paying viewers (credit mode) on
    /// 127.0.0.1, plus a transcoder with a paid ladder job whose rung goes through its own
    /// relay branch to paying viewers, and report the glass-to-glass latency budget by stage
    /// (p50/p95/p99) for the source and the rung path (transcode stage included), payment
    /// overhead per chunk (bytes, CPU, latency), relay CPU and bytes per viewer-hour,
    /// transcoder CPU per ladder-minute, CPU per agent and the machine. Needs ffmpeg.
    Network(NetworkArgs),
    /// How many concurrent viewers of a live stream (default ~3 Mbit/s) one server sustains
    /// on this machine: nginx serving the parts as static files, a tollcast relay, and a
    /// tollcast relay in credit mode with every viewer paying over STREAM; N doubles per step.
    /// Needs ffmpeg and nginx.
    Fanout(FanoutArgs),
}

#[derive(clap::Args)]
struct FanoutArgs {
    /// Servers to measure, comma-separated: nginx, relay, relay-paid.
    #[arg(long, default_value = "nginx,relay,relay-paid", value_delimiter = ',')]
    servers: Vec<String>,
    /// Viewers in the first step (doubles each step).
    #[arg(long, default_value_t = 25)]
    start: usize,
    /// Most viewers tried.
    #[arg(long, default_value_t = 1600)]
    max: usize,
    /// Seconds measured per step.
    #[arg(long, default_value_t = 8)]
    step_s: u64,
    /// Encoded picture size WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: String,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Video bitrate, kbit/s (plus 64 kbit/s audio).
    #[arg(long, default_value_t = 3000)]
    video_kbps: u32,
    /// LL-HLS part target, ms.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(100..=2000))]
    parts_ms: u32,
    /// relay-paid: how often each viewer pays, ms.
    #[arg(long, default_value_t = 1000)]
    pay_every_ms: u64,
    /// Measure every server this many times, in rotated order; sustained viewers are the
    /// median over rounds (a busy minute on a shared machine hits one run, not all).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=9))]
    rounds: u64,
    /// Write fanout.md and fanout.json here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Credit,
    Native,
}

#[derive(clap::Args)]
struct NetworkArgs {
    /// Seconds measured (after a warm-up until every viewer plays).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Paying viewers, spread over the edge relays.
    #[arg(long, default_value_t = 8)]
    viewers: usize,
    /// Edge relays under relay A.
    #[arg(long, default_value_t = 2)]
    edges: usize,
    /// LL-HLS part target in ms (200 or 500 to compare).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(100..=2000))]
    parts_ms: u32,
    /// Segment target in seconds.
    #[arg(long, default_value_t = 1.0)]
    segment_s: f64,
    /// Encoded picture size WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720")]
    size: String,
    /// Frames per second of the encoder.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Video bitrate of the encoder, kbit/s.
    #[arg(long, default_value_t = 3000)]
    video_kbps: u32,
    /// Credit mode price: base units (USD, scale 6) per second of viewing.
    #[arg(long, default_value_t = 100)]
    price_per_second: u64,
    /// How often each viewer pays, in ms (each payment buys that much time).
    #[arg(long, default_value_t = 1000)]
    pay_every_ms: u64,
    /// Also play the origin and an edge with hls.js in headless Chromium during the window and
    /// report glass-to-glass latency as a browser sees it (needs node, tests/interop/node_modules
    /// and /usr/bin/chromium).
    #[arg(long)]
    hlsjs: bool,
    /// Paid delivery: `credit` (viewers stream money per second, parts over HTTP) or `native`
    /// (ILP-native: each part's bytes travel in the FULFILLs of the packets paying for them).
    #[arg(long, value_enum, default_value_t = ModeArg::Credit)]
    mode: ModeArg,
    /// Transcoding ladder, comma-separated rungs `HEIGHTp` or `HEIGHTp:KBPS` (e.g.
    /// `360p,240p:300`), or `none`. The default is the streamer agent's default ladder; rungs
    /// at or above the source height are dropped (as the transcoder does). A transcoder agent
    /// (one ffmpeg, paid NIP-90 job) pulls the source from the origin and makes them; the
    /// first one is relayed to the rung viewers, putting the transcode stage on a measured path.
    #[arg(long, default_value = "720p,480p,360p")]
    ladder: String,
    /// x264 preset of the ladder (the transcoder agent's live default is veryfast; ultrafast
    /// costs less CPU on small machines).
    #[arg(long, default_value = "veryfast")]
    ladder_preset: String,
    /// Paying viewers of the first rung (through job origin -> rung relay A -> rung edge).
    #[arg(long, default_value_t = 2)]
    rung_viewers: usize,
    /// Write report.md, report.json and measured.toml (for `tollcast econ --measured`) here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the JSON report instead of the Markdown one.
    #[arg(long)]
    json: bool,
}

/// `--ladder` -> rungs strictly below the source height (what the transcoder would make).
fn parse_ladder(s: &str, source_height: u32) -> anyhow::Result<Vec<tollcast_media::ladder::Rung>> {
    if s.trim() == "none" {
        return Ok(Vec::new());
    }
    let mut rungs = Vec::new();
    for r in s.split(',').filter(|r| !r.trim().is_empty()) {
        let r = network::parse_rung(r)?;
        if r.height < source_height
            && !rungs
                .iter()
                .any(|o: &tollcast_media::ladder::Rung| o.height == r.height)
        {
            rungs.push(r);
        }
    }
    if rungs.is_empty() {
        bail!(
            "--ladder `{s}`: no rung below the source's {source_height} lines (lower the rungs, raise --size, or --ladder none)"
        );
    }
    Ok(rungs)
}

pub async fn run(a: Args) -> anyhow::Result<()> {
    match a.what {
        What::Network(n) => network_cmd(n).await,
        What::Fanout(f) => fanout_cmd(f).await,
    }
}

fn parse_size(s: &str) -> anyhow::Result<(u32, u32)> {
    let Some((w, h)) = s
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
    else {
        bail!("--size `{s}`: want WIDTHxHEIGHT, e.g. 1280x720");
    };
    if w < 16 || h < 16 || w % 2 == 1 || h % 2 == 1 {
        bail!("--size {w}x{h}: width and height must be even and at least 16");
    }
    Ok((w, h))
}

async fn fanout_cmd(a: FanoutArgs) -> anyhow::Result<()> {
    let (w, h) = parse_size(&a.size)?;
    if a.start == 0 || a.max < a.start || a.step_s == 0 || a.fps == 0 || a.video_kbps == 0 {
        bail!(
            "--start, --step-s, --fps, --video-kbps must be at least 1 and --max at least --start"
        );
    }
    for s in &a.servers {
        if !["nginx", "relay", "relay-paid"].contains(&s.as_str()) {
            bail!("--servers: unknown `{s}` (nginx, relay, relay-paid)");
        }
    }
    if a.pay_every_ms < 100 {
        bail!("--pay-every-ms must be at least 100");
    }
    let stream = network::Options {
        part_ms: a.parts_ms,
        width: w,
        height: h,
        fps: a.fps,
        video_kbps: a.video_kbps,
        pay_every: Duration::from_millis(a.pay_every_ms),
        ..network::Options::default()
    };
    let rep = crate::bench::fanout::run(crate::bench::fanout::FanoutOptions {
        stream,
        step: Duration::from_secs(a.step_s),
        start: a.start,
        max: a.max,
        servers: a.servers.clone(),
        rounds: a.rounds as usize,
    })
    .await?;
    let md = crate::bench::fanout::markdown(&rep);
    if let Some(out) = &a.out {
        std::fs::create_dir_all(out)?;
        std::fs::write(out.join("fanout.md"), &md)?;
        std::fs::write(out.join("fanout.json"), serde_json::to_string_pretty(&rep)?)?;
    }
    print!("{md}");
    Ok(())
}

async fn network_cmd(a: NetworkArgs) -> anyhow::Result<()> {
    let (w, h) = parse_size(&a.size)?;
    if a.duration == 0 || a.viewers == 0 || a.edges == 0 || a.fps == 0 || a.video_kbps == 0 {
        bail!("--duration, --viewers, --edges, --fps and --video-kbps must be at least 1");
    }
    if a.pay_every_ms < 100 {
        bail!("--pay-every-ms must be at least 100");
    }
    if a.segment_s.is_nan() || a.segment_s * 1000.0 < a.parts_ms as f64 {
        bail!("--segment-s must be at least one part (--parts-ms)");
    }
    let ladder = parse_ladder(&a.ladder, h)?;
    if !ladder.is_empty() && a.rung_viewers == 0 {
        bail!("--rung-viewers must be at least 1 with a ladder (or --ladder none)");
    }
    if ![
        "ultrafast",
        "superfast",
        "veryfast",
        "faster",
        "fast",
        "medium",
    ]
    .contains(&a.ladder_preset.as_str())
    {
        bail!(
            "--ladder-preset `{}`: one of ultrafast, superfast, veryfast, faster, fast, medium",
            a.ladder_preset
        );
    }
    let opts = network::Options {
        duration: Duration::from_secs(a.duration),
        viewers: a.viewers,
        edges: a.edges,
        part_ms: a.parts_ms,
        segment_s: a.segment_s,
        width: w,
        height: h,
        fps: a.fps,
        video_kbps: a.video_kbps,
        price_per_second: a.price_per_second,
        pay_every: Duration::from_millis(a.pay_every_ms),
        hlsjs: a.hlsjs,
        mode: match a.mode {
            ModeArg::Credit => network::Mode::Credit,
            ModeArg::Native => network::Mode::Native,
        },
        ladder,
        ladder_preset: a.ladder_preset,
        rung_viewers: a.rung_viewers,
    };
    eprintln!("running: {}", report::command_line(&opts));
    let rep = network::run(opts).await?;
    if let Some(out) = &a.out {
        network::write_out(&rep, out)?;
        eprintln!(
            "wrote {0}/report.md, {0}/report.json, {0}/measured.toml",
            out.display()
        );
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!("{}", report::markdown(&rep));
    }
    Ok(())
}

//! From raw timings to the report: the latency budget per stage (p50/p95/p99, stages summing to
//! the total) on the source path and, with a transcoder, on the rung path; payment overhead per
//! chunk, relay cost per viewer-hour, transcoder CPU per ladder-minute, CPU per agent, and the
//! three renderings (Markdown, JSON via serde, measured.toml for `tollcast econ --measured`).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use serde::Serialize;
use tollcast_econ::{Dec, Figure, Measured, Status};

use super::cpu;
use super::machine::Machine;
use super::network::{CpuSnap, Mode, Options, PartInfo, PaymentLog, PlayerLog};
use super::stats::Summary;
use tollcast_media::ladder::Rung;

/// Everything a run recorded.
pub struct Raw {
    pub opts: Options,
    pub machine: Machine,
    pub t_start: f64,
    pub t_end: f64,
    pub parts: HashMap<String, PartInfo>,
    pub probe_origin: PlayerLog,
    pub probe_a: PlayerLog,
    pub viewers: Vec<PlayerLog>,
    pub payments: Vec<PaymentLog>,
    /// (viewer, connection total, when credited) from the edges' receivers.
    pub credits: Vec<(String, u64, f64)>,
    pub cpu: (CpuSnap, CpuSnap),
    pub edge_bytes_served: Vec<u64>,
    pub relay_a_bytes_served: u64,
    pub payment_wire_bytes: Vec<u64>,
    /// hls.js players' JSON (origin, then edge), when --hlsjs.
    pub browser: Vec<Result<serde_json::Value, String>>,
    /// The transcoder and the rung branch, when a ladder was asked for.
    pub rung: Option<RungRaw>,
}

/// What the rung branch recorded.
pub struct RungRaw {
    /// The rung the rung viewers watch.
    pub rendition: String,
    /// Rungs asked for, and the renditions the job origin serves (source + rungs made).
    pub ladder: Vec<Rung>,
    pub renditions: Vec<String>,
    pub preset: String,
    /// Probe at the transcoder's job origin, at the rung relay A, and the paying rung viewers.
    pub probe_job: PlayerLog,
    pub probe_a: PlayerLog,
    pub viewers: Vec<PlayerLog>,
    /// Payments the rung viewers made (whole run).
    pub payments: usize,
    /// Base units the streamer paid the transcoder (whole run).
    pub streamer_paid: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    pub name: String,
    /// Counted in the glass-to-glass total (false: measured alongside, off the part's path).
    pub on_path: bool,
    pub ms: Summary,
    pub note: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Consistency {
    /// Sum of the on-path stages' means and p50s, against the total's.
    pub mean_sum_ms: f64,
    pub mean_total_ms: f64,
    pub p50_sum_ms: f64,
    pub p50_total_ms: f64,
    /// |p50 sum - p50 total| / p50 total, percent.
    pub p50_gap_pct: f64,
    pub mean_gap_pct: f64,
    /// Both gaps within 5 %.
    pub within_5_pct: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Payment {
    pub mode: &'static str,
    /// ILP-native: media bytes that rode in the FULFILLs (to split wire bytes into media and
    /// payment overhead); 0 in credit mode.
    pub media_bytes_in_packets: u64,
    /// Wire bytes that were not media, per part delivered.
    pub overhead_bytes_per_part: f64,
    pub payments: usize,
    pub amount_per_payment: u64,
    /// Sender's view: from send() to the FULFILL back.
    pub rtt_ms: Summary,
    /// From send() to the relay's receiver crediting the money.
    pub credit_ms: Summary,
    pub wire_bytes: u64,
    pub bytes_per_payment: f64,
    pub parts_delivered: u64,
    pub bytes_per_part: f64,
    /// CPU of the wallet node + senders, and of the edges' ILP nodes + receivers + billing
    /// (each side also carries half of the ledger commit threads; the relay its billing store).
    pub cpu_wallet_s: f64,
    pub cpu_edge_ilp_s: f64,
    pub cpu_us_per_payment: f64,
    pub cpu_us_per_part: f64,
    pub bytes_per_viewer_hour: f64,
    /// max(wallet side, relay side) per viewer-hour: the econ model's "each party".
    pub core_seconds_per_viewer_hour: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelayCost {
    pub viewer_hours: f64,
    /// Edge relays' HTTP/verification/cache threads (delivery, credit check included).
    pub edge_cpu_s: f64,
    pub edge_core_seconds_per_viewer_hour: f64,
    /// The same plus the edges' ILP nodes (payments received).
    pub edge_with_payment_core_seconds_per_viewer_hour: f64,
    pub edge_bytes_served: u64,
    pub bytes_per_viewer_hour: f64,
    pub relay_a_cpu_s: f64,
    pub relay_a_bytes_served: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Viewers {
    pub viewers: usize,
    pub parts_in_window: usize,
    /// Window parts a viewer never received (summed over viewers).
    pub parts_missed: usize,
    pub errors: u64,
    pub payment_required: u64,
    pub last_error: Option<String>,
    /// Play-out stalls that began in the window (summed over viewers) and their total length.
    pub stalls: usize,
    pub stalled_ms: f64,
}

/// What hls.js in Chromium saw.
#[derive(Debug, Clone, Serialize)]
pub struct BrowserPlayer {
    pub target: String,
    /// Wall clock minus the capture time of the frame on screen (hls.playingDate), capture clock
    /// corrected like the stages.
    pub glass_to_glass_ms: Summary,
    /// hls.latency: distance to the live edge of the playlist.
    pub behind_edge_ms: Summary,
    pub stalls: u64,
    pub advanced_s: f64,
    pub errors: Vec<String>,
}

/// The budget of the transcoded path: encoder -> origin -> transcoder (job origin) -> rung
/// relay A -> rung edge (paid) -> rung viewers.
#[derive(Debug, Clone, Serialize)]
pub struct RungPath {
    pub rendition: String,
    pub stages: Vec<Stage>,
    pub total: Summary,
    pub consistency: Consistency,
    /// Source part available at the origin -> rung part listed at the job origin, per rung part.
    pub transcode_ms: Summary,
    /// The same by the part's position in its segment (0 = first): shows whether the transcoder
    /// waits for whole segments (early parts wait longest) or works part by part.
    pub transcode_by_position_ms: Vec<Summary>,
    pub hop_ms: BTreeMap<String, Summary>,
    pub viewers: Viewers,
    /// Rung parts of the window dated by their playlist but matching no source part.
    pub parts_unmatched: usize,
    /// Payments the rung viewers made to the rung edge (whole run).
    pub payments: usize,
}

/// What the transcoder spent on the ladder during the window.
#[derive(Debug, Clone, Serialize)]
pub struct TranscoderCost {
    /// Rungs made (e.g. `360p 700 kbit/s`), x264 preset.
    pub ladder: Vec<String>,
    pub preset: String,
    /// The ladder ffmpeg (decode + scale + encode every rung), all its threads.
    pub ffmpeg_cpu_s: f64,
    /// The agent's runtime: source pull + hash/signature checks, ladder I/O, cutting, storing,
    /// signing and publishing rung manifests, serving the job origin, its ILP node.
    pub agent_cpu_s: f64,
    /// Seconds of source turned into every rung during the window.
    pub transcoded_s: f64,
    /// (ffmpeg + agent) CPU per minute of source transcoded into the whole ladder.
    pub core_seconds_per_ladder_minute: f64,
    /// The streamer's job client + wallet node (pays per unit), not in the figure above.
    pub job_client_cpu_s: f64,
    /// Base units (USD, scale 6) the streamer paid the transcoder in the run.
    pub streamer_paid: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionsOut {
    pub duration_s: f64,
    pub viewers: usize,
    pub edges: usize,
    pub part_ms: u32,
    pub segment_s: f64,
    pub video: String,
    pub price_per_second: u64,
    pub pay_every_ms: u64,
    /// Rungs asked for (empty: no transcoder) and rung viewers.
    pub ladder: Vec<String>,
    pub rung_viewers: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkReport {
    pub command: String,
    pub machine: Machine,
    pub options: OptionsOut,
    pub part_hold_back_s: Option<f64>,
    /// How far capture times were moved back (see `analyse`), ms.
    pub capture_clock_correction_ms: f64,
    pub stages: Vec<Stage>,
    pub total: Summary,
    pub consistency: Consistency,
    /// Capture -> part available at the origin (encode + cut), per part.
    pub capture_to_origin_ms: Summary,
    /// Size of the parts in the window, bytes.
    pub part_bytes: Summary,
    /// Per relay hop (available upstream -> available downstream), per part.
    pub hop_ms: BTreeMap<String, Summary>,
    pub payment: Payment,
    pub relay: RelayCost,
    /// CPU seconds per agent during the window.
    pub cpu_s: BTreeMap<String, f64>,
    pub viewers: Viewers,
    pub not_measured: Vec<String>,
    /// hls.js in headless Chromium at the origin and at an edge (with --hlsjs).
    pub browser: Vec<BrowserPlayer>,
    pub browser_errors: Vec<String>,
    /// The transcoded path (with --ladder).
    pub rung: Option<RungPath>,
    pub transcoder: Option<TranscoderCost>,
}

fn rung_label(r: &Rung) -> String {
    format!("{}:{}", r.name, r.video_bps / 1000)
}

pub fn command_line(o: &Options) -> String {
    let ladder = if o.ladder.is_empty() {
        " --ladder none".to_string()
    } else {
        format!(
            " --ladder {} --ladder-preset {} --rung-viewers {}",
            o.ladder
                .iter()
                .map(rung_label)
                .collect::<Vec<_>>()
                .join(","),
            o.ladder_preset,
            o.rung_viewers
        )
    };
    format!(
        "tollcast bench network --duration {} --viewers {} --edges {} --parts-ms {} --size {}x{} --fps {} --video-kbps {}{ladder}",
        o.duration.as_secs(),
        o.viewers,
        o.edges,
        o.part_ms,
        o.width,
        o.height,
        o.fps,
        o.video_kbps
    )
}

fn gap(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return if a == 0.0 { 0.0 } else { 100.0 };
    }
    (a - b).abs() / b.abs() * 100.0
}

/// Play-out of one viewer: a player that joins at `join_ms` (the window's start, so the
/// start-up of the tree does not set its latency), starts PART-HOLD-BACK (`hold_s`) behind the
/// newest part it holds, then plays in real time; a part not there when due stalls playback
/// until it arrives (latency grows, as in hls.js without catch-up). Returns when each part was
/// shown, and the stalls (count, total ms) that began inside the window.
fn play_out<'a>(
    parts: &[(&'a String, &'a PartInfo)],
    recv: &HashMap<String, f64>,
    hold_s: f64,
    join_ms: f64,
    window: &dyn Fn(f64) -> bool,
) -> (HashMap<&'a str, f64>, usize, f64) {
    let mut shown = HashMap::new();
    let (mut stalls, mut stalled) = (0, 0.0);
    let mut offset: Option<f64> = None;
    for (h, p) in parts {
        let Some(&got) = recv.get(h.as_str()) else {
            continue;
        };
        if got < join_ms {
            continue;
        }
        let l =
            *offset.get_or_insert(got - (p.capture_ms + p.duration_s * 1000.0) + hold_s * 1000.0);
        let due = p.capture_ms + l;
        let at = if got > due {
            if window(got) {
                stalls += 1;
                stalled += got - due;
            }
            offset = Some(got - p.capture_ms);
            got
        } else {
            due
        };
        shown.insert(h.as_str(), at);
    }
    (shown, stalls, stalled)
}

/// Turn a run's timings into the report.
pub fn analyse(r: &Raw) -> anyhow::Result<NetworkReport> {
    let window = |t: f64| t >= r.t_start && t <= r.t_end;
    // The origin dates a part's capture from when the encoder's first media arrived plus media
    // time. An encoder that bursts after a slow start makes that anchor late, and then some part
    // would leave ffmpeg before its own media was captured. Shift capture times back by the
    // smallest amount that makes every part's encode at least its duration (a lower bound on the
    // true latency: the fastest part is taken to have had no encoder delay).
    let correction = r
        .parts
        .values()
        .map(|p| p.capture_ms + p.duration_s * 1000.0 - p.fragment_ms)
        .fold(0.0f64, f64::max);
    let parts: HashMap<String, PartInfo> = r
        .parts
        .iter()
        .map(|(h, p)| {
            let mut p = p.clone();
            p.capture_ms -= correction;
            (h.clone(), p)
        })
        .collect();
    let hold_s = r
        .viewers
        .iter()
        .find_map(|v| v.part_hold_back_s)
        .or(r.probe_origin.part_hold_back_s)
        .unwrap_or(3.0 * r.opts.part_ms as f64 / 1000.0);
    let mut in_window: Vec<(&String, &PartInfo)> = parts
        .iter()
        .filter(|(_, p)| window(p.available_ms))
        .collect();
    in_window.sort_by(|a, b| a.1.capture_ms.total_cmp(&b.1.capture_ms));
    let mut all: Vec<(&String, &PartInfo)> = parts.iter().collect();
    all.sort_by(|a, b| a.1.capture_ms.total_cmp(&b.1.capture_ms));

    let names = [
        "encode (capture -> fragment out of ffmpeg)",
        "cut (fragment -> part available at origin)",
        "origin delivery (available -> a player at the origin has it)",
        "relay hop 1 (origin -> relay A)",
        "relay hop 2 (relay A -> edge relay, paid)",
        "player buffer (PART-HOLD-BACK play-out delay)",
    ];
    let (shown, stalls, stalled_ms) = play_all(&all, &r.viewers, hold_s, r.t_start, &window);
    let mut to_origin = Vec::new();
    let mut hop1 = Vec::new();
    let mut path = Vec::new();
    for (hash, p) in &in_window {
        to_origin.push(p.available_ms - p.capture_ms);
        let r0 = r.probe_origin.recv.get(*hash).copied();
        let ra = r.probe_a.recv.get(*hash).copied();
        if let (Some(r0), Some(ra)) = (r0, ra) {
            hop1.push(ra - r0);
        }
        path.push(PathPart {
            hash: hash.as_str(),
            capture: p.capture_ms,
            marks: vec![Some(p.fragment_ms), Some(p.available_ms), r0, ra],
        });
    }
    let b = budget(&path, &r.viewers, &shown);
    let (samples, total, missed, hop2) = (b.samples, b.total, b.missed, b.hop_edge);
    let notes = [
        "includes waiting for the part's own media (one part duration) and x264 + RTMP + remux",
        "fMP4 split, cut, SHA-256, chunk store, playlist update",
        "LL-HLS blocking playlist reload + part GET, at the origin",
        "relay A: playlist pass-through, chunk fetch, hash + signed-manifest check, cache",
        "edge relay: the same, plus the credit-mode check per request",
        "a real-time player joining at the window's start, PART-HOLD-BACK behind the newest part it had, stalling when a part is late: shown - received",
    ];
    let mut stages = on_path_stages(&names, &notes, &samples);

    // Payments in the window.
    let pays: Vec<&PaymentLog> = r.payments.iter().filter(|p| window(p.start_ms)).collect();
    let credit_at: HashMap<(&str, u64), f64> = r
        .credits
        .iter()
        .map(|(v, t, at)| ((v.as_str(), *t), *at))
        .collect();
    let rtt: Vec<f64> = pays.iter().map(|p| p.rtt_ms).collect();
    let credit: Vec<f64> = pays
        .iter()
        .filter_map(|p| {
            credit_at
                .get(&(p.viewer.as_str(), p.total_after))
                .map(|at| at - p.start_ms)
        })
        .collect();
    let credit_s = Summary::of(&credit);
    let native = r.opts.mode == Mode::Native;
    let native_fetch: Vec<f64> = r
        .viewers
        .iter()
        .flat_map(|v| v.native_fetch.iter())
        .filter(|(t, _)| window(*t))
        .map(|(_, ms)| *ms)
        .collect();
    stages.push(if native {
        Stage {
            name: "payment + delivery of a part in STREAM packets (size query + paid slices)".into(),
            on_path: false,
            ms: Summary::of(&native_fetch),
            note: "ILP-native: already inside relay hop 2 (the part arrives in the FULFILLs that pay for it); not added again".into(),
        }
    } else {
        Stage {
            name: "payment (send -> credited at the relay)".into(),
            on_path: false,
            ms: credit_s,
            note: "credit mode: viewers pay ahead, so no part waits for a payment; not added to the total".into(),
        }
    });

    let total_s = Summary::of(&total);
    let consistency = consistency_of(&stages, &total_s);

    // CPU per agent.
    let (c0, c1) = &r.cpu;
    let secs = |ns: u64| ns as f64 / 1e9;
    let by_prefix = |p: &str| {
        secs(cpu::prefix_ns(&c1.threads, p).saturating_sub(cpu::prefix_ns(&c0.threads, p)))
    };
    let mut cpu_s = BTreeMap::new();
    let agents = [
        ("origin (pipeline + HTTP + manifest signing)", "tcb-origin"),
        ("relay A", "tcb-relay-a"),
        ("edge relays (HTTP delivery)", "tcb-edge-"),
        ("edge relays' ILP nodes (payments in)", "tcb-eilp-"),
        ("viewer wallet node + STREAM senders", "tcb-pay"),
        ("simulated players", "tcb-view"),
        (
            "ILP ledgers' commit threads (wallet + edge nodes)",
            "ledger-commit",
        ),
        (
            "relay billing store writer (credit balances)",
            "relay-billing",
        ),
        ("Nostr relay store writer", "nostr-store"),
        (
            "Nostr relay + byte meters (main runtime)",
            "tokio-runtime-w",
        ),
        (
            "transcoder agent (source pull + checks, ladder I/O, cut, sign, job origin, ILP node)",
            "tcb-xcode",
        ),
        (
            "streamer's job client + wallet node (pays the transcoder)",
            "tcb-xpay",
        ),
        ("rung relay A", "tcb-rung-a"),
        ("rung edge relay (HTTP delivery)", "tcb-redge-"),
        ("rung edge's ILP node (in-memory ledger)", "tcb-reilp-"),
        ("rung viewers' wallet node + STREAM senders", "tcb-rpay"),
    ];
    let mut accounted = 0.0;
    for (label, prefix) in agents {
        let v = by_prefix(prefix);
        accounted += v;
        // Rung-branch runtimes exist only with a ladder.
        if r.rung.is_some() || !prefix.starts_with("tcb-r") && !prefix.starts_with("tcb-x") {
            cpu_s.insert(label.to_string(), v);
        }
    }
    let process = secs(c1.process_ns.saturating_sub(c0.process_ns));
    cpu_s.insert(
        "other threads of the bench process".into(),
        (process - accounted).max(0.0),
    );
    cpu_s.insert(
        "ffmpeg encoder (the streamer's OBS)".into(),
        secs(c1.encoder_ns.saturating_sub(c0.encoder_ns)),
    );
    cpu_s.insert(
        "ffmpeg remux at the origin".into(),
        secs(c1.remux_ns.saturating_sub(c0.remux_ns)),
    );
    let transcoder = r.rung.as_ref().map(|g| {
        let ffmpeg = secs(c1.ladder_ns.saturating_sub(c0.ladder_ns));
        cpu_s.insert("ffmpeg ladder at the transcoder".into(), ffmpeg);
        let agent = by_prefix("tcb-xcode");
        let transcoded_s = c1.transcoded_ms.saturating_sub(c0.transcoded_ms) as f64 / 1000.0;
        TranscoderCost {
            ladder: g
                .ladder
                .iter()
                .filter(|l| g.renditions.contains(&l.name))
                .map(|l| format!("{} {} kbit/s", l.name, l.video_bps / 1000))
                .collect(),
            preset: g.preset.clone(),
            ffmpeg_cpu_s: ffmpeg,
            agent_cpu_s: agent,
            transcoded_s,
            core_seconds_per_ladder_minute: if transcoded_s > 0.0 {
                (ffmpeg + agent) / transcoded_s * 60.0
            } else {
                f64::NAN
            },
            job_client_cpu_s: by_prefix("tcb-xpay"),
            streamer_paid: g.streamer_paid,
        }
    });
    let rung = r
        .rung
        .as_ref()
        .map(|g| rung_path(g, &parts, correction, hold_s, r.t_start, &window));

    let window_s = (r.t_end - r.t_start) / 1000.0;
    let viewer_hours = r.viewers.len() as f64 * window_s / 3600.0;
    let edge_cpu = by_prefix("tcb-edge-");
    // Every payment is booked once on the wallet's ledger and once on the edge's: the shared
    // commit threads are split half and half; the billing store is the relay's.
    let ledger_cpu = by_prefix("ledger-commit");
    let eilp_cpu = by_prefix("tcb-eilp-") + ledger_cpu / 2.0 + by_prefix("relay-billing");
    let wallet_cpu = by_prefix("tcb-pay") + ledger_cpu / 2.0;
    let edge_bytes: u64 = r.edge_bytes_served.iter().sum();
    let relay = RelayCost {
        viewer_hours,
        edge_cpu_s: edge_cpu,
        edge_core_seconds_per_viewer_hour: edge_cpu / viewer_hours,
        edge_with_payment_core_seconds_per_viewer_hour: (edge_cpu + eilp_cpu) / viewer_hours,
        edge_bytes_served: edge_bytes,
        bytes_per_viewer_hour: edge_bytes as f64 / viewer_hours,
        relay_a_cpu_s: by_prefix("tcb-relay-a"),
        relay_a_bytes_served: r.relay_a_bytes_served,
    };
    let parts_delivered: u64 = r
        .viewers
        .iter()
        .map(|v| v.recv.values().filter(|t| window(**t)).count() as u64)
        .sum();
    let wire: u64 = r.payment_wire_bytes.iter().sum();
    // ILP-native: packets and media bytes from the fetchers (whole run; scaled to the window by
    // the share of window parts among all parts fetched).
    let (mut packets, mut media, mut fetched) = (0u64, 0u64, 0u64);
    for v in &r.viewers {
        if let Some(st) = v.native {
            packets += st.packets;
            media += st.bytes;
            fetched += st.chunks;
        }
    }
    let share = if fetched == 0 {
        0.0
    } else {
        parts_delivered as f64 / fetched as f64
    };
    let media_w = (media as f64 * share) as u64;
    let packets_w = (packets as f64 * share) as usize;
    let pays_n = if native { packets_w } else { pays.len() };
    let n_pay = pays_n.max(1) as f64;
    let per_part = parts_delivered.max(1) as f64;
    let payment = Payment {
        mode: if native { "ilp-native" } else { "credit" },
        media_bytes_in_packets: media_w,
        overhead_bytes_per_part: wire.saturating_sub(media_w) as f64 / per_part,
        payments: pays_n,
        amount_per_payment: if native {
            (r.opts.price_per_second * r.opts.part_ms as u64 / 1000).max(1)
        } else {
            r.opts.price_per_second * r.opts.pay_every.as_millis() as u64 / 1000
        },
        rtt_ms: if native {
            Summary::of(&native_fetch)
        } else {
            Summary::of(&rtt)
        },
        credit_ms: credit_s,
        wire_bytes: wire,
        bytes_per_payment: wire as f64 / n_pay,
        parts_delivered,
        bytes_per_part: wire as f64 / per_part,
        cpu_wallet_s: wallet_cpu,
        cpu_edge_ilp_s: eilp_cpu,
        cpu_us_per_payment: (wallet_cpu + eilp_cpu) * 1e6 / n_pay,
        cpu_us_per_part: (wallet_cpu + eilp_cpu) * 1e6 / per_part,
        bytes_per_viewer_hour: wire as f64 / viewer_hours,
        core_seconds_per_viewer_hour: wallet_cpu.max(eilp_cpu) / viewer_hours,
    };
    let viewers = viewers_summary(
        &r.viewers,
        in_window.len(),
        missed,
        (stalls, stalled_ms),
        &window,
    );
    let mut hop_ms = BTreeMap::new();
    hop_ms.insert("origin -> relay A".to_string(), Summary::of(&hop1));
    hop_ms.insert("relay A -> edge (paid)".to_string(), Summary::of(&hop2));
    let mut browser = Vec::new();
    let mut browser_errors = Vec::new();
    for (i, b) in r.browser.iter().enumerate() {
        let target = if i == 0 {
            "origin"
        } else {
            "edge relay (paying viewer)"
        }
        .to_string();
        match b {
            Ok(v) => {
                let nums = |k: &str, add: f64| -> Vec<f64> {
                    v[k].as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| x.as_f64())
                                .map(|x| x + add)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                browser.push(BrowserPlayer {
                    target,
                    glass_to_glass_ms: Summary::of(&nums("g2gMs", correction)),
                    behind_edge_ms: Summary::of(&nums("edgeMs", 0.0)),
                    stalls: v["stalls"].as_u64().unwrap_or(0),
                    advanced_s: v["advanced"].as_f64().unwrap_or(0.0),
                    errors: v["errors"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|e| e.as_str().map(String::from))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
            Err(e) => browser_errors.push(format!("{target}: {e}")),
        }
    }
    let o = &r.opts;
    Ok(NetworkReport {
        command: command_line(o),
        machine: r.machine.clone(),
        options: OptionsOut {
            duration_s: window_s,
            viewers: o.viewers,
            edges: o.edges,
            part_ms: o.part_ms,
            segment_s: o.segment_s,
            video: format!(
                "{}x{} {} fps H.264 {} kbit/s + AAC 64 kbit/s (ffmpeg testsrc2, x264 ultrafast zerolatency, RTMP push)",
                o.width, o.height, o.fps, o.video_kbps
            ),
            price_per_second: o.price_per_second,
            pay_every_ms: o.pay_every.as_millis() as u64,
            ladder: o.ladder.iter().map(rung_label).collect(),
            rung_viewers: if o.ladder.is_empty() {
                0
            } else {
                o.rung_viewers
            },
        },
        part_hold_back_s: Some(hold_s),
        capture_clock_correction_ms: correction,
        stages,
        total: total_s,
        consistency,
        capture_to_origin_ms: Summary::of(&to_origin),
        part_bytes: Summary::of(
            &in_window
                .iter()
                .map(|(_, p)| p.size as f64)
                .collect::<Vec<_>>(),
        ),
        hop_ms,
        payment,
        relay,
        cpu_s,
        viewers,
        browser,
        browser_errors,
        not_measured: {
            let mut v = Vec::new();
            if r.rung.is_none() {
                v.push("transcode stage: no transcoder in this run (--ladder none); run with e.g. --ladder 360p,240p".into());
            }
            v.push(if native {
                "credit mode: run again with --mode credit to compare".into()
            } else {
                "ILP-native mode: run again with --mode native to compare".into()
            });
            v
        },
        rung,
        transcoder,
    })
}

/// Every viewer's play-out of `parts` (sorted by capture): when each part was shown, and the
/// stalls that began in the window (count, ms) over all viewers.
fn play_all<'a>(
    parts: &[(&'a String, &'a PartInfo)],
    viewers: &[PlayerLog],
    hold_s: f64,
    join_ms: f64,
    window: &dyn Fn(f64) -> bool,
) -> (Vec<HashMap<&'a str, f64>>, usize, f64) {
    let (mut stalls, mut stalled_ms) = (0, 0.0);
    let shown = viewers
        .iter()
        .map(|v| {
            let (map, n, ms) = play_out(parts, &v.recv, hold_s, join_ms, window);
            stalls += n;
            stalled_ms += ms;
            map
        })
        .collect();
    (shown, stalls, stalled_ms)
}

/// One part on a path: its capture time and when it passed each checkpoint before the
/// viewers (ms since the epoch; `None`: that probe never had it).
struct PathPart<'a> {
    hash: &'a str,
    capture: f64,
    marks: Vec<Option<f64>>,
}

/// Per (part, viewer): the stages between consecutive checkpoints, then viewer received and
/// shown; they telescope to shown - capture (the total).
struct Budget {
    samples: Vec<Vec<f64>>,
    total: Vec<f64>,
    /// (part, viewer) pairs the viewer never received.
    missed: usize,
    /// Last checkpoint -> viewer received (the paid edge hop).
    hop_edge: Vec<f64>,
}

fn budget(parts: &[PathPart], viewers: &[PlayerLog], shown: &[HashMap<&str, f64>]) -> Budget {
    let k = parts.first().map_or(0, |p| p.marks.len());
    let mut b = Budget {
        samples: vec![Vec::new(); k + 2],
        total: Vec::new(),
        missed: 0,
        hop_edge: Vec::new(),
    };
    for p in parts {
        let last = p.marks.last().copied().flatten();
        for (v, shown) in viewers.iter().zip(shown) {
            let Some(&rv) = v.recv.get(p.hash) else {
                b.missed += 1;
                continue;
            };
            if let Some(l) = last {
                b.hop_edge.push(rv - l);
            }
            let (Some(marks), Some(&d)) = (
                p.marks.iter().copied().collect::<Option<Vec<f64>>>(),
                shown.get(p.hash),
            ) else {
                continue;
            };
            let mut prev = p.capture;
            for (s, t) in b.samples.iter_mut().zip(marks.into_iter().chain([rv, d])) {
                s.push(t - prev);
                prev = t;
            }
            b.total.push(d - p.capture);
        }
    }
    b
}

fn on_path_stages(names: &[&str], notes: &[&str], samples: &[Vec<f64>]) -> Vec<Stage> {
    names
        .iter()
        .zip(notes)
        .zip(samples)
        .map(|((n, note), s)| Stage {
            name: n.to_string(),
            on_path: true,
            ms: Summary::of(s),
            note: note.to_string(),
        })
        .collect()
}

/// Do the on-path stages' p50s and means add up to the total's?
fn consistency_of(stages: &[Stage], total: &Summary) -> Consistency {
    let on: Vec<&Stage> = stages.iter().filter(|s| s.on_path).collect();
    let mean_sum: f64 = on.iter().map(|s| s.ms.mean).sum();
    let p50_sum: f64 = on.iter().map(|s| s.ms.p50).sum();
    Consistency {
        mean_sum_ms: mean_sum,
        mean_total_ms: total.mean,
        p50_sum_ms: p50_sum,
        p50_total_ms: total.p50,
        p50_gap_pct: gap(p50_sum, total.p50),
        mean_gap_pct: gap(mean_sum, total.mean),
        within_5_pct: gap(p50_sum, total.p50) <= 5.0 && gap(mean_sum, total.mean) <= 5.0,
    }
}

fn viewers_summary(
    viewers: &[PlayerLog],
    parts_in_window: usize,
    missed: usize,
    (stalls, stalled_ms): (usize, f64),
    window: &dyn Fn(f64) -> bool,
) -> Viewers {
    let in_window = |v: &'_ PlayerLog| -> Vec<(f64, String)> {
        v.errors
            .iter()
            .filter(|(t, _)| window(*t))
            .cloned()
            .collect()
    };
    let errors: Vec<(f64, String)> = viewers.iter().flat_map(in_window).collect();
    Viewers {
        viewers: viewers.len(),
        parts_in_window,
        parts_missed: missed,
        errors: errors.len() as u64,
        payment_required: errors.iter().filter(|(_, e)| e.starts_with("402")).count() as u64,
        last_error: viewers
            .iter()
            .filter_map(|v| v.errors.iter().rev().find(|(t, _)| window(*t)))
            .map(|(_, e)| e.clone())
            .next(),
        stalls,
        stalled_ms,
    }
}

/// The rung path's budget. A rung part is dated by its playlist (PROGRAM-DATE-TIME: the ladder
/// carries the source's capture clock), moved back by the same clock correction as the
/// source, and matched to the source part it overlaps most; the transcode stage runs from
/// that source part being available at the origin to the rung part being listed at the job
/// origin (a probe's blocking playlist reload there returns as soon as the part is out).
fn rung_path(
    g: &RungRaw,
    source: &HashMap<String, PartInfo>,
    correction: f64,
    hold_s: f64,
    join_ms: f64,
    window: &dyn Fn(f64) -> bool,
) -> RungPath {
    let mut src: Vec<&PartInfo> = source.values().collect();
    src.sort_by(|a, b| a.capture_ms.total_cmp(&b.capture_ms));
    // Rung parts as the job origin listed them.
    let rung: HashMap<String, PartInfo> = g
        .probe_job
        .listed
        .iter()
        .filter_map(|(h, l)| {
            let capture = l.capture_ms? - correction;
            Some((
                h.clone(),
                PartInfo {
                    duration_s: l.duration_s,
                    size: 0,
                    capture_ms: capture,
                    fragment_ms: l.at_ms,
                    available_ms: l.at_ms,
                },
            ))
        })
        .collect();
    let mut all: Vec<(&String, &PartInfo)> = rung.iter().collect();
    all.sort_by(|a, b| a.1.capture_ms.total_cmp(&b.1.capture_ms));
    let (shown, stalls, stalled_ms) = play_all(&all, &g.viewers, hold_s, join_ms, window);
    let overlap = |a: &PartInfo, b: &PartInfo| {
        let (a0, a1) = (a.capture_ms, a.capture_ms + a.duration_s * 1000.0);
        let (b0, b1) = (b.capture_ms, b.capture_ms + b.duration_s * 1000.0);
        (a1.min(b1) - a0.max(b0)).max(0.0)
    };
    let (mut path, mut transcode, mut hop1, mut unmatched, mut in_window) =
        (Vec::new(), Vec::new(), Vec::new(), 0, 0);
    let mut by_position: Vec<Vec<f64>> = Vec::new();
    for (hash, p) in all.iter().filter(|(_, p)| window(p.available_ms)) {
        in_window += 1;
        // Source parts are sorted by capture: look only near the rung part's start.
        let i = src.partition_point(|s| s.capture_ms + s.duration_s * 1000.0 <= p.capture_ms);
        let best = src[i..]
            .iter()
            .take(4)
            .map(|s| (overlap(p, s), *s))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .filter(|(o, _)| *o >= 0.5 * p.duration_s * 1000.0);
        let Some((_, s)) = best else {
            unmatched += 1;
            continue;
        };
        transcode.push(p.available_ms - s.available_ms);
        if let Some(l) = g.probe_job.listed.get(*hash) {
            let i = (l.index as usize).min(63);
            if by_position.len() <= i {
                by_position.resize(i + 1, Vec::new());
            }
            by_position[i].push(p.available_ms - s.available_ms);
        }
        let rj = g.probe_job.recv.get(*hash).copied();
        let ra = g.probe_a.recv.get(*hash).copied();
        if let (Some(rj), Some(ra)) = (rj, ra) {
            hop1.push(ra - rj);
        }
        path.push(PathPart {
            hash: hash.as_str(),
            capture: p.capture_ms,
            marks: vec![
                Some(s.fragment_ms),
                Some(s.available_ms),
                Some(p.available_ms),
                rj,
                ra,
            ],
        });
    }
    let b = budget(&path, &g.viewers, &shown);
    let names = [
        "encode (capture -> source fragment out of ffmpeg)",
        "cut (source fragment -> source part available at origin)",
        "transcode (source part at origin -> rung part listed at the job origin)",
        "job origin delivery (listed -> a player at the job origin has it)",
        "relay hop 1 (job origin -> rung relay A)",
        "relay hop 2 (rung relay A -> rung edge relay, paid)",
        "player buffer (PART-HOLD-BACK play-out delay)",
    ];
    let notes = [
        "as on the source path, for the source part holding most of the rung part's media",
        "as on the source path",
        "the transcoder's source pull (signed manifest, part fetch, hash check) + ffmpeg ladder (decode, scale, x264; a part is closed when ffmpeg has the next frame) + cut, store, sign, playlist",
        "LL-HLS part GET at the transcoder's job origin",
        "rung relay A: playlist pass-through, chunk fetch, hash + check against the transcoder's signed manifest, cache",
        "rung edge relay: the same, plus the credit-mode check per request",
        "as on the source path",
    ];
    let stages = on_path_stages(&names, &notes, &b.samples);
    let total = Summary::of(&b.total);
    let mut hop_ms = BTreeMap::new();
    hop_ms.insert("job origin -> rung relay A".to_string(), Summary::of(&hop1));
    hop_ms.insert(
        "rung relay A -> rung edge (paid)".to_string(),
        Summary::of(&b.hop_edge),
    );
    RungPath {
        rendition: g.rendition.clone(),
        consistency: consistency_of(&stages, &total),
        stages,
        total,
        transcode_ms: Summary::of(&transcode),
        transcode_by_position_ms: by_position.iter().map(|v| Summary::of(v)).collect(),
        hop_ms,
        viewers: viewers_summary(
            &g.viewers,
            in_window,
            b.missed,
            (stalls, stalled_ms),
            window,
        ),
        parts_unmatched: unmatched,
        payments: g.payments,
    }
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "–".into()
    } else {
        format!("{v:.0}")
    }
}

/// `p50 A / p95 B / p99 C ms` of `s`.
fn pcts(s: &Summary) -> String {
    format!(
        "p50 {} / p95 {} / p99 {} ms",
        ms(s.p50),
        ms(s.p95),
        ms(s.p99)
    )
}

/// One line per relay hop: `Relay hop <name>: p50 … ms.`
fn hop_lines(o: &mut String, hops: &BTreeMap<String, Summary>) {
    use std::fmt::Write;
    for (k, h) in hops {
        let _ = writeln!(o, "Relay hop {k}: {}.", pcts(h));
    }
}

/// A latency budget as a Markdown table, then whether its stages add up.
fn budget_table(o: &mut String, stages: &[Stage], total: &Summary, consistency: &Consistency) {
    let _ = writeln!(
        o,
        "| stage | p50 | p95 | p99 | mean | n | note |\n|---|---|---|---|---|---|---|"
    );
    for s in stages {
        let name = if s.on_path {
            s.name.clone()
        } else {
            format!("({}, off path)", s.name)
        };
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            ms(s.ms.p50),
            ms(s.ms.p95),
            ms(s.ms.p99),
            ms(s.ms.mean),
            s.ms.n,
            s.note
        );
    }
    let _ = writeln!(
        o,
        "| **total: capture -> playing** | **{}** | **{}** | **{}** | **{}** | {} | |",
        ms(total.p50),
        ms(total.p95),
        ms(total.p99),
        ms(total.mean),
        total.n
    );
    let c = consistency;
    let _ = writeln!(
        o,
        "\nStages sum: p50s {:.0} ms vs total p50 {:.0} ms ({:.1} % apart); means {:.0} vs {:.0} ms ({:.1} %): {}.\n",
        c.p50_sum_ms,
        c.p50_total_ms,
        c.p50_gap_pct,
        c.mean_sum_ms,
        c.mean_total_ms,
        c.mean_gap_pct,
        if c.within_5_pct {
            "consistent within 5 %"
        } else {
            "NOT within 5 %"
        }
    );
}

/// The report as Markdown.
pub fn markdown(r: &NetworkReport) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# tollcast bench network\n");
    let _ = writeln!(o, "Command: `{}`  ", r.command);
    let _ = writeln!(o, "Machine: {}  ", r.machine.line());
    let _ = writeln!(
        o,
        "Network: encoder -> origin -> relay A -> {} edge relay(s) -> {} paying viewers ({} mode){} for {:.1} s; {}; parts {} ms, segments {} s, PART-HOLD-BACK {} s.\n",
        r.options.edges,
        r.options.viewers,
        r.payment.mode,
        r.transcoder
            .as_ref()
            .map(|t| format!(
                "; transcoder (ladder {}) -> rung relay A -> rung edge -> {} paying viewers",
                t.ladder.join(", "),
                r.options.rung_viewers
            ))
            .unwrap_or_default(),
        r.options.duration_s,
        r.options.video,
        r.options.part_ms,
        r.options.segment_s,
        r.part_hold_back_s
            .map(|v| format!("{v}"))
            .unwrap_or("?".into())
    );
    let _ = writeln!(
        o,
        "## Glass-to-glass latency budget (ms, per part and viewer)\n"
    );
    budget_table(&mut o, &r.stages, &r.total, &r.consistency);
    let t = &r.capture_to_origin_ms;
    let _ = writeln!(
        o,
        "Capture -> part available at the origin: {} ({} parts); capture clock moved back {:.0} ms so that no part leaves the encoder before its media was captured.",
        pcts(t),
        t.n,
        r.capture_clock_correction_ms
    );
    hop_lines(&mut o, &r.hop_ms);
    if let Some(g) = &r.rung {
        let _ = writeln!(
            o,
            "\n## Rung path: {} (encoder -> origin -> transcoder -> rung relay A -> rung edge -> {} paying viewers)\n",
            g.rendition, g.viewers.viewers
        );
        budget_table(&mut o, &g.stages, &g.total, &g.consistency);
        let c = &g.consistency;
        if !c.within_5_pct && c.mean_gap_pct <= 5.0 {
            let _ = writeln!(
                o,
                "The means add up; the p50s do not because the stages are anti-correlated (e.g. a rung part that waits longer in the transcoder waits less at the rung relay), and the median of a sum is not the sum of the medians.\n"
            );
        }
        let _ = writeln!(
            o,
            "Transcode p50 by the part's position in its segment: {}.",
            g.transcode_by_position_ms
                .iter()
                .enumerate()
                .map(|(i, s)| format!("part {i}: {} ms (n {})", ms(s.p50), s.n))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let t = &g.transcode_ms;
        let _ = writeln!(
            o,
            "Transcode (source part available at the origin -> rung part listed at the job origin), per rung part: {} ({} parts; {} not matched to a source part).",
            pcts(t),
            t.n,
            g.parts_unmatched
        );
        hop_lines(&mut o, &g.hop_ms);
        let v = &g.viewers;
        let _ = writeln!(
            o,
            "Rung viewers: {} parts in the window, {} (part, viewer) pairs missed, {} play-out stalls ({:.0} ms), {} errors ({} × 402); {}.",
            v.parts_in_window,
            v.parts_missed,
            v.stalls,
            v.stalled_ms,
            v.errors,
            v.payment_required,
            if r.payment.mode == "ilp-native" {
                "paid per part inside STREAM packets (ILP-native)".to_string()
            } else {
                format!("{} payments to the rung edge in the run", g.payments)
            }
        );
    }
    if let Some(t) = &r.transcoder {
        let _ = writeln!(o, "\n## Transcoder cost\n\n| figure | value |\n|---|---|");
        let rows = [
            (
                "ladder (one ffmpeg, source mirrored as-is)",
                format!("{} (x264 {})", t.ladder.join(", "), t.preset),
            ),
            (
                "source transcoded in the window",
                format!("{:.1} s", t.transcoded_s),
            ),
            (
                "CPU: ffmpeg ladder + transcoder agent",
                format!("{:.2} s + {:.2} s", t.ffmpeg_cpu_s, t.agent_cpu_s),
            ),
            (
                "**CPU per minute of ladder**",
                format!("**{:.2} core-s**", t.core_seconds_per_ladder_minute),
            ),
            (
                "streamer's job client + wallet (not included above)",
                format!(
                    "{:.2} CPU-s; paid the transcoder {} µUSD in the run",
                    t.job_client_cpu_s, t.streamer_paid
                ),
            ),
        ];
        for (k, v) in rows {
            let _ = writeln!(o, "| {k} | {v} |");
        }
    }
    let p = &r.payment;
    let _ = writeln!(o, "\n## Payment overhead ({} mode)\n", p.mode);
    let _ = writeln!(o, "| figure | value |\n|---|---|");
    let rows = [
        (
            if p.mode == "ilp-native" {
                "STREAM packets in the window (each pays for the bytes in its FULFILL)"
            } else {
                "payments in the window"
            },
            format!("{} of {} base units each", p.payments, p.amount_per_payment),
        ),
        (
            "wire bytes that are not media, per part",
            format!(
                "{:.0} B (media carried in packets: {} B)",
                p.overhead_bytes_per_part, p.media_bytes_in_packets
            ),
        ),
        (
            if p.mode == "ilp-native" {
                "part fetched over STREAM (paid + delivered) p50/p95/p99"
            } else {
                "payment round trip (send -> FULFILL) p50/p95/p99"
            },
            format!(
                "{} / {} / {} ms",
                ms(p.rtt_ms.p50),
                ms(p.rtt_ms.p95),
                ms(p.rtt_ms.p99)
            ),
        ),
        (
            "send -> credited at the relay p50/p95/p99",
            format!(
                "{} / {} / {} ms",
                ms(p.credit_ms.p50),
                ms(p.credit_ms.p95),
                ms(p.credit_ms.p99)
            ),
        ),
        (
            "bytes on the wire (BTP over WebSocket, both ways)",
            format!(
                "{} B = {:.0} B per payment",
                p.wire_bytes, p.bytes_per_payment
            ),
        ),
        (
            "per chunk delivered",
            format!(
                "{:.0} B and {:.1} µs CPU per part ({} parts)",
                p.bytes_per_part, p.cpu_us_per_part, p.parts_delivered
            ),
        ),
        (
            "CPU per payment (wallet side + relay side)",
            format!(
                "{:.0} µs ({:.3} s + {:.3} s)",
                p.cpu_us_per_payment, p.cpu_wallet_s, p.cpu_edge_ilp_s
            ),
        ),
        (
            "per viewer-hour",
            format!(
                "{:.0} B, {:.3} core-s (larger side)",
                p.bytes_per_viewer_hour, p.core_seconds_per_viewer_hour
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "| {k} | {v} |");
    }
    let rc = &r.relay;
    let _ = writeln!(o, "\n## Relay cost\n\n| figure | value |\n|---|---|");
    let rows = [
        (
            "viewer-hours in the window",
            format!("{:.4}", rc.viewer_hours),
        ),
        (
            "edge relay CPU per viewer-hour (delivery)",
            format!("{:.2} core-s", rc.edge_core_seconds_per_viewer_hour),
        ),
        (
            "... with its ILP node (payments in)",
            format!(
                "{:.2} core-s",
                rc.edge_with_payment_core_seconds_per_viewer_hour
            ),
        ),
        (
            "edge bytes served per viewer-hour",
            format!(
                "{:.0} B ({:.2} GB)",
                rc.bytes_per_viewer_hour,
                rc.bytes_per_viewer_hour / 1e9
            ),
        ),
        (
            "relay A (feeds the edges)",
            format!(
                "{:.2} CPU-s, {} B served",
                rc.relay_a_cpu_s, rc.relay_a_bytes_served
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = writeln!(o, "| {k} | {v} |");
    }
    let _ = writeln!(
        o,
        "\n## CPU seconds per agent in the window\n\n| agent | CPU s | share of window |\n|---|---|---|"
    );
    for (k, v) in &r.cpu_s {
        let _ = writeln!(
            o,
            "| {k} | {v:.2} | {:.0} % of a core |",
            v / r.options.duration_s * 100.0
        );
    }
    let v = &r.viewers;
    let _ = writeln!(
        o,
        "\nViewers: {} parts in the window, {} (part, viewer) pairs missed, {} play-out stalls ({:.0} ms in all), {} errors in the window ({} × 402){}.",
        v.parts_in_window,
        v.parts_missed,
        v.stalls,
        v.stalled_ms,
        v.errors,
        v.payment_required,
        v.last_error
            .as_ref()
            .map(|e| format!("; last: {e}"))
            .unwrap_or_default()
    );
    if !r.browser.is_empty() || !r.browser_errors.is_empty() {
        let _ = writeln!(
            o,
            "\n## hls.js in headless Chromium (real player)\n\n| playing from | glass-to-glass p50 | p95 | p99 | behind playlist edge p50 | stalls | played s | errors |\n|---|---|---|---|---|---|---|---|"
        );
        for b in &r.browser {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {:.1} | {} |",
                b.target,
                ms(b.glass_to_glass_ms.p50),
                ms(b.glass_to_glass_ms.p95),
                ms(b.glass_to_glass_ms.p99),
                ms(b.behind_edge_ms.p50),
                b.stalls,
                b.advanced_s,
                b.errors.len()
            );
        }
        for e in &r.browser_errors {
            let _ = writeln!(o, "\nhls.js failed: {e}");
        }
    }
    let _ = writeln!(o, "\n## Not measured\n");
    for n in &r.not_measured {
        let _ = writeln!(o, "- {n}");
    }
    o
}

const BASE_MEASURED: &str = include_str!("../../../../examples/econ/measured.toml");

fn figure(value: f64, source: String, command: &str) -> anyhow::Result<Figure> {
    Ok(Figure {
        value: Dec::from_f64(value).ok_or_else(|| anyhow::anyhow!("{value} is not a number"))?,
        status: Status::Measured,
        source,
        command: Some(command.to_string()),
    })
}

/// examples/econ/measured.toml with the relay and payment figures replaced by this run's.
pub fn measured_toml(r: &NetworkReport) -> anyhow::Result<String> {
    let mut m = Measured::parse("examples/econ/measured.toml", BASE_MEASURED)?;
    let run = format!(
        "tollcast bench network, {} paying viewers on {} edge relays for {:.0} s, {}, {} ms parts; {}",
        r.options.viewers,
        r.options.edges,
        r.options.duration_s,
        r.options.video,
        r.options.part_ms,
        r.machine.line()
    );
    if let Some(t) = &r.transcoder
        && t.core_seconds_per_ladder_minute.is_finite()
    {
        m.transcoder_core_seconds_per_ladder_minute = figure(
            t.core_seconds_per_ladder_minute,
            format!(
                "{run}. Transcoder agent with a paid NIP-90 job in the tree (source pulled from the origin and checked against the creator's signed manifests, one ffmpeg for the ladder {} with x264 {}, rungs cut, signed and served): ladder ffmpeg {:.2} s (/proc/<pid>/stat) + agent runtime {:.2} s (/proc/self/task/*/schedstat) over {:.1} s of source transcoded.",
                t.ladder.join(", "),
                t.preset,
                t.ffmpeg_cpu_s,
                t.agent_cpu_s,
                t.transcoded_s
            ),
            &r.command,
        )?;
    }
    let rc = &r.relay;
    m.relay_core_seconds_per_viewer_hour = figure(
        rc.edge_core_seconds_per_viewer_hour,
        format!(
            "{run}. Edge relays' threads (HTTP, hash + manifest checks, cache, credit check), CPU from /proc/self/task/*/schedstat, {:.3} s over {:.4} viewer-hours. Payment handling is counted separately below.",
            rc.edge_cpu_s, rc.viewer_hours
        ),
        &r.command,
    )?;
    m.relay_bytes_per_viewer_hour = figure(
        rc.bytes_per_viewer_hour.round(),
        format!(
            "{run}. Body bytes the edge relays served (relay metrics bytes_served), {} B over {:.4} viewer-hours; HTTP headers not included.",
            rc.edge_bytes_served, rc.viewer_hours
        ),
        &r.command,
    )?;
    let p = &r.payment;
    m.payment_bytes_per_viewer_hour = figure(
        p.bytes_per_viewer_hour.round(),
        format!(
            "{run}. Bytes counted on the BTP link wallet node -> edge ILP node (WebSocket + BTP + ILP + STREAM, both directions, above TCP): {} B for {} payments of {} ms of service each.",
            p.wire_bytes, p.payments, r.options.pay_every_ms
        ),
        &r.command,
    )?;
    m.payment_core_seconds_per_viewer_hour = figure(
        p.core_seconds_per_viewer_hour,
        format!(
            "{run}. Larger of the two parties: wallet node + STREAM senders {:.3} s, edge ILP node + receiver + billing {:.3} s, over {:.4} viewer-hours.",
            p.cpu_wallet_s, p.cpu_edge_ilp_s, rc.viewer_hours
        ),
        &r.command,
    )?;
    Ok(m.to_toml())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(capture_ms: f64) -> PartInfo {
        PartInfo {
            duration_s: 0.2,
            size: 0,
            capture_ms,
            fragment_ms: capture_ms + 200.0,
            available_ms: capture_ms + 200.0,
        }
    }

    #[test]
    fn play_out_joins_at_the_window_and_stalls_on_late_parts() {
        // Parts captured every 200 ms from 1000 ms. Start-up: parts 0-4 arrive in one burst at
        // 2000-2040 ms; then each 300 ms after capture, part 8 500 ms later than that.
        let hashes: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
        let infos: Vec<PartInfo> = (0..10).map(|i| part(1000.0 + 200.0 * i as f64)).collect();
        let parts: Vec<(&String, &PartInfo)> = hashes.iter().zip(&infos).collect();
        let mut recv = HashMap::new();
        for (i, h) in hashes.iter().enumerate() {
            let got = match i {
                0..=4 => 2000.0 + 10.0 * i as f64,
                8 => infos[i].capture_ms + 800.0,
                _ => infos[i].capture_ms + 300.0,
            };
            recv.insert(h.clone(), got);
        }
        let window = |_t: f64| true;
        // Joined before the burst: anchored on part 0 (got 2000, ends 1200 + 600 hold): every
        // part is shown 1,400 ms after capture, and part 8 is still in time.
        let (shown, stalls, _) = play_out(&parts, &recv, 0.6, 0.0, &window);
        assert_eq!(shown["h0"], 2400.0);
        assert_eq!(shown["h9"], 2800.0 + 1400.0);
        assert_eq!(stalls, 0);
        // Joined at 2200 (the window): anchored on part 5 (got 2300): 700 ms after capture.
        let (shown, stalls, stalled) = play_out(&parts, &recv, 0.6, 2200.0, &window);
        assert!(!shown.contains_key("h4"));
        assert_eq!(shown["h5"], 2000.0 + 700.0);
        assert_eq!(shown["h7"], 2400.0 + 700.0);
        // Part 8 was due at 3300 but came at 3400: a 100 ms stall; later parts move too.
        assert_eq!((stalls, stalled), (1, 100.0));
        assert_eq!(shown["h8"], 3400.0);
        assert_eq!(shown["h9"], 3600.0);
    }
}

//! Ladder overhead benchmark: CPU seconds per minute of source for tollcast's ladder (one
//! ffmpeg fed segment by segment on stdin, every rung cut, hashed, stored, signed, served by an
//! origin) against plain ffmpeg making the same ladder (same encoder arguments) from a file.
//!
//! `cargo run --release -p tollcast-media --example ladder_bench -- [seconds] [WxH] [preset] [runs]`
//! (defaults: 20 s of 1280x720@30, veryfast, 3 runs). Prints the median of each and the ratio.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tollcast_events::nostr::prelude::Keys;
use tollcast_events::{Role, StreamAddress};
use tollcast_media::cutter::{CutEvent, Cutter, CutterConfig};
use tollcast_media::fmp4::{Fmp4Item, Fmp4Splitter};
use tollcast_media::ingest::cmaf_output_args;
use tollcast_media::ingest::ffmpeg::ffmpeg_bin;
use tollcast_media::ladder::{
    Ladder, LadderConfig, Rung, SourceSegment, ffmpeg_args, fit_to_source, split_boxes,
};
use tollcast_media::live::ManifestSigner;
use tollcast_media::manifest::{ManifestPart, SegmentManifest};
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::{ChunkStore, sha256_hex};

/// (user + system) CPU seconds of this process and of its waited-for children.
fn cpu() -> (f64, f64) {
    let get = |who| {
        // SAFETY: getrusage fills the struct we own.
        let mut r: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut r) };
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        t(r.ru_utime) + t(r.ru_stime)
    };
    (get(libc::RUSAGE_SELF), get(libc::RUSAGE_CHILDREN))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn source(secs: f64, w: u32, h: u32, path: &std::path::Path) -> Vec<u8> {
    let mut args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={w}x{h}:rate=30"),
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-t",
        &secs.to_string(),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "30",
        "-keyint_min",
        "30",
        "-sc_threshold",
        "0",
        "-b:v",
        "3000k",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(cmaf_output_args(200_000));
    let out = std::process::Command::new(ffmpeg_bin())
        .args(&args)
        .output()
        .expect("ffmpeg");
    assert!(out.status.success());
    std::fs::write(path, &out.stdout).unwrap();
    out.stdout
}

fn segments(bytes: &[u8], cut: CutterConfig) -> Vec<SourceSegment> {
    let mut sp = Fmp4Splitter::new();
    let mut cutter = Cutter::new(cut, 0);
    let mut init = Bytes::new();
    let mut evs = Vec::new();
    for (k, b) in split_boxes(bytes).unwrap() {
        match sp.push_box(k, b).unwrap() {
            Some(Fmp4Item::Init(i)) => init = i.bytes,
            Some(Fmp4Item::Fragment(f)) => evs.extend(cutter.push(&f)),
            None => {}
        }
    }
    evs.extend(cutter.finish());
    let mut out = Vec::new();
    let mut parts: Vec<(Bytes, f64, bool)> = Vec::new();
    for ev in evs {
        match ev {
            CutEvent::Part(p) => parts.push((p.bytes, p.duration, p.independent)),
            CutEvent::SegmentEnd { msn, duration, .. } => {
                let all: Vec<u8> = parts.iter().flat_map(|p| p.0.to_vec()).collect();
                out.push(SourceSegment {
                    manifest: SegmentManifest {
                        rendition: "source".into(),
                        msn,
                        init: sha256_hex(&init),
                        segment: sha256_hex(&all),
                        segment_size: all.len() as u64,
                        parts: parts
                            .iter()
                            .map(|(b, d, i)| ManifestPart {
                                hash: sha256_hex(b),
                                duration: *d,
                                independent: *i,
                                size: b.len() as u64,
                            })
                            .collect(),
                        duration,
                        capture_ms: 0,
                        source: None,
                    },
                    init: init.clone(),
                    parts: std::mem::take(&mut parts)
                        .into_iter()
                        .map(|p| p.0)
                        .collect(),
                });
            }
        }
    }
    out
}

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let secs: f64 = a.first().and_then(|s| s.parse().ok()).unwrap_or(20.0);
    let (w, h) = a
        .get(1)
        .and_then(|s| s.split_once('x'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((1280u32, 720u32));
    let preset = a.get(2).cloned().unwrap_or("veryfast".into());
    let runs: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let src_path = dir.path().join("source.mp4");
    let bytes = source(secs, w, h, &src_path);
    let cut = CutterConfig {
        part_target: 0.2,
        segment_target: 1.0,
    };
    let segs = segments(&bytes, cut);
    let media_secs: f64 = segs.iter().map(|s| s.manifest.duration).sum();
    let cfg = LadderConfig {
        rungs: Rung::standard(),
        cutter: cut,
        preset: preset.clone(),
        signer: Some(ManifestSigner {
            keys: Keys::generate(),
            stream: StreamAddress::new(Keys::generate().public_key(), "bench"),
            role: Role::Transcoder,
        }),
        ..LadderConfig::default()
    };
    let rungs = fit_to_source(&cfg.rungs, w, h);
    println!(
        "source: {media_secs:.1} s of {w}x{h}@30, {} segments; rungs: {}; preset {preset}",
        segs.len(),
        rungs
            .iter()
            .map(|r| format!("{}={}x{}", r.name, r.width, r.height))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut plain, mut ladder, mut plain_wall, mut ladder_wall) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        // Plain ffmpeg: the same arguments, from the file, to files.
        let outs: Vec<String> = (0..rungs.len())
            .map(|i| {
                dir.path()
                    .join(format!("plain{i}.mp4"))
                    .display()
                    .to_string()
            })
            .collect();
        let args = ffmpeg_args(&cfg, &rungs, &src_path.display().to_string(), &outs);
        let (_, c0) = cpu();
        let t0 = Instant::now();
        let st = std::process::Command::new(ffmpeg_bin())
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(&args)
            .status()
            .unwrap();
        assert!(st.success());
        let wall = t0.elapsed().as_secs_f64();
        let (_, c1) = cpu();
        plain.push(c1 - c0);
        plain_wall.push(wall);

        // tollcast: segments pushed into the ladder, every rung cut/stored/signed/served.
        let sdir = tempfile::tempdir().unwrap();
        let origin = Origin::new(
            ChunkStore::open(sdir.path(), 4 << 30).unwrap(),
            PlaylistConfig {
                part_target: 0.2,
                segment_target: 1.0,
                window: 12,
            },
        );
        let segs2 = segs.clone();
        let cfg2 = cfg.clone();
        let (s0, c0) = cpu();
        let t0 = Instant::now();
        rt.block_on(async move {
            let l = Ladder::spawn(cfg2, origin);
            for s in segs2 {
                l.push(s).await.unwrap();
            }
            tokio::time::timeout(Duration::from_secs(600), l.finish())
                .await
                .unwrap()
                .unwrap();
        });
        let wall = t0.elapsed().as_secs_f64();
        let (s1, c1) = cpu();
        ladder.push((s1 - s0) + (c1 - c0));
        ladder_wall.push(wall);
        println!(
            "run {}: plain {:.2} CPU-s ({:.2} s wall), tollcast {:.2} CPU-s ({:.2} ffmpeg + {:.2} ours, {:.2} s wall)",
            run + 1,
            plain[run],
            plain_wall[run],
            ladder[run],
            c1 - c0,
            s1 - s0,
            wall
        );
    }
    let per_min = |x: f64| x * 60.0 / media_secs;
    let (p, l) = (median(plain), median(ladder));
    println!(
        "LADDER plain ffmpeg: {:.2} CPU-s per source minute (realtime x{:.1}); tollcast ladder: {:.2} CPU-s per source minute (realtime x{:.1}); ratio {:.3} (median of {runs})",
        per_min(p),
        media_secs / median(plain_wall),
        per_min(l),
        media_secs / median(ladder_wall),
        l / p
    );
}

//! `tollcast bench network` through the real binary: a 20 s run of encoder (ffmpeg) -> origin
//! -> relay A -> 2 edge relays -> 4 paying viewers on 127.0.0.1, with a transcoder (paid NIP-90
//! job, one ffmpeg for a 240p rung) whose rung goes job origin -> rung relay A -> rung edge -> 2
//! paying viewers, completes on a 2-core machine; its report is internally consistent on both
//! paths (the stages, transcode included on the rung path, sum to the total within 5 %; every
//! viewer got every part, payments were made and credited), and its measured.toml (transcoder
//! CPU per ladder-minute included) feeds `tollcast econ`. Bad options exit 1 with a message.

mod common;

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn bench_network_20s_report_is_consistent_and_feeds_econ() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.display().to_string();
    let r = common::run(
        &[
            "bench",
            "network",
            "--duration",
            "20",
            "--viewers",
            "4",
            "--edges",
            "2",
            "--size",
            "640x360",
            "--video-kbps",
            "800",
            "--ladder",
            "240p",
            "--ladder-preset",
            "ultrafast",
            "--rung-viewers",
            "2",
            "--out",
            &o,
            "--json",
        ],
        "",
    );
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "bench failed: {stderr}");
    let printed: serde_json::Value = serde_json::from_slice(&r.stdout).expect("JSON on stdout");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(printed, j, "stdout and report.json hold the same report");
    println!(
        "BENCH total p50 {} ms, stage p50 sum {} ms, hop1 p50 {} ms",
        j["total"]["p50"], j["consistency"]["p50_sum_ms"], j["hop_ms"]["origin -> relay A"]["p50"]
    );

    // Every on-path stage measured, stages sum to the total within 5 % (p50 and mean).
    let stages = j["stages"].as_array().unwrap();
    assert_eq!(stages.iter().filter(|s| s["on_path"] == true).count(), 6);
    for s in stages {
        assert!(
            s["ms"]["n"].as_u64().unwrap() > 0,
            "stage without samples: {s}"
        );
    }
    // Means telescope exactly; p50s add up within 5 % unless a play-out stall (a late part on a
    // loaded machine) made the total bimodal, then within 10 %.
    let c = &j["consistency"];
    let gap = |a: &str, b: &str| {
        let (a, b) = (c[a].as_f64().unwrap(), c[b].as_f64().unwrap());
        (a - b).abs() / b
    };
    assert!(gap("mean_sum_ms", "mean_total_ms") <= 0.001, "{c}");
    let stalls = j["viewers"]["stalls"].as_u64().unwrap();
    let p50_gap = gap("p50_sum_ms", "p50_total_ms");
    assert!(
        p50_gap <= if stalls == 0 { 0.05 } else { 0.10 },
        "{c}, {stalls} stalls"
    );
    if stalls == 0 {
        assert_eq!(c["within_5_pct"], true, "{c}");
    }
    let total = j["total"]["p50"].as_f64().unwrap();
    let origin = j["capture_to_origin_ms"]["p50"].as_f64().unwrap();
    let hold = j["part_hold_back_s"].as_f64().unwrap();
    assert!(
        (hold - 0.6).abs() < 1e-9,
        "PART-HOLD-BACK is 3 parts of 200 ms"
    );
    assert!(
        origin >= 200.0,
        "a 200 ms part cannot be out before its media: {origin}"
    );
    assert!(total > origin && total < 20_000.0, "total {total} ms");
    assert!(
        j["total"]["n"].as_u64().unwrap() >= 4 * 50,
        "4 viewers x >= 50 parts in 20 s"
    );

    // Every viewer got every part of the window; money moved and was credited.
    let v = &j["viewers"];
    assert_eq!(v["parts_missed"], 0, "{v}");
    assert_eq!(
        v["payment_required"], 0,
        "paying viewers were never refused: {v}"
    );
    let p = &j["payment"];
    assert!(p["payments"].as_u64().unwrap() >= 4 * 15, "{p}");
    assert_eq!(
        p["credit_ms"]["n"], p["payments"],
        "every payment was credited: {p}"
    );
    let per_payment = p["bytes_per_payment"].as_f64().unwrap();
    assert!(
        (150.0..2000.0).contains(&per_payment),
        "{per_payment} B per payment"
    );
    let relay = &j["relay"];
    assert!(relay["edge_core_seconds_per_viewer_hour"].as_f64().unwrap() > 0.0);
    // 800 + 64 kbit/s is ~0.39 GB per hour; the edges served about that per viewer.
    let bvh = relay["bytes_per_viewer_hour"].as_f64().unwrap();
    assert!((0.25e9..0.6e9).contains(&bvh), "{bvh} B per viewer-hour");
    assert!(j["machine"]["nproc"].as_u64().unwrap() >= 1);

    // The rung path: the transcode stage is measured on a viewer path and the stages add up.
    let g = &j["rung"];
    assert_eq!(g["rendition"], "240p", "{g}");
    let rstages = g["stages"].as_array().unwrap();
    assert_eq!(rstages.iter().filter(|s| s["on_path"] == true).count(), 7);
    for s in rstages {
        assert!(
            s["ms"]["n"].as_u64().unwrap() > 0,
            "rung stage without samples: {s}"
        );
        assert!(s["ms"]["p50"].as_f64().is_some_and(f64::is_finite), "{s}");
    }
    let transcode = rstages
        .iter()
        .find(|s| s["name"].as_str().unwrap().starts_with("transcode"))
        .expect("a transcode stage");
    let t50 = transcode["ms"]["p50"].as_f64().unwrap();
    // A rung part cannot be out before the source part it is made of.
    assert!((0.0..10_000.0).contains(&t50), "transcode p50 {t50} ms");
    assert_eq!(
        g["transcode_ms"]["n"].as_u64().unwrap() * 2,
        transcode["ms"]["n"].as_u64().unwrap(),
        "per part and per (part, viewer) samples: {g}"
    );
    println!(
        "BENCH rung total p50 {} ms, stage p50 sum {} ms, transcode p50 {t50} ms",
        g["total"]["p50"], g["consistency"]["p50_sum_ms"]
    );
    let rc = &g["consistency"];
    let rgap = |a: &str, b: &str| {
        let (a, b) = (rc[a].as_f64().unwrap(), rc[b].as_f64().unwrap());
        (a - b).abs() / b
    };
    assert!(rgap("mean_sum_ms", "mean_total_ms") <= 0.001, "{rc}");
    // p50s add up as on the source path: with part manifests the rung relays do not wait for
    // a segment's manifest, so the only stage that moves with the part's position (transcode:
    // the transcoder is fed whole segments) is mirrored by the player buffer.
    let rstalls = g["viewers"]["stalls"].as_u64().unwrap();
    assert!(
        rgap("p50_sum_ms", "p50_total_ms") <= if rstalls == 0 { 0.05 } else { 0.10 },
        "{rc}, {rstalls} stalls"
    );
    let rv = &g["viewers"];
    assert!(rv["parts_in_window"].as_u64().unwrap() >= 50, "{rv}");
    assert_eq!(rv["parts_missed"], 0, "{rv}");
    assert_eq!(rv["payment_required"], 0, "{rv}");
    assert_eq!(
        g["parts_unmatched"], 0,
        "every rung part dates to a source part: {g}"
    );
    // The transcoder kept up with the live source and its CPU was counted.
    let tc = &j["transcoder"];
    let secs = tc["transcoded_s"].as_f64().unwrap();
    let window = j["options"]["duration_s"].as_f64().unwrap();
    assert!(secs >= 0.7 * window && secs <= window + 2.0, "{tc}");
    assert!(tc["ffmpeg_cpu_s"].as_f64().unwrap() > 0.0, "{tc}");
    assert!(tc["agent_cpu_s"].as_f64().unwrap() > 0.0, "{tc}");
    let cpm = tc["core_seconds_per_ladder_minute"].as_f64().unwrap();
    assert!(cpm > 0.0 && cpm < 120.0, "{tc}");
    assert!(
        tc["streamer_paid"].as_u64().unwrap() > 0,
        "the job was paid: {tc}"
    );

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("total: capture -> playing") && md.contains("consistent within 5 %"));
    assert!(md.contains("## Rung path: 240p") && md.contains("CPU per minute of ladder"));

    // measured.toml: relay and payment figures now measured, and `tollcast econ` takes it.
    let m = std::fs::read_to_string(out.join("measured.toml")).unwrap();
    let t: toml::Table = toml::from_str(&m).unwrap();
    for k in [
        "transcoder_core_seconds_per_ladder_minute",
        "relay_core_seconds_per_viewer_hour",
        "relay_bytes_per_viewer_hour",
        "payment_bytes_per_viewer_hour",
        "payment_core_seconds_per_viewer_hour",
    ] {
        assert_eq!(t[k]["status"].as_str(), Some("measured"), "{k}");
    }
    let assumptions = root().join("examples/econ/assumptions.toml");
    let e = common::run(
        &[
            "econ",
            "--assumptions",
            &assumptions.display().to_string(),
            "--measured",
            &out.join("measured.toml").display().to_string(),
            "--json",
        ],
        "",
    );
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let ej: serde_json::Value = serde_json::from_slice(&e.stdout).unwrap();
    for k in [
        "relay_core_seconds_per_viewer_hour",
        "transcoder_core_seconds_per_ladder_minute",
    ] {
        assert_eq!(ej["measured"][k]["status"], "measured", "{k}");
    }
}

#[test]
fn bench_network_bad_options_exit_1() {
    for (args, want) in [
        (vec!["--size", "640"], "WIDTHxHEIGHT"),
        (vec!["--viewers", "0"], "at least 1"),
        (
            vec!["--parts-ms", "500", "--segment-s", "0.2"],
            "at least one part",
        ),
        (vec!["--ladder", "tall"], "want a height like 360p"),
        (
            vec!["--size", "640x360", "--ladder", "360p,480p"],
            "no rung below the source's 360 lines",
        ),
        (vec!["--ladder-preset", "placebo"], "one of ultrafast"),
        (
            vec!["--rung-viewers", "0"],
            "--rung-viewers must be at least 1",
        ),
    ] {
        let mut a = vec!["bench", "network"];
        a.extend(args.iter().copied());
        let r = common::run(&a, "");
        assert_eq!(r.status.code(), Some(1), "{a:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(want), "{a:?}: {err}");
    }
}

#[test]
fn bench_fanout_bad_options_exit_1() {
    for (args, want) in [
        (vec!["--servers", "apache"], "unknown `apache`"),
        (vec!["--start", "0"], "at least 1"),
        (
            vec!["--start", "50", "--max", "10"],
            "--max at least --start",
        ),
    ] {
        let mut a = vec!["bench", "fanout"];
        a.extend(args.iter().copied());
        let r = common::run(&a, "");
        assert_eq!(r.status.code(), Some(1), "{a:?}");
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(err.contains(want), "{a:?}: {err}");
    }
}

//! hls.js (lowLatencyMode) in headless Chromium plays the origin's live synthetic stream: the
//! playlists parse in a real player, parts play, currentTime advances, and the player uses
//! blocking playlist reloads. Needs tests/interop/node_modules (scripts/setup.sh installs it).

mod common;

use std::time::Duration;

use common::*;
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::Source;
use tollcast_media::ingest::synthetic::SyntheticOptions;
use tollcast_media::live::{LiveConfig, LiveEvent, spawn_live};
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hlsjs_plays_the_live_stream_in_chromium() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let interop = root.join("tests/interop");
    assert!(
        interop.join("node_modules/hls.js").exists()
            && interop.join("node_modules/playwright-core").exists(),
        "tests/interop/node_modules is missing hls.js/playwright-core: run scripts/setup.sh"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "install chromium (scripts/setup.sh)"
    );

    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 128 * 1024 * 1024).unwrap();
    let cut = CutterConfig {
        part_target: 0.2,
        segment_target: 1.0,
    };
    let origin = Origin::new(
        store,
        PlaylistConfig {
            part_target: 0.2,
            segment_target: 1.0,
            window: 12,
        },
    );
    let addr = serve(origin.router()).await;
    let mut cfg = LiveConfig::new(Source::Synthetic(SyntheticOptions {
        width: 426,
        height: 240,
        fps: 30,
        video_kbps: 400,
        duration: None,
    }));
    cfg.cutter = cut;
    let live = spawn_live(cfg, origin.clone()).await.unwrap();
    // Wait for two segments so the player has something to start from.
    let mut rx = live.subscribe();
    let mut segs = 0;
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(ev) = rx.recv().await {
            if let LiveEvent::Segment(_) = ev {
                segs += 1;
                if segs >= 2 {
                    break;
                }
            }
        }
    })
    .await
    .expect("two segments");

    let url = format!("http://{addr}/live/master.m3u8");
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node")
            .arg(interop.join("hls/play.mjs"))
            .arg(&url)
            .arg("6")
            .output(),
    )
    .await
    .expect("player finishes")
    .expect("node runs");
    live.abort();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "hls.js did not play:\n{stdout}\n{stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON result");
    println!("MEASURE hls.js: {v}");
    assert!(
        v["advanced"].as_f64().unwrap() > 3.0,
        "currentTime advanced too little: {v}"
    );
    assert_eq!(v["canBlockReload"], true, "{v}");
    assert!(
        v["requests"]["blocking"].as_u64().unwrap() > 0,
        "hls.js made no blocking reloads: {v}"
    );
    let fatal: Vec<_> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.as_str().unwrap_or("").contains("fatal"))
        .collect();
    assert!(fatal.is_empty(), "fatal hls.js errors: {v}");
}

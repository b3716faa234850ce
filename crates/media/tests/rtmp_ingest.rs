//! RTMP ingest with real ffmpeg as the encoder (as OBS would push): the right stream key is
//! accepted and its media reaches the playlist; a wrong key is refused and publishes nothing;
//! the encoder's disconnect ends the session cleanly (EXT-X-ENDLIST with end_on_disconnect).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::Source;
use tollcast_media::live::{LiveConfig, LiveEvent, spawn_live};
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;

fn push(addr: SocketAddr, key: &str, seconds: u32) -> tokio::process::Child {
    tokio::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg("testsrc2=size=426x240:rate=30")
        .args([
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
        ])
        .arg(seconds.to_string())
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-sc_threshold",
            "0",
            "-pix_fmt",
            "yuv420p",
            "-b:v",
            "400k",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            "flv",
        ])
        .arg(format!("rtmp://{addr}/live/{key}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtmp_push_with_stream_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 128 * 1024 * 1024).unwrap();
    let origin = Origin::new(store, PlaylistConfig::default());
    let http = serve(origin.router()).await;
    let mut cfg = LiveConfig::new(Source::Rtmp {
        listen: "127.0.0.1:0".parse().unwrap(),
        app: "live".into(),
        key: "s3cret-key".into(),
    });
    cfg.cutter = CutterConfig {
        part_target: 0.2,
        segment_target: 1.0,
    };
    cfg.end_on_disconnect = true;
    let live = spawn_live(cfg, origin.clone()).await.unwrap();
    let addr = live.rtmp_addr.unwrap();
    let mut rx = live.subscribe();

    // Wrong key: refused, ffmpeg fails, nothing is published.
    let bad = push(addr, "wrong-key", 2).wait_with_output().await.unwrap();
    assert!(!bad.status.success(), "a wrong stream key must be refused");
    assert!(origin.position("source").is_none());
    assert!(rx.try_recv().is_err(), "no session for a wrong key");

    // Right key: parts flow, then the disconnect ends the stream.
    let good = push(addr, "s3cret-key", 3);
    let mut parts = 0;
    let mut lat = Vec::new();
    let mut ended = None;
    let run = async {
        while let Ok(ev) = rx.recv().await {
            match ev {
                LiveEvent::Part {
                    capture_ms,
                    available_ms,
                    ..
                } => {
                    parts += 1;
                    lat.push((available_ms - capture_ms) as f64);
                }
                LiveEvent::SessionEnded { reason, .. } => {
                    ended = Some(reason);
                    break;
                }
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("session ends");
    let out = good.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(parts >= 10, "3 s of media in 0.2 s parts, got {parts}");
    println!(
        "MEASURE rtmp: {parts} parts, first-media-tag->available median {:.0} ms; end: {}",
        median(&mut lat),
        ended.unwrap_or_default()
    );
    let pl = get(http, "/live/source/index.m3u8").await.text();
    assert!(pl.contains("#EXT-X-ENDLIST"), "{pl}");
    assert!(pl.contains("#EXT-X-PART:"), "{pl}");
}

//! SRT ingest with real ffmpeg on both ends: the listener (supervised ffmpeg) accepts a caller
//! with the right passphrase; when the caller disconnects the stream pauses (no ENDLIST), the
//! listener is restarted, and the next caller continues the same playlist after an
//! EXT-X-DISCONTINUITY. A caller with the wrong passphrase publishes nothing.

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

const PASS: &str = "correct-horse-battery";

fn call(addr: SocketAddr, pass: &str, seconds: u32) -> tokio::process::Child {
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
            "mpegts",
        ])
        .arg(format!(
            "srt://{addr}?mode=caller&passphrase={pass}&pbkeylen=16&connect_timeout=3000"
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg runs")
}

fn free_udp_port() -> SocketAddr {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srt_sessions_pause_and_continue() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 128 * 1024 * 1024).unwrap();
    let origin = Origin::new(store, PlaylistConfig::default());
    let http = serve(origin.router()).await;
    let addr = free_udp_port();
    let mut cfg = LiveConfig::new(Source::Srt {
        listen: addr,
        passphrase: Some(PASS.into()),
    });
    cfg.cutter = CutterConfig {
        part_target: 0.2,
        segment_target: 1.0,
    };
    let live = spawn_live(cfg, origin.clone()).await.unwrap();
    let mut rx = live.subscribe();
    tokio::time::sleep(Duration::from_millis(500)).await; // let the listener bind

    // Wrong passphrase: the caller fails, nothing is published.
    let bad = call(addr, "wrong-passphrase-xx", 2)
        .wait_with_output()
        .await
        .unwrap();
    assert!(!bad.status.success(), "a wrong passphrase must be refused");
    assert!(origin.position("source").is_none());

    let mut sessions_with_parts = 0;
    for round in 0..2 {
        // The listener may be restarting: retry the caller until it gets through.
        let mut ok = false;
        for _ in 0..10 {
            let out = call(addr, PASS, 2).wait_with_output().await.unwrap();
            if out.status.success() {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert!(ok, "round {round}: caller could not connect");
        let mut parts = 0;
        tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(ev) = rx.recv().await {
                match ev {
                    LiveEvent::Part { .. } => parts += 1,
                    LiveEvent::SessionEnded { .. } if parts > 0 => break,
                    _ => {}
                }
            }
        })
        .await
        .expect("session ends after the caller leaves");
        assert!(parts >= 5, "round {round}: {parts} parts");
        sessions_with_parts += 1;
    }
    assert_eq!(sessions_with_parts, 2);
    let pl = get(http, "/live/source/index.m3u8").await.text();
    assert!(
        !pl.contains("#EXT-X-ENDLIST"),
        "a disconnect pauses, it does not end:\n{pl}"
    );
    assert!(pl.contains("#EXT-X-DISCONTINUITY"), "{pl}");
    m3u8_rs::parse_playlist_res(pl.as_bytes()).expect("parses");
}

//! Live-to-VOD with real processes on 127.0.0.1: `tollcast origin` (synthetic source, 4 s,
//! ends with EXT-X-ENDLIST and an `ended` announcement) publishes signed manifests to a Nostr
//! relay; `tollcast record` follows them, fetches and verifies every segment from the origin,
//! writes a content-addressed VOD and publishes a NIP-71 event. The test re-verifies every byte
//! by hash from the event's `x` down, and hls.js in headless Chromium plays the VOD to its end
//! while hashing each fragment it loaded.

use std::time::Duration;

use nostr::prelude::*;
use serde_json::Value;
use tollcast_events::StreamAddress;
use tollcast_events::vod::{KIND_VIDEO_ADDRESSABLE, VideoEvent};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

mod common;

use common::proc::spawn;

async fn http_get(url: &str) -> (u16, Vec<u8>) {
    let r = common::http::get_url(url, None).await;
    (r.status, r.body)
}

fn sha(b: &[u8]) -> String {
    tollcast_media::store::sha256_hex(b)
}

/// Chunk names of a playlist (lines not starting with `#`, plus EXT-X-MAP URIs).
fn uris(playlist: &str) -> Vec<String> {
    let mut out = Vec::new();
    for l in playlist.lines() {
        if let Some(rest) = l.strip_prefix("#EXT-X-MAP:URI=\"") {
            out.push(rest.trim_end_matches('"').to_string());
        } else if !l.starts_with('#') && !l.is_empty() {
            out.push(l.to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorder_turns_a_live_stream_into_a_verified_vod_that_hlsjs_plays() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let interop = root.join("tests/interop");
    assert!(
        interop.join("node_modules/hls.js").exists()
            && interop.join("node_modules/playwright-core").exists(),
        "tests/interop/node_modules is missing hls.js/playwright-core: run scripts/setup.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("events.redb")).unwrap();
    let (addr, _task) = relay
        .clone()
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let ws = format!("ws://{addr}");

    let creator = Keys::generate();
    let sk = creator.secret_key().to_secret_hex();
    let ostore = dir.path().join("origin");
    let mut origin = spawn(&[
        "origin",
        "--source",
        "synthetic",
        "--duration",
        "4",
        "--end-on-disconnect",
        "--size",
        "320x180",
        "--listen",
        "127.0.0.1:0",
        "--store-dir",
        ostore.to_str().unwrap(),
        "--relay",
        &ws,
        "--secret-key",
        &sk,
        "--stream-id",
        "show",
        "--title",
        "VOD test",
        "--tag",
        "music",
    ]);
    let playlist = origin
        .line_within("playlist: ", Duration::from_secs(30))
        .await;
    let origin_base = playlist.trim_end_matches("/live/master.m3u8").to_string();
    let stream = StreamAddress::new(creator.public_key(), "show");

    // A first mirror that has nothing: every chunk falls through to the origin.
    let empty = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let empty_url = format!("http://{}", empty.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            empty,
            axum::Router::new().fallback(|| async { axum::http::StatusCode::NOT_FOUND }),
        )
        .await
    });
    let rstore = dir.path().join("recorder");
    let mut rec = spawn(&[
        "record",
        "--stream",
        &stream.to_naddr(&[&ws]).unwrap(),
        "--relay",
        &ws,
        "--mirror",
        &empty_url,
        "--mirror",
        &origin_base,
        "--listen",
        "127.0.0.1:0",
        "--store-dir",
        rstore.to_str().unwrap(),
        "--settle-ms",
        "1000",
    ]);
    let ready: Value =
        serde_json::from_str(&rec.line_within("ready: ", Duration::from_secs(30)).await).unwrap();
    let base = ready["http"].as_str().unwrap().to_string();
    assert_eq!(ready["stream"], stream.to_string());
    let vod: Value =
        serde_json::from_str(&rec.line_within("vod: ", Duration::from_secs(90)).await).unwrap();
    let master = vod["master"].as_str().unwrap().to_string();
    let segments = vod["segments"].as_u64().unwrap();
    let duration = vod["duration"].as_f64().unwrap();
    assert!(segments >= 3, "{vod}");
    assert!((3.0..6.0).contains(&duration), "{vod}");

    // Every segment the creator signed is in the VOD.
    let client = RelayClient::connect(&ws, ClientOptions::default()).unwrap();
    let manifests = client
        .fetch(
            vec![
                Filter::new()
                    .kind(Kind::from(31311))
                    .author(creator.public_key()),
            ],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(
        manifests.len() as u64,
        segments,
        "one VOD segment per signed manifest"
    );

    // The NIP-71 event: signed by the recorder, x = the master playlist's hash, a = the stream.
    let recorder_pk = PublicKey::from_hex(ready["pubkey"].as_str().unwrap()).unwrap();
    let evs = client
        .fetch(
            vec![
                Filter::new()
                    .kind(Kind::from(KIND_VIDEO_ADDRESSABLE))
                    .author(recorder_pk),
            ],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].id.to_hex(), vod["event_id"].as_str().unwrap());
    let video = VideoEvent::from_event(&evs[0]).unwrap();
    assert_eq!(video.live.as_ref(), Some(&stream));
    assert_eq!(video.title, "VOD test");
    assert_eq!(video.hashtags, vec!["music".to_string()]);
    assert_eq!(video.participants, vec![creator.public_key()]);
    let top = &video.variants[0];
    assert_eq!(top.hash.to_string(), master);
    assert_eq!(top.url, format!("{base}/{master}.m3u8"));
    assert_eq!(top.mime, "application/x-mpegURL");

    // Walk the hash chain from x: master -> media playlists -> init + segments.
    let (st, m) = http_get(&top.url).await;
    assert_eq!(st, 200);
    assert_eq!(sha(&m), master);
    let m = String::from_utf8(m).unwrap();
    let mut chunks = 0;
    for media in uris(&m) {
        let (st, p) = http_get(&format!("{base}/{media}")).await;
        assert_eq!(st, 200);
        assert_eq!(sha(&p), media.split('.').next().unwrap());
        let p = String::from_utf8(p).unwrap();
        assert!(
            p.contains("#EXT-X-PLAYLIST-TYPE:VOD") && p.ends_with("#EXT-X-ENDLIST\n"),
            "{p}"
        );
        for c in uris(&p) {
            let (st, b) = http_get(&format!("{base}/{c}")).await;
            assert_eq!(st, 200, "{c}");
            assert_eq!(sha(&b), c.split('.').next().unwrap(), "{c}");
            chunks += 1;
        }
    }
    assert_eq!(chunks as u64, segments + 1, "segments and one init");

    // hls.js plays it to the end, every fragment hashing to its name.
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            .arg(interop.join("vod/play_vod.mjs"))
            .arg(&base)
            .arg(&top.url)
            .arg("")
            .arg("60")
            .output(),
    )
    .await
    .expect("player finishes")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "hls.js did not play the VOD to its end:\n{stdout}\n{stderr}"
    );
    let v: Value = serde_json::from_str(stdout.trim()).unwrap();
    println!("MEASURE hls.js VOD: {v}");
    assert_eq!(v["ended"], true, "{v}");
    assert_eq!(v["playlistType"], "VOD", "{v}");
    assert_eq!(v["mismatched"], 0, "{v}");
    assert_eq!(
        v["verified"].as_u64().unwrap(),
        segments + 3,
        "master + media playlist + init + every segment hashed in the page: {v}"
    );
    assert!(v["currentTime"].as_f64().unwrap() >= duration - 0.5, "{v}");

    // Metrics.
    let (st, metrics) = http_get(&format!("{base}/metrics")).await;
    assert_eq!(st, 200);
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains(&format!(
            "tollcast_recorder_segments_recorded_total {segments}\n"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollcast_recorder_stream_ended 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "tollcast_recorder_mirror_misses_total {}\n",
            segments + 1
        )),
        "the empty mirror was asked for every chunk first: {metrics}"
    );
    assert!(
        metrics.contains("tollcast_recorder_mirror_refused_total 0\n"),
        "{metrics}"
    );
    rec.kill();
    origin.kill();
}

//! Transcoding verification with real ffmpeg: an honest rendition of a source segment passes
//! (scores printed); a wrong-resolution, a low-quality and a corrupted rendition fail with a
//! signed kind-1984 report that verifies and names the transcoder, hashes and scores. Then the
//! whole agent on loopback: a creator and two transcoders sign manifests on a real Nostr relay,
//! chunks are served over HTTP, the verifier samples every rendition segment, and the
//! streamer's report follower moves the job away from the cheater only.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use tollcast_agents::streamer::transcode::{TranscodeHook, follow_reports};
use tollcast_agents::verifier::compare::Target;
use tollcast_agents::verifier::report::{Failure, TranscodeReport};
use tollcast_agents::verifier::{Evidence, Verifier, VerifierConfig, Watch, check};
use tollcast_events::nostr::prelude::Keys;
use tollcast_events::{Role, StreamAddress};
use tollcast_media::manifest::{ManifestPart, SegmentManifest};
use tollcast_media::store::sha256_hex;

/// ffmpeg writes a 2 s CMAF file (one keyframe per second) into `dir/name`.
fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> Vec<u8> {
    let out = dir.join(name);
    let st = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-nostdin", "-y"])
        .args(args)
        .args([
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof+cmaf",
            "-f",
            "mp4",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg is installed");
    assert!(st.success(), "ffmpeg {args:?}");
    std::fs::read(out).unwrap()
}

fn source(dir: &Path) -> Vec<u8> {
    ffmpeg(
        dir,
        "source.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-t",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "30",
            "-b:v",
            "2500k",
            "-pix_fmt",
            "yuv420p",
        ],
    )
}

/// A rendition of `dir/source.mp4` with this video filter and bit rate.
fn rendition(dir: &Path, name: &str, vf: &str, kbps: u32) -> Vec<u8> {
    let src = dir.join("source.mp4");
    ffmpeg(
        dir,
        name,
        &[
            "-i",
            src.to_str().unwrap(),
            "-vf",
            vf,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-b:v",
            &format!("{kbps}k"),
            "-pix_fmt",
            "yuv420p",
        ],
    )
}

/// Split a CMAF file into (init, segment) at its first `moof`.
fn split(file: &[u8]) -> (Bytes, Bytes) {
    let mut at = 0usize;
    while at + 8 <= file.len() {
        let size = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        if &file[at + 4..at + 8] == b"moof" {
            return (
                Bytes::copy_from_slice(&file[..at]),
                Bytes::copy_from_slice(&file[at..]),
            );
        }
        at += size;
    }
    panic!("no moof");
}

fn manifest(rendition: &str, file: &[u8], source: Option<String>) -> SegmentManifest {
    let (init, seg) = split(file);
    SegmentManifest {
        rendition: rendition.into(),
        msn: 7,
        init: sha256_hex(&init),
        segment: sha256_hex(&seg),
        segment_size: seg.len() as u64,
        parts: vec![ManifestPart {
            hash: sha256_hex(&seg),
            duration: 2.0,
            independent: true,
            size: seg.len() as u64,
        }],
        duration: 2.0,
        capture_ms: 0,
        source,
    }
}

fn target() -> Target {
    Target {
        name: "360p".into(),
        width: 640,
        height: 360,
        video_bps: 700_000,
    }
}

fn evidence(stream: &StreamAddress, transcoder: &Keys, src: &[u8], rend: &[u8]) -> Evidence {
    let src_m = manifest("source", src, None);
    Evidence {
        stream: stream.clone(),
        transcoder: transcoder.public_key(),
        manifest_event: None,
        rendition: manifest("360p", rend, Some(src_m.segment.clone())),
        target: target(),
        source_file: Bytes::copy_from_slice(src),
        source_segment: src_m.segment,
        rendition_file: Bytes::copy_from_slice(rend),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_passes_cheats_fail_with_a_verifiable_report() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = source(d);
    let creator = Keys::generate();
    let stream = StreamAddress::new(creator.public_key(), "live");
    let (verifier, transcoder) = (Keys::generate(), Keys::generate());
    let cfg = VerifierConfig::default();

    let honest = rendition(d, "honest.mp4", "scale=640:360", 700);
    let t0 = std::time::Instant::now();
    let v = check(
        &cfg,
        &verifier,
        &evidence(&stream, &transcoder, &src, &honest),
    )
    .await
    .unwrap();
    let s = v.scores.unwrap();
    println!(
        "VERIFIER honest 360p: SSIM {:.4} PSNR {:.2} dB (checking a 2 s 720p segment took {} ms)",
        s.ssim,
        s.psnr,
        t0.elapsed().as_millis()
    );
    assert!(v.passed, "{v:?}");
    assert!(v.report.is_none());

    let cases = [
        (
            "wrong-res.mp4",
            "scale=426:240",
            700,
            Failure::WrongResolution,
        ),
        (
            "blurred.mp4",
            "scale=640:360,gblur=sigma=8",
            150,
            Failure::LowQuality,
        ),
        (
            "other.mp4",
            "scale=640:360,hflip,negate",
            700,
            Failure::LowQuality,
        ),
    ];
    for (name, vf, kbps, want) in cases {
        let bad = rendition(d, name, vf, kbps);
        let ev = evidence(&stream, &transcoder, &src, &bad);
        let v = check(&cfg, &verifier, &ev).await.unwrap();
        if let Some(s) = v.scores {
            println!(
                "VERIFIER {name}: SSIM {:.4} PSNR {:.2} dB {}x{}",
                s.ssim, s.psnr, s.width, s.height
            );
        }
        assert!(!v.passed, "{name} must fail: {v:?}");
        assert_eq!(v.failure, Some(want), "{name}");
        let report = v.report.unwrap();
        assert_eq!(report.pubkey, verifier.public_key());
        let r = TranscodeReport::from_event(&report).expect("the report verifies");
        assert_eq!(r.transcoder, transcoder.public_key());
        assert_eq!(r.stream, stream);
        assert_eq!(r.failure, want);
        assert_eq!(r.rendition_segment, ev.rendition.segment);
        assert_eq!(r.source_segment, ev.source_segment);
        assert_eq!(r.target, target());
        assert!(r.scores.is_some());
        // Tampering breaks it.
        let mut forged = report.clone();
        forged.content.push('!');
        assert!(TranscodeReport::from_event(&forged).is_err());
    }

    // Corrupted bytes (inside the mdat): undecodable or far off, never a pass.
    let mut corrupt = honest.clone();
    let (init, _) = split(&honest);
    let start = init.len() + 200;
    for i in (start..corrupt.len()).step_by(7) {
        corrupt[i] ^= 0x5a;
    }
    let v = check(
        &cfg,
        &verifier,
        &evidence(&stream, &transcoder, &src, &corrupt),
    )
    .await
    .unwrap();
    println!("VERIFIER corrupted: {:?} {:?}", v.failure, v.scores);
    assert!(!v.passed);
    let r = TranscodeReport::from_event(v.report.as_ref().unwrap()).unwrap();
    assert!(matches!(
        r.failure,
        Failure::Undecodable | Failure::LowQuality
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifier_agent_reports_the_cheater_and_the_streamer_replaces_it() {
    use tollcast_media::origin::Origin;
    use tollcast_media::playlist::PlaylistConfig;
    use tollcast_media::store::ChunkStore;
    use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
    use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let relay = NostrRelay::open(RelayConfig::default(), d.join("relay.redb")).unwrap();
    let (relay_addr, _relay_task) = relay.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("ws://{relay_addr}");

    // Chunks over HTTP: one store behind an origin router (it serves any stored hash).
    let store = ChunkStore::open(d.join("chunks"), 256 << 20).unwrap();
    let origin = Origin::new(store.clone(), PlaylistConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    let router = origin.router();
    tokio::spawn(async move {
        tollcast_net::http_serve::serve(listener, router)
            .await
            .unwrap()
    });

    let creator = Keys::generate();
    let stream = StreamAddress::new(creator.public_key(), "live");
    let honest_t = Keys::generate();
    let cheater = Keys::generate();
    let verifier_keys = Keys::generate();

    let src = source(d);
    let honest = rendition(d, "honest.mp4", "scale=640:360", 700);
    let cheat = rendition(d, "cheat.mp4", "scale=320:180", 200);
    for f in [&src, &honest, &cheat] {
        let (i, s) = split(f);
        store.put(i).unwrap();
        store.put(s).unwrap();
    }
    let src_m = manifest("source", &src, None);

    // The streamer follows reports from its verifier and moves the job.
    let client = RelayClient::connect(&url, ClientOptions::default()).unwrap();
    let hook = TranscodeHook::default();
    let mut replaced = hook.subscribe();
    let _f = follow_reports(
        &client,
        stream.clone(),
        vec![verifier_keys.public_key()],
        hook.clone(),
    )
    .await
    .unwrap();

    let cfg = VerifierConfig {
        sample_rate: 1.0,
        work_dir: Some(d.to_path_buf()),
        ..VerifierConfig::default()
    };
    let agent = Verifier::start(
        cfg,
        verifier_keys.clone(),
        RelayClient::connect(&url, ClientOptions::default()).unwrap(),
        Watch {
            stream: stream.clone(),
            transcoders: vec![honest_t.public_key(), cheater.public_key()],
            source_url: format!("http://{http}"),
            rendition_urls: Default::default(),
        },
    )
    .await
    .unwrap();
    let mut verdicts = agent.subscribe();

    // Publish: the source manifest (creator), then each transcoder's 360p manifest.
    let publish = |ev: tollcast_events::nostr::prelude::Event| {
        let c = client.clone();
        async move {
            assert!(
                c.publish(&ev, Duration::from_secs(5))
                    .await
                    .unwrap()
                    .accepted
            )
        }
    };
    publish(src_m.sign(&creator, &stream, Role::Streamer).unwrap()).await;
    for (keys, file) in [(&honest_t, &honest), (&cheater, &cheat)] {
        let m = manifest("360p", file, Some(src_m.segment.clone()));
        publish(m.sign(keys, &stream, Role::Transcoder).unwrap()).await;
    }

    let mut seen = std::collections::HashMap::new();
    tokio::time::timeout(Duration::from_secs(90), async {
        while seen.len() < 2 {
            let (who, v) = verdicts.recv().await.unwrap();
            seen.insert(who, v);
        }
    })
    .await
    .expect("both renditions checked");
    assert!(seen[&honest_t.public_key()].passed);
    assert!(!seen[&cheater.public_key()].passed);
    assert_eq!(
        seen[&cheater.public_key()].failure,
        Some(Failure::WrongResolution)
    );
    let req = tokio::time::timeout(Duration::from_secs(20), replaced.recv())
        .await
        .expect("the streamer reacts to the report")
        .unwrap();
    assert_eq!(req.transcoder, cheater.public_key());
    assert!(req.report.is_some());
    assert_eq!(hook.excluded(), vec![cheater.public_key()]);
    println!(
        "VERIFIER agent: checked {} passed {} failed {}",
        agent
            .stats
            .checked
            .load(std::sync::atomic::Ordering::Relaxed),
        agent
            .stats
            .passed
            .load(std::sync::atomic::Ordering::Relaxed),
        agent
            .stats
            .failed
            .load(std::sync::atomic::Ordering::Relaxed)
    );
}

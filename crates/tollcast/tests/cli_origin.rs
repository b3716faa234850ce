//! `tollcast origin` through the real binary: a synthetic stream becomes an LL-HLS origin whose
//! playlist URL is printed; a blocking reload over HTTP returns parts; bad flags exit 1.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn http_get(addr: &str, path: &str) -> (u16, String) {
    let r = common::http::get_blocking(addr, path);
    (r.status, r.text())
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn origin_serves_a_synthetic_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_tollcast"))
            .args([
                "origin",
                "--source",
                "synthetic",
                "--listen",
                "127.0.0.1:0",
                "--size",
                "426x240",
            ])
            .args(["--duration", "6", "--store-dir"])
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("playlist: ")
        .expect("first line prints the playlist URL")
        .to_string();
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    assert!(url.ends_with("/live/master.m3u8"), "{url}");

    // Block until segment 1 part 0 exists: proves live parts and blocking reload end to end.
    let t = Instant::now();
    let mut body = String::new();
    while t.elapsed() < Duration::from_secs(30) {
        let (status, b) = http_get(&addr, "/live/source/index.m3u8?_HLS_msn=1&_HLS_part=0");
        if status == 200 {
            body = b;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(body.contains("#EXT-X-PART:DURATION="), "{body}");
    assert!(body.contains("CAN-BLOCK-RELOAD=YES"), "{body}");
    let (status, master) = http_get(&addr, "/live/master.m3u8");
    assert_eq!(status, 200);
    assert!(master.contains("RESOLUTION=426x240"), "{master}");
    // Progress lines on stderr name segments.
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let mut seen = String::new();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(20) && !seen.contains("segment ") {
        let mut l = String::new();
        if err.read_line(&mut l).unwrap() == 0 {
            break;
        }
        seen.push_str(&l);
    }
    assert!(seen.contains("capture->playlist"), "{seen}");
}

#[test]
fn bad_flags_exit_1_with_a_hint() {
    for args in [
        vec!["origin", "--part-target", "5"],
        vec!["origin", "--source", "http://example"],
        vec!["origin", "--size", "abc"],
        vec!["origin", "--price-per-minute", "1000:USD"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tollcast"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error:"), "{args:?}: {err}");
    }
}

/// Segment manifests signed by the origin reach a Nostr relay (our relay, over WebSocket), and
/// each one verifies: signature, then the hashes of the bytes the origin serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_manifests_reach_the_relay_and_verify() {
    use tollcast_events::nostr::prelude::{Filter, Keys, Kind};
    use tollcast_media::manifest::SegmentManifest;
    use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
    use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("relay.redb")).unwrap();
    let (relay_addr, _task) = relay.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let keys = Keys::generate();
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_tollcast"))
            .args([
                "origin",
                "--source",
                "synthetic",
                "--listen",
                "127.0.0.1:0",
                "--size",
                "426x240",
            ])
            .args(["--duration", "3", "--stream-id", "cli-test", "--relay"])
            .arg(format!("ws://{relay_addr}"))
            .arg("--secret-key")
            .arg(keys.secret_key().to_secret_hex())
            .arg("--store-dir")
            .arg(dir.path().join("chunks"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .trim_start_matches("playlist: http://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    // Wait for "stream ended" on stderr (after the last manifest was published).
    let err = child.0.stderr.take().unwrap();
    let ended = tokio::task::spawn_blocking(move || {
        let mut r = BufReader::new(err);
        let mut all = String::new();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 || l.contains("stream ended") {
                all.push_str(&l);
                return all;
            }
            all.push_str(&l);
        }
    });
    let log = tokio::time::timeout(Duration::from_secs(60), ended)
        .await
        .unwrap()
        .unwrap();
    assert!(log.contains("stream ended"), "{log}");
    assert!(
        !log.contains("not published") && !log.contains("refused"),
        "{log}"
    );

    let client =
        RelayClient::connect(&format!("ws://{relay_addr}"), ClientOptions::default()).unwrap();
    let events = client
        .fetch(
            vec![
                Filter::new()
                    .kind(Kind::from(31311u16))
                    .author(keys.public_key()),
            ],
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(
        events.len() >= 3,
        "3 s of one-second segments: got {} manifests\n{log}",
        events.len()
    );
    for ev in &events {
        let (m, stream, _) = SegmentManifest::from_event(ev).expect("signature verifies");
        assert_eq!(stream.identifier, "cli-test");
        let a = addr.clone();
        let fetch = move |h: &str| {
            let (status, body) = http_get_bytes(&a, &format!("/{h}"));
            (status == 200).then(|| bytes::Bytes::from(body))
        };
        tokio::task::block_in_place(|| m.verify_bytes(fetch))
            .expect("served bytes match the signed hashes");
    }
}

fn http_get_bytes(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let r = common::http::get_blocking(addr, path);
    (r.status, r.body)
}

/// The origin announces its stream (NIP-53 kind 30311) on the relay: status live while on air,
/// with the playlist as `streaming` URL, the host as `p` tag and the tollcast price/SPSP tags;
/// when the stream ends, the replaceable event for the same `d` tag says ended, with `ends`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_announces_the_stream_live_then_ended() {
    use tollcast_events::StreamAddress;
    use tollcast_events::live::{LiveEvent, LiveStatus};
    use tollcast_events::nostr::prelude::{Filter, Keys, Kind};
    use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
    use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("relay.redb")).unwrap();
    let (relay_addr, _task) = relay.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let relay_url = format!("ws://{relay_addr}");
    let keys = Keys::generate();
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_tollcast"))
            .args(["origin", "--source", "synthetic", "--listen", "127.0.0.1:0"])
            .args([
                "--size",
                "160x90",
                "--duration",
                "2",
                "--stream-id",
                "announce-test",
            ])
            .args(["--title", "Test stream", "--summary", "a synthetic test"])
            .args(["--image", "https://example.com/p.png"])
            .args(["--tag", "tollcast", "--tag", "test"])
            .args([
                "--price-per-minute",
                "1000:USD:6",
                "--spsp",
                "https://example.com/spsp",
            ])
            .arg("--relay")
            .arg(&relay_url)
            .arg("--secret-key")
            .arg(keys.secret_key().to_secret_hex())
            .arg("--store-dir")
            .arg(dir.path().join("chunks"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let err = child.0.stderr.take().unwrap();
    let ended = tokio::task::spawn_blocking(move || {
        let mut r = BufReader::new(err);
        let mut all = String::new();
        loop {
            let mut l = String::new();
            let n = r.read_line(&mut l).unwrap_or(0);
            all.push_str(&l);
            if n == 0 || l.contains("stream ended") {
                return all;
            }
        }
    });
    // The naddr line is printed once the live announcement was acknowledged by the relay.
    let naddr = tokio::task::spawn_blocking(move || {
        loop {
            let mut l = String::new();
            if out.read_line(&mut l).unwrap() == 0 {
                panic!("origin exited before announcing");
            }
            if let Some(n) = l.trim().strip_prefix("announced (NIP-53 kind 30311): ") {
                return n.to_string();
            }
        }
    });
    let naddr = tokio::time::timeout(Duration::from_secs(30), naddr)
        .await
        .unwrap()
        .unwrap();
    let addr = StreamAddress::from_naddr(&naddr).expect("printed naddr parses");
    assert_eq!(addr, StreamAddress::new(keys.public_key(), "announce-test"));

    let client = RelayClient::connect(&relay_url, ClientOptions::default()).unwrap();
    let filter = Filter::new()
        .kind(Kind::from(30311u16))
        .author(keys.public_key())
        .identifier("announce-test");
    let live = client
        .fetch(vec![filter.clone()], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    let ann = LiveEvent::from_event(&live[0]).expect("live event verifies");
    assert_eq!(ann.status, Some(LiveStatus::Live));
    assert_eq!(ann.title.as_deref(), Some("Test stream"));
    assert_eq!(ann.summary.as_deref(), Some("a synthetic test"));
    assert_eq!(ann.image.as_deref(), Some("https://example.com/p.png"));
    assert_eq!(ann.hashtags, ["tollcast", "test"]);
    assert!(ann.starts.is_some() && ann.ends.is_none());
    assert_eq!(ann.participants.len(), 1);
    assert_eq!(ann.participants[0].pubkey, keys.public_key());
    assert_eq!(ann.participants[0].role.as_deref(), Some("Host"));
    let tags: Vec<Vec<String>> = live[0].tags.iter().map(|t| t.as_slice().to_vec()).collect();
    assert!(tags.contains(&vec![
        "price".into(),
        "minute".into(),
        "1000".into(),
        "USD".into(),
        "6".into()
    ]));
    assert!(tags.contains(&vec!["spsp".into(), "https://example.com/spsp".into()]));
    assert_eq!(ann.streaming.len(), 1);
    let url = ann.streaming[0].strip_prefix("http://").expect("http URL");
    let (host, path) = url.split_once('/').unwrap();

    let log = tokio::time::timeout(Duration::from_secs(60), ended)
        .await
        .unwrap()
        .unwrap();
    assert!(log.contains("stream ended"), "{log}");
    assert!(!log.contains("announcement not"), "{log}");
    let (status, body) = http_get(host, &format!("/{path}"));
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("#EXTM3U") && body.contains("EXT-X-STREAM-INF"),
        "{body}"
    );

    let after = client
        .fetch(vec![filter], Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(after.len(), 1, "replaceable: one version kept {after:?}");
    let done = LiveEvent::from_event(&after[0]).expect("ended event verifies");
    assert_eq!(done.status, Some(LiveStatus::Ended));
    assert!(done.ends.unwrap() >= ann.starts.unwrap());
    assert_eq!(done.starts, ann.starts);
    assert!(after[0].created_at > live[0].created_at);
}

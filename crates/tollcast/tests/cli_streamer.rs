//! `tollcast stream` as a creator runs it (the real binary): the config's synthetic source goes
//! live with OBS settings, key/value lines and a `ready:` JSON line printed; the LL-HLS origin
//! serves a playable playlist; the kind-30311 announcement sits on the wallet node's relay
//! with the tollcast tags and follows the viewers relays report; an RTMP push by ffmpeg
//! (`-f flv`, as OBS does) with the right key goes live while a wrong key is refused; an SRT
//! caller with the passphrase goes live; a fan's payment shows as earnings; a bad
//! config exits 1 with a hint; the STREAM toolbox (`stream decode`) still answers.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tollcast_events::StreamAddress;
use tollcast_events::live::LiveEvent;
use tollcast_events::nostr::prelude::{Filter, Keys, Kind};
use tollcast_events::offer::{Load, RelayOffer};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http_get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let r = common::http::get_blocking(addr, path);
    (r.status, r.body)
}

/// Start `tollcast stream --config <toml>`; read stdout up to the `ready:` line.
fn start(toml: &str, dir: &std::path::Path) -> (Kill, String, Value, BufReader<ChildStdout>) {
    let cfg = dir.join("streamer.toml");
    std::fs::write(&cfg, toml).unwrap();
    let mut child = Kill(
        Command::new(env!("CARGO_BIN_EXE_tollcast"))
            .args(["stream", "--config"])
            .arg(&cfg)
            .env_remove("TOLLCAST_SECRET_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let mut text = String::new();
    loop {
        let mut l = String::new();
        assert!(
            out.read_line(&mut l).unwrap() > 0,
            "stdout closed before ready:\n{text}"
        );
        text.push_str(&l);
        if let Some(j) = l.strip_prefix("ready: ") {
            let v: Value = serde_json::from_str(j).unwrap();
            return (child, text, v, out);
        }
    }
}

fn config(dir: &std::path::Path, ingest: &str) -> String {
    let d = dir.display();
    format!(
        "[stream]\nid = \"cli-live\"\ntitle = \"Test stream\"\nkey_file = \"{d}/creator.key\"\nstatus_every = 1\n\n\
         [ingest]\n{ingest}\n\n\
         [origin]\nlisten = \"127.0.0.1:0\"\nstore_dir = \"{d}/chunks\"\n\n\
         [pricing]\nprice_per_minute = \"1000:USD:6\"\nchat_price = 50\nslow_mode = 3\n\n\
         [[pricing.split]]\nrole = \"transcoder\"\npay_to = \"$transcoder.example/pay\"\nweight = 5\n\n\
         [wallet]\nledger = \"{d}/creator.redb\"\n"
    )
}

fn wait_for_segment(addr: &str, msn: u64, secs: u64) -> String {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(secs) {
        let (status, b) = http_get(addr, &format!("/live/source/index.m3u8?_HLS_msn={msn}"));
        if status == 200 {
            return String::from_utf8(b).unwrap();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("segment {msn} never appeared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_stream_goes_live_with_obs_settings_ready_line_and_announcement() {
    let dir = tempfile::tempdir().unwrap();
    let toml = config(
        dir.path(),
        "source = \"synthetic\"\nsize = \"426x240\"\nvideo_kbps = 300",
    );
    let (_child, text, ready, mut out) = start(&toml, dir.path());
    assert!(text.contains("OBS settings"), "{text}");
    for key in [
        "playlist: ",
        "npub: ",
        "naddr: ",
        "nostr: ws://",
        "spsp: http://",
    ] {
        assert!(text.contains(key), "missing {key:?} in\n{text}");
    }
    let playlist = ready["playlist"].as_str().unwrap().to_string();
    let addr = ready["http"].as_str().unwrap().to_string();
    assert!(playlist.ends_with("/live/master.m3u8"), "{playlist}");

    // A playable playlist: blocking reload for segment 2, the parts it names are served and
    // hash to their names, and the init + segment decode with ffprobe.
    let media = tokio::task::spawn_blocking({
        let addr = addr.clone();
        move || wait_for_segment(&addr, 2, 40)
    })
    .await
    .unwrap();
    assert!(media.contains("#EXT-X-PART:DURATION="), "{media}");
    let (s, master) = http_get(&addr, "/live/master.m3u8");
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&master).contains("RESOLUTION=426x240"));
    let init = media
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .map(|l| {
            l.trim_end_matches('"')
                .trim_start_matches("../../")
                .to_string()
        })
        .expect("EXT-X-MAP");
    let seg = media
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.trim_start_matches("../../").to_string())
        .expect("a segment URI");
    let mut file = Vec::new();
    for name in [&init, &seg] {
        let name = name.rsplit('/').next().unwrap();
        let (s, body) = http_get(&addr, &format!("/{name}"));
        assert_eq!(s, 200, "{name}");
        let hex = name.split('.').next().unwrap();
        assert_eq!(tollcast_media::store::sha256_hex(&body), hex);
        file.extend_from_slice(&body);
    }
    let mp4 = dir.path().join("seg.mp4");
    std::fs::write(&mp4, &file).unwrap();
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(&mp4)
        .output()
        .unwrap();
    let codecs = String::from_utf8_lossy(&probe.stdout);
    assert!(
        probe.status.success() && codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );

    // /api/status and /metrics on the origin port.
    let (s, st) = http_get(&addr, "/api/status");
    assert_eq!(s, 200);
    let st: Value = serde_json::from_slice(&st).unwrap();
    assert_eq!(st["status"]["live"], true, "{st}");
    let (s, m) = http_get(&addr, "/metrics");
    assert_eq!(s, 200);
    assert!(String::from_utf8_lossy(&m).contains("tollcast_streamer_viewers 0"));

    // The announcement on the wallet node's relay: live, price/spsp/chat_price tags.
    let nostr = ready["nostr_relays"][0].as_str().unwrap().to_string();
    let stream: StreamAddress = ready["stream"].as_str().unwrap().parse().unwrap();
    let client = RelayClient::connect(&nostr, ClientOptions::default()).unwrap();
    let fetch_ann = |client: RelayClient| async move {
        let evs = client
            .fetch(
                vec![
                    Filter::new()
                        .kind(Kind::from(30311u16))
                        .author(stream.pubkey),
                ],
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        evs.into_iter()
            .max_by_key(|e| e.created_at)
            .expect("announcement")
    };
    let ev = fetch_ann(client.clone()).await;
    let ann = LiveEvent::from_event(&ev).unwrap();
    assert_eq!(ann.identifier, "cli-live");
    assert_eq!(ann.title.as_deref(), Some("Test stream"));
    assert_eq!(ann.streaming, vec![playlist.clone()]);
    assert_eq!(ann.current_participants, Some(0));
    let tags: Vec<Vec<String>> = ev.tags.iter().map(|t| t.as_slice().to_vec()).collect();
    assert!(
        tags.contains(&vec![
            "price".into(),
            "minute".into(),
            "1000".into(),
            "USD".into(),
            "6".into()
        ]),
        "{tags:?}"
    );
    assert!(
        tags.iter()
            .any(|t| t[0] == "spsp" && t[1] == ready["spsp"].as_str().unwrap()),
        "{tags:?}"
    );
    // The revenue split: the creator's share to its wallet, then the configured one.
    let splits = tollcast_events::split::Splits::from_live_event(&ev).unwrap();
    assert_eq!(splits.shares.len(), 2, "{tags:?}");
    assert_eq!(splits.shares[0].pay_to, ready["spsp"].as_str().unwrap());
    assert_eq!(splits.shares[0].weight, 100);
    assert_eq!(splits.shares[0].pubkey, Some(stream.pubkey));
    assert_eq!(splits.shares[1].pay_to, "$transcoder.example/pay");
    assert!(
        tags.contains(&vec!["slow_mode".into(), "3".into()]),
        "{tags:?}"
    );
    assert!(
        tags.contains(&vec![
            "chat_price".into(),
            "50".into(),
            "USD".into(),
            "6".into()
        ]),
        "{tags:?}"
    );

    // Two relays report viewers in their offers: current_participants follows (3 + 2).
    for n in [3u64, 2] {
        let offer = RelayOffer {
            stream: Some(stream.clone()),
            price_per_minute: Some(tollcast_events::Price::new(60, "USD", 6)),
            price_per_gb: None,
            ilp_address: "g.tollcast.relay".into(),
            spsp: vec![],
            url: Some("http://127.0.0.1:9/".into()),
            upstream: None,
            load: Some(Load {
                viewers: n,
                capacity: 100,
            }),
            expires_at: None,
        };
        let ev = offer.sign(&Keys::generate(), None).unwrap();
        assert!(
            client
                .publish(&ev, Duration::from_secs(5))
                .await
                .unwrap()
                .accepted
        );
    }
    let t = Instant::now();
    loop {
        let ann = LiveEvent::from_event(&fetch_ann(client.clone()).await).unwrap();
        if ann.current_participants == Some(5) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "viewers never reached the announcement: {ann:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // ...and the status line shows them.
    let line = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        loop {
            let mut l = String::new();
            if out.read_line(&mut l).unwrap() == 0 || t.elapsed() > Duration::from_secs(20) {
                return l;
            }
            if l.starts_with("status: live viewers=5 relays=2 earnings=0 USD/6 latency_ms=") {
                return l;
            }
        }
    })
    .await
    .unwrap();
    assert!(line.starts_with("status: live viewers=5"), "{line}");
}

fn push(url: &str, seconds: u32) -> std::process::Output {
    push_as(url, seconds, "flv")
}

/// ffmpeg pushes a test pattern + tone to `url` in container `format` (flv for RTMP, as OBS).
fn push_as(url: &str, seconds: u32, format: &str) -> std::process::Output {
    Command::new("ffmpeg")
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
        .arg("testsrc2=size=320x180:rate=30")
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
            "300k",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-ar",
            "48000",
            "-f",
        ])
        .arg(format)
        .arg(url)
        .output()
        .unwrap()
}

#[test]
fn rtmp_push_with_the_right_key_goes_live_a_wrong_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let toml = config(
        dir.path(),
        "source = \"rtmp\"\nrtmp_listen = \"127.0.0.1:0\"\nstream_key = \"obs-s3cret\"",
    );
    let (_child, text, ready, _out) = start(&toml, dir.path());
    let server = ready["rtmp_server"].as_str().unwrap().to_string();
    assert!(text.contains(&format!("Server:     {server}")), "{text}");
    assert!(text.contains("Stream Key: obs-s3cret"), "{text}");
    assert!(text.contains("Keyframe Interval:  1 s"), "{text}");
    assert_eq!(
        ready["ingest_url"].as_str().unwrap(),
        format!("{server}/obs-s3cret")
    );
    let addr = ready["http"].as_str().unwrap().to_string();

    let bad = push(&format!("{server}/wrong-key"), 2);
    assert!(!bad.status.success(), "a wrong stream key must be refused");
    let (s, _) = http_get(&addr, "/live/source/index.m3u8");
    assert_ne!(s, 200, "nothing is published for a wrong key");

    let url = format!("{server}/obs-s3cret");
    let pusher = std::thread::spawn(move || push(&url, 5));
    let media = wait_for_segment(&addr, 1, 40);
    assert!(media.contains("#EXT-X-PART:"), "{media}");
    let out = pusher.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_config_exits_1_with_a_hint_and_the_toolbox_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, "[ingest]\nsorce = \"rtmp\"\n").unwrap();
    let out = common::run(&["stream", "--config", p.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sorce") && err.contains("examples/streamer.toml"),
        "{err}"
    );

    let out = common::run(&["stream", "--source", "webcam"], "");
    assert_eq!(out.status.code(), Some(1));

    // The toolbox: an unencrypted STREAM packet round-trips through encode/decode.
    let json = r#"{"sequence":"1","packetType":12,"amount":"0","frames":[]}"#;
    let enc = common::run(&["stream", "encode", "--plain"], json);
    assert!(
        enc.status.success(),
        "{}",
        String::from_utf8_lossy(&enc.stderr)
    );
    let hex = String::from_utf8(enc.stdout).unwrap();
    let dec = common::run(&["stream", "decode", "--plain", hex.trim()], "");
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    let v: Value = serde_json::from_slice(&dec.stdout).unwrap();
    assert_eq!(v["packet"]["sequence"], "1");
    // A subcommand does not mix with the go-live flags.
    let out = common::run(
        &["stream", "--config", "x.toml", "decode", "--plain", "00"],
        "",
    );
    assert_ne!(out.status.code(), Some(0));
}

/// Earnings: the creator's wallet is a full node (wallet.node_config) with a child account a
/// fan's client uses; `tollcast pay` to the SPSP URL the stream announces lands in the
/// creator's receiver, and the status (line and /api/status) shows exactly that amount; the
/// node's ledger books the fan's debit against it (nothing created or lost).
#[test]
fn payments_to_the_announced_spsp_show_up_as_earnings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let node = dir.path().join("creator-node.toml");
    std::fs::write(
        &node,
        format!(
            "[node]\nname = \"creator\"\nlisten = \"127.0.0.1:0\"\nledger = \"{d}/creator.redb\"\n\n\
             [[accounts]]\nid = \"fan\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\n\
             auth_token = \"fan-token\"\ncredit_limit = 1000000000\n"
        ),
    )
    .unwrap();
    let toml = format!(
        "{}node_config = \"{}\"\n",
        config(
            dir.path(),
            "source = \"synthetic\"\nsize = \"320x180\"\nvideo_kbps = 200"
        ),
        node.display()
    );
    let (_child, _text, ready, mut out) = start(&toml, dir.path());
    let spsp = ready["spsp"].as_str().unwrap().to_string();
    let node_addr = ready["node"].as_str().unwrap().to_string();
    const N: u64 = 4321;
    let pay = common::run(
        &[
            "pay",
            "--to",
            &spsp,
            "--amount",
            &N.to_string(),
            "--node",
            &format!("btp+ws://:fan-token@{node_addr}"),
            "--timeout",
            "15",
        ],
        "",
    );
    assert!(
        pay.status.success(),
        "{}",
        String::from_utf8_lossy(&pay.stderr)
    );
    let t = Instant::now();
    let line = loop {
        let mut l = String::new();
        assert!(out.read_line(&mut l).unwrap() > 0);
        if l.contains(&format!("earnings={N} USD/6")) {
            break l;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "earnings never shown: {l}"
        );
    };
    assert!(line.starts_with("status: "), "{line}");
    let (s, st) = http_get(ready["http"].as_str().unwrap(), "/api/status");
    assert_eq!(s, 200);
    let st: Value = serde_json::from_slice(&st).unwrap();
    assert_eq!(st["status"]["earnings"], N, "{st}");
    // The ledger: the fan's account owes exactly N.
    let (s, acc) = http_get(&node_addr, "/accounts");
    assert_eq!(s, 200);
    let acc: Value = serde_json::from_slice(&acc).unwrap();
    let fan = acc["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "fan")
        .unwrap()
        .clone();
    assert_eq!(fan["balance"], -(N as i64), "{fan}");
    assert_eq!(fan["pending_incoming"], 0, "{fan}");
}

#[test]
fn srt_caller_with_the_passphrase_goes_live() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = config(
        dir.path(),
        &format!(
            "source = \"srt\"\nsrt_listen = \"127.0.0.1:{port}\"\nsrt_passphrase = \"srt-passphrase-123\""
        ),
    );
    let (_child, text, ready, _out) = start(&toml, dir.path());
    let url = ready["ingest_url"].as_str().unwrap().to_string();
    assert_eq!(
        url,
        format!("srt://127.0.0.1:{port}?passphrase=srt-passphrase-123")
    );
    assert!(text.contains(&format!("Server:     {url}")), "{text}");
    let addr = ready["http"].as_str().unwrap().to_string();
    let push_url = format!("{url}&mode=caller&pbkeylen=16&connect_timeout=3000");
    let pusher = std::thread::spawn(move || push_as(&push_url, 5, "mpegts"));
    let media = wait_for_segment(&addr, 1, 40);
    assert!(media.contains("#EXT-X-PART:"), "{media}");
    let out = pusher.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

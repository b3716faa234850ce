//! Takedown across processes: a hub `tollcast node` (Nostr relay), a `tollcast origin`
//! (synthetic source, manifests on the hub), two `tollcast relay` agents trusting three
//! `tollcast moderate` agents with threshold 2. Two `nudity` reports move one moderator
//! (1 of 3: relays keep serving for 5 s); two `illegal` reports move a second (2 of 3): both
//! relays answer 451 with the reason within 5 s.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use nostr::prelude::Keys;
use serde_json::Value;
use tollcast_events::moderation::{Report, ReportType};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};

use common::proc::Proc;

/// Spawn `tollcast <args>`; return it and the first stdout line starting with `prefix`.
fn spawn(args: &[&str], prefix: &str) -> (Proc, String) {
    let mut p = common::proc::spawn(args);
    let line = p.line_blocking(prefix, Duration::from_secs(40));
    (p, line)
}

fn status(url: &str) -> u16 {
    let addr = url.trim_start_matches("http://").split('/').next().unwrap();
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = write!(
        s,
        "GET /live/master.m3u8 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut b = String::new();
    let _ = s.read_to_string(&mut b);
    b.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn until_all(urls: &[String], want: u16, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        if urls.iter().all(|u| status(u) == want) {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < limit,
            "relays did not all answer {want} within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn relays_stop_serving_when_two_of_three_moderators_vote() {
    let dir = tempfile::tempdir().unwrap();
    let hub_toml = dir.path().join("hub.toml");
    std::fs::write(
        &hub_toml,
        format!(
            "[node]\nname = \"hub\"\naddress = \"test.hub\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n[spsp]\nenabled = false\n",
            dir.path().join("hub.redb").display()
        ),
    )
    .unwrap();
    let (_hub, ready) = spawn(&["node", "--config", hub_toml.to_str().unwrap()], "ready:");
    let ready: Value = serde_json::from_str(&ready).unwrap();
    let nostr = ready["nostr"].as_str().unwrap().to_string();

    let creator = Keys::generate();
    let store = dir.path().join("origin");
    let (_origin, playlist) = spawn(
        &[
            "origin",
            "--source",
            "synthetic",
            "--listen",
            "127.0.0.1:0",
            "--size",
            "320x180",
            "--secret-key",
            &creator.secret_key().to_secret_hex(),
            "--stream-id",
            "td",
            "--relay",
            &nostr,
            "--store-dir",
            store.to_str().unwrap(),
        ],
        "playlist:",
    );
    let origin = playlist.trim_end_matches("/live/master.m3u8").to_string();
    let stream = format!("30311:{}:td", creator.public_key().to_hex());

    let mods: Vec<Keys> = (0..3).map(|_| Keys::generate()).collect();
    let mut procs = Vec::new();
    for (i, k) in mods.iter().enumerate() {
        let types: &[&str] = match i {
            0 => &["--report-type", "illegal", "--report-type", "nudity"],
            1 => &["--report-type", "illegal"],
            _ => &["--report-type", "malware"],
        };
        let key = k.secret_key().to_secret_hex();
        let mut args = vec![
            "moderate",
            "--relay",
            &nostr,
            "--stream",
            &stream,
            "--key",
            &key,
            "--reports-needed",
            "2",
        ];
        args.extend_from_slice(types);
        procs.push(spawn(&args, "ready:").0);
    }
    let mut relays = Vec::new();
    let mut urls = Vec::new();
    for i in 0..2 {
        let sd = dir.path().join(format!("cache{i}"));
        let bd = dir.path().join(format!("billing{i}.redb"));
        let spd = dir.path().join(format!("splits{i}.redb"));
        let rk = Keys::generate().secret_key().to_secret_hex();
        let mut args = vec![
            "relay",
            "--upstream",
            &origin,
            "--stream",
            &stream,
            "--nostr",
            &nostr,
            "--listen",
            "127.0.0.1:0",
            "--store-dir",
            sd.to_str().unwrap(),
            "--billing-db",
            bd.to_str().unwrap(),
            "--splits-db",
            spd.to_str().unwrap(),
            "--secret-key",
            &rk,
            "--takedown-threshold",
            "2",
        ];
        let pks: Vec<String> = mods.iter().map(|m| m.public_key().to_hex()).collect();
        for pk in &pks {
            args.push("--moderator");
            args.push(pk);
        }
        let (p, ready) = spawn(&args, "ready:");
        let ready: Value = serde_json::from_str(&ready).unwrap();
        urls.push(ready["playlist"].as_str().unwrap().to_string());
        relays.push(p);
    }
    let u = urls.clone();
    tokio::task::spawn_blocking(move || until_all(&u, 200, Duration::from_secs(30)))
        .await
        .unwrap();

    let client = RelayClient::connect(&nostr, ClientOptions::default()).unwrap();
    let report = |ty| {
        Report {
            pubkey: creator.public_key(),
            event: None,
            report_type: ty,
            content: String::new(),
        }
        .sign(&Keys::generate(), None)
        .unwrap()
    };
    for _ in 0..2 {
        let ack = client
            .publish(&report(ReportType::Nudity), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(ack.accepted);
    }
    // 1 of 3 votes: both relays keep serving for the whole 5 s budget.
    let u = urls.clone();
    tokio::task::spawn_blocking(move || {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            for x in &u {
                assert_eq!(status(x), 200, "one vote of three must not take {x} down");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    for _ in 0..2 {
        let ack = client
            .publish(&report(ReportType::Illegal), Duration::from_secs(5))
            .await
            .unwrap();
        assert!(ack.accepted);
    }
    let u = urls.clone();
    let took = tokio::task::spawn_blocking(move || until_all(&u, 451, Duration::from_secs(5)))
        .await
        .unwrap();
    println!("2 of 3 moderators: both relay processes answer 451 after {took:?}");
}

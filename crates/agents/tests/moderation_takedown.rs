//! Takedown by independent, paid moderators, honoured by relay agents, over real sockets:
//! a live origin (synthetic ffmpeg source) with its Nostr relay, two relay agents serving it
//! behind a `TakedownWatch` (trust 3 moderators, threshold 2), and three moderator agents,
//! each on its own ILP node with a STREAM receiver, paid per stream-hour by the relay
//! operator's node. Moderator 3 is never paid, so it stops moderating.
//!
//! 1. Two `nudity` reports: only moderator 1 counts that type and votes takedown — 1 of 3,
//!    relays keep serving.
//! 2. Two `illegal` reports: moderator 2 votes too (3 would, but is unpaid) — 2 of 3, both
//!    relays answer 451 with the reason within 5 s and announce it (kind 1985 `taken-down`).
//! 3. The creator appeals: moderators 1 and 2 re-review, vote `keep`, relays serve again.
//!
//! Money: what the operator paid equals what the moderators' receivers counted, and each
//! bilateral ledger pair nets to zero.

mod common;
mod society_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollcast_agents::moderator::{ModeratorAgent, ModeratorConfig};
use tollcast_agents::relay::manifests::ManifestBook;
use tollcast_agents::relay::moderation::{TakedownPolicy, TakedownWatch};
use tollcast_agents::relay::nostr::follow_manifests;
use tollcast_agents::relay::{Relay, RelayConfig};
use tollcast_events::moderation::{Appeal, KIND_LABEL, Report, ReportType, TakedownNotice};
use tollcast_events::nostr::prelude::{Filter, Keys, Kind};
use tollcast_media::store::ChunkStore;
use tollcast_net::connector::AccountId;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::stream::{SenderConfig, StreamReceiver, StreamSender};

async fn guarded_relay(
    rig: &common::Rig,
    watch: &TakedownWatch,
) -> (Relay, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 64 * 1024 * 1024).unwrap();
    let book = Arc::new(ManifestBook::new(rig.stream.clone(), []));
    let client = RelayClient::connect(&rig.nostr_url, ClientOptions::default()).unwrap();
    let task = follow_manifests(&client, book.clone(), &[], None)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _client = client;
        let _ = task.await;
    });
    let mut cfg = RelayConfig::new(format!("http://{}", rig.origin_addr));
    cfg.manifest_wait = Duration::from_secs(8);
    let relay = Relay::new(cfg, store, book, None).unwrap();
    let addr = common::serve(watch.guard(relay.router())).await;
    (relay, addr, dir)
}

async fn status_of(addr: std::net::SocketAddr) -> u16 {
    common::get(addr, "/live/master.m3u8").await.status
}

/// Poll every relay until all answer `want` or `limit` passes; returns the time it took.
async fn until_all(addrs: &[std::net::SocketAddr], want: u16, limit: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let mut all = true;
        for a in addrs {
            all &= status_of(*a).await == want;
        }
        if all {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < limit,
            "relays did not all answer {want} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn report(url: &str, reporter: &Keys, creator: &Keys, ty: ReportType) {
    let ev = Report {
        pubkey: creator.public_key(),
        event: None,
        report_type: ty,
        content: "reported from the viewer page".into(),
    }
    .sign(reporter, None)
    .unwrap();
    society_common::publish(url, &ev).await;
}

#[tokio::test]
async fn two_of_three_moderators_take_a_stream_down_and_an_appeal_restores_it() {
    let rig = common::start_origin().await;
    rig.wait_manifests(2).await;

    // The relay operator's wallet node pays the moderators' nodes (children).
    let (payer, _pd) = society_common::node(
        "p",
        "test.p",
        &(1..=3)
            .map(|i| format!("[[accounts]]\nid = \"m{i}\"\nrelation = \"child\"\nasset_code = \"USD\"\nasset_scale = 6\nauth_token = \"tok-m{i}\"\ncredit_limit = 1000000000\n\n"))
            .collect::<String>(),
    )
    .await;
    let mut mods = Vec::new();
    let mut mod_nodes = Vec::new();
    let mut receivers = Vec::new();
    let mod_keys: Vec<Keys> = (0..3).map(|_| Keys::generate()).collect();
    for i in 1..=3 {
        let (n, d) = society_common::node(
            &format!("m{i}"),
            &format!("test.p.m{i}"),
            &format!(
                "[[accounts]]\nid = \"p\"\nrelation = \"parent\"\nasset_code = \"USD\"\nasset_scale = 6\nbtp_url = \"{}\"\nauth_token = \"tok-m{i}\"\ncredit_limit = 1000000000\n",
                payer.btp_url()
            ),
        )
        .await;
        assert!(
            payer
                .connector
                .wait_connected(&AccountId::new(format!("m{i}")), society_common::T)
                .await
        );
        payer
            .connector
            .add_route(format!("test.p.m{i}"), AccountId::new(format!("m{i}")));
        let rx = StreamReceiver::attach(&n.connector, "moderation", "USD", 6, None).unwrap();
        receivers.push(rx);
        mod_nodes.push((n, d));
    }
    let panel: Vec<String> = mod_keys.iter().map(|k| k.public_key().to_hex()).collect();
    for (i, keys) in mod_keys.iter().enumerate() {
        let mut cfg = ModeratorConfig {
            relays: vec![rig.nostr_url.clone()],
            streams: vec![rig.stream.to_string()],
            ..Default::default()
        };
        cfg.takedown.reports_needed = 2;
        cfg.takedown.panel = panel.clone();
        cfg.takedown.report_types = if i == 0 {
            vec!["illegal".into(), "nudity".into()]
        } else {
            vec!["illegal".into()]
        };
        // 1 unit per second of stream time, no grace: unpaid means off at once.
        cfg.billing.price_per_hour = 3600;
        cfg.billing.grace_secs = 0;
        mods.push(
            ModeratorAgent::start(cfg, keys.clone(), Some(receivers[i].clone()))
                .await
                .unwrap(),
        );
    }
    // The operator pays moderators 1 and 2 for ~2.7 hours each over STREAM; 3 gets nothing.
    let wallet = payer.connector.sender(AccountId::local());
    for rx in &receivers[..2] {
        let (dest, secret) = rx.generate_credentials(Some("relay-operator"));
        let mut s = StreamSender::connect(wallet.clone(), SenderConfig::new(dest, secret))
            .await
            .unwrap();
        s.send(10_000).await.unwrap();
        s.close().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(mods[0].is_active() && mods[1].is_active());
    assert!(!mods[2].is_active(), "an unpaid moderator stops moderating");

    // Two relays honouring the three moderators with threshold 2.
    let policy = TakedownPolicy {
        moderators: panel.clone(),
        threshold: 2,
        relays: vec![rig.nostr_url.clone()],
    };
    let relay_keys = [Keys::generate(), Keys::generate()];
    let w1 = TakedownWatch::start(rig.stream.clone(), &policy, Some(relay_keys[0].clone()))
        .await
        .unwrap();
    let w2 = TakedownWatch::start(rig.stream.clone(), &policy, Some(relay_keys[1].clone()))
        .await
        .unwrap();
    let (_r1, a1, _d1) = guarded_relay(&rig, &w1).await;
    let (_r2, a2, _d2) = guarded_relay(&rig, &w2).await;
    let addrs = [a1, a2];
    until_all(&addrs, 200, Duration::from_secs(15)).await;

    // 1 of 3: nudity reports move only moderator 1.
    let creator = rig.keys.clone();
    let viewers: Vec<Keys> = (0..4).map(|_| Keys::generate()).collect();
    report(&rig.nostr_url, &viewers[0], &creator, ReportType::Nudity).await;
    report(&rig.nostr_url, &viewers[1], &creator, ReportType::Nudity).await;
    let t0 = Instant::now();
    while mods[0]
        .counters()
        .votes_published
        .load(std::sync::atomic::Ordering::Relaxed)
        == 0
    {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "moderator 1 never voted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Give the relays the full 5 s budget to (wrongly) act on one vote.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        for a in addrs {
            assert_eq!(
                status_of(a).await,
                200,
                "one vote of three must not take it down"
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(w1.taken_down().is_none() && w2.taken_down().is_none());

    // 2 of 3: illegal reports move moderator 2 (3 is unpaid).
    report(&rig.nostr_url, &viewers[2], &creator, ReportType::Illegal).await;
    report(&rig.nostr_url, &viewers[3], &creator, ReportType::Illegal).await;
    let took = until_all(&addrs, 451, Duration::from_secs(5)).await;
    println!("takedown applied by both relays {took:?} after the deciding report");
    let body = common::get(a1, "/live/master.m3u8").await.json();
    assert_eq!(body["votes"], 2);
    assert_eq!(body["threshold"], 2);
    let voters: Vec<String> = body["moderators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        voters.contains(&panel[0]) && voters.contains(&panel[1]) && !voters.contains(&panel[2])
    );
    // Chunks are refused too, not only playlists; /metrics stays up.
    assert_eq!(
        common::get(a2, &format!("/{}", "0".repeat(64)))
            .await
            .status,
        451
    );
    assert_ne!(common::get(a2, "/metrics").await.status, 451);
    assert_eq!(
        mods[2]
            .counters()
            .votes_published
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    assert!(
        mods[2]
            .counters()
            .skipped_unpaid
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    // Each relay announced why, signed with its key (published just after it stopped serving).
    let t0 = Instant::now();
    let notices = loop {
        let n = society_common::fetch(
            &rig.nostr_url,
            Filter::new()
                .kind(Kind::from(KIND_LABEL))
                .authors(relay_keys.iter().map(|k| k.public_key())),
        )
        .await;
        if n.len() >= 2 {
            break n;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "relays did not announce the takedown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(notices.len(), 2);
    for n in &notices {
        let t = TakedownNotice::from_event(n).unwrap();
        assert!(t.taken_down);
        assert_eq!(t.stream, rig.stream);
        assert_eq!(t.moderators.len(), 2);
    }

    // Appeal: the creator argues; moderators 1 and 2 re-review and vote keep.
    let appeal = Appeal {
        stream: rig.stream.clone(),
        argument: "the reported scene is a documentary; see the context".into(),
    }
    .sign(&creator, None)
    .unwrap();
    society_common::publish(&rig.nostr_url, &appeal).await;
    let took = until_all(&addrs, 200, Duration::from_secs(5)).await;
    println!("appeal restored service {took:?} after it was published");

    // Money: the operator paid 20,000; the two paid moderators counted exactly that.
    let paid: i128 = (1..=3)
        .map(|i| society_common::balance(&payer, &format!("m{i}")))
        .sum();
    let got: u128 = receivers.iter().map(|r| r.total_received()).sum();
    assert_eq!(got, 20_000);
    assert_eq!(
        paid, 20_000,
        "the payer node owes its children exactly what they received"
    );
    for (i, (n, _)) in mod_nodes.iter().enumerate() {
        let m = society_common::balance(n, "p");
        let p = society_common::balance(&payer, &format!("m{}", i + 1));
        assert_eq!(m + p, 0, "ledgers of p and m{} mirror each other", i + 1);
    }
}

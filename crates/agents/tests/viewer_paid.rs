//! The viewer agent end to end on loopback: it discovers the stream (naddr) and two relay
//! offers on a real Nostr relay, picks the cheaper relay, pays it per second over ILP STREAM
//! from a wallet account at a real ILP node (BTP), and serves the player verified parts;
//! ledgers add up. Also: a relay serving tampered parts is detected and dropped mid-request,
//! and an empty wallet is reported as `wallet_empty` with a message.

mod common;
mod viewer_rig;

use std::time::Duration;

use common::get;
use tollcast_media::store::sha256_hex;
use viewer_rig::*;

async fn wait_state(v: &TestViewer, want: &str, within: Duration) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let s = get(v.addr, "/api/status").await.json();
        if s["state"] == want {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "viewer never reached state {want}: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fetch the media playlist and its parts through the viewer; returns how many parts.
async fn play_parts(v: &TestViewer, origin: std::net::SocketAddr, at_least: usize) -> usize {
    let master = get(v.addr, "/live/master.m3u8").await;
    assert_eq!(master.status, 200, "{}", master.text());
    assert!(
        master.text().contains("source/index.m3u8"),
        "{}",
        master.text()
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pl = get(v.addr, "/live/source/index.m3u8").await;
        assert_eq!(pl.status, 200, "{}", pl.text());
        let names = part_names(&pl.text());
        if names.len() >= at_least {
            for n in &names {
                let r = get(v.addr, &format!("/{n}")).await;
                assert_eq!(r.status, 200, "{n}: {}", r.text());
                let hash = n.split('.').next().unwrap();
                assert_eq!(sha256_hex(&r.body), hash, "verified bytes match their name");
                assert_eq!(r.body, get(origin, &format!("/{n}")).await.body);
            }
            return names.len();
        }
        assert!(tokio::time::Instant::now() < deadline, "too few parts");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovers_pays_cheapest_relay_and_serves_verified_parts() {
    let m = market(10_000_000, &[honest(2_000), honest(1_000)]).await;
    let v = m.viewer(viewer_config(&m)).await;

    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(s["candidates"].as_array().unwrap().len(), 2, "{s:#}");
    assert_eq!(
        s["relay"]["url"],
        m.relays[1].url(),
        "the cheaper relay: {s:#}"
    );
    assert_eq!(s["relay"]["price_per_second"], 1_000);
    assert!(s["relay"]["rtt_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(s["stream"]["title"], "Viewer test stream");
    assert_eq!(s["stream"]["address"], m.rig.stream.to_string());
    assert!(s["stream"]["naddr"].as_str().unwrap().starts_with("naddr1"));
    assert!(s["viewer"]["npub"].as_str().unwrap().starts_with("npub1"));

    let n = play_parts(&v, m.rig.origin_addr, 6).await;
    // Preload-hint positions resolve through the signed manifests.
    let signed = m.rig.wait_manifests(2).await;
    let seg = signed.last().unwrap();
    let r = get(
        v.addr,
        &format!("/live/{}/hint/{}.1.m4s", seg.rendition, seg.msn),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha256_hex(&r.body), seg.parts[1].hash);
    let r = get(
        v.addr,
        &format!(
            "/live/{}/hint/{}.{}.m4s",
            seg.rendition,
            seg.msn,
            seg.parts.len()
        ),
    )
    .await;
    assert_eq!(r.status, 404, "past the segment's last part");
    let s = wait_state(&v, "playing", Duration::from_secs(5)).await;
    assert!(s["parts"]["verified"].as_u64().unwrap() >= n as u64);
    assert_eq!(s["parts"]["rejected"], 0);
    let lat = s["latency_ms"].as_f64().expect("latency measured");
    assert!(lat > 0.0 && lat < 20_000.0, "latency {lat}");
    println!("viewer edge latency {lat:.0} ms");

    // Paid per second, ahead by ~pay_ahead only: after 3 s, between 3 and 3 + 2.5 s worth.
    let t0 = v.viewer.spent();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dt = v.viewer.spent() - t0;
    assert!(
        (2_500..=5_500).contains(&dt),
        "3 s at 1000/s cost {dt} (pay-ahead must stay small)"
    );
    // The balance the page shows ticks down (the bank's view of the wallet account).
    let s = get(v.addr, "/api/status").await.json();
    let bal = s["wallet"]["balance"].as_i64().unwrap();
    assert!(bal < m.funds as i64 && bal > 0, "{s:#}");

    // Stop: money stops; ledgers add up.
    v.viewer.shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spent = v.viewer.spent() as i128;
    let (ra, rb) = (&m.relays[0], &m.relays[1]);
    assert_eq!(
        m.bank_balance("viewer"),
        -spent,
        "bank: the viewer owes what it spent"
    );
    assert_eq!(
        m.bank_balance("rb"),
        spent,
        "bank owes the chosen relay all of it"
    );
    assert_eq!(m.bank_balance("ra"), 0, "the dearer relay got nothing");
    assert_eq!(rb.node_received(), spent, "relay node's ledger agrees");
    assert_eq!(ra.node_received(), 0);
    let credited = rb
        .billing
        .standing_at(
            &v.viewer.keys().public_key().to_hex(),
            tokio::time::Instant::now(),
        )
        .unwrap()
        .received;
    assert_eq!(
        credited as i128, spent,
        "relay billing credited the viewer id"
    );
    let metrics = get(v.addr, "/metrics").await.text();
    assert!(metrics.contains("tollcast_viewer_parts_verified_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_serving_tampered_parts_is_dropped() {
    // The cheater is cheaper, so it is chosen first.
    let m = market(
        10_000_000,
        &[
            RelaySpec {
                tamper: true,
                ..honest(500)
            },
            honest(1_000),
        ],
    )
    .await;
    let v = m.viewer(viewer_config(&m)).await;
    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(s["relay"]["url"], m.relays[0].url(), "{s:#}");

    play_parts(&v, m.rig.origin_addr, 3).await;
    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(s["relay"]["url"], m.relays[1].url(), "switched away: {s:#}");
    assert!(s["parts"]["rejected"].as_u64().unwrap() >= 1, "{s:#}");
    let cheat = s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["url"] == m.relays[0].url())
        .unwrap();
    assert_eq!(cheat["healthy"], false);
    assert!(
        cheat["reason"].as_str().unwrap().contains("cheated"),
        "{cheat:#}"
    );

    // Chat (signed with the viewer key; the stream's relay takes writes for free) and a tip
    // to the creator's SPSP endpoint, both from the page's API.
    assert_eq!(s["stream"]["chat_price"], 7);
    let (code, j) = post_json(
        v.addr,
        "/api/chat",
        r#"{"content":"hello from the viewer"}"#,
    )
    .await;
    assert_eq!(code, 200, "{j}");
    let id = j["id"].as_str().unwrap().to_string();
    let c = tollcast_net::nostr_relay::client::RelayClient::connect(
        &m.rig.nostr_url,
        Default::default(),
    )
    .unwrap();
    let got = c
        .fetch(
            vec![
                tollcast_events::nostr::prelude::Filter::new()
                    .id(tollcast_events::nostr::prelude::EventId::from_hex(&id).unwrap()),
            ],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].content, "hello from the viewer");
    assert_eq!(got[0].pubkey, v.viewer.keys().public_key());
    let before = v.viewer.spent();
    let (code, j) = post_json(v.addr, "/api/tip", r#"{"amount": 2500, "message": "gg"}"#).await;
    assert_eq!(code, 200, "{j}");
    assert_eq!(j["delivered"], 2500);
    assert!(v.viewer.spent() >= before + 2500);
    let (code, j) = post_json(v.addr, "/api/tip", r#"{"amount": 0}"#).await;
    assert_eq!(code, 400, "{j}");
    assert!(j["message"].as_str().unwrap().contains("at least 1"));
    v.viewer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_wallet_is_reported_with_what_to_do() {
    let m = market(0, &[honest(1_000)]).await;
    let v = m.viewer(viewer_config(&m)).await;
    let s = wait_state(&v, "wallet_empty", Duration::from_secs(10)).await;
    let msg = s["message"].as_str().unwrap();
    assert!(
        msg.contains("wallet is empty") && msg.contains("Add funds"),
        "{msg}"
    );
    // The player gets a clear refusal, not bytes.
    let r = get(v.addr, "/live/master.m3u8").await;
    assert_eq!(r.status, 402, "{}", r.text());
    assert!(r.json()["message"].as_str().unwrap().contains("wallet"));
    assert_eq!(m.bank_balance("viewer"), 0, "nothing was paid");
    v.viewer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_refusing_payment_is_skipped_and_reported() {
    // The cheaper relay's payment endpoint refuses: the viewer moves on to the other one.
    let m = market(
        10_000_000,
        &[
            RelaySpec {
                refuse_payment: true,
                ..honest(500)
            },
            honest(1_000),
        ],
    )
    .await;
    let v = m.viewer(viewer_config(&m)).await;
    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(s["relay"]["url"], m.relays[1].url(), "{s:#}");
    let bad = s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["url"] == m.relays[0].url())
        .unwrap();
    assert_eq!(bad["healthy"], false);
    assert!(
        bad["reason"]
            .as_str()
            .unwrap()
            .starts_with("refused payment"),
        "{bad:#}"
    );
    play_parts(&v, m.rig.origin_addr, 2).await;
    v.viewer.shutdown().await;
    assert_eq!(m.bank_balance("ra"), 0);

    // Alone, a refusing relay leaves the viewer in payment_required, saying why.
    let m = market(
        10_000_000,
        &[RelaySpec {
            refuse_payment: true,
            ..honest(500)
        }],
    )
    .await;
    let v = m.viewer(viewer_config(&m)).await;
    let s = wait_state(&v, "payment_required", Duration::from_secs(5)).await;
    let msg = s["message"].as_str().unwrap();
    assert!(
        msg.contains("refused payment") && msg.contains("tried again"),
        "{msg}"
    );
    assert!(s["relay"].is_null());
    let r = get(v.addr, "/live/master.m3u8").await;
    assert_eq!(r.status, 503, "{}", r.text());
    v.viewer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_run_by_someone_followed_wins_at_a_higher_price() {
    let m = market(10_000_000, &[honest(1_000), honest(1_500)]).await;
    let me = tollcast_events::nostr::prelude::Keys::generate();
    m.follow(&me, &[m.relays[1].keys.public_key()]).await;
    let v = m.viewer_with_keys(viewer_config(&m), me).await;
    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(s["relay"]["url"], m.relays[1].url(), "{s:#}");
    let social: Vec<&str> = s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["social"].as_str().unwrap())
        .collect();
    assert!(
        social.contains(&"followed") && social.contains(&"stranger"),
        "{s:#}"
    );
    play_parts(&v, m.rig.origin_addr, 2).await;
    v.viewer.shutdown().await;
}

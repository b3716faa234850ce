//! Credit mode end to end: a viewer pays the relay over a real ILP STREAM connection
//! (credentials from the relay's SPSP route `/.well-known/pay/{viewer}`, tagged with the viewer
//! id; tollcast-net's STREAM sender paying the relay's receiver directly, no connector between;
//! the relay's billing follows the receiver's money events); its balance buys time; past the
//! grace window the relay answers 402 with a JSON reason; paying again resumes service. Also:
//! the relay's kind-31312 offer on a real Nostr relay, and CORS preflight.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use tokio::time::Instant;
use tollcast_agents::relay::billing::{Billing, BillingConfig};
use tollcast_agents::relay::offer::OfferSettings;
use tollcast_agents::relay::{Relay, RelayConfig, RelayError};
use tollcast_events::nostr::prelude::Keys;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::stream::{ReceiverConfig, SenderConfig, StreamReceiver, StreamSender, spsp_http};
use tollcast_wire::address::Address;

/// Wait until the relay has credited `viewer` with `total` (the follow task is asynchronous).
async fn credited(billing: &Billing, viewer: &str, total: u128) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while billing
        .standing_at(viewer, Instant::now())
        .map(|s| s.received)
        != Some(total)
    {
        assert!(Instant::now() < deadline, "payment never credited");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_mode_serves_while_paid_then_402_then_resumes() {
    let rig = start_origin().await;
    let receiver = Arc::new(StreamReceiver::new(ReceiverConfig::new(
        Address::new("test.relay.pay").unwrap(),
        "USD",
        6,
    )));
    let grace = Duration::from_millis(300);
    let billing = Arc::new(Billing::new(BillingConfig {
        price_per_second: 1_000,
        grace,
        asset_code: "USD".into(),
        asset_scale: 6,
        pay_to: Some("http://127.0.0.1/.well-known/pay/{viewer}".into()),
    }));
    let _follow = billing.follow(&receiver);
    let (relay, addr, _d) = rig
        .relay_paid(
            &format!("http://{}", rig.origin_addr),
            Some(billing.clone()),
            Some(receiver.clone()),
            Duration::from_secs(8),
        )
        .await;
    let manifests = rig.wait_manifests(1).await;
    let part = manifests[0].parts[0].hash.clone();
    wait_known(&relay, &part).await;
    let path = format!("/{part}.m4s");
    let alice = ["Authorization: Bearer alice"];

    // Nobody named: 402 no_viewer. Alice before paying: 402 no_payment.
    let r = get(addr, &path).await;
    assert_eq!(r.status, 402);
    assert_eq!(r.json()["reason"], "no_viewer");
    let r = get_with(addr, &path, &alice).await;
    assert_eq!(r.status, 402);
    let j = r.json();
    assert_eq!(j["reason"], "no_payment");
    assert_eq!(j["price_per_second"], 1_000);
    assert_eq!(j["pay_to"], "http://127.0.0.1/.well-known/pay/alice");
    assert_eq!(get(addr, "/live/source/index.m3u8").await.status, 402);
    // A player page on another origin may ask (CORS preflight) before sending its viewer id.
    let pre = request(
        addr,
        "OPTIONS",
        &path,
        &[
            "Origin: http://player.example",
            "Access-Control-Request-Headers: authorization",
        ],
    )
    .await;
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("authorization")
    );

    // Alice asks the relay's SPSP endpoint for credentials (never gated), then streams 1,500
    // units (1.5 s of service) over STREAM.
    let spsp = spsp_http::query(
        &format!("http://{addr}/.well-known/pay/alice"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut sender = StreamSender::connect(
        receiver.clone(),
        SenderConfig::new(spsp.destination_account, spsp.shared_secret),
    )
    .await
    .unwrap();
    sender.send(1_500).await.unwrap();
    credited(&billing, "alice", 1_500).await;
    let r = get_with(addr, &path, &alice).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, get(rig.origin_addr, &path).await.body);
    let r = get(addr, "/live/source/index.m3u8?viewer=alice").await;
    assert_eq!(r.status, 200, "viewer id in the query works too");

    // The relay advertises itself on Nostr: stream, price per minute, ILP/SPSP, upstream, load.
    let relay_keys = Keys::generate();
    let nostr = RelayClient::connect(&rig.nostr_url, ClientOptions::default()).unwrap();
    let settings = OfferSettings {
        ilp_address: "test.relay.pay".into(),
        spsp: vec![format!("http://{addr}/.well-known/pay")],
        url: Some(format!("http://{addr}/live/master.m3u8")),
        price_per_gb: None,
        capacity: 100,
        every: Duration::from_secs(60),
    };
    let adv = relay.advertise(relay_keys.clone(), vec![nostr.clone()], settings);
    let offer = rig.wait_offer(relay_keys.public_key()).await;
    adv.abort();
    assert_eq!(offer.stream.as_ref(), Some(&rig.stream));
    let ppm = offer.price_per_minute.unwrap();
    assert_eq!(
        (ppm.amount, ppm.asset_code.as_str(), ppm.asset_scale),
        (60_000, "USD", 6)
    );
    assert_eq!(offer.ilp_address, "test.relay.pay");
    assert_eq!(offer.upstream, Some(format!("http://{}", rig.origin_addr)));
    let load = offer.load.unwrap();
    assert_eq!(
        (load.viewers, load.capacity),
        (1, 100),
        "Alice is being served"
    );

    // A child relay pulling from this paid relay pays like a viewer: it presents its id.
    let child = |viewer: Option<&str>| {
        let store_dir = tempfile::tempdir().unwrap();
        let store = tollcast_media::store::ChunkStore::open(store_dir.path(), 1 << 24).unwrap();
        let mut cfg = RelayConfig::new(format!("http://{addr}"));
        cfg.upstream_viewer = viewer.map(str::to_string);
        let book = relay.manifests().clone();
        (Relay::new(cfg, store, book, None).unwrap(), store_dir)
    };
    let (unpaid_child, _d1) = child(Some("mallory"));
    match unpaid_child.chunk(&part).await {
        Err(RelayError::UpstreamStatus { status: 402, .. }) => {}
        other => panic!("an unpaid child relay must get 402, got {other:?}"),
    }
    let (paid_child, _d2) = child(Some("alice"));
    let bytes = paid_child.chunk(&part).await.unwrap();
    assert_eq!(
        bytes.as_ref(),
        get(rig.origin_addr, &path).await.body.as_slice()
    );

    // Another viewer is not covered by Alice's money.
    assert_eq!(
        get_with(addr, &path, &["Authorization: Bearer bob"])
            .await
            .status,
        402
    );

    // Past paid time + grace: 402 credit_exhausted with a reason a page can show.
    let until = billing
        .standing_at("alice", Instant::now())
        .unwrap()
        .paid_until
        .unwrap();
    tokio::time::sleep_until(until + grace + Duration::from_millis(20)).await;
    let r = get_with(addr, &path, &alice).await;
    assert_eq!(r.status, 402);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["error"], "payment_required");
    assert_eq!(j["reason"], "credit_exhausted");
    assert_eq!(j["received"], "1500");
    assert!(
        j["message"]
            .as_str()
            .unwrap()
            .contains("keep streaming money")
    );
    assert!(j["expired_ms_ago"].as_u64().unwrap() >= grace.as_millis() as u64);

    // Paying again resumes service, on the same connection.
    sender.send(2_000).await.unwrap();
    credited(&billing, "alice", 3_500).await;
    let r = get_with(addr, &path, &alice).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // 402s: no viewer, Alice unpaid, playlist, the unpaid child, Bob, Alice exhausted.
    assert_eq!(relay.metrics().payment_required.load(Ordering::Relaxed), 6);
    // The relay fetched the part once, whatever was refused before payment.
    assert_eq!(
        relay
            .metrics()
            .upstream_chunk_fetches
            .load(Ordering::Relaxed),
        1
    );
}

//! Per-part signed manifests (kind 21311) at a relay, with a real origin (ffmpeg synthetic
//! source, 2 s segments of 200 ms parts) publishing its part and segment manifests on a real
//! Nostr relay:
//! - a relay following part manifests serves each part as soon as it is asked for, long before
//!   the part's segment closes (its kind-31311 manifest does not exist yet); a relay that only
//!   follows segment manifests (how relays worked before) holds the same parts until the segment
//!   closes. Both figures are printed (`PARTS hop` lines);
//! - a part manifest signed by a key the relay does not trust makes nothing servable, and a
//!   trusted one listing another size than the bytes have is refused too.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use tollcast_agents::relay::manifests::{Accepted, Listed, ManifestBook};
use tollcast_agents::relay::{Relay, RelayConfig};
use tollcast_events::manifest::{KIND_SEGMENT_MANIFEST, PartInfo};
use tollcast_events::nostr::prelude::{Filter, Keys, Kind};
use tollcast_events::part_manifest::PartManifest;
use tollcast_events::{Role, Sha256};
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::synthetic::SyntheticOptions;
use tollcast_media::live::LiveEvent;
use tollcast_media::manifest::SegmentManifest;
use tollcast_media::store::{ChunkStore, sha256_hex};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient, SubItem};

/// A relay whose book follows segment manifests only (kind 31311), as relays did before part
/// manifests existed.
async fn segment_only_relay(
    rig: &Rig,
    upstream: &str,
) -> (Relay, std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 64 * 1024 * 1024).unwrap();
    let book = Arc::new(ManifestBook::new(rig.stream.clone(), []));
    let client = RelayClient::connect(&rig.nostr_url, ClientOptions::default()).unwrap();
    let filter = Filter::new()
        .kind(Kind::from(KIND_SEGMENT_MANIFEST))
        .author(rig.keys.public_key());
    let mut sub = client.subscribe(vec![filter]).await.unwrap();
    let b2 = book.clone();
    tokio::spawn(async move {
        let _client = client;
        while let Some(item) = sub.recv().await {
            if let SubItem::Event(ev) = item {
                let _ = b2.accept(&ev);
            }
        }
    });
    let mut cfg = RelayConfig::new(upstream);
    cfg.manifest_wait = Duration::from_secs(8);
    let relay = Relay::new(cfg, store, book, None).unwrap();
    let addr = serve(relay.router()).await;
    (relay, addr, dir)
}

fn pct(v: &mut [i64], p: f64) -> i64 {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parts_are_served_before_their_segment_closes() {
    let rig = start_origin_cut(
        SyntheticOptions {
            width: 320,
            height: 180,
            fps: 15,
            video_kbps: 150,
            duration: None,
        },
        CutterConfig {
            part_target: 0.2,
            segment_target: 2.0,
        },
    )
    .await;
    let origin_url = format!("http://{}", rig.origin_addr);
    let (_relay_p, addr_p, _dp) = rig.relay(&origin_url, None, Duration::from_secs(8)).await;
    let (_relay_s, addr_s, _ds) = segment_only_relay(&rig, &origin_url).await;
    // Start with a whole segment so both books have seen the stream's init and the pipeline
    // runs at its steady pace.
    let first = rig.wait_manifests(1).await[0].msn;

    // For every part of the next 3 segments, as the origin lists it (like a relay hearing of
    // it through a blocking playlist reload): ask both relays at once.
    let mut rx = rig.live.subscribe();
    let mut asks = Vec::new();
    let end = first + 5;
    while let Ok(ev) = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .expect("parts keep coming")
    {
        let LiveEvent::Part {
            msn,
            index,
            hash,
            size,
            available_ms,
            ..
        } = ev
        else {
            continue;
        };
        if msn <= first + 1 {
            continue;
        }
        if msn >= end {
            break;
        }
        let manifests = rig.manifests.clone();
        asks.push(tokio::spawn(async move {
            let (p, s) = tokio::join!(
                async {
                    let r = get(addr_p, &format!("/{hash}.m4s")).await;
                    let at = now_ms();
                    // Was the segment's 31311 manifest published when the part came back?
                    let closed = manifests.lock().await.iter().any(|e| {
                        SegmentManifest::from_event(e).is_ok_and(|(m, _, _)| m.msn == msn)
                    });
                    (r, at, closed)
                },
                async {
                    let r = get(addr_s, &format!("/{hash}.m4s")).await;
                    (r, now_ms())
                }
            );
            (msn, index, hash, size, available_ms, p, s)
        }));
    }
    let mut hop_parts = Vec::new();
    let mut hop_segments = Vec::new();
    let mut first_parts = Vec::new();
    let mut before_close = 0;
    for a in asks {
        let (msn, index, hash, size, available_ms, (p, p_at, closed), (s, s_at)) = a.await.unwrap();
        assert_eq!(p.status, 200, "part {msn}.{index}: {}", p.text());
        assert_eq!(s.status, 200, "part {msn}.{index}: {}", s.text());
        assert_eq!(sha256_hex(&p.body), hash);
        assert_eq!(p.body.len(), size);
        assert_eq!(s.body, p.body);
        hop_parts.push(p_at - available_ms);
        hop_segments.push(s_at - available_ms);
        if index == 0 {
            first_parts.push(p_at - available_ms);
        }
        if !closed {
            before_close += 1;
        }
        if index == 0 {
            assert!(
                !closed,
                "the first part of segment {msn} was served only after its segment closed"
            );
        }
    }
    let n = hop_parts.len();
    assert!(n >= 25, "3 segments of ~10 parts asked for, got {n}");
    let (p50, p99) = (pct(&mut hop_parts, 0.5), pct(&mut hop_parts, 0.99));
    let (s50, s99) = (pct(&mut hop_segments, 0.5), pct(&mut hop_segments, 0.99));
    let f50 = pct(&mut first_parts, 0.5);
    let fmax = pct(&mut first_parts, 1.0);
    println!(
        "PARTS hop origin -> relay, {n} parts of 2 s segments (200 ms parts): following part manifests p50 {p50} ms / p99 {p99} ms ({before_close}/{n} served before their segment closed; first part of a segment p50 {f50} / max {fmax} ms); segment manifests only p50 {s50} ms / p99 {s99} ms"
    );
    assert!(
        fmax < 1000,
        "the first part of a segment reached the relay {fmax} ms after the origin listed it"
    );
    assert!(
        p50 < s50,
        "part manifests should beat waiting for segments ({p50} vs {s50} ms)"
    );
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_or_wrong_size_part_manifests_make_nothing_servable() {
    let rig = start_origin().await;
    // The origin's real part manifests reach a relay's book (and list parts with their sizes).
    let (relay, _addr, _d) = rig
        .relay(
            &format!("http://{}", rig.origin_addr),
            None,
            Duration::from_secs(8),
        )
        .await;
    let listed = loop {
        if let Some(ev) = rig.part_manifests.lock().await.last().cloned() {
            break ev;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (m, _, _) = tollcast_media::manifest::PartManifest::from_event(&listed).unwrap();
    let last = m.parts.last().unwrap();
    wait_known(&relay, &last.hash).await;
    assert_eq!(relay.manifests().lookup(&last.hash), Some(Some(last.size)));

    // An upstream serving a blob with an honest hash name.
    let blob = b"bytes the producer never signed".to_vec();
    let blob_hash = sha256_hex(&blob);
    let b2 = blob.clone();
    let injector = axum::Router::new().route(
        "/{name}",
        axum::routing::get(move || {
            let b = b2.clone();
            async move { b }
        }),
    );
    let inj_addr = serve(injector).await;
    let (relay_i, addr_i, _di) = rig
        .relay(
            &format!("http://{inj_addr}"),
            None,
            Duration::from_millis(1500),
        )
        .await;
    let part_list = |size: u64| PartManifest {
        stream: rig.stream.clone(),
        rendition: "source".into(),
        msn: m.msn,
        init: m.init.parse::<Sha256>().unwrap(),
        parts: vec![PartInfo {
            hash: blob_hash.parse().unwrap(),
            duration_us: 200_000,
            size,
            independent: true,
        }],
        captured_ms: 1,
        role: Role::Streamer,
    };
    // Signed by a stranger, for the right stream, with the right size: published on the Nostr
    // relay the relays follow, and handed to the book directly.
    let stranger = Keys::generate();
    let forged = part_list(blob.len() as u64).sign(&stranger, None).unwrap();
    let publisher = RelayClient::connect(&rig.nostr_url, ClientOptions::default()).unwrap();
    // The relays subscribe to the stream author's manifests only: the stranger's event is
    // accepted by the Nostr relay but never reaches them; and handed over directly it is refused.
    publisher
        .publish(&forged, Duration::from_secs(5))
        .await
        .unwrap();
    let err = relay_i.manifests().accept(&forged).unwrap_err();
    assert!(err.to_string().contains("not a trusted producer"), "{err}");
    let r = get(addr_i, &format!("/{blob_hash}.m4s")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(r.text().contains("no signed manifest"), "{}", r.text());
    assert!(!relay_i.store().contains(&blob_hash));
    assert_eq!(relay_i.manifests().lookup(&blob_hash), None);

    // A forged signature over the author's key: refused as not verifying.
    let mut tampered = part_list(blob.len() as u64).sign(&rig.keys, None).unwrap();
    tampered.pubkey = rig.keys.public_key();
    tampered.content = "x".into();
    assert!(relay_i.manifests().accept(&tampered).is_err());
    assert_eq!(relay_i.manifests().lookup(&blob_hash), None);

    // Trusted signer, another size than the bytes have: listed, but the bytes are refused.
    let wrong = part_list(blob.len() as u64 + 1)
        .sign(&rig.keys, None)
        .unwrap();
    match relay_i.manifests().accept(&wrong).unwrap() {
        Accepted::New(Listed::Parts(p)) => assert_eq!(p.parts.len(), 1),
        other => panic!("expected a new part list, got {other:?}"),
    }
    let r = get(addr_i, &format!("/{blob_hash}.m4s")).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert!(!relay_i.store().contains(&blob_hash));
    // The same event again is a duplicate and changes nothing.
    assert_eq!(
        relay_i.manifests().accept(&wrong).unwrap(),
        Accepted::Duplicate
    );
}

//! Recorder on real sockets (127.0.0.1): chunks fetched from mirrors in order — one lacking
//! every chunk, one tampering with every chunk (refused), one honest; a relay holding only parts
//! (the segment is rebuilt and checked); manifests from strangers or for other streams refused;
//! and the VOD paid per GB over a real ILP STREAM connection through two ILP nodes (viewer's A
//! peered with the recorder's B over BTP): unpaid gets 402, playlists are free, paid bytes are
//! served until the credit is used up, and money is conserved (sender, receiver, billing and
//! both ledgers agree; ledger audits pass).

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use tokio::time::Instant;
use tollcast_agents::recorder::per_gb::{GbBilling, GbPrice};
use tollcast_agents::recorder::{Recorder, RecorderConfig, RecorderError};
use tollcast_agents::relay::upstream::Upstream;
use tollcast_events::nostr::prelude::{Event, Keys};
use tollcast_events::{Role, StreamAddress};
use tollcast_media::manifest::{ManifestPart, SegmentManifest};
use tollcast_media::store::{ChunkStore, sha256_hex};
use tollcast_net::connector::AccountId;
use tollcast_net::stream::{SenderConfig, StreamReceiver, StreamSender, spsp_http};

/// A synthetic recording: init + one segment of two parts, and its signed manifest.
struct Media {
    init: Bytes,
    parts: Vec<Bytes>,
    segment: Bytes,
    manifest: SegmentManifest,
    event: Event,
    stream: StreamAddress,
}

fn media(creator: &Keys) -> Media {
    let init = Bytes::from(vec![1u8; 700]);
    let parts = vec![Bytes::from(vec![2u8; 6_000]), Bytes::from(vec![3u8; 4_000])];
    let segment = Bytes::from([parts[0].as_ref(), parts[1].as_ref()].concat());
    let manifest = SegmentManifest {
        rendition: "source".into(),
        msn: 0,
        init: sha256_hex(&init),
        segment: sha256_hex(&segment),
        segment_size: segment.len() as u64,
        parts: parts
            .iter()
            .map(|p| ManifestPart {
                hash: sha256_hex(p),
                duration: 0.5,
                independent: true,
                size: p.len() as u64,
            })
            .collect(),
        duration: 1.0,
        capture_ms: 1_700_000_000_000,
        source: None,
    };
    let stream = StreamAddress::new(creator.public_key(), "show");
    let event = manifest.sign(creator, &stream, Role::Streamer).unwrap();
    Media {
        init,
        parts,
        segment,
        manifest,
        event,
        stream,
    }
}

/// Serve `chunks` by name (`/{hash}.{ext}`), passing the bytes through `tamper`.
async fn mirror(chunks: Vec<Bytes>, tamper: bool) -> String {
    let chunks = Arc::new(chunks);
    let app = Router::new().route(
        "/{name}",
        get(move |Path(name): Path<String>| {
            let chunks = chunks.clone();
            async move {
                let hash = name.split('.').next().unwrap_or_default().to_string();
                match chunks.iter().find(|c| sha256_hex(c) == hash) {
                    Some(c) if tamper => {
                        let mut v = c.to_vec();
                        v[0] ^= 0xff;
                        (StatusCode::OK, v).into_response()
                    }
                    Some(c) => (StatusCode::OK, c.clone()).into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { tollcast_net::http_serve::serve(l, app).await });
    format!("http://{addr}")
}

fn recorder(
    m: &Media,
    mirrors: Vec<String>,
    billing: Option<Arc<GbBilling>>,
) -> (Recorder, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 1 << 26).unwrap();
    let cfg = RecorderConfig {
        mirrors,
        fetch_attempts: 1,
        ..RecorderConfig::default()
    };
    (
        Recorder::new(m.stream.clone(), cfg, store, billing).unwrap(),
        dir,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_come_from_the_first_mirror_with_verified_bytes() {
    let creator = Keys::generate();
    let m = media(&creator);
    let all = vec![m.init.clone(), m.segment.clone()];
    let empty = mirror(vec![], false).await;
    let liar = mirror(all.clone(), true).await;
    let honest = mirror(all, false).await;

    // Missing on the first mirror, tampered on the second, fetched from the third.
    let (rec, _d) = recorder(&m, vec![empty.clone(), liar.clone(), honest], None);
    let man = rec
        .accept_manifest(&m.event)
        .unwrap()
        .expect("new manifest");
    assert_eq!(man, m.manifest);
    assert_eq!(rec.accept_manifest(&m.event).unwrap(), None, "duplicate");
    rec.record(&man).await.unwrap();
    assert_eq!(
        rec.store().get(&m.manifest.segment).unwrap().unwrap(),
        m.segment
    );
    assert_eq!(rec.store().get(&m.manifest.init).unwrap().unwrap(), m.init);
    let s = rec.mirrors().stats();
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        s.misses.load(Relaxed),
        2,
        "init and segment missing on the first"
    );
    assert_eq!(
        s.tampered.load(Relaxed),
        2,
        "init and segment refused from the liar"
    );
    assert_eq!(s.fetched.load(Relaxed), 2);
    assert!(
        rec.metrics_text()
            .contains("tollcast_recorder_mirror_refused_total 2\n")
    );

    // Only the missing and the lying mirror: nothing is stored, the error names both.
    let (rec, _d) = recorder(&m, vec![empty.clone(), liar], None);
    let man = rec.accept_manifest(&m.event).unwrap().unwrap();
    match rec.record(&man).await {
        Err(RecorderError::Unavailable { hash, tried }) => {
            assert_eq!(hash, m.manifest.init);
            assert!(
                tried.contains("404") && tried.contains("hash to"),
                "{tried}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(!rec.store().contains(&m.manifest.segment));
    assert!(!rec.store().contains(&m.manifest.init));
    assert!(matches!(rec.finish().await, Err(RecorderError::Empty)));

    // A relay holding only the parts: the segment is rebuilt from them and checked.
    let parts_only = mirror(
        vec![m.init.clone(), m.parts[0].clone(), m.parts[1].clone()],
        false,
    )
    .await;
    let (rec, _d) = recorder(&m, vec![empty, parts_only], None);
    let man = rec.accept_manifest(&m.event).unwrap().unwrap();
    rec.record(&man).await.unwrap();
    assert_eq!(
        rec.store().get(&m.manifest.segment).unwrap().unwrap(),
        m.segment
    );

    // Manifests by a stranger, or for another stream, are refused and change nothing.
    let stranger = Keys::generate();
    let forged = m
        .manifest
        .sign(&stranger, &m.stream, Role::Streamer)
        .unwrap();
    assert!(rec.accept_manifest(&forged).is_err());
    let other = StreamAddress::new(creator.public_key(), "other");
    let foreign = m.manifest.sign(&creator, &other, Role::Streamer).unwrap();
    assert!(rec.accept_manifest(&foreign).is_err());
    let mut tampered = m.event.clone();
    tampered.content = "x".into();
    assert!(rec.accept_manifest(&tampered).is_err());
    assert!(
        rec.metrics_text()
            .contains("tollcast_recorder_manifests_refused_total 3\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vod_is_paid_per_gb_and_money_is_conserved() {
    let creator = Keys::generate();
    let m = media(&creator);
    let honest = mirror(vec![m.init.clone(), m.segment.clone()], false).await;
    let (b, _bd) = common::ilp_node(
        "b",
        "test.b",
        r#"
[[accounts]]
id = "a"
relation = "child"
asset_code = "USD"
asset_scale = 6
auth_token = "token-a"
credit_limit = 1000000000
"#,
    )
    .await;
    let receiver = StreamReceiver::attach(&b.connector, "recorder", "USD", 6, None).unwrap();
    let (a, _ad) = common::ilp_node(
        "a",
        "test.a",
        &format!(
            r#"
[[accounts]]
id = "b"
relation = "parent"
asset_code = "USD"
asset_scale = 6
btp_url = "{}"
auth_token = "token-a"

[[routes]]
prefix = "test.b"
account = "b"
"#,
            b.btp_url()
        ),
    )
    .await;
    assert!(
        a.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    // 1,000,000 units per GB: one unit buys 1,000 bytes.
    let billing = Arc::new(GbBilling::new(GbPrice {
        price_per_gb: 1_000_000,
        asset_code: "USD".into(),
        asset_scale: 6,
        pay_to: Some("http://127.0.0.1/.well-known/pay/{viewer}".into()),
    }));
    let _follow = billing.follow(&receiver);
    let (rec, _d) = recorder(&m, vec![honest], Some(billing.clone()));
    let man = rec.accept_manifest(&m.event).unwrap().unwrap();
    rec.record(&man).await.unwrap();
    let vod = rec.finish().await.unwrap();
    assert_eq!(vod.segments, 1);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let app = rec.paid_router(receiver.clone());
    tokio::spawn(async move { tollcast_net::http_serve::serve(l, app).await });
    let base = format!("http://{addr}");
    let anon = Upstream::new(&base, Duration::from_secs(5)).unwrap();
    let alice = anon.clone().with_bearer("alice");
    let seg = format!("/{}.m4s", m.manifest.segment);
    let init = format!("/{}.mp4", m.manifest.init);

    // Playlists are free; chunks are not.
    let r = anon.get(&format!("/{}.m3u8", vod.master)).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(sha256_hex(&r.body), vod.master);
    let r = anon.get(&seg).await.unwrap();
    assert_eq!(r.status, 402);
    let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(j["reason"], "no_viewer");
    let r = alice.get(&seg).await.unwrap();
    assert_eq!(r.status, 402);
    let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(j["reason"], "no_payment");
    assert_eq!(j["price_per_gb"], 1_000_000);
    assert_eq!(j["pay_to"], "http://127.0.0.1/.well-known/pay/alice");
    // A chunk asked for as a playlist is still charged.
    assert_eq!(
        anon.get(&format!("/{}.m3u8", m.manifest.segment))
            .await
            .unwrap()
            .status,
        402
    );

    // Alice pays 12 units (12,000 bytes) over STREAM through the recorder's SPSP endpoint.
    let spsp = spsp_http::query(
        &format!("{base}/.well-known/pay/alice"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    let mut cfg = SenderConfig::new(spsp.destination_account, spsp.shared_secret);
    cfg.source_address = Some(tollcast_wire::address::Address::new("test.a").unwrap());
    let mut sender = StreamSender::connect(a.connector.sender(AccountId::local()), cfg)
        .await
        .unwrap();
    sender.send(12).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while billing.usage("alice").map(|u| u.received) != Some(12) {
        assert!(Instant::now() < deadline, "payment never credited");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 10,000-byte segment + 700-byte init fit in 12,000 bytes; a second segment does not.
    let r = alice.get(&seg).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, m.segment);
    let r = alice.get(&init).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, m.init);
    let r = alice.get(&seg).await.unwrap();
    assert_eq!(r.status, 402);
    let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(j["reason"], "credit_exhausted");
    assert_eq!(j["bytes_served"], "10700");
    // Bob is not covered by Alice's money.
    assert_eq!(
        anon.clone()
            .with_bearer("bob")
            .get(&init)
            .await
            .unwrap()
            .status,
        402
    );

    // Money conserved: what Alice's sender delivered is what the receiver got is what the
    // recorder credited; bytes served never exceed bytes paid for.
    let sent = sender.totals();
    assert_eq!(sent.sent, 12);
    assert_eq!(sent.delivered as u128, receiver.total_received());
    assert_eq!(receiver.total_received(), billing.total_received());
    assert_eq!(
        common::ledger_balance(&a, "b"),
        12,
        "A owes B what Alice paid"
    );
    assert_eq!(common::ledger_balance(&b, "a"), -12);
    a.connector.ledger().audit().unwrap();
    b.connector.ledger().audit().unwrap();
    let u = billing.usage("alice").unwrap();
    assert_eq!(
        (u.received, u.bytes_paid, u.bytes_served),
        (12, 12_000, 10_700)
    );
    let metrics = rec.metrics_text();
    assert!(
        metrics.contains("tollcast_recorder_received_total 12\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tollcast_recorder_payment_required_total 5\n"),
        "{metrics}"
    );
}

//! ILP-native delivery end to end, real sockets on 127.0.0.1: a live origin (ffmpeg), a relay
//! following its signed manifests on a real Nostr relay, the relay's STREAM receiver on its
//! ILP node B, a viewer on its own node A peered with B over BTP. The viewer fetches parts and
//! segments with `NativeFetcher`: each packet pays for the bytes its FULFILL carries. Checks:
//! bytes identical to the origin's and hash-verified, one packet per `MAX_SLICE` bytes, money
//! booked exactly (fetcher, receiver, both ledgers); an unpaid or underpaid viewer gets nothing
//! and pays nothing.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use tollcast_agents::relay::native::{
    MAX_SLICE, NativeError, NativeFetcher, NativePricing, NativeServer,
};
use tollcast_media::ingest::synthetic::SyntheticOptions;
use tollcast_net::connector::{AccountId, Node};
use tollcast_net::stream::{SenderConfig, StreamReceiver, StreamSendError};
use tollcast_wire::address::Address;

const RELAY_NODE: &str = r#"
[[accounts]]
id = "a"
relation = "child"
asset_code = "USD"
asset_scale = 9
auth_token = "token-a"
credit_limit = 1000000000000
"#;

fn viewer_node_toml(btp: &str) -> String {
    format!(
        r#"
[[accounts]]
id = "b"
relation = "parent"
asset_code = "USD"
asset_scale = 9
btp_url = "{btp}"
auth_token = "token-a"

[[routes]]
prefix = "test.b"
account = "b"
"#
    )
}

async fn fetcher(
    a: &Node,
    receiver: &StreamReceiver,
    viewer: &str,
    p: NativePricing,
) -> NativeFetcher {
    let (dest, secret) = receiver.generate_credentials(Some(viewer));
    let mut cfg = SenderConfig::new(dest, secret);
    cfg.source_address = Some(Address::new("test.a").unwrap());
    NativeFetcher::connect(a.connector.sender(AccountId::local()), cfg, p)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_fetch_pays_per_packet_and_unpaid_gets_nothing() {
    // A higher bitrate than the other relay tests, so segments span several packets.
    let rig = start_origin_with(SyntheticOptions {
        width: 640,
        height: 360,
        fps: 25,
        video_kbps: 2_000,
        duration: None,
    })
    .await;
    let (relay, _addr, _d) = rig
        .relay(
            &format!("http://{}", rig.origin_addr),
            None,
            Duration::from_secs(8),
        )
        .await;
    let (b, _bd) = ilp_node("b", "test.b", RELAY_NODE).await;
    let receiver = StreamReceiver::attach(&b.connector, "relay", "USD", 9, None).unwrap();
    let pricing = NativePricing {
        price_per_gb: 1_500_000_000,
        price_per_part: 1_000,
    };
    let server = NativeServer::new(relay.clone(), pricing);
    receiver.set_responder(Some(server.clone()));
    let (a, _ad) = ilp_node("a", "test.a", &viewer_node_toml(&b.btp_url())).await;
    assert!(
        a.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );

    let manifests = rig.wait_manifests(3).await;
    let mut chunks: Vec<(String, u64)> = Vec::new();
    for m in &manifests[..2] {
        for p in &m.parts {
            chunks.push((p.hash.clone(), p.size));
        }
        chunks.push((m.segment.clone(), m.segment_size));
    }
    for (h, _) in &chunks {
        wait_known(&relay, h).await;
    }
    let biggest = chunks.iter().map(|c| c.1).max().unwrap();
    assert!(
        biggest > MAX_SLICE as u64,
        "some chunk must span several packets (biggest {biggest} bytes)"
    );

    // Paid viewer: every chunk arrives, verified, in ceil(size / MAX_SLICE) packets.
    let mut alice = fetcher(&a, &receiver, "alice", pricing).await;
    let (mut want_packets, mut want_paid) = (0u64, 0u64);
    for (hash, size) in &chunks {
        let bytes = alice.fetch(hash, Some(*size)).await.unwrap();
        let origin = get(rig.origin_addr, &format!("/{hash}")).await;
        assert_eq!(origin.status, 200);
        assert_eq!(bytes.as_ref(), origin.body.as_slice(), "chunk {hash}");
        want_packets += size.div_ceil(MAX_SLICE as u64);
        want_paid += pricing.chunk_price(*size);
    }
    // Without the size, the fetcher asks for it first (a free packet) and fetches the same.
    let (h0, s0) = chunks[0].clone();
    assert_eq!(alice.fetch(&h0, None).await.unwrap().len() as u64, s0);
    want_packets += 1 + s0.div_ceil(MAX_SLICE as u64);
    want_paid += pricing.chunk_price(s0);
    let st = alice.stats();
    assert_eq!(st.chunks, chunks.len() as u64 + 1);
    assert_eq!(st.packets, want_packets, "packets");
    assert_eq!(st.paid, want_paid, "paid exactly the chunk prices");
    println!(
        "ILP-native: {} chunks, {} bytes, {} packets, paid {}",
        st.chunks, st.bytes, st.packets, st.paid
    );
    // Booked: the relay's receiver, and both ledgers (A owes B what it paid).
    assert_eq!(receiver.total_received(), want_paid as u128);
    assert_eq!(ledger_balance(&a, "b"), want_paid as i128);
    assert_eq!(ledger_balance(&b, "a"), -(want_paid as i128));
    a.connector.ledger().audit().unwrap();
    b.connector.ledger().audit().unwrap();

    // Unpaid viewer (believes the relay is free): refused, nothing delivered, nothing paid.
    let served_before = server.stats().bytes.load(Ordering::Relaxed);
    let mut mallory = fetcher(&a, &receiver, "mallory", NativePricing::default()).await;
    let (hash, size) = chunks.last().unwrap().clone();
    match mallory.fetch(&hash, Some(size)).await {
        Err(NativeError::Stream(StreamSendError::Refused(m))) => {
            assert!(m.starts_with("unpaid"), "{m}")
        }
        other => panic!("an unpaid viewer must be refused, got {other:?}"),
    }
    // Underpaid viewer (half the price): refused with the price it needed.
    let cheap = NativePricing {
        price_per_gb: pricing.price_per_gb / 2,
        price_per_part: pricing.price_per_part / 2,
    };
    let mut eve = fetcher(&a, &receiver, "eve", cheap).await;
    match eve.fetch(&hash, Some(size)).await {
        Err(NativeError::Stream(StreamSendError::Refused(m))) => {
            assert!(m.starts_with("underpaid: need"), "{m}")
        }
        other => panic!("an underpaid viewer must be refused, got {other:?}"),
    }
    assert_eq!(mallory.stats().bytes + eve.stats().bytes, 0);
    assert_eq!(
        mallory.sender().totals().sent + eve.sender().totals().sent,
        0
    );
    assert_eq!(server.stats().bytes.load(Ordering::Relaxed), served_before);
    assert!(server.stats().refused.load(Ordering::Relaxed) >= 2);
    assert_eq!(
        receiver.total_received(),
        want_paid as u128,
        "no money moved"
    );
    assert_eq!(ledger_balance(&a, "b"), want_paid as i128);
    assert_eq!(ledger_balance(&b, "a"), -(want_paid as i128));
    // A chunk no manifest signs is refused too (the relay serves verified chunks only).
    let unknown = "0".repeat(64);
    assert!(matches!(
        alice.fetch(&unknown, Some(10)).await,
        Err(NativeError::Stream(StreamSendError::Refused(_)))
    ));
    assert_eq!(receiver.total_received(), want_paid as u128);
}

/// Regression (bench: one part per viewer refused "unpaid" per run): with a per-part price and
/// a chunk just over one packet, the first slice's rounded-up share is the whole part price and
/// the tail slice costs 0, which the server used to refuse as "unpaid". Here the viewer also
/// pays through a fee-taking connector (1.5 %, rounded up), so what arrives is less than what
/// was sent and rounding can leave a packet one unit short. A correctly paying viewer is never
/// refused: every chunk arrives, and the relay receives at least each chunk's price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounding_edges_through_a_fee_taking_connector_are_never_refused() {
    let keys = tollcast_events::nostr::prelude::Keys::generate();
    let book = std::sync::Arc::new(tollcast_agents::relay::manifests::ManifestBook::new(
        tollcast_events::StreamAddress::new(keys.public_key(), "edge"),
        [],
    ));
    let dir = tempfile::tempdir().unwrap();
    let store = tollcast_media::store::ChunkStore::open(dir.path(), 64 * 1024 * 1024).unwrap();
    // Chunks the relay already holds verified (its cache); sizes hit the slice boundary.
    let m = MAX_SLICE as u64;
    let sizes = [
        m + 1,
        m + 100,
        m + 1_000,
        2 * m + 7,
        m - 1,
        m,
        3 * m + 2,
        12_345,
    ];
    let mut chunks = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let bytes: Vec<u8> = (0..*size)
            .map(|j| (j as u8) ^ (i as u8).wrapping_mul(37))
            .collect();
        let bytes = bytes::Bytes::from(bytes);
        let hash = store.put(bytes.clone()).unwrap();
        chunks.push((hash, *size, bytes));
    }
    // No upstream: everything is served from the cache.
    let relay = tollcast_agents::relay::Relay::new(
        tollcast_agents::relay::RelayConfig::new("http://127.0.0.1:9"),
        store,
        book,
        None,
    )
    .unwrap();
    // Viewer node A -> connector C (takes 1.5 %, rounded up, on what A sends) -> relay node B.
    let (b, _bd) = ilp_node("b", "test.b", RELAY_NODE).await;
    let receiver = StreamReceiver::attach(&b.connector, "relay", "USD", 9, None).unwrap();
    let connector = format!(
        "{RELAY_NODE}[accounts.fee]\nbasis_points = 150\n{}",
        viewer_node_toml(&b.btp_url())
    );
    let (c, _cd) = ilp_node("c", "test.c", &connector).await;
    assert!(
        c.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    let (a, _ad) = ilp_node("a", "test.a", &viewer_node_toml(&c.btp_url())).await;
    assert!(
        a.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    for pricing in [
        // The bench's pricing: 20 per 200 ms part, nothing per byte.
        NativePricing {
            price_per_gb: 0,
            price_per_part: 20,
        },
        NativePricing {
            price_per_gb: 1_234_567_891,
            price_per_part: 3,
        },
    ] {
        let server = NativeServer::new(relay.clone(), pricing);
        receiver.set_responder(Some(server.clone()));
        let before = receiver.total_received();
        let mut v = fetcher(&a, &receiver, "viewer", pricing).await;
        let mut want = 0u128;
        for (hash, size, bytes) in &chunks {
            let got = v
                .fetch(hash, Some(*size))
                .await
                .unwrap_or_else(|e| panic!("chunk of {size} bytes at {pricing:?}: {e}"));
            assert_eq!(&got, bytes);
            want += pricing.chunk_price(*size) as u128;
        }
        let received = receiver.total_received() - before;
        assert!(
            received >= want,
            "relay got {received}, prices add up to {want}"
        );
        println!(
            "fee path at {pricing:?}: prices {want}, relay received {received}, viewer sent {}, packets topped up {}",
            v.stats().paid,
            server.stats().refused.load(Ordering::Relaxed)
        );
    }
    // Read once from the store, every later slice from the relay's in-memory hot cache.
    assert_eq!(relay.hot_cache().len(), chunks.len());
    let m = relay.metrics();
    assert!(m.hot_hits.load(Ordering::Relaxed) > chunks.len() as u64);
    assert_eq!(
        ledger_balance(&b, "a"),
        -(receiver.total_received() as i128)
    );
    assert!(
        ledger_balance(&a, "b") > receiver.total_received() as i128,
        "the connector took its fee"
    );
    for n in [&a, &b, &c] {
        n.connector.ledger().audit().unwrap();
    }
}

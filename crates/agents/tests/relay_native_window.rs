//! ILP-native delivery with several slices in flight (the fetcher's window): viewer node A ->
//! BTP -> relay node B, durable ledgers on both, the relay serving verified chunks from its
//! cache. Checks: every slice of every chunk paid exactly once (fetcher, server, receiver and
//! both ledgers agree to the unit, ledgers mirror each other), bytes hash-verified; a slice
//! refused in the middle of a window credits nothing for it and fails only its own chunk.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use futures::future::BoxFuture;
use tollcast_agents::relay::native::{
    MAX_SLICE, NativeError, NativeFetcher, NativePricing, NativeServer, PartRequest,
};
use tollcast_agents::relay::{Relay, RelayConfig};
use tollcast_net::connector::{AccountId, Node};
use tollcast_net::stream::{
    Responder, ResponderReply, ResponderRequest, SenderConfig, StreamReceiver, StreamSendError,
};
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

const PRICING: NativePricing = NativePricing {
    price_per_gb: 1_500_000_000,
    price_per_part: 1_000,
};

/// The relay's real server, except that it refuses the slice of `hash` at `offset` (a fault
/// in the middle of a window: e.g. the relay lost that chunk meanwhile).
struct RefuseOne {
    inner: Arc<NativeServer>,
    hash: [u8; 32],
    offset: u64,
    refused: AtomicU64,
}

impl Responder for RefuseOne {
    fn respond(&self, req: ResponderRequest) -> BoxFuture<'static, ResponderReply> {
        let hit = req
            .data
            .first()
            .and_then(|(_, _, d)| PartRequest::decode(d).ok())
            .is_some_and(|r| r.hash == self.hash && r.offset == self.offset && r.max_len > 0);
        if hit {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Box::pin(async { ResponderReply::Refuse("chunk gone".into()) });
        }
        self.inner.respond(req)
    }
}

struct Rig {
    relay: Relay,
    chunks: Vec<(String, u64, Bytes)>,
    a: Node,
    b: Node,
    receiver: Arc<StreamReceiver>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn rig() -> Rig {
    let keys = tollcast_events::nostr::prelude::Keys::generate();
    let book = Arc::new(tollcast_agents::relay::manifests::ManifestBook::new(
        tollcast_events::StreamAddress::new(keys.public_key(), "w"),
        [],
    ));
    let dir = tempfile::tempdir().unwrap();
    let store = tollcast_media::store::ChunkStore::open(dir.path(), 64 * 1024 * 1024).unwrap();
    let m = MAX_SLICE as u64;
    let mut chunks = Vec::new();
    for (i, size) in [5 * m + 3, 51_000, m, 1, 3 * m - 5, 77_000]
        .into_iter()
        .enumerate()
    {
        let bytes: Vec<u8> = (0..size)
            .map(|j| (j as u8).wrapping_mul(7) ^ (i as u8))
            .collect();
        let bytes = Bytes::from(bytes);
        let hash = store.put(bytes.clone()).unwrap();
        chunks.push((hash, size, bytes));
    }
    let relay = Relay::new(RelayConfig::new("http://127.0.0.1:9"), store, book, None).unwrap();
    let (b, bd) = ilp_node("b", "test.b", RELAY_NODE).await;
    let receiver = StreamReceiver::attach(&b.connector, "relay", "USD", 9, None).unwrap();
    let (a, ad) = ilp_node(
        "a",
        "test.a",
        &format!(
            r#"
[[accounts]]
id = "b"
relation = "parent"
asset_code = "USD"
asset_scale = 9
btp_url = "{}"
auth_token = "token-a"
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
    Rig {
        relay,
        chunks,
        a,
        b,
        receiver,
        _dirs: vec![dir, bd, ad],
    }
}

impl Rig {
    async fn fetcher(&self, viewer: &str, window: usize) -> NativeFetcher {
        let (dest, secret) = self.receiver.generate_credentials(Some(viewer));
        let mut cfg = SenderConfig::new(dest, secret);
        cfg.source_address = Some(Address::new("test.a").unwrap());
        let mut f =
            NativeFetcher::connect(self.a.connector.sender(AccountId::local()), cfg, PRICING)
                .await
                .unwrap();
        f.set_window(window);
        f
    }

    /// Money agrees everywhere: what the fetchers paid = what the receiver credited = what
    /// A owes B = what B is owed by A; no packet left pending; both ledgers audit clean.
    fn assert_books(&self, paid: u64) {
        assert_eq!(self.receiver.total_received(), paid as u128, "receiver");
        assert_eq!(
            ledger_balance(&self.a, "b"),
            paid as i128,
            "viewer's ledger"
        );
        assert_eq!(
            ledger_balance(&self.a, "b") + ledger_balance(&self.b, "a"),
            0,
            "the two ledgers mirror each other"
        );
        for n in [&self.a, &self.b] {
            assert!(n.connector.ledger().pending().unwrap().is_empty());
            n.connector.ledger().audit().unwrap();
        }
    }
}

fn slices(size: u64) -> u64 {
    size.div_ceil(MAX_SLICE as u64).max(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windowed_slices_are_each_paid_exactly_once() {
    let rig = rig().await;
    let server = NativeServer::new(rig.relay.clone(), PRICING);
    rig.receiver.set_responder(Some(server.clone()));
    let mut f = rig.fetcher("v", 16).await;
    // All chunks at once (their slices share the window), sizes known from manifests; then
    // one without its size (a free size query first); then one at a time.
    let asked: Vec<(&str, Option<u64>)> = rig
        .chunks
        .iter()
        .map(|(h, s, _)| (h.as_str(), Some(*s)))
        .collect();
    let results = f.fetch_many(&asked).await;
    let (mut packets, mut price) = (0u64, 0u64);
    for ((_, size, bytes), r) in rig.chunks.iter().zip(results) {
        assert_eq!(&r.unwrap(), bytes);
        packets += slices(*size);
        price += PRICING.chunk_price(*size);
    }
    let (h0, s0, b0) = &rig.chunks[0];
    assert_eq!(&f.fetch(h0, None).await.unwrap(), b0);
    packets += 1 + slices(*s0);
    price += PRICING.chunk_price(*s0);
    for (h, s, b) in &rig.chunks {
        assert_eq!(&f.fetch(h, Some(*s)).await.unwrap(), b);
        packets += slices(*s);
        price += PRICING.chunk_price(*s);
    }
    let st = f.stats();
    assert_eq!(st.chunks, 2 * rig.chunks.len() as u64 + 1);
    assert_eq!(st.packets, packets, "one packet per slice, none repeated");
    assert_eq!(st.paid, price, "paid exactly the chunk prices");
    assert_eq!(server.stats().answered.load(Ordering::Relaxed), packets);
    assert_eq!(server.stats().refused.load(Ordering::Relaxed), 0);
    assert_eq!(f.sender().totals().sent, price);
    rig.assert_books(price);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_refused_mid_window_credits_nothing_and_fails_only_its_chunk() {
    let rig = rig().await;
    let server = NativeServer::new(rig.relay.clone(), PRICING);
    // Chunk 0 has 6 slices; its third is refused while the others are in flight.
    let (bad_hash, bad_size, _) = rig.chunks[0].clone();
    let bad_offset = 2 * MAX_SLICE as u64;
    let refuse = Arc::new(RefuseOne {
        inner: server.clone(),
        hash: PartRequest::new(&bad_hash, 0, 0).unwrap().hash,
        offset: bad_offset,
        refused: AtomicU64::new(0),
    });
    rig.receiver.set_responder(Some(refuse.clone()));
    let mut f = rig.fetcher("v", 16).await;
    let asked: Vec<(&str, Option<u64>)> = rig
        .chunks
        .iter()
        .map(|(h, s, _)| (h.as_str(), Some(*s)))
        .collect();
    let results = f.fetch_many(&asked).await;
    match &results[0] {
        Err(NativeError::Stream(StreamSendError::Refused(m))) => assert_eq!(m, "chunk gone"),
        other => panic!("the chunk with the refused slice must fail, got {other:?}"),
    }
    let mut want = 0u64;
    for ((_, size, bytes), r) in rig.chunks.iter().zip(&results).skip(1) {
        assert_eq!(r.as_ref().unwrap(), bytes);
        want += PRICING.chunk_price(*size);
    }
    assert_eq!(refuse.refused.load(Ordering::SeqCst), 1, "not re-sent");
    // The bad chunk's other slices that were already in flight were delivered and paid, each
    // at its own price; the refused one cost nothing.
    let answered = server.stats().answered.load(Ordering::Relaxed);
    let other_chunks: u64 = rig.chunks[1..].iter().map(|c| slices(c.1)).sum();
    let bad_answered = answered - other_chunks;
    assert!(
        bad_answered < slices(bad_size),
        "the refused slice was not answered"
    );
    let st = f.stats();
    assert_eq!(st.packets, answered, "every answered packet counted once");
    assert!(st.paid >= want);
    assert!(
        st.paid < want + PRICING.chunk_price(bad_size),
        "the refused slice's price was not paid"
    );
    rig.assert_books(st.paid);
    // The connection goes on: the same chunk once the relay serves it again.
    rig.receiver.set_responder(Some(server.clone()));
    let before = f.stats().paid;
    assert_eq!(
        f.fetch(&bad_hash, Some(bad_size)).await.unwrap(),
        rig.chunks[0].2
    );
    assert_eq!(f.stats().paid - before, PRICING.chunk_price(bad_size));
    rig.assert_books(f.stats().paid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_of_one_matches_the_sequential_fetch() {
    let rig = rig().await;
    rig.receiver
        .set_responder(Some(NativeServer::new(rig.relay.clone(), PRICING)));
    let mut one = rig.fetcher("one", 1).await;
    let mut wide = rig.fetcher("wide", 32).await;
    for (h, s, b) in &rig.chunks {
        assert_eq!(&one.fetch(h, Some(*s)).await.unwrap(), b);
        assert_eq!(&wide.fetch(h, Some(*s)).await.unwrap(), b);
    }
    assert_eq!(one.stats(), wide.stats());
    rig.assert_books(one.stats().paid * 2);
}

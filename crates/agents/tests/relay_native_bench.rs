//! Delivery throughput through one relay, measured (not run in CI: `#[ignore]`):
//! free HTTP vs credit-mode HTTP (paid viewer, the 402 gate on every request) vs ILP-native
//! (each chunk's bytes inside the FULFILLs of the packets that pay for them, viewer node A ->
//! BTP -> relay node B). Also the wire overhead of ILP-native payment per packet and per part.
//! All chunks are cached at the relay first, so this measures delivery, not upstream.
//!
//! Run: `cargo test --release -p tollcast-agents --test relay_native_bench -- --ignored --nocapture`
//! (prints `BENCH` lines; medians of 5 runs).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use tollcast_agents::relay::billing::{Billing, BillingConfig};
use tollcast_agents::relay::native::{ANSWER_HEADER, NativeFetcher, NativePricing, NativeServer};
use tollcast_media::ingest::synthetic::SyntheticOptions;
use tollcast_net::connector::{AccountId, IlpService, IncomingRequest, ServiceFn};
use tollcast_net::stream::{SenderConfig, StreamReceiver};
use tollcast_wire::address::Address;

const RUNS: usize = 5;
const ROUNDS: usize = 4;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn delivery_throughput_free_credit_native() {
    let rig = start_origin_with(SyntheticOptions {
        width: 640,
        height: 360,
        fps: 25,
        video_kbps: 2_000,
        duration: None,
    })
    .await;
    let upstream = format!("http://{}", rig.origin_addr);
    let (free, free_addr, _d1) = rig.relay(&upstream, None, Duration::from_secs(8)).await;
    let billing = Arc::new(Billing::new(BillingConfig {
        price_per_second: 1,
        grace: Duration::from_secs(1),
        asset_code: "USD".into(),
        asset_scale: 9,
        pay_to: None,
    }));
    billing.credit("v", 1 << 40);
    let (paid, paid_addr, _d2) = rig
        .relay(&upstream, Some(billing), Duration::from_secs(8))
        .await;
    let manifests = rig.wait_manifests(5).await;
    let mut chunks: Vec<(String, u64)> = Vec::new();
    for m in &manifests[..4] {
        for p in &m.parts {
            chunks.push((p.hash.clone(), p.size));
        }
    }
    for (h, _) in &chunks {
        wait_known(&free, h).await;
        wait_known(&paid, h).await;
        free.chunk(h).await.unwrap();
        paid.chunk(h).await.unwrap();
    }
    let total: u64 = chunks.iter().map(|c| c.1).sum();
    let mb = (total * ROUNDS as u64) as f64 / 1e6;
    println!(
        "BENCH set: {} parts, {} bytes (mean part {} bytes), {ROUNDS} rounds per run",
        chunks.len(),
        total,
        total / chunks.len() as u64
    );

    // HTTP: one client fetching every part in turn (what one viewer does), new connection each.
    async fn http_run(
        addr: std::net::SocketAddr,
        chunks: &[(String, u64)],
        auth: &[&str],
    ) -> Duration {
        let t = Instant::now();
        for _ in 0..ROUNDS {
            for (h, size) in chunks {
                let r = get_with(addr, &format!("/{h}.m4s"), auth).await;
                assert_eq!(r.status, 200);
                assert_eq!(r.body.len() as u64, *size);
            }
        }
        t.elapsed()
    }
    let mut free_mbps = Vec::new();
    let mut credit_mbps = Vec::new();
    for _ in 0..RUNS {
        free_mbps.push(mb / http_run(free_addr, &chunks, &[]).await.as_secs_f64());
        credit_mbps.push(
            mb / http_run(paid_addr, &chunks, &["Authorization: Bearer v"])
                .await
                .as_secs_f64(),
        );
    }

    // ILP-native through two nodes over BTP.
    let (b, _bd) = ilp_node(
        "b",
        "test.b",
        r#"
[[accounts]]
id = "a"
relation = "child"
asset_code = "USD"
asset_scale = 9
auth_token = "token-a"
credit_limit = 1000000000000000
"#,
    )
    .await;
    let receiver = StreamReceiver::attach(&b.connector, "relay", "USD", 9, None).unwrap();
    let pricing = NativePricing {
        price_per_gb: 1_000_000_000,
        price_per_part: 10,
    };
    receiver.set_responder(Some(NativeServer::new(free.clone(), pricing)));
    let (a, _ad) = ilp_node(
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
    // Count ILP bytes on the viewer's side of the wire.
    let prepare_bytes = Arc::new(AtomicU64::new(0));
    let fulfill_bytes = Arc::new(AtomicU64::new(0));
    let inner = a.connector.sender(AccountId::local());
    let counting: Arc<dyn IlpService> = Arc::new(ServiceFn({
        let (pb, fb) = (prepare_bytes.clone(), fulfill_bytes.clone());
        move |req: IncomingRequest| {
            let (inner, pb, fb) = (inner.clone(), pb.clone(), fb.clone());
            async move {
                pb.fetch_add(req.prepare.encode().len() as u64, Ordering::Relaxed);
                let r = inner.handle(req).await;
                if let Ok(f) = &r {
                    fb.fetch_add(f.encode().len() as u64, Ordering::Relaxed);
                }
                r
            }
        }
    }));
    let (dest, secret) = receiver.generate_credentials(Some("v"));
    let mut cfg = SenderConfig::new(dest, secret);
    cfg.source_address = Some(Address::new("test.a").unwrap());
    let mut f = NativeFetcher::connect(counting, cfg, pricing)
        .await
        .unwrap();
    // Window 1 = one packet at a time (the fetcher before pipelining); then slices of one
    // chunk in flight together; then 4 and all 20 chunks at a time sharing the window.
    let (p0, f0, k0) = (
        prepare_bytes.load(Ordering::Relaxed),
        fulfill_bytes.load(Ordering::Relaxed),
        f.stats().packets,
    );
    let mut windowed: Vec<(usize, usize, Vec<f64>)> = vec![
        (1, 1, Vec::new()),
        (8, 1, Vec::new()),
        (16, 4, Vec::new()),
        (32, 20, Vec::new()),
    ];
    let mut native_mbps = Vec::new();
    for _ in 0..RUNS {
        for (window, batch, mbps) in windowed.iter_mut() {
            f.set_window(*window);
            let t = Instant::now();
            for _ in 0..ROUNDS {
                for group in chunks.chunks(*batch) {
                    let asked: Vec<(&str, Option<u64>)> =
                        group.iter().map(|(h, s)| (h.as_str(), Some(*s))).collect();
                    for (r, (_, size)) in f.fetch_many(&asked).await.into_iter().zip(group) {
                        assert_eq!(r.unwrap().len() as u64, *size);
                    }
                }
            }
            mbps.push(mb / t.elapsed().as_secs_f64());
        }
    }
    for (window, batch, mbps) in &windowed {
        let m = median(mbps.clone());
        println!(
            "BENCH ILP-native window {window}, {batch} chunk(s) at a time: {m:.1} MB/s (median of {RUNS})"
        );
        if *window == 1 {
            native_mbps = mbps.clone();
        }
    }
    let best_native = windowed
        .iter()
        .map(|(_, _, m)| median(m.clone()))
        .fold(0.0f64, f64::max);
    let packets = f.stats().packets - k0;
    let payload = (RUNS * ROUNDS * windowed.len()) as u64 * total;
    let prep = prepare_bytes.load(Ordering::Relaxed) - p0;
    let fulf = fulfill_bytes.load(Ordering::Relaxed) - f0;
    let overhead = prep + fulf - payload;
    let parts = (RUNS * ROUNDS * windowed.len() * chunks.len()) as u64;

    // The same without the connectors (fetcher straight into the receiver): what the STREAM
    // request/response itself costs, apart from BTP and the two nodes' ledgers.
    let (dest, secret) = receiver.generate_credentials(Some("direct"));
    let mut direct =
        NativeFetcher::connect(receiver.clone(), SenderConfig::new(dest, secret), pricing)
            .await
            .unwrap();
    let mut direct_mbps = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        for _ in 0..ROUNDS {
            for (h, size) in &chunks {
                assert_eq!(
                    direct.fetch(h, Some(*size)).await.unwrap().len() as u64,
                    *size
                );
            }
        }
        direct_mbps.push(mb / t.elapsed().as_secs_f64());
    }
    println!(
        "BENCH ILP-native direct (no connector, no ledger): {:.1} MB/s",
        median(direct_mbps)
    );
    let (fr, cr, nr) = (median(free_mbps), median(credit_mbps), median(native_mbps));
    println!("BENCH free HTTP: {fr:.1} MB/s (median of {RUNS})");
    println!(
        "BENCH credit-mode HTTP (paid viewer): {cr:.1} MB/s; paid/unpaid ratio {:.2}",
        cr / fr
    );
    println!(
        "BENCH ILP-native (A -BTP-> B, per-packet payment), one packet at a time: {nr:.1} MB/s; native/credit ratio {:.2}",
        nr / cr
    );
    println!(
        "BENCH ILP-native (A -BTP-> B), best window: {best_native:.1} MB/s; native/credit ratio {:.2}",
        best_native / cr
    );
    println!(
        "BENCH ILP-native overhead: {packets} packets for {parts} parts ({:.2} packets/part); {} bytes per packet ({} PREPARE + {} FULFILL beyond the chunk bytes, answer header {ANSWER_HEADER} included); {} bytes per part ({:.2} % of the mean part)",
        packets as f64 / parts as f64,
        overhead / packets,
        prep / packets,
        (fulf - payload) / packets,
        overhead / parts,
        100.0 * overhead as f64 / payload as f64
    );
}

//! Ledger throughput: a PREPARE+FULFILL pair (two durable transactions, fsync each), a whole
//! forwarded packet (both legs reserved atomically, then both committed atomically), the same
//! with 16 threads sharing group commits, in memory, and claim signing/verification.
//!
//! Run: `cargo bench -p tollcast-ledger --bench ledger`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use nostr::key::Keys;
use tollcast_ledger::{AccountConfig, ChannelId, Claim, Ledger, PacketId};

fn setup(l: &Ledger) {
    l.create_account("in", AccountConfig::credit("USD", 6, u64::MAX / 4))
        .unwrap();
    l.create_account("out", AccountConfig::credit("USD", 6, 0))
        .unwrap();
}

fn pairs(c: &mut Criterion, name: &str, l: &Ledger) {
    setup(l);
    let mut n = 0u64;
    c.bench_function(&format!("{name}/prepare+fulfill"), |b| {
        b.iter(|| {
            n += 1;
            let id = PacketId::from_u64(n);
            l.prepare_incoming("in", id, 10, u64::MAX).unwrap();
            black_box(l.fulfill_incoming("in", id).unwrap());
        })
    });
    c.bench_function(
        &format!("{name}/forward (prepare_forward+fulfill_forward)"),
        |b| {
            b.iter(|| {
                n += 1;
                let id = PacketId::from_u64(n);
                l.prepare_forward("in", id, 10, u64::MAX, "out", id, 9, u64::MAX)
                    .unwrap();
                black_box(l.fulfill_forward("in", id, "out", id).unwrap());
            })
        },
    );
}

/// `threads` threads each doing PREPARE+FULFILL pairs; reports time per pair (all threads).
fn concurrent(c: &mut Criterion, name: &str, l: &Ledger, threads: u64) {
    let next = AtomicU64::new(1 << 40);
    c.bench_function(&format!("{name}/prepare+fulfill x{threads} threads"), |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(threads);
            let start = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| {
                        for _ in 0..per {
                            let id = PacketId::from_u64(next.fetch_add(1, Ordering::Relaxed));
                            l.prepare_incoming("in", id, 10, u64::MAX).unwrap();
                            black_box(l.fulfill_incoming("in", id).unwrap());
                        }
                    });
                }
            });
            start
                .elapsed()
                .mul_f64(iters as f64 / (per * threads) as f64)
        })
    });
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let disk = Ledger::open(dir.path().join("bench.redb")).unwrap();
    pairs(c, "disk", &disk);
    concurrent(c, "disk", &disk, 16);
    let mem = Ledger::temporary().unwrap();
    pairs(c, "memory", &mem);
    concurrent(c, "memory", &mem, 16);

    let keys = Keys::generate();
    let ch = ChannelId::derive(&[1; 32], &[2; 32], "USD", 6);
    let mut seq = 0u64;
    c.bench_function("claim/sign", |b| {
        b.iter(|| {
            seq += 1;
            black_box(Claim::sign(&keys, ch, "USD", 6, seq * 10, seq).unwrap())
        })
    });
    let claim = Claim::sign(&keys, ch, "USD", 6, 100, 1).unwrap();
    let pk = keys.public_key().to_bytes();
    c.bench_function("claim/verify", |b| {
        b.iter(|| black_box(&claim).verify(black_box(&pk)).unwrap())
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

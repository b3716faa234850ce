//! ILP PREPARE encode/decode throughput: a typical packet (64-byte data) and a maximal-ish one
//! (32,767-byte data, the largest RFC 0027 allows). tests/interop/ilp/bench.js measures the same four cases with ilp-packet.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tollcast_wire::address::Address;
use tollcast_wire::ilp::{Packet, Prepare};

fn prepare(data_len: usize) -> Prepare {
    Prepare {
        amount: 107,
        expires_at: UNIX_EPOCH + Duration::from_millis(1_900_000_000_123),
        execution_condition: [0x5a; 32],
        destination: Address::new("g.tollcast.relay.viewer-01.stream~abc").unwrap(),
        data: Bytes::from(vec![0xab; data_len]),
    }
}

fn bench(c: &mut Criterion) {
    for (label, len) in [("64B", 64usize), ("32767B", 32767)] {
        let p = prepare(len);
        let encoded = p.encode();
        c.bench_function(&format!("ilp_prepare_encode_{label}"), |b| {
            b.iter(|| black_box(&p).encode())
        });
        c.bench_function(&format!("ilp_prepare_decode_{label}"), |b| {
            b.iter(|| Packet::decode(black_box(encoded.clone())).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);

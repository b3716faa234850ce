//! STREAM hot path: encrypt+encode and decrypt+decode of a packet carrying one 32 KiB
//! StreamData frame plus a StreamMoney frame (a typical media-chunk Prepare), and the
//! receiver's fulfillment HMAC over the same data. The matching JS measurement is
//! tests/interop/stream/stream-peer.js `bench` (ilp-protocol-stream's Packet + crypto).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tollcast_wire::stream::{
    IlpPacketType, StreamDataFrame, StreamKeys, StreamMoneyFrame, StreamPacket,
};

const DATA_LEN: usize = 32 * 1024;

fn packet() -> StreamPacket {
    let mut p = StreamPacket::new(1, IlpPacketType::Prepare, 1000);
    p.frames.push(
        StreamMoneyFrame {
            stream_id: 1,
            shares: 1000,
        }
        .into(),
    );
    let data: Vec<u8> = (0..DATA_LEN).map(|i| (i * 31 % 251) as u8).collect();
    p.frames.push(
        StreamDataFrame {
            stream_id: 1,
            offset: 0,
            data: data.into(),
        }
        .into(),
    );
    p
}

fn bench(c: &mut Criterion) {
    let keys = StreamKeys::from_shared_secret(&[7u8; 32]);
    let p = packet();
    let sealed = p.encrypt_and_encode(&keys);
    let mut g = c.benchmark_group("stream_32k");
    g.throughput(Throughput::Bytes(sealed.len() as u64));
    g.bench_function("encrypt_and_encode", |b| {
        b.iter(|| black_box(black_box(&p).encrypt_and_encode(&keys)))
    });
    g.bench_function("decrypt_and_decode", |b| {
        b.iter(|| black_box(StreamPacket::decrypt_and_decode(&keys, black_box(&sealed)).unwrap()))
    });
    g.bench_function("fulfillment", |b| {
        b.iter(|| black_box(keys.fulfillment(black_box(&sealed))))
    });
    g.finish();
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

//! TOON vs JSON encode/decode of a typical live-chat event (kind 1311, ~200-byte content,
//! 3 tags). The JS side is `tests/interop/toon/bench-toon.mjs` (same event shape, same ops).
//! Run: `cargo bench -p tollcast-events --bench toon`.

use criterion::{Criterion, criterion_group, criterion_main};
use nostr::prelude::{Event, EventBuilder, FinalizeEvent, Keys, Kind, SecretKey, Tag, Timestamp};
use std::hint::black_box;
use std::time::Duration;
use tollcast_events::toon::{from_toon, from_toon_unverified, to_toon};

/// Same content as the JS bench (204 bytes).
pub const CONTENT: &str = "Great stream tonight! The transition at 12:30 was smooth, and the audio mix sounds much better than last week. Quick question: will the VOD be up later? Also, shoutout to the transcoder folks, 720p looks crisp.";

fn chat_event() -> Event {
    let keys = Keys::new(SecretKey::from_hex(&format!("{:064x}", 3)).unwrap());
    let a = format!("30311:{}:show-42", keys.public_key().to_hex());
    EventBuilder::new(Kind::from(1311u16), CONTENT)
        .tag(Tag::parse(["a", a.as_str(), "wss://relay.example.com", "root"]).unwrap())
        .tag(
            Tag::parse([
                "e",
                "5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36",
            ])
            .unwrap(),
        )
        .tag(Tag::parse(["t", "music"]).unwrap())
        .custom_created_at(Timestamp::from_secs(1_700_000_000))
        .finalize(&keys)
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let ev = chat_event();
    let toon = to_toon(&ev);
    let json = ev.as_json();
    eprintln!(
        "chat event: TOON {} bytes, JSON {} bytes",
        toon.len(),
        json.len()
    );
    let mut g = c.benchmark_group("chat_event_1311");
    g.bench_function("toon_encode", |b| b.iter(|| to_toon(black_box(&ev))));
    g.bench_function("toon_decode", |b| {
        b.iter(|| from_toon_unverified(black_box(&toon)).unwrap())
    });
    g.bench_function("toon_decode_verify", |b| {
        b.iter(|| from_toon(black_box(&toon)).unwrap())
    });
    g.bench_function("json_encode", |b| b.iter(|| black_box(&ev).as_json()));
    g.bench_function("json_decode", |b| {
        b.iter(|| Event::from_json(black_box(&json)).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);

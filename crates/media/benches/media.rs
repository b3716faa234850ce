//! Criterion benches of the per-part hot path: rendering an LL-HLS media playlist (full and
//! delta), splitting a real ffmpeg fMP4 fragment into an item, cutting, and storing a part.
//! `cargo bench -p tollcast-media --bench media`

use std::hint::black_box;
use std::process::Command;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use tollcast_media::cutter::{Cutter, CutterConfig};
use tollcast_media::fmp4::{Fmp4Item, Fmp4Splitter};
use tollcast_media::playlist::{MediaPlaylist, PartRecord, PlaylistConfig, RenditionReport};
use tollcast_media::store::ChunkStore;

fn playlist() -> MediaPlaylist {
    let mut p = MediaPlaylist::new(PlaylistConfig::default(), 0);
    p.set_init(format!("../../{}.mp4", "a".repeat(64)));
    for s in 0..12u64 {
        for i in 0..5 {
            p.push_part(
                PartRecord {
                    uri: format!("../../{:064x}.m4s", s * 10 + i),
                    duration: 0.2,
                    independent: i == 0,
                },
                Some(1_700_000_000_000 + s as i64 * 1000),
            );
        }
        p.end_segment(format!("../../{:064x}.m4s", s * 1000), 1.0);
    }
    p.push_part(
        PartRecord {
            uri: format!("../../{:064x}.m4s", 99999),
            duration: 0.2,
            independent: true,
        },
        None,
    );
    p.set_preload_hint(Some("hint/12.1.m4s".into()));
    p
}

/// Top-level boxes of 2 s of ffmpeg CMAF output (426x240, 0.2 s fragments).
fn sample_boxes() -> Vec<([u8; 4], Bytes)> {
    let out = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=426x240:rate=30",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "2",
        ])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-c:a",
            "aac",
            "-f",
            "mp4",
        ])
        .args([
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof+cmaf",
            "-frag_duration",
            "200000",
            "pipe:1",
        ])
        .output()
        .expect("ffmpeg");
    let d = out.stdout;
    let mut v = Vec::new();
    let mut i = 0;
    while i + 8 <= d.len() {
        let size = u32::from_be_bytes([d[i], d[i + 1], d[i + 2], d[i + 3]]) as usize;
        let kind = [d[i + 4], d[i + 5], d[i + 6], d[i + 7]];
        v.push((kind, Bytes::copy_from_slice(&d[i..i + size])));
        i += size;
    }
    v
}

fn benches(c: &mut Criterion) {
    let p = playlist();
    let reports = vec![RenditionReport {
        uri: "../720p/index.m3u8".into(),
        last_msn: 12,
        last_part: Some(0),
    }];
    c.bench_function("playlist_render_full_12seg", |b| {
        b.iter(|| black_box(p.render(false, &reports)))
    });
    c.bench_function("playlist_render_delta_12seg", |b| {
        b.iter(|| black_box(p.render(true, &reports)))
    });

    let boxes = sample_boxes();
    c.bench_function("fmp4_split_and_cut_2s", |b| {
        b.iter(|| {
            let mut s = Fmp4Splitter::new();
            let mut cut = Cutter::new(CutterConfig::default(), 0);
            let mut n = 0;
            for (k, bytes) in &boxes {
                if let Ok(Some(Fmp4Item::Fragment(f))) = s.push_box(*k, bytes.clone()) {
                    n += cut.push(&f).len();
                }
            }
            black_box(n)
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 64 * 1024 * 1024).unwrap();
    let mut i = 0u64;
    c.bench_function("store_put_20KiB_part", |b| {
        b.iter(|| {
            i += 1;
            let mut v = vec![0u8; 20 * 1024];
            v[..8].copy_from_slice(&i.to_be_bytes());
            black_box(store.put(Bytes::from(v)).unwrap())
        })
    });
    c.bench_function("store_put_20KiB_part_nondurable", |b| {
        b.iter(|| {
            i += 1;
            let mut v = vec![0u8; 20 * 1024];
            v[..8].copy_from_slice(&i.to_be_bytes());
            black_box(store.put_with(Bytes::from(v), false).unwrap())
        })
    });
}

criterion_group! {
    name = media;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = benches
}
criterion_main!(media);

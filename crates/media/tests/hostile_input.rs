//! Hostile encoder bytes: truncated, corrupted, oversized and random fMP4 input must produce
//! typed errors (or be skipped), never a panic, and never an unbounded allocation.

use bytes::Bytes;
use tollcast_media::MediaError;
use tollcast_media::fmp4::{Fmp4Splitter, MAX_BOX_SIZE, read_top_box};

fn real_stream() -> Vec<u8> {
    let out = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=15",
        ])
        .args([
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "15",
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
        .expect("ffmpeg runs");
    assert!(out.status.success());
    out.stdout
}

/// Run the splitter over `data` the way the pipeline does; count items, stop at the first error.
async fn run(data: &[u8]) -> Result<usize, MediaError> {
    let mut r = data;
    let mut s = Fmp4Splitter::new();
    let mut n = 0;
    while let Some((k, b)) = read_top_box(&mut r).await? {
        if s.push_box(k, b)?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

#[tokio::test]
async fn corrupted_and_truncated_streams_fail_cleanly() {
    let good = real_stream();
    let items = run(&good).await.expect("the real stream splits");
    assert!(items >= 5, "init + fragments, got {items}");

    // Deterministic pseudo-random mutations (xorshift), 2000 variants.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut ok, mut err) = (0, 0);
    for i in 0..2000 {
        let mut d = good.clone();
        match i % 4 {
            0 => d.truncate((next() as usize) % d.len()),
            1 => {
                for _ in 0..1 + next() % 8 {
                    let p = (next() as usize) % d.len();
                    d[p] = next() as u8;
                }
            }
            2 => {
                // Corrupt a box size field near the start of a random box-ish offset.
                let p = (next() as usize) % (d.len() - 4);
                d[p..p + 4].copy_from_slice(&(next() as u32).to_be_bytes());
            }
            _ => {
                d = (0..(next() % 4096) as usize)
                    .map(|_| next() as u8)
                    .collect()
            }
        }
        match run(&d).await {
            Ok(_) => ok += 1,
            Err(_) => err += 1,
        }
    }
    println!("hostile fMP4 variants: {ok} accepted, {err} rejected with typed errors, 0 panics");
    assert!(err > 100);
}

#[tokio::test]
async fn oversized_and_malformed_headers() {
    // A box claiming more than the limit is refused before allocating.
    let mut d = Vec::new();
    d.extend_from_slice(&1u32.to_be_bytes());
    d.extend_from_slice(b"mdat");
    d.extend_from_slice(&(MAX_BOX_SIZE + 1).to_be_bytes());
    assert!(matches!(run(&d).await, Err(MediaError::BoxTooLarge { .. })));
    // size 0 ("to end of file") is not allowed on a live pipe.
    let d = [0, 0, 0, 0, b'm', b'o', b'o', b'f'];
    assert!(matches!(run(&d).await, Err(MediaError::Fmp4(_))));
    // size smaller than its header.
    let d = [0, 0, 0, 4, b'm', b'o', b'o', b'f'];
    assert!(matches!(run(&d).await, Err(MediaError::Fmp4(_))));
    // A fragment before any init.
    let mut s = Fmp4Splitter::new();
    let moof = Bytes::from_static(&[0, 0, 0, 8, b'm', b'o', b'o', b'f']);
    assert!(matches!(
        s.push_box(*b"moof", moof),
        Err(MediaError::FragmentBeforeInit)
    ));
    // mdat without moof.
    let mut s = Fmp4Splitter::new();
    let mdat = Bytes::from_static(&[0, 0, 0, 8, b'm', b'd', b'a', b't']);
    assert!(s.push_box(*b"mdat", mdat).is_err());
    // Empty input is a clean end.
    assert_eq!(run(&[]).await.unwrap(), 0);
}

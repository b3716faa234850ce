//! The LL-HLS origin over real HTTP, fed by part records (no ffmpeg): blocking reloads return
//! when the awaited part appears and not before, delta updates carry EXT-X-SKIP, bad queries get
//! 400, playlists parse with m3u8-rs, and our tag forms match Apple's LL-HLS examples.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;

fn setup(window: usize) -> (tempfile::TempDir, Origin) {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path(), 64 * 1024 * 1024).unwrap();
    let origin = Origin::new(
        store,
        PlaylistConfig {
            part_target: 0.25,
            segment_target: 1.0,
            window,
        },
    );
    (dir, origin)
}

/// Publish one segment of 4 parts (0.25 s each) with distinct bytes; returns part hashes.
fn publish_segment(origin: &Origin, rendition: &str, seq: u64) -> Vec<String> {
    let store = origin.store();
    let mut hashes = Vec::new();
    let mut whole = Vec::new();
    for i in 0..4u32 {
        let bytes = Bytes::from(format!("{rendition} seg {seq} part {i}").into_bytes());
        whole.extend_from_slice(&bytes);
        let h = store.put(bytes).unwrap();
        origin.push_part(
            rendition,
            &h,
            0.25,
            i == 0,
            Some(1_700_000_000_000 + seq as i64 * 1000),
        );
        hashes.push(h);
    }
    let sh = store.put(Bytes::from(whole)).unwrap();
    origin.end_segment(rendition, &sh, 1.0);
    hashes
}

fn init(origin: &Origin, rendition: &str) {
    let h = origin
        .store()
        .put(Bytes::from(format!("init {rendition}")))
        .unwrap();
    origin.set_init(
        rendition,
        &h,
        "avc1.4d401e,mp4a.40.2",
        Some((426, 240)),
        500_000,
        0,
    );
}

#[tokio::test]
async fn blocking_reload_waits_for_the_part_and_not_longer() {
    let (_d, origin) = setup(12);
    init(&origin, "source");
    publish_segment(&origin, "source", 0);
    let addr = serve(origin.router()).await;

    // Part 1 of segment 1 does not exist yet: the request must block.
    let t0 = Instant::now();
    let req =
        tokio::spawn(
            async move { get(addr, "/live/source/index.m3u8?_HLS_msn=1&_HLS_part=1").await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!req.is_finished(), "answered before the part existed");
    // Publish part 0: still not enough.
    let h0 = origin.store().put(Bytes::from_static(b"s1p0")).unwrap();
    origin.push_part("source", &h0, 0.25, true, None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!req.is_finished(), "answered when only part 0 existed");
    // Publish part 1: now it returns, promptly.
    let h1 = origin.store().put(Bytes::from_static(b"s1p1")).unwrap();
    let published = Instant::now();
    origin.push_part("source", &h1, 0.25, false, None);
    let resp = tokio::time::timeout(Duration::from_secs(5), req)
        .await
        .unwrap()
        .unwrap();
    let waited = published.elapsed();
    assert_eq!(resp.status, 200);
    assert!(t0.elapsed() >= Duration::from_millis(500));
    assert!(
        waited < Duration::from_millis(500),
        "took {waited:?} after the part appeared"
    );
    let text = resp.text();
    assert!(text.contains(&format!("{h1}.m4s")), "{text}");
    assert_eq!(resp.header("cache-control"), Some("public, max-age=6"));
    assert_eq!(
        resp.header("content-type"),
        Some("application/vnd.apple.mpegurl")
    );
    assert!(
        text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"hint/1.2.m4s\""),
        "{text}"
    );

    // Measure: blocking-reload answer latency after the part appears (median of 15).
    let mut lat = Vec::new();
    for i in 2..17u32 {
        let (msn, part) = (1 + (i / 4) as u64, i % 4);
        let path = format!("/live/source/index.m3u8?_HLS_msn={msn}&_HLS_part={part}");
        let req = tokio::spawn(async move { get(addr, &path).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!req.is_finished());
        let h = origin.store().put(Bytes::from(format!("m{i}"))).unwrap();
        let t = Instant::now();
        if part == 0 {
            let sh = origin.store().put(Bytes::from(format!("seg{i}"))).unwrap();
            origin.end_segment("source", &sh, 1.0);
        }
        origin.push_part("source", &h, 0.25, part == 0, None);
        let r = req.await.unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(r.status, 200);
    }
    println!(
        "MEASURE blocking reload: answer {:.2} ms (median of {}) after the part is published",
        median(&mut lat),
        lat.len()
    );

    // Already available: returns immediately.
    let r = get(addr, "/live/source/index.m3u8?_HLS_msn=0").await;
    assert_eq!(r.status, 200);
    // Plain request: no-cache.
    let r = get(addr, "/live/source/index.m3u8").await;
    assert_eq!(r.header("cache-control"), Some("no-cache"));
}

#[tokio::test]
async fn bad_queries_and_names_are_refused() {
    let (_d, origin) = setup(12);
    init(&origin, "source");
    publish_segment(&origin, "source", 0);
    let addr = serve(origin.router()).await;
    for (path, status) in [
        ("/live/source/index.m3u8?_HLS_part=1", 400),
        ("/live/source/index.m3u8?_HLS_msn=x", 400),
        ("/live/source/index.m3u8?_HLS_msn=99", 400),
        ("/live/source/index.m3u8?_HLS_skip=maybe", 400),
        ("/live/nope/index.m3u8", 404),
        ("/live/source/hint/abc.m4s", 400),
        ("/zz.m4s", 400),
        (&*format!("/{}.m4s", "0".repeat(64)), 404),
    ] {
        let r = get(addr, path).await;
        assert_eq!(r.status, status, "{path}: {}", r.text());
    }
}

#[tokio::test]
async fn hinted_part_is_served_when_it_appears() {
    let (_d, origin) = setup(12);
    init(&origin, "source");
    publish_segment(&origin, "source", 0);
    let addr = serve(origin.router()).await;
    let req = tokio::spawn(async move { get(addr, "/live/source/hint/1.0.m4s").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!req.is_finished());
    let h = origin
        .store()
        .put(Bytes::from_static(b"hinted part bytes"))
        .unwrap();
    origin.push_part("source", &h, 0.25, true, None);
    let r = req.await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hinted part bytes");
}

#[tokio::test]
async fn delta_updates_skip_old_segments() {
    let (_d, origin) = setup(20);
    init(&origin, "source");
    for s in 0..15 {
        publish_segment(&origin, "source", s);
    }
    let addr = serve(origin.router()).await;
    let full = get(addr, "/live/source/index.m3u8").await.text();
    let delta = get(addr, "/live/source/index.m3u8?_HLS_skip=YES")
        .await
        .text();
    assert!(!full.contains("EXT-X-SKIP"));
    // 15 one-second segments, CAN-SKIP-UNTIL=6: the first 8 end more than 6 s before the end.
    assert!(
        delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS=8\n"),
        "{delta}"
    );
    assert!(full.contains("CAN-SKIP-UNTIL=6"), "{full}");
    assert!(delta.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    assert_eq!(delta.matches("#EXTINF").count(), 7);
    assert_eq!(full.matches("#EXTINF").count(), 15);
    let v2 = get(addr, "/live/source/index.m3u8?_HLS_skip=v2").await;
    assert!(v2.text().contains("EXT-X-SKIP"));
    // Both parse with m3u8-rs (it keeps LL-HLS tags as unknown tags).
    for body in [&full, &delta] {
        match m3u8_rs::parse_playlist_res(body.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(mp)) => {
                assert_eq!(mp.target_duration, 1);
                assert_eq!(mp.media_sequence, 0);
            }
            other => panic!("does not parse: {other:?}"),
        }
    }
}

/// A tag line reduced to its form: tag name and, per attribute, the value kind
/// (N number, S quoted string, E enumerated, R byte range).
fn form(line: &str) -> Option<(String, Vec<(String, char)>)> {
    let line = line.trim();
    if !line.starts_with("#EXT") {
        return None;
    }
    let (tag, rest) = line.split_once(':').unwrap_or((line, ""));
    let mut attrs = Vec::new();
    if rest.contains('=') {
        let mut rest = rest;
        while !rest.is_empty() {
            let (k, v) = rest.split_once('=').unwrap();
            let (val, next) = if let Some(stripped) = v.strip_prefix('"') {
                let end = stripped.find('"').unwrap();
                (&v[..end + 2], &v[end + 2..])
            } else {
                v.split_once(',')
                    .map(|(a, _)| (a, &v[a.len()..]))
                    .unwrap_or((v, ""))
            };
            let kind = if val.starts_with('"') {
                'S'
            } else if val.contains('@') {
                'R'
            } else if val.parse::<f64>().is_ok() {
                'N'
            } else {
                'E'
            };
            attrs.push((k.to_string(), kind));
            rest = next.strip_prefix(',').unwrap_or(next);
        }
    } else if !rest.is_empty() {
        let kind = if rest.trim_end_matches(',').parse::<f64>().is_ok() {
            'N'
        } else {
            'E'
        };
        attrs.push((String::new(), kind));
    }
    Some((tag.to_string(), attrs))
}

#[tokio::test]
async fn tag_forms_match_apple_ll_hls_examples() {
    let vectors =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/hls");
    let mut apple: BTreeMap<String, BTreeSet<(String, char)>> = BTreeMap::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&vectors).expect("Apple LL-HLS examples in shared/vectors/hls") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        files += 1;
        for line in text.lines() {
            if let Some((tag, attrs)) = form(line) {
                apple.entry(tag).or_default().extend(attrs);
            }
        }
    }
    assert_eq!(files, 5);

    let (_d, origin) = setup(20);
    init(&origin, "source");
    init(&origin, "low");
    for s in 0..10 {
        publish_segment(&origin, "source", s);
        publish_segment(&origin, "low", s);
    }
    let h = origin
        .store()
        .put(Bytes::from_static(b"open part"))
        .unwrap();
    origin.push_part("source", &h, 0.25, true, None);
    let addr = serve(origin.router()).await;
    let mut ours = get(addr, "/live/source/index.m3u8").await.text();
    ours.push_str(
        &get(addr, "/live/source/index.m3u8?_HLS_skip=YES")
            .await
            .text(),
    );

    // Attributes the spec defines that Apple's examples happen not to use.
    let spec_extra: BTreeSet<(&str, &str)> = [("#EXT-X-SERVER-CONTROL", "HOLD-BACK")].into();
    let mut checked = 0;
    let mut tags_seen = BTreeSet::new();
    for line in ours.lines() {
        let Some((tag, attrs)) = form(line) else {
            continue;
        };
        let Some(known) = apple.get(&tag) else {
            continue;
        };
        tags_seen.insert(tag.clone());
        for a in attrs {
            if spec_extra.contains(&(tag.as_str(), a.0.as_str())) {
                continue;
            }
            assert!(
                known.contains(&a),
                "{tag} attribute {a:?} differs from Apple's forms {known:?}"
            );
            checked += 1;
        }
    }
    for t in [
        "#EXT-X-PART",
        "#EXT-X-PART-INF",
        "#EXT-X-SERVER-CONTROL",
        "#EXT-X-PRELOAD-HINT",
        "#EXT-X-RENDITION-REPORT",
        "#EXT-X-SKIP",
        "#EXT-X-MAP",
        "#EXT-X-PROGRAM-DATE-TIME",
        "#EXTINF",
        "#EXT-X-MEDIA-SEQUENCE",
        "#EXT-X-TARGETDURATION",
    ] {
        assert!(tags_seen.contains(t), "our playlist lacks {t}:\n{ours}");
    }
    println!(
        "CONFORMANCE apple-ll-hls tag forms: {}/{} tags, {checked} attributes",
        tags_seen.len(),
        tags_seen.len()
    );
    assert!(
        ours.contains("#EXT-X-RENDITION-REPORT:URI=\"../low/index.m3u8\",LAST-MSN=9,LAST-PART=3"),
        "{ours}"
    );
}

/// A second origin (a relay) rebuilds the same media playlist from manifests alone.
#[tokio::test]
async fn relay_rebuilds_playlist_from_manifests() {
    use tollcast_media::manifest::{ManifestPart, SegmentManifest};
    let (_d, origin) = setup(12);
    let (_d2, relay) = setup(12);
    let init_bytes = Bytes::from_static(b"init bytes");
    let init = origin.store().put(init_bytes.clone()).unwrap();
    relay.store().put(init_bytes).unwrap();
    origin.set_init("source", &init, "avc1.4d401e", Some((426, 240)), 0, 0);
    for seg in 0..3u64 {
        let mut parts = Vec::new();
        let mut whole = Vec::new();
        for i in 0..4u32 {
            let b = Bytes::from(format!("s{seg}p{i}"));
            whole.extend_from_slice(&b);
            let h = origin.store().put(b.clone()).unwrap();
            relay.store().put(b.clone()).unwrap();
            origin.push_part("source", &h, 0.25, i == 0, None);
            parts.push(ManifestPart {
                hash: h,
                duration: 0.25,
                independent: i == 0,
                size: b.len() as u64,
            });
        }
        let sh = origin.store().put(Bytes::from(whole.clone())).unwrap();
        relay.store().put(Bytes::from(whole.clone())).unwrap();
        origin.end_segment("source", &sh, 1.0);
        let m = SegmentManifest {
            rendition: "source".into(),
            msn: seg,
            init: init.clone(),
            segment: sh,
            segment_size: whole.len() as u64,
            parts,
            duration: 1.0,
            capture_ms: 0,
            source: None,
        };
        m.verify_bytes(|h| relay.store().get(h).ok().flatten())
            .unwrap();
        relay.apply_manifest(&m, "avc1.4d401e", Some((426, 240)));
    }
    let a = origin.playlist("source").unwrap().render(false, &[]);
    let b = relay.playlist("source").unwrap().render(false, &[]);
    assert_eq!(a, b);
}

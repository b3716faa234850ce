//! A relay in front of a real origin (ffmpeg synthetic source, manifests signed and published on
//! a real Nostr relay): it serves byte-identical chunks only after checking their hash and a
//! signed manifest; a tampering upstream is refused and nothing it sent is served or cached; a
//! two-level tree (origin -> A -> B) serves the same bytes; playlists (blocking reloads) and
//! preload hints pass through.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get as route_get;
use common::*;
use tollcast_media::store::sha256_hex;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_verifies_serves_and_refuses_tampering() {
    let rig = start_origin().await;
    let origin_url = format!("http://{}", rig.origin_addr);
    let (relay_a, addr_a, _da) = rig.relay(&origin_url, None, Duration::from_secs(8)).await;
    let (relay_b, addr_b, _db) = rig
        .relay(&format!("http://{addr_a}"), None, Duration::from_secs(8))
        .await;

    let manifests = rig.wait_manifests(2).await;
    let m = &manifests[1];

    // (a) every chunk of a signed segment: same bytes as the origin, through A and through B.
    let mut names: Vec<(String, &str)> = m.parts.iter().map(|p| (p.hash.clone(), "m4s")).collect();
    names.push((m.init.clone(), "mp4"));
    names.push((m.segment.clone(), "m4s"));
    for (hash, ext) in &names {
        wait_known(&relay_b, hash).await;
        let from_origin = get(rig.origin_addr, &format!("/{hash}.{ext}")).await;
        assert_eq!(from_origin.status, 200);
        let via_b = get(addr_b, &format!("/{hash}.{ext}")).await;
        assert_eq!(via_b.status, 200, "{}", via_b.text());
        assert_eq!(
            via_b.body, from_origin.body,
            "tree serves the origin's bytes"
        );
        assert_eq!(sha256_hex(&via_b.body), *hash);
        let via_a = get(addr_a, &format!("/{hash}.{ext}")).await;
        assert_eq!(via_a.body, from_origin.body);
        assert!(relay_a.store().contains(hash) && relay_b.store().contains(hash));
    }
    // A fetched each chunk once (for B); B's second-level fetches hit A, not the origin.
    assert_eq!(
        relay_a
            .metrics()
            .upstream_chunk_fetches
            .load(Ordering::Relaxed),
        names.len() as u64
    );
    assert_eq!(
        relay_b
            .metrics()
            .upstream_chunk_fetches
            .load(Ordering::Relaxed),
        names.len() as u64
    );
    assert_eq!(relay_a.metrics().refused_chunks.load(Ordering::Relaxed), 0);

    // Playlists pass through the tree, blocking reloads included.
    let pl = get(addr_b, "/live/source/index.m3u8").await;
    assert_eq!(pl.status, 200);
    let text = pl.text();
    assert!(
        text.starts_with("#EXTM3U") && text.contains("#EXT-X-PART:"),
        "{text}"
    );
    assert!(text.contains("#EXT-X-PRELOAD-HINT"), "{text}");
    let next = rig.origin.next_msn("source").unwrap() + 1;
    let blocked = get(
        addr_b,
        &format!("/live/source/index.m3u8?_HLS_msn={next}&_HLS_part=0"),
    )
    .await;
    assert_eq!(blocked.status, 200, "{}", blocked.text());
    let pl_now = rig.origin.playlist("source").unwrap();
    assert!(
        pl_now.has(next, Some(0)),
        "the relay answered the blocking reload only once segment {next} part 0 existed"
    );
    let master = get(addr_b, "/live/master.m3u8").await;
    assert_eq!(master.status, 200);
    assert!(master.text().contains("source/index.m3u8"));

    // A preload hint through the tree resolves to a part that a later manifest signs.
    // Asked at the origin and through the tree at once, to see what verification costs.
    let open = rig.origin.next_msn("source").unwrap();
    let hint = format!("/live/source/hint/{open}.1.m4s");
    let t0 = std::time::Instant::now();
    let (direct, hinted) = tokio::join!(
        async {
            let r = get(rig.origin_addr, &hint).await;
            (r, t0.elapsed())
        },
        async {
            let r = get(addr_b, &hint).await;
            (r, t0.elapsed())
        }
    );
    let ((direct, t_direct), (hinted, t_tree)) = (direct, hinted);
    assert_eq!(hinted.status, 200, "{}", hinted.text());
    assert_eq!(
        hinted.body, direct.body,
        "the hint resolves to the same part"
    );
    println!(
        "RELAY hinted part: origin {} ms, origin->A->B {} ms (verified against its part manifest)",
        t_direct.as_millis(),
        t_tree.as_millis()
    );
    let hinted_hash = sha256_hex(&hinted.body);
    // Its segment's manifest comes when that segment closes (part manifests let the tree serve
    // the part before that).
    let mut n = manifests.len() + 1;
    let later = loop {
        let l = rig.wait_manifests(n).await;
        if l.iter().any(|m| m.msn >= open) {
            break l;
        }
        n += 1;
    };
    assert!(
        later
            .iter()
            .any(|m| m.parts.iter().any(|p| p.hash == hinted_hash)),
        "the hinted part is signed"
    );

    // Tampering upstream: serves flipped bytes for every chunk.
    let origin_addr = rig.origin_addr;
    let evil = axum::Router::new().route(
        "/{name}",
        route_get(move |Path(name): Path<String>| async move {
            let mut b = get(origin_addr, &format!("/{name}")).await.body;
            if let Some(x) = b.first_mut() {
                *x ^= 0xff;
            }
            b
        }),
    );
    let evil_addr = serve(evil).await;
    let (relay_t, addr_t, _dt) = rig
        .relay(
            &format!("http://{evil_addr}"),
            None,
            Duration::from_millis(300),
        )
        .await;
    let target = &later.last().unwrap().parts[0].hash;
    wait_known(&relay_t, target).await;
    let r = get(addr_t, &format!("/{target}.m4s")).await;
    assert_eq!(r.status, 502, "tampered bytes refused");
    assert!(r.text().contains("hash to"), "{}", r.text());
    assert!(
        !relay_t.store().contains(target),
        "nothing tampered is cached"
    );
    assert_eq!(relay_t.metrics().refused_chunks.load(Ordering::Relaxed), 1);
    assert_eq!(relay_t.metrics().bytes_served.load(Ordering::Relaxed), 0);

    // An upstream serving honest-hash bytes no manifest signs (an injected blob): refused.
    let blob = b"not part of this stream".to_vec();
    let blob_hash = sha256_hex(&blob);
    let injector = axum::Router::new().route("/{name}", route_get(move || async move { blob }));
    let inj_addr = serve(injector).await;
    let (relay_i, addr_i, _di) = rig
        .relay(
            &format!("http://{inj_addr}"),
            None,
            Duration::from_millis(300),
        )
        .await;
    let r = get(addr_i, &format!("/{blob_hash}.m4s")).await;
    assert_eq!(r.status, 502);
    assert!(r.text().contains("no signed manifest"), "{}", r.text());
    assert!(!relay_i.store().contains(&blob_hash));

    // Bad names are answered 400 without touching upstream.
    assert_eq!(get(addr_a, "/not-a-hash.m4s").await.status, 400);
    assert_eq!(get(addr_a, "/live/source/hint/x.m4s").await.status, 400);
}

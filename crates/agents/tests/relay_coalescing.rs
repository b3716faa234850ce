//! Request coalescing: 20 viewers asking a relay at once for a part it has not cached cause
//! exactly one upstream fetch, counted at a real counting proxy between the relay and the
//! origin; all 20 get the origin's bytes. Identical blocking playlist reloads coalesce too.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use axum::routing::get as route_get;
use common::*;
use tollcast_agents::relay::upstream::Upstream;

type Counts = Arc<Mutex<HashMap<String, u32>>>;

/// A pass-through proxy to `origin` counting requests per path-and-query.
async fn counting_proxy(origin: std::net::SocketAddr) -> (std::net::SocketAddr, Counts) {
    let counts: Counts = Arc::default();
    let up = Arc::new(Upstream::new(&format!("http://{origin}"), Duration::from_secs(15)).unwrap());
    let app =
        axum::Router::new()
            .fallback(route_get(
                |State((up, counts)): State<(Arc<Upstream>, Counts)>,
                 OriginalUri(uri): OriginalUri| async move {
                    let pq = uri
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default();
                    *counts.lock().unwrap().entry(pq.clone()).or_default() += 1;
                    match up.get(&pq).await {
                        Ok(r) => (r.status, r.body),
                        Err(e) => (StatusCode::BAD_GATEWAY, bytes::Bytes::from(e.to_string())),
                    }
                },
            ))
            .with_state((up, counts.clone()));
    (serve(app).await, counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_viewers_one_upstream_fetch() {
    let rig = start_origin().await;
    let (proxy, counts) = counting_proxy(rig.origin_addr).await;
    let (relay, addr, _d) = rig
        .relay(&format!("http://{proxy}"), None, Duration::from_secs(8))
        .await;
    let manifests = rig.wait_manifests(1).await;
    let part = manifests[0].parts.last().unwrap().hash.clone();
    wait_known(&relay, &part).await;
    let want = get(rig.origin_addr, &format!("/{part}.m4s")).await.body;

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let path = format!("/{part}.m4s");
        tasks.push(tokio::spawn(async move { get(addr, &path).await }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body, want);
    }
    let n = counts.lock().unwrap().get(&format!("/{part}")).copied();
    assert_eq!(
        n,
        Some(1),
        "20 concurrent requests -> exactly one upstream fetch"
    );

    // Identical blocking reloads for a position not there yet: one upstream request.
    let next = rig.origin.next_msn("source").unwrap() + 1;
    let q = format!("/live/source/index.m3u8?_HLS_msn={next}&_HLS_part=0");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let q = q.clone();
        tasks.push(tokio::spawn(async move { get(addr, &q).await }));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        bodies.push(r.body);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "all got the same playlist"
    );
    let n = counts.lock().unwrap().get(&q).copied().unwrap_or(0);
    // Requests arriving after the shared answer returned start a new (non-blocking) fetch;
    // on a busy machine a straggler may do that, never more than a few.
    assert!(
        (1..=3).contains(&n),
        "10 identical blocking reloads -> {n} upstream requests"
    );
}

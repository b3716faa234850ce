//! Failover of the viewer agent, on loopback with real sockets: a player doing LL-HLS blocking
//! reloads through the viewer keeps getting every part, in order, while the relay it uses is
//! killed (every socket dropped), stalls (stops answering), or overcharges (402 although
//! paid, asking more than its offer); money to a dropped relay stops and the ledgers add up.

mod common;
mod viewer_rig;

use std::collections::HashMap;
use std::time::Duration;

use common::get;
use tollcast_media::manifest::SegmentManifest;
use viewer_rig::*;

/// Tests here measure stalls: run them one at a time (2 cores).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every part of every segment strictly between the first and last one played was played.
async fn assert_no_part_missing(m: &Market, got: &[Arrival]) {
    assert_contiguous(got);
    let signed: Vec<SegmentManifest> = m
        .rig
        .manifests
        .lock()
        .await
        .iter()
        .map(|e| SegmentManifest::from_event(e).unwrap().0)
        .collect();
    let by_msn: HashMap<u64, &SegmentManifest> = signed.iter().map(|s| (s.msn, s)).collect();
    let played: std::collections::HashSet<&str> = got
        .iter()
        .map(|a| a.hash.split('.').next().unwrap())
        .collect();
    let (first, last) = (got.first().unwrap().msn, got.last().unwrap().msn);
    let mut checked = 0;
    for msn in first + 1..last {
        let s = by_msn.get(&msn).expect("manifest of a played segment");
        for p in &s.parts {
            assert!(played.contains(p.hash.as_str()), "part of {msn} missing");
            checked += 1;
        }
    }
    assert!(checked > 10, "too short a run ({checked} parts)");
}

fn relay_of(s: &serde_json::Value) -> String {
    s["relay"]["url"].as_str().unwrap_or("").to_string()
}

fn candidate<'a>(s: &'a serde_json::Value, url: &str) -> &'a serde_json::Value {
    s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["url"] == url)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_relay_fails_over_without_losing_a_part() {
    let _g = SERIAL.lock().await;
    let m = market(100_000_000, &[honest(1_000), honest(2_000)]).await;
    let v = m.viewer(viewer_config(&m)).await;
    let (ra, rb) = (&m.relays[0], &m.relays[1]);
    assert_eq!(relay_of(&get(v.addr, "/api/status").await.json()), ra.url());

    let mut killed = false;
    let (got, failures) = play(v.addr, Duration::from_secs(8), |t| {
        if !killed && t > Duration::from_secs(3) {
            ra.kill();
            killed = true;
        }
    })
    .await;
    assert!(killed);
    assert_eq!(failures, 0, "the player never saw an error");
    assert_no_part_missing(&m, &got).await;
    let g = gaps(&got);
    // Parts reach the player when their segment is signed (1 s segments): the normal gap is
    // up to ~1 s; a stall is what comes on top.
    let stalls: Vec<_> = g
        .iter()
        .filter(|d| **d > Duration::from_millis(1_500))
        .collect();
    println!(
        "failover (kill): {} parts, longest gaps {:?}",
        got.len(),
        &g[..3.min(g.len())]
    );
    assert!(stalls.len() <= 1, "more than one stall: {stalls:?}");
    assert!(g[0] < Duration::from_millis(3_000), "stall of {:?}", g[0]);

    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(relay_of(&s), rb.url(), "{s:#}");
    assert_eq!(s["state"], "playing");
    let dead = candidate(&s, &ra.url());
    assert_eq!(dead["healthy"], false);
    assert!(
        dead["reason"].as_str().unwrap().contains("unreachable"),
        "{dead:#}"
    );

    // Money to the dead relay stopped when it died; the live one is paid.
    let to_a = m.bank_balance("ra");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(m.bank_balance("ra"), to_a, "no money to a dead relay");
    assert!(m.bank_balance("rb") > 0);
    v.viewer.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spent = v.viewer.spent() as i128;
    assert_eq!(m.bank_balance("viewer"), -spent);
    assert_eq!(m.bank_balance("ra") + m.bank_balance("rb"), spent);
    assert_eq!(ra.node_received() + rb.node_received(), spent);
    // Paid ahead by a small window only: the dead relay got at most ~its time + 1.5 s.
    assert!(
        m.bank_balance("ra") <= 1_000 * (3 + 2) + 1_500,
        "prepaid too much to the relay that died: {}",
        m.bank_balance("ra")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overcharging_then_stalling_relays_are_dropped() {
    let _g = SERIAL.lock().await;
    let m = market(
        100_000_000,
        &[
            RelaySpec {
                overcharge: true,
                ..honest(500)
            },
            honest(1_000),
            honest(2_000),
        ],
    )
    .await;
    // Top up once a second: the relay's shortfall then shows as 402s for a good part of
    // each second (with frequent small top-ups its grace window hides most of them).
    let cfg = tollcast_agents::viewer::ViewerConfig {
        pay_every_ms: 1_000,
        ..viewer_config(&m)
    };
    let v = m.viewer(cfg).await;
    let (ra, rb, rc) = (&m.relays[0], &m.relays[1], &m.relays[2]);
    assert_eq!(relay_of(&get(v.addr, "/api/status").await.json()), ra.url());

    let mut frozen = false;
    let mut on_b_since: Option<Duration> = None;
    let status_addr = v.addr;
    let (got, failures) = play(v.addr, Duration::from_secs(12), |t| {
        // Freeze relay b one second after the viewer moved to it.
        if frozen {
            return;
        }
        let on_b = futures_relay(status_addr) == rb.url();
        if on_b && on_b_since.is_none() {
            on_b_since = Some(t);
        }
        if let Some(since) = on_b_since
            && t > since + Duration::from_secs(1)
        {
            rb.door.freeze();
            frozen = true;
        }
    })
    .await;
    assert!(frozen, "the viewer never left the overcharging relay");
    assert_eq!(failures, 0);
    assert_no_part_missing(&m, &got).await;
    let g = gaps(&got);
    println!(
        "failover (overcharge, stall): {} parts, longest gaps {:?}",
        got.len(),
        &g[..3.min(g.len())]
    );
    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(relay_of(&s), rc.url(), "{s:#}");
    let a = candidate(&s, &ra.url());
    assert_eq!(a["healthy"], false);
    assert!(
        a["reason"].as_str().unwrap().contains("overcharging"),
        "{a:#}"
    );
    let b = candidate(&s, &rb.url());
    assert_eq!(b["healthy"], false);
    let why = b["reason"].as_str().unwrap();
    assert!(
        why.contains("stalled") || why.contains("no answer"),
        "{b:#}"
    );
    v.viewer.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spent = v.viewer.spent() as i128;
    assert_eq!(
        m.bank_balance("ra") + m.bank_balance("rb") + m.bank_balance("rc"),
        spent
    );
    assert_eq!(m.bank_balance("viewer"), -spent);
}

/// The relay the viewer uses now (a blocking status read from a sync closure).
fn futures_relay(addr: std::net::SocketAddr) -> String {
    std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        use std::io::{Read, Write};
        write!(
            s,
            "GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut b = String::new();
        s.read_to_string(&mut b).unwrap();
        let body = b.split_once("\r\n\r\n").unwrap().1;
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        relay_of(&v)
    })
    .join()
    .unwrap()
}

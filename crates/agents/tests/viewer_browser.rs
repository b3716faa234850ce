//! hls.js (lowLatencyMode) in headless Chromium plays a paid stream through the viewer agent
//! for 30 s: playback never stalls after it started (no `waiting` of 250 ms or more, and
//! currentTime never stands still for a 250 ms sample), currentTime advances with the wall
//! clock, and the live latency (hls.js's and the viewer's own) is reported. Halfway through,
//! the relay in use is killed: the viewer fails over and the player does not notice. Needs
//! tests/interop/node_modules (scripts/setup.sh installs it) and /usr/bin/chromium.

mod common;
mod viewer_rig;

use std::time::Duration;

use viewer_rig::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hlsjs_plays_30_s_through_the_viewer_without_a_stall() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let interop = root.join("tests/interop");
    assert!(
        interop.join("node_modules/hls.js").exists()
            && interop.join("node_modules/playwright-core").exists(),
        "tests/interop/node_modules is missing hls.js/playwright-core: run scripts/setup.sh"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "install chromium (scripts/setup.sh)"
    );
    let m = market(1_000_000_000, &[honest(1_000), honest(1_500)]).await;
    // Let the origin build up a few segments so the player starts from a full window.
    m.rig.wait_manifests(3).await;
    let v = m.viewer(viewer_config(&m)).await;

    // 30 s of playback: no stall at all.
    let r = watch(&interop, v.addr, 30, None).await;
    println!("MEASURE hls.js through the viewer agent (30 s): {r}");
    assert_eq!(r["started"], true, "{r}");
    let advanced = r["advanced"].as_f64().unwrap();
    assert!(
        advanced > 27.0,
        "currentTime advanced {advanced} s in 30 s: {r}"
    );
    assert!(
        r["stalls"].as_array().unwrap().is_empty(),
        "playback stalled: {r}"
    );
    assert!(r["longestFreezeMs"].as_f64().unwrap() < 1_000.0, "{r}");
    assert_no_fatal(&r);
    assert_eq!(r["viewer"]["state"], "playing", "{r}");
    assert_eq!(r["viewer"]["parts"]["rejected"], 0);
    assert!(r["viewer"]["latency_ms"].as_f64().is_some());

    // 20 s more, the relay in use killed after ~10 s: at most one stall, under 2 s.
    let r = watch(
        &interop,
        v.addr,
        20,
        Some((Duration::from_secs(10), &m.relays[0])),
    )
    .await;
    println!("MEASURE hls.js through the viewer agent, relay killed: {r}");
    let stalls = r["stalls"].as_array().unwrap();
    assert!(stalls.len() <= 1, "more than one stall: {r}");
    assert!(
        stalls.iter().all(|s| s.as_f64().unwrap() < 2_000.0),
        "stall of 2 s or more: {r}"
    );
    assert!(r["advanced"].as_f64().unwrap() > 17.0, "{r}");
    assert_no_fatal(&r);
    assert_eq!(
        r["viewer"]["relay"],
        m.relays[1].url(),
        "failed over to the other relay: {r}"
    );
    v.viewer.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let spent = v.viewer.spent() as i128;
    assert_eq!(m.bank_balance("viewer"), -spent);
    assert_eq!(m.bank_balance("ra") + m.bank_balance("rb"), spent);
    // About 50 s of watching at 1000-1500/s (plus setup and the small prepaid windows).
    assert!((40_000..=90_000).contains(&spent), "spent {spent}");
}

/// Run the hls.js player script for `secs` against the viewer at `addr`, killing `kill.1`
/// after `kill.0`; returns its JSON report.
async fn watch(
    interop: &std::path::Path,
    addr: std::net::SocketAddr,
    secs: u32,
    kill: Option<(Duration, &PaidRelay)>,
) -> serde_json::Value {
    let player = tokio::process::Command::new("node")
        .arg(interop.join("viewer/watch.mjs"))
        .arg(format!("http://{addr}"))
        .arg(secs.to_string())
        .kill_on_drop(true)
        .output();
    let killer = async {
        if let Some((after, relay)) = kill {
            tokio::time::sleep(after).await;
            relay.kill();
        }
    };
    let (out, ()) = tokio::time::timeout(Duration::from_secs(120), async {
        tokio::join!(player, killer)
    })
    .await
    .expect("player finishes");
    let out = out.expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "hls.js did not play:\n{stdout}\n{stderr}"
    );
    serde_json::from_str(stdout.trim()).expect("JSON result")
}

fn assert_no_fatal(r: &serde_json::Value) {
    let fatal: Vec<_> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e.as_str().unwrap_or("").contains("fatal"))
        .collect();
    assert!(fatal.is_empty(), "fatal hls.js errors: {r}");
}

//! The demo in a real browser: `tollcast demo` runs (child processes, paying viewers), then
//! tests/interop/web/demo_page.mjs drives headless Chromium through the viewer page and the
//! dashboard — playback 15 s without a stall over 1 s, latency readout under 3 s, wallet
//! balance going down, chat seen by a second viewer, a tip landing in the creator's ledger,
//! dashboard earnings equal to the ledgers. Screenshots: <repo>/target/demo-screenshots/<mode>/.
//! Two modes: the page through the viewer agent (`tollcast watch`, the default) and straight
//! from the edge relay (`--page-via relay`). Needs tests/interop/node_modules
//! (scripts/setup.sh) and /usr/bin/chromium.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Two demos with browsers at once would fight over 2 cores: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn page_via_relay_plays_under_3_s_pays_chats_tips_and_the_dashboard_matches_the_ledgers() {
    page_checks("relay", 3000);
}

/// Through the viewer agent every part waits for its signed segment manifest before the
/// player gets it, which costs latency (p50 2.0-2.4 s measured); the readout must still show
/// under 3 s, as a person opening the demo's URL sees it.
#[test]
fn page_via_viewer_agent_plays_under_3_s_pays_chats_tips_and_the_dashboard_matches_the_ledgers() {
    page_checks("viewer", 3000);
}

fn page_checks(via: &str, max_latency_ms: u64) {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
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
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args([
            "demo",
            "--viewers",
            "2",
            "--listen",
            "127.0.0.1:0",
            "--page-via",
            via,
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tollcast demo");
    let stdout = demo.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(j) = line.strip_prefix("ready: ") {
                let _ = tx.send(j.to_string());
            }
            all.push(line);
        }
        all
    });
    let ready = match rx.recv_timeout(Duration::from_secs(120)) {
        Ok(r) => r,
        Err(_) => {
            let _ = demo.kill();
            let out = demo.wait_with_output().unwrap();
            panic!(
                "demo never became ready:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    let shots = root.join("target/demo-screenshots").join(via);
    let t0 = Instant::now();
    let out = Command::new("node")
        .arg(interop.join("web/demo_page.mjs"))
        .arg(&ready)
        .arg(&shots)
        .arg(max_latency_ms.to_string())
        .output()
        .expect("node runs");
    let browser = String::from_utf8_lossy(&out.stdout).to_string();
    let browser_err = String::from_utf8_lossy(&out.stderr).to_string();
    // Ctrl-C for the demo: it stops everything and prints its summary.
    // SAFETY: kill(2) on the child we spawned and have not reaped.
    unsafe {
        libc::kill(demo.id() as libc::pid_t, libc::SIGINT);
    }
    let status = demo.wait().unwrap();
    let lines = reader.join().unwrap();
    let summary = lines.join("\n");
    assert!(
        out.status.success(),
        "browser checks failed after {:?}:\n{browser}\n{browser_err}\ndemo:\n{summary}",
        t0.elapsed()
    );
    let v: serde_json::Value = serde_json::from_str(browser.trim()).expect("JSON result");
    println!("MEASURE demo page via {via}: {v}");
    println!(
        "MEASURE demo page via {via}: latency p50 {} ms, worst stall {} ms, chat delivered in {} ms; screenshots in {}",
        v["play"]["latency_p50_ms"],
        v["play"]["worst_stall_ms"],
        v["chat"]["delivered_ms"],
        shots.display()
    );
    for check in [
        "plays",
        "no_stall",
        "latency_under_bound",
        "balance_decreases",
        "chat_reaches_second_viewer",
        "tip_reaches_creator_ledger",
        "dashboard_matches_ledgers",
    ] {
        assert_eq!(v["checks"][check], true, "{check}: {v}");
    }
    assert!(status.success(), "demo exit {status}:\n{summary}");
    assert!(summary.contains("books balanced: yes"), "{summary}");
    assert!(shots.join("dashboard.png").exists());
}

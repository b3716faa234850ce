//! How the viewer agent reaches and pays its relay, end to end on loopback with real nodes
//! (bank ILP node, relay nodes over BTP, Nostr relay, origin):
//! - SPSP over Nostr: a relay whose offer lists its key (`nostr:nprofile1…`) and whose HTTP
//!   SPSP endpoint refuses is paid with credentials obtained over Nostr (kinds 23194/23195);
//!   its billing credits the viewer's id; forcing HTTP fails; ledgers add up. Round trips of
//!   both SPSP transports are measured (`FIGURE` lines).
//! - A key listed but silent: the viewer falls back to HTTP; the key is remembered, so a
//!   second payment session with that relay asks over HTTP at once (no Nostr wait).
//! - Connector path down: the Interledger link bank -> relay (or the wallet's own link to the
//!   bank) is cut mid-stream; the viewer's
//!   `/api/status` says `payment_path_down` with what to do, and when the link is restored
//!   payments and playback resume by themselves, with no money lost or duplicated. The
//!   player page (web/index.html + web/player.js in headless Chromium, needs
//!   tests/interop/node_modules and /usr/bin/chromium) shows the message, then clears it.
//! - Path down to one relay while another can be paid: the viewer switches to the payable
//!   one (session opened first), no part lost or fetched twice, each relay's books agree.

mod common;
mod viewer_rig;

use std::time::Duration;

use common::get;
use tokio::time::Instant;
use tollcast_agents::viewer::ViewerConfig;
use tollcast_agents::viewer::payer::{
    SilentNostrKeys, SpspMethod, SpspRoute, SpspVia, query_nostr,
};
use tollcast_events::offer::SpspNostr;
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::RelayPool;
use tollcast_net::stream::spsp_http;
use viewer_rig::*;

async fn wait_state(v: &TestViewer, want: &str, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        let s = get(v.addr, "/api/status").await.json();
        if s["state"] == want {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "viewer never reached state {want}: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What relay `r`'s billing credited to viewer `v`.
fn credited(r: &PaidRelay, v: &TestViewer) -> i128 {
    r.billing
        .standing_at(&v.viewer.keys().public_key().to_hex(), Instant::now())
        .map_or(0, |s| s.received as i128)
}

/// After the viewer stopped: the wallet's spending, the bank's books, the relay node's books
/// and the relay's billing of the viewer all say the same amount (`earlier`: what other
/// viewers on the same wallet account spent at other relays).
async fn ledgers_add_up(m: &Market, v: &TestViewer, paid: &PaidRelay, earlier: i128) -> i128 {
    v.viewer.shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spent = v.viewer.spent() as i128;
    assert!(spent > 0, "nothing was paid");
    assert_eq!(
        m.bank_balance("viewer"),
        -spent - earlier,
        "bank: the viewer owes what it spent"
    );
    let relays: i128 = m.relays.iter().map(|r| m.bank_balance(&r.name)).sum();
    assert_eq!(
        m.bank_balance("viewer") + relays,
        0,
        "the bank's ledger sums to zero"
    );
    assert_eq!(
        m.bank_balance(&paid.name),
        spent,
        "bank owes the relay all of it"
    );
    assert_eq!(paid.node_received(), spent, "relay node's ledger agrees");
    assert_eq!(
        credited(paid, v),
        spent,
        "relay billing credited the viewer id"
    );
    spent
}

/// The player page served beside the viewer's routes, as `tollcast watch` does (the files
/// from web/, hls.js from tests/interop/node_modules).
async fn page(v: &TestViewer) -> std::net::SocketAddr {
    use axum::response::IntoResponse;
    use axum::routing::get as route;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let hls = root.join("tests/interop/node_modules/hls.js/dist/hls.min.js");
    assert!(
        hls.exists()
            && root
                .join("tests/interop/node_modules/playwright-core")
                .exists(),
        "tests/interop/node_modules is missing hls.js/playwright-core: run scripts/setup.sh"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "install chromium (scripts/setup.sh)"
    );
    let file = |path: std::path::PathBuf, ct: &'static str| {
        let body = std::fs::read(&path).unwrap();
        route(move || {
            let body = body.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, ct)], body).into_response() }
        })
    };
    let web = root.join("web");
    let router = v
        .viewer
        .router()
        .route("/", file(web.join("index.html"), "text/html"))
        .route(
            "/web/player.js",
            file(web.join("player.js"), "text/javascript"),
        )
        .route("/web/style.css", file(web.join("style.css"), "text/css"))
        .route("/web/hls.min.js", file(hls, "text/javascript"));
    common::serve(router).await
}

/// What the page shows once it renders state `want`.
async fn page_shows(addr: std::net::SocketAddr, want: &str) -> serde_json::Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/interop/viewer/page_state.mjs"))
        .arg(format!("http://{addr}/"))
        .arg(want)
        .arg("15000")
        .current_dir(root.join("tests/interop"))
        .output()
        .await
        .expect("node runs");
    assert!(
        out.status.success(),
        "the page never showed {want}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn median_ms(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_is_paid_with_spsp_over_nostr() {
    let m = market(
        10_000_000,
        &[
            // Cheapest: SPSP only over Nostr (its HTTP endpoint answers 404).
            RelaySpec {
                spsp_nostr: Some(true),
                refuse_payment: true,
                ..honest(1_000)
            },
            // Both transports (used to time them side by side).
            RelaySpec {
                spsp_nostr: Some(true),
                ..honest(3_000)
            },
        ],
    )
    .await;
    let (ra, rb) = (&m.relays[0], &m.relays[1]);

    // Forced to HTTP, the cheapest relay cannot be paid: its HTTP SPSP refuses.
    let forced = m
        .viewer(ViewerConfig {
            spsp: SpspMethod::Http,
            ..viewer_config(&m)
        })
        .await;
    let s = get(forced.addr, "/api/status").await.json();
    assert_ne!(s["relay"]["url"], ra.url(), "{s:#}");
    forced.viewer.shutdown().await;
    assert_eq!(credited(ra, &forced), 0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let earlier = forced.viewer.spent() as i128;
    assert_eq!(m.bank_balance("rb"), earlier, "the forced viewer paid rb");

    let v = m.viewer(viewer_config(&m)).await;
    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(
        s["relay"]["url"],
        ra.url(),
        "the cheapest relay, paid over Nostr: {s:#}"
    );
    let (got, _) = play(v.addr, Duration::from_secs(4), |_| {}).await;
    assert!(got.len() >= 3, "only {} parts", got.len());
    wait_state(&v, "playing", Duration::from_secs(5)).await;
    assert!(credited(ra, &v) > 0, "ra credited the viewer's pubkey");
    let spent = ledgers_add_up(&m, &v, ra, earlier).await;
    // The forced-HTTP viewer paid rb; nobody else did.
    assert_eq!(m.bank_balance("ra"), spent);
    println!("paid over Nostr: {spent} units, {} parts", got.len());

    // Round trips, same relay, same machine: SPSP over Nostr vs over HTTP.
    let keys = tollcast_events::nostr::prelude::Keys::generate();
    let pool = RelayPool::new([m.rig.nostr_url.clone()], ClientOptions::default()).unwrap();
    let payee = SpspNostr {
        pubkey: rb.keys.public_key(),
        relays: vec![],
    };
    let (mut nostr, mut http) = (Vec::new(), Vec::new());
    for i in 0..9 {
        let t = Instant::now();
        query_nostr(&pool, &payee, &keys, Duration::from_secs(5))
            .await
            .unwrap();
        nostr.push(t.elapsed());
        let t = Instant::now();
        spsp_http::query(
            &format!("{}/.well-known/pay/timing-{i}", rb.url()),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        http.push(t.elapsed());
    }
    println!(
        "FIGURE spsp round trip (median of 9): over Nostr {:.2} ms, over HTTP {:.2} ms",
        median_ms(nostr),
        median_ms(http)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_nostr_key_falls_back_to_http() {
    let m = market(
        10_000_000,
        &[RelaySpec {
            spsp_nostr: Some(false),
            ..honest(1_000)
        }],
    )
    .await;
    let t0 = Instant::now();
    let v = m.viewer(viewer_config(&m)).await;
    let started = t0.elapsed();
    wait_state(&v, "starting", Duration::from_secs(1)).await;
    let (got, _) = play(v.addr, Duration::from_secs(3), |_| {}).await;
    assert!(got.len() >= 2, "only {} parts", got.len());
    // It waited for Nostr (3 s) before asking over HTTP.
    assert!(started >= Duration::from_secs(3), "started in {started:?}");
    ledgers_add_up(&m, &v, &m.relays[0], 0).await;

    // Sessions of one viewer share a SilentNostrKeys: the first waits for Nostr (bounded here
    // to 1 s) and remembers the key; the second asks over HTTP at once.
    let keys = tollcast_events::nostr::prelude::Keys::generate();
    let viewer = keys.public_key().to_hex();
    let pool = RelayPool::new([m.rig.nostr_url.clone()], ClientOptions::default()).unwrap();
    let payee = SpspNostr {
        pubkey: m.relays[0].keys.public_key(),
        relays: vec![],
    };
    let http = format!("{}/.well-known/pay", m.relays[0].url());
    let silent = SilentNostrKeys::default();
    let route = |method| SpspRoute {
        method,
        http: Some(&http),
        nostr: Some(&payee),
        keys: &keys,
        pool: &pool,
        nostr_timeout: Duration::from_secs(1),
        silent: Some(&silent),
    };
    let mut took = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        let (_, via, _) = route(SpspMethod::Auto)
            .credentials(&viewer, Duration::from_secs(5))
            .await
            .unwrap();
        took.push(t.elapsed());
        assert_eq!(via, SpspVia::Http);
        assert!(silent.is_silent(&payee.pubkey));
    }
    println!(
        "SPSP sessions with a silent Nostr key: first {:?}, second {:?}",
        took[0], took[1]
    );
    assert!(
        took[0] >= Duration::from_secs(1),
        "first waited for Nostr: {took:?}"
    );
    assert!(
        took[1] < Duration::from_millis(500),
        "second went to HTTP at once: {took:?}"
    );
    // Forced to Nostr, the key is still asked (memory only shortcuts auto).
    let t = Instant::now();
    assert!(
        route(SpspMethod::Nostr)
            .credentials(&viewer, Duration::from_secs(1))
            .await
            .is_err()
    );
    assert!(t.elapsed() >= Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_path_down_is_reported_and_recovers() {
    path_down(Link::BankToRelay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_link_down_is_reported_and_recovers() {
    path_down(Link::Wallet).await;
}

/// Which Interledger link is cut.
#[derive(Clone, Copy, Debug)]
enum Link {
    /// Between the bank (the viewer's wallet node) and the relay's node.
    BankToRelay,
    /// Between the viewer's wallet (its in-process node) and the bank.
    Wallet,
}

async fn path_down(link: Link) {
    let m = market(
        100_000_000,
        &[RelaySpec {
            link_door: matches!(link, Link::BankToRelay),
            ..honest(1_000)
        }],
    )
    .await;
    let ra = &m.relays[0];
    let (v, wallet_door) = m.viewer_with_wallet_door(viewer_config(&m)).await;
    let page_addr = page(&v).await;
    let addr = v.addr;
    let player = tokio::spawn(async move { play(addr, Duration::from_secs(22), |_| {}).await });

    // Playing and paying.
    wait_state(&v, "playing", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Cut the link: payments cannot get through.
    let cut = Instant::now();
    match link {
        Link::BankToRelay => ra.cut_link(),
        Link::Wallet => wallet_door.kill(),
    }
    let s = wait_state(&v, "payment_path_down", Duration::from_secs(10)).await;
    let detect = cut.elapsed();
    let msg = s["message"].as_str().unwrap();
    let says = match link {
        // The wallet still answers, the path from it does not.
        Link::BankToRelay => "path from your wallet node",
        Link::Wallet => "link to your wallet node is down",
    };
    assert!(
        msg.contains(says) && msg.contains("resumes by itself"),
        "{msg}"
    );
    assert!(s["relay"]["url"] == ra.url(), "stays on its relay: {s:#}");
    // The page says it, in the agent's words.
    let shown = page_shows(page_addr, "payment_path_down").await;
    assert_eq!(shown["bannerHidden"], false, "{shown}");
    assert_eq!(shown["banner"], msg, "{shown}");
    // Held down past the relay's grace: the relay stops serving (402), the state stays.
    let held = cut.elapsed();
    tokio::time::sleep(Duration::from_secs(7).saturating_sub(held)).await;
    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(s["state"], "payment_path_down", "{s:#}");
    let spent_down = v.viewer.spent();

    // Restore: payments and playback resume by themselves.
    let back = Instant::now();
    let _door = match link {
        Link::BankToRelay => {
            ra.restore_link().await;
            None
        }
        Link::Wallet => Some(FrontDoor::reopen(wallet_door.addr, m.bank.local_addr).await),
    };
    wait_state(&v, "playing", Duration::from_secs(15)).await;
    let resume = back.elapsed();
    assert!(v.viewer.spent() > spent_down, "payments resumed");
    let shown = page_shows(page_addr, "playing").await;
    assert_eq!(
        shown["bannerHidden"], true,
        "the page's warning is gone: {shown}"
    );

    let (got, _failures) = player.await.unwrap();
    let restored_at = back;
    let after: Vec<_> = got.iter().filter(|a| a.at > restored_at).collect();
    assert!(
        after.len() >= 2,
        "playback resumed after the link came back: {} parts after, {} in all",
        after.len(),
        got.len()
    );
    let first_after = after[0].at.duration_since(restored_at);
    // Parts arrive in order, none twice.
    for w in got.windows(2) {
        assert!((w[1].msn, w[1].part) > (w[0].msn, w[0].part));
    }
    ledgers_add_up(&m, &v, ra, 0).await;
    println!(
        "FIGURE payment path down ({link:?} link): detected {:.0} ms after the cut, state \
         playing {:.0} ms after the link came back, first part {:.0} ms after",
        detect.as_secs_f64() * 1000.0,
        resume.as_secs_f64() * 1000.0,
        first_after.as_secs_f64() * 1000.0
    );
}

/// Only the path from the wallet node to the current relay is down. While no other relay can
/// be paid either, the viewer stays (payment_path_down, no switch, nothing spent); once one
/// can, it switches to it (a session to it opened and prepaid first): no part is lost or
/// fetched twice, each relay was paid only what its books say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_down_to_one_relay_fails_over_to_a_payable_one() {
    let m = market(
        100_000_000,
        &[
            RelaySpec {
                link_door: true,
                ..honest(1_000)
            },
            RelaySpec {
                link_door: true,
                ..honest(2_000)
            },
        ],
    )
    .await;
    let (ra, rb) = (&m.relays[0], &m.relays[1]);
    let v = m.viewer(viewer_config(&m)).await;
    let addr = v.addr;
    let player = tokio::spawn(async move { play(addr, Duration::from_secs(16), |_| {}).await });
    let s = wait_state(&v, "playing", Duration::from_secs(10)).await;
    assert_eq!(
        s["relay"]["url"],
        ra.url(),
        "the cheaper relay first: {s:#}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Both paths down: nowhere to go, the viewer stays and says so.
    rb.cut_link();
    ra.cut_link();
    wait_state(&v, "payment_path_down", Duration::from_secs(10)).await;
    let spent_down = v.viewer.spent();
    // Long enough for two attempts to pay around (one every 2 s).
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    let s = get(v.addr, "/api/status").await.json();
    assert_eq!(s["state"], "payment_path_down", "{s:#}");
    assert_eq!(
        s["relay"]["url"],
        ra.url(),
        "stays: rb cannot be paid either: {s:#}"
    );
    assert_eq!(s["switches"], 0, "{s:#}");
    assert_eq!(
        v.viewer.spent(),
        spent_down,
        "nothing spent while no path is up"
    );

    // rb's path is back (ra's is not): the viewer moves to rb.
    let back = Instant::now();
    rb.restore_link().await;
    let s = loop {
        let s = get(v.addr, "/api/status").await.json();
        if s["relay"]["url"] == rb.url() {
            break s;
        }
        assert!(
            back.elapsed() < Duration::from_secs(10),
            "never left the relay it cannot pay: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let switched = back.elapsed();
    assert_eq!(s["switches"], 1, "{s:#}");
    let old = s["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["url"] == ra.url())
        .unwrap();
    assert_eq!(old["healthy"], false, "{s:#}");
    assert!(
        old["reason"]
            .as_str()
            .unwrap()
            .starts_with("payment path down"),
        "{s:#}"
    );
    wait_state(&v, "playing", Duration::from_secs(10)).await;
    let playing = back.elapsed();

    let (got, _) = player.await.unwrap();
    let after = got.iter().filter(|a| a.at > back + switched).count();
    assert!(after >= 3, "only {after} parts after the switch");
    // No part lost, none twice.
    assert_contiguous(&got);
    v.viewer.shutdown().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let spent = v.viewer.spent() as i128;
    assert_eq!(
        m.bank_balance("viewer"),
        -spent,
        "bank: the viewer owes what it spent"
    );
    let (to_a, to_b) = (m.bank_balance(&ra.name), m.bank_balance(&rb.name));
    assert!(to_a > 0 && to_b > 0, "both relays paid: {to_a} {to_b}");
    assert_eq!(to_a + to_b, spent, "the bank's ledger sums to zero");
    assert_eq!(ra.node_received(), to_a, "ra's node agrees");
    assert_eq!(rb.node_received(), to_b, "rb's node agrees");
    assert_eq!(credited(ra, &v), to_a, "ra billed what it got");
    assert_eq!(credited(rb, &v), to_b, "rb billed what it got");
    println!(
        "FIGURE wallet->relay path down, another relay payable again: switched {:.0} ms after \
         its path came back, playing {:.0} ms after, {} parts in all, none lost",
        switched.as_secs_f64() * 1000.0,
        playing.as_secs_f64() * 1000.0,
        got.len()
    );
}

//! `tollcast transcode` as a separate process: the NIP-90 job flow between two processes.
//! This process runs the streamer's side (a live ffmpeg origin publishing signed manifests, a
//! real Nostr relay, the ILP hub node holding the streamer's wallet, the job client); the child
//! is the transcoder, with its own ILP node peered to the hub over BTP (`--node`). Checks: the
//! `ready:` line; the job is accepted and its ladder served by the child; the transcoder is
//! paid per unit and every ledger (hub in-process, child via its node's `/accounts`) balances;
//! when payment stops, the child stops the job and says why. Also `--help` and bad input.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tollcast_agents::transcoder::job_client::{JobClient, JobClientConfig};
use tollcast_events::jobs::JobStatus;
use tollcast_events::nostr::prelude::Keys;
use tollcast_events::{Price, Role, StreamAddress};
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::Source;
use tollcast_media::ingest::synthetic::SyntheticOptions;
use tollcast_media::ladder::Rung;
use tollcast_media::live::{LiveConfig, LiveEvent, ManifestSigner, spawn_live};
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig as NostrConfig};

const PRICE: u64 = 600;
const UNIT: f64 = 2.0;

/// Kills the child (by its own pid) when the test ends, pass or fail.
struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn http_get(addr: &str, path: &str) -> (u16, String) {
    let r = common::http::get(addr, path).await;
    (r.status, r.text())
}

fn host(url: &str) -> String {
    url.trim_start_matches("http://")
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn help_explains_and_bad_input_exits_1() {
    let out = common::run(&["transcode", "--help"], "");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for w in [
        "NIP-90",
        "--price-per-minute",
        "--node-config",
        "--nostr",
        "--listen",
    ] {
        assert!(help.contains(w), "{w} in help");
    }
    let out = common::run(&["transcode", "--nostr", "ws://127.0.0.1:1"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--node-config"));
    let out = common::run(
        &[
            "transcode",
            "--nostr",
            "http://x",
            "--node",
            "ws://127.0.0.1:1",
            "--ilp-address",
            "test.x",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ws://"));
    let out = common::run(
        &[
            "transcode",
            "--nostr",
            "ws://127.0.0.1:1",
            "--node",
            "ws://127.0.0.1:1",
            "--unit-secs",
            "0",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nip90_job_between_two_processes_paid_per_unit_stops_unpaid() {
    // Streamer side, in this process.
    let ndir = tempfile::tempdir().unwrap();
    let nostr = NostrRelay::open(NostrConfig::default(), ndir.path().join("ev.redb")).unwrap();
    let (naddr, _t) = nostr.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let nostr_url = format!("ws://{naddr}");
    let sdir = tempfile::tempdir().unwrap();
    let cut = CutterConfig {
        part_target: 0.25,
        segment_target: 1.0,
    };
    let origin = Origin::new(
        ChunkStore::open(sdir.path(), 128 << 20).unwrap(),
        PlaylistConfig {
            part_target: cut.part_target,
            segment_target: cut.segment_target,
            window: 12,
        },
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin_addr: SocketAddr = l.local_addr().unwrap();
    let router = origin.router();
    tokio::spawn(async move {
        let _ = tollcast_net::http_serve::serve(l, router).await;
    });
    let creator = Keys::generate();
    let stream = StreamAddress::new(creator.public_key(), "cli-transcode");
    let mut cfg = LiveConfig::new(Source::Synthetic(SyntheticOptions {
        width: 320,
        height: 240,
        fps: 15,
        video_kbps: 300,
        duration: None,
    }));
    cfg.cutter = cut;
    cfg.signer = Some(ManifestSigner {
        keys: creator.clone(),
        stream: stream.clone(),
        role: Role::Streamer,
    });
    let live = spawn_live(cfg, origin).await.unwrap();
    let mut rx = live.subscribe();
    let publisher = RelayClient::connect(&nostr_url, ClientOptions::default()).unwrap();
    tokio::spawn(async move {
        while let Ok(ev) = rx.recv().await {
            if let LiveEvent::ManifestSigned(ev) = ev {
                let _ = publisher.publish(&ev, Duration::from_secs(5)).await;
            }
        }
    });
    let hdir = tempfile::tempdir().unwrap();
    let hub_toml = format!(
        r#"[node]
name = "hub"
address = "test.hub"
listen = "127.0.0.1:0"
ledger = "{}"

[[accounts]]
id = "streamer"
relation = "child"
asset_code = "USD"
asset_scale = 6
credit_limit = 1000000000
auth_token = "wallet"

[[accounts]]
id = "tx"
relation = "child"
asset_code = "USD"
asset_scale = 6
auth_token = "tx-token"

[[routes]]
prefix = "test.hub.tx"
account = "tx"
"#,
        hdir.path().join("hub.redb").display()
    );
    let hub = Node::start(NodeConfig::from_toml(&hub_toml, "hub").unwrap())
        .await
        .unwrap();

    // The transcoder: a child process with its own node, peered with the hub over BTP.
    let tdir = tempfile::tempdir().unwrap();
    let btp = format!("btp+ws://tx:tx-token@{}", hub.local_addr);
    let child = Command::new(env!("CARGO_BIN_EXE_tollcast"))
        .args([
            "transcode",
            "--nostr",
            &nostr_url,
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--node", &btp, "--ilp-address", "test.hub.tx"])
        .args(["--price-per-minute", &PRICE.to_string()])
        .args([
            "--unit-secs",
            &UNIT.to_string(),
            "--credit-secs",
            &UNIT.to_string(),
        ])
        .args(["--preset", "ultrafast"])
        .arg("--store-dir")
        .arg(tdir.path())
        .env_remove("TOLLCAST_SECRET_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn tollcast transcode");
    let mut child = Kill(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx_lines, mut rx_lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx_lines.send(line).is_err() {
                break;
            }
        }
    });
    let ready: serde_json::Value = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), rx_lines.recv())
            .await
            .expect("ready line in time")
            .expect("child stdout open");
        if let Some(j) = line.strip_prefix("ready: ") {
            break serde_json::from_str(j).unwrap();
        }
        assert!(
            line.contains(": "),
            "key: value lines before ready, got `{line}`"
        );
    };
    let tx_pubkey = ready["pubkey"].as_str().unwrap().to_string();
    let tx_http = host(ready["http"].as_str().unwrap());
    let tx_node = host(ready["node_http"].as_str().unwrap());
    assert_eq!(ready["ilp_address"], "test.hub.tx.transcoder");
    assert!(
        hub.connector
            .wait_connected(&AccountId::new("tx"), Duration::from_secs(15))
            .await,
        "the child's node connects to the hub over BTP"
    );

    // The job: request -> offer -> acceptance -> result, paid from the streamer's wallet.
    let jc = JobClient::new(
        JobClientConfig {
            stream: stream.clone(),
            source_url: format!("http://{origin_addr}"),
            rungs: vec![
                Rung::new("180p", 320, 180, 200_000),
                Rung::new("120p", 160, 120, 100_000),
            ],
            bid_per_minute: Price::new(PRICE, "USD", 6),
            max_price_per_minute: 10_000,
            part_target: 0.25,
            segment_target: 1.0,
            offer_window: Duration::from_millis(1500),
            result_timeout: Duration::from_secs(40),
        },
        creator.clone(),
        std::slice::from_ref(&nostr_url),
        hub.connector.sender(AccountId::new("streamer")),
        AccountId::new("streamer"),
    )
    .unwrap();
    let job = jc.start().await.expect("job accepted by the child");
    assert_eq!(job.transcoder.to_hex(), tx_pubkey);
    let unit_price = (PRICE as f64 * UNIT / 60.0).ceil() as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while job.paid() < 2 * unit_price {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not paid: {} ({:?}), delivered {} s, {:?}",
            job.paid(),
            job.payment_error(),
            job.delivered_secs(),
            job.last_feedback()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let path = format!(
        "/{}",
        job.result
            .master
            .trim_start_matches("http://")
            .split_once('/')
            .unwrap()
            .1
    );
    let (st, master) = http_get(&tx_http, &path).await;
    assert_eq!(st, 200, "{master}");
    assert!(master.contains("180p/index.m3u8") && master.contains("source/index.m3u8"));

    // Ledgers: hub (here) and the child's node (its /accounts) agree, nothing created or lost.
    let paid = job.paid() as i128;
    let child_hub_balance = || async {
        let (st, body) = http_get(&tx_node, "/accounts").await;
        assert_eq!(st, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let accts = v["accounts"].as_array().cloned().unwrap_or_default();
        accts
            .iter()
            .find(|a| a["id"] == "parent")
            .map(|a| a["balance"].as_i64().unwrap_or(0) as i128)
            .unwrap_or(0)
    };
    let hub_bal = |id: &str| {
        hub.connector
            .ledger()
            .account(id)
            .unwrap()
            .map_or(0, |a| a.balance)
    };
    assert_eq!(hub_bal("streamer"), -paid);
    assert_eq!(hub_bal("tx"), paid);
    assert_eq!(hub_bal("streamer") + hub_bal("tx"), 0, "hub conserves");
    assert_eq!(
        child_hub_balance().await,
        -paid,
        "the child booked what the hub forwarded"
    );
    hub.connector.ledger().audit().unwrap();

    // Stop paying: the child stops the job and says why.
    job.stop_paying();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        if job
            .last_feedback()
            .is_some_and(|f| f.status == JobStatus::Error)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no stop feedback");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let info = job.last_feedback().unwrap().info.unwrap_or_default();
    assert!(info.contains("payment stopped"), "{info}");
    let (_, status) = http_get(&tx_http, "/status").await;
    let s: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(s["running"], 0, "{status}");
    assert_eq!(s["jobs"][0]["state"], "stopped");
    // The money stays conserved after the stop.
    let paid = job.paid() as i128;
    assert_eq!(hub_bal("streamer") + hub_bal("tx"), 0);
    assert_eq!(child_hub_balance().await, -paid);
    let (_, metrics) = http_get(&tx_http, "/metrics").await;
    assert!(
        metrics.contains("tollcast_transcoder_jobs_stopped_unpaid_total 1"),
        "{metrics}"
    );
    println!("two-process transcode job: paid {paid}, stopped: {info}");
    drop(live);
}

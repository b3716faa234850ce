//! Relay throughput and query latency over real WebSockets on 127.0.0.1, tollcast relay vs the
//! Python `nostr-relay` 1.14 (measured the same way when `scripts/setup-pyrelay.sh` has run).
//!
//! - `publish_100`: 100 fresh signed events pipelined on one connection, until all 100 OKs
//!   (signing happens before the timer starts). Throughput = accepted events/s.
//! - `req_limit_50`: REQ `{"authors":[pk],"kinds":[1],"limit":50}` against 2,000 stored
//!   events, until EOSE.
//!
//! Run: `cargo bench -p tollcast-net --bench nostr_relay`

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::{SinkExt, StreamExt};
use nostr::prelude::*;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message;
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        if let Some(Ok(Message::Text(t))) = ws.next().await {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

fn fresh(keys: &Keys, n: usize, counter: &mut u64) -> Vec<String> {
    (0..n)
        .map(|_| {
            *counter += 1;
            let ev = EventBuilder::new(
                Kind::TextNote,
                format!("bench event {counter} with a few words"),
            )
            .tag(Tag::hashtag("bench"))
            .finalize(keys)
            .unwrap();
            json!(["EVENT", ev]).to_string()
        })
        .collect()
}

async fn publish_batch(ws: &mut Ws, msgs: Vec<String>) {
    let n = msgs.len();
    for m in msgs {
        ws.send(Message::text(m)).await.unwrap();
    }
    let mut oks = 0;
    while oks < n {
        let m = next_json(ws).await;
        if m[0] == "OK" {
            assert_eq!(m[2], true, "{m}");
            oks += 1;
        }
    }
}

async fn req(ws: &mut Ws, filter: &Value, sid: u64) -> usize {
    let sid = format!("b{sid}");
    ws.send(Message::text(json!(["REQ", sid, filter]).to_string()))
        .await
        .unwrap();
    let mut n = 0;
    loop {
        let m = next_json(ws).await;
        match m[0].as_str() {
            Some("EVENT") => n += 1,
            Some("EOSE") => break,
            _ => {}
        }
    }
    ws.send(Message::text(json!(["CLOSE", sid]).to_string()))
        .await
        .unwrap();
    n
}

/// The child process and the directory holding its database (removed on drop).
struct PyRelay(Child, #[allow(dead_code)] tempfile::TempDir);
impl Drop for PyRelay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_pyrelay() -> Option<(PyRelay, String)> {
    let bin = std::env::var_os("TOLLCAST_PYRELAY")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/pyrelay-venv/bin/nostr-relay")
        });
    if !bin.exists() {
        eprintln!(
            "Python nostr-relay not installed (scripts/setup-pyrelay.sh): comparison skipped"
        );
        return None;
    }
    let pkg = Command::new(bin.with_file_name("python"))
        .args([
            "-c",
            "import nostr_relay,os;print(os.path.dirname(nostr_relay.__file__))",
        ])
        .output()
        .ok()?;
    let pkg = String::from_utf8(pkg.stdout).ok()?;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = std::fs::read_to_string(PathBuf::from(pkg.trim()).join("config.yaml"))
        .ok()?
        .replace(
            "sqlite+aiosqlite:///nostr.sqlite3",
            &format!("sqlite+aiosqlite:///{}/n.sqlite3", dir.path().display()),
        )
        .replace("6969", &port.to_string());
    let cfg_path = dir.path().join("config.yaml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let child = Command::new(&bin)
        .arg("-c")
        .arg(&cfg_path)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t.elapsed() > Duration::from_secs(30) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((PyRelay(child, dir), format!("ws://127.0.0.1:{port}")))
}

fn bench_relay(c: &mut Criterion, rt: &Runtime, name: &str, url: &str) {
    let keys = Keys::generate();
    let mut counter = 0u64;
    let mut ws = rt.block_on(async {
        tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .unwrap()
            .0
    });
    // 2,000 stored events for the query benchmark.
    for _ in 0..20 {
        let batch = fresh(&keys, 100, &mut counter);
        rt.block_on(publish_batch(&mut ws, batch));
    }
    let mut g = c.benchmark_group("nostr_relay_publish_100");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(100));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batch = fresh(&keys, 100, &mut counter);
                let t = Instant::now();
                rt.block_on(publish_batch(&mut ws, batch));
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
    let filter = json!({"authors": [keys.public_key().to_hex()], "kinds": [1], "limit": 50});
    let mut sid = 0u64;
    let mut g = c.benchmark_group("nostr_relay_req_limit_50");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function(name, |b| {
        b.iter(|| {
            sid += 1;
            let n = rt.block_on(req(&mut ws, &filter, sid));
            assert_eq!(n, 50);
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), dir.path().join("bench.redb")).unwrap();
    let (addr, _task) = rt
        .block_on(relay.serve("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    bench_relay(c, &rt, "tollcast", &format!("ws://{addr}"));
    if let Some((_py, url)) = start_pyrelay() {
        bench_relay(c, &rt, "python-nostr-relay-1.14", &url);
    }
}

criterion_group!(nostr, benches);
criterion_main!(nostr);

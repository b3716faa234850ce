//! Where the time of one ILP-native packet goes, and what pipelining buys: STREAM
//! request/response with 32 KB answers (the ILP-native slice size), one connection, through
//! three paths, each with 1, 4 and 16 requests in flight:
//!
//! - `direct`: sender -> receiver (STREAM alone: encryption, frames, the responder);
//! - `btp-memory`: sender -> node A -> BTP -> node B -> receiver, in-memory ledgers (connector
//!   tasks, BTP framing, WebSocket, loopback TCP);
//! - `btp-durable`: the same with durable ledgers (redb, fsync per commit; A commits the
//!   reservation and the outcome, so does B: four durable commits per packet, sequentially).
//!
//! Per path and window: µs per packet (wall / packets), MB/s of answer bytes, and the share of
//! the round trip spent inside node B's local handler (the receiver) — the rest is the two
//! nodes' pipelines, ledgers and BTP. Prints `PIPELINE-BENCH` lines.
//! Run: `cargo bench -p tollcast-net --bench stream_pipeline`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use tollcast_net::connector::{
    AccountId, IlpService, IncomingRequest, Node, NodeConfig, ServiceFn,
};
use tollcast_net::stream::{
    MAX_RESPONSE_BYTES, ReceiverConfig, Responder, ResponderReply, ResponderRequest, SenderConfig,
    StreamReceiver, StreamSender,
};
use tollcast_wire::address::Address;

/// Answers every request with the same 32 KB slice.
struct Slice(Bytes);

impl Responder for Slice {
    fn respond(&self, req: ResponderRequest) -> BoxFuture<'static, ResponderReply> {
        let data = self.0.clone();
        let stream_id = req.data.first().map_or(1, |d| d.0);
        Box::pin(async move { ResponderReply::Reply { stream_id, data } })
    }
}

fn receiver(addr: &str) -> Arc<StreamReceiver> {
    let r = Arc::new(StreamReceiver::new(ReceiverConfig::new(
        Address::new(addr).unwrap(),
        "XYZ",
        9,
    )));
    r.set_responder(Some(Arc::new(Slice(Bytes::from(vec![
        7u8;
        MAX_RESPONSE_BYTES
    ])))));
    r
}

async fn node(name: &str, ledger: &str, accounts: &str) -> Node {
    let text = format!(
        "[node]\nname = \"{name}\"\naddress = \"test.{name}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{ledger}\"\n\n{accounts}"
    );
    Node::start(NodeConfig::from_toml(&text, "bench").unwrap())
        .await
        .unwrap()
}

/// Node A (viewer) -> BTP -> node B with the receiver; the service to send through, the
/// receiver, and the time spent inside B's local handler.
async fn btp_path(
    dir: Option<&std::path::Path>,
) -> (
    Arc<dyn IlpService>,
    Arc<StreamReceiver>,
    Arc<AtomicU64>,
    Vec<Node>,
) {
    let ledger = |n: &str| {
        dir.map_or(":memory:".to_string(), |d| {
            d.join(format!("{n}.redb")).display().to_string()
        })
    };
    let b = node(
        "b",
        &ledger("b"),
        r#"
[[accounts]]
id = "a"
relation = "child"
asset_code = "XYZ"
asset_scale = 9
auth_token = "token-a"
credit_limit = 1000000000000000
"#,
    )
    .await;
    let r = receiver("test.b.recv");
    let inside = Arc::new(AtomicU64::new(0));
    let handler: Arc<dyn IlpService> = Arc::new(ServiceFn({
        let (r, inside) = (r.clone(), inside.clone());
        move |req: IncomingRequest| {
            let (r, inside) = (r.clone(), inside.clone());
            async move {
                let t = Instant::now();
                let reply = r.handle(req).await;
                inside.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                reply
            }
        }
    }));
    b.connector.add_local_handler("test.b.recv", handler);
    let a = node(
        "a",
        &ledger("a"),
        &format!(
            r#"
[[accounts]]
id = "b"
relation = "parent"
asset_code = "XYZ"
asset_scale = 9
btp_url = "{}"
auth_token = "token-a"
"#,
            b.btp_url()
        ),
    )
    .await;
    assert!(
        a.connector
            .wait_connected(&AccountId::new("b"), Duration::from_secs(10))
            .await
    );
    (
        a.connector.sender(AccountId::local()),
        r,
        inside,
        vec![a, b],
    )
}

async fn run(
    name: &str,
    service: Arc<dyn IlpService>,
    r: &StreamReceiver,
    inside: Option<&AtomicU64>,
    packets: usize,
) {
    let (dest, secret) = r.generate_credentials(None);
    let mut s = StreamSender::connect(service, SenderConfig::new(dest, secret))
        .await
        .unwrap();
    let req = [0u8; 45];
    for window in [1usize, 4, 16, 64] {
        // Warm-up, then measure.
        let reqs: Vec<(u64, &[u8], u64)> = (0..packets).map(|_| (1, &req[..], 1)).collect();
        for a in s.request_many(&reqs[..packets / 10], window).await {
            a.unwrap();
        }
        let in0 = inside.map_or(0, |i| i.load(Ordering::Relaxed));
        let cpu0 = cpu_time();
        let t = Instant::now();
        let mut bytes = 0;
        for a in s.request_many(&reqs, window).await {
            bytes += a.unwrap().len();
        }
        let wall = t.elapsed();
        let cpu = (cpu_time() - cpu0).as_secs_f64() * 1e6 / packets as f64;
        let per = wall.as_secs_f64() * 1e6 / packets as f64;
        let share = inside.map_or(String::new(), |i| {
            let ns = i.load(Ordering::Relaxed) - in0;
            format!(
                "; inside node B's receiver {:.0} µs per packet",
                ns as f64 / 1e3 / packets as f64
            )
        });
        println!(
            "PIPELINE-BENCH {name} window {window:>2}: {per:>7.0} µs per packet (CPU {cpu:>5.0} µs), {:>6.1} MB/s{share}",
            bytes as f64 / wall.as_secs_f64() / 1e6
        );
    }
}

/// CPU time (user + system) of this process, from /proc/self/stat (all threads).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the command: utime is field 11, stime 12 (clock ticks, 100 Hz).
    let ticks: u64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // `PIPELINE_ONLY=direct|memory|durable` runs one path (e.g. under `perf record`).
    let only = std::env::var("PIPELINE_ONLY").ok();
    let want = |p: &str| only.as_deref().is_none_or(|o| o == p);
    rt.block_on(async {
        if want("direct") {
            let r = receiver("test.direct.recv");
            run("direct     ", r.clone(), &r, None, 2_000).await;
        }
        if want("memory") {
            let (svc, r, inside, _nodes) = btp_path(None).await;
            run("btp-memory ", svc, &r, Some(&inside), 1_000).await;
        }
        if want("durable") {
            let dir = tempfile::tempdir().unwrap();
            let (svc, r, inside, _nodes) = btp_path(Some(dir.path())).await;
            run("btp-durable", svc, &r, Some(&inside), 400).await;
        }
    });
}

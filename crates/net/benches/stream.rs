//! STREAM throughput on one connection.
//!
//! - `stream/payment/direct`: sender -> receiver (the receiver is the sender's service): the
//!   STREAM cost alone (encrypt, condition, decrypt, frames, reply) per payment.
//! - `stream/payment/node`: sender -> tollcast node (full connector pipeline with its durable
//!   ledger) -> local STREAM receiver.
//!
//! After criterion, prints `STREAM-BENCH` lines with sustained payments/s and CPU seconds per
//! 1,000 payments (user+system time of this process from /proc/self/stat).
//! Run: `cargo bench -p tollcast-net --bench stream`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use tollcast_net::connector::{AccountId, IlpService, Node, NodeConfig};
use tollcast_net::stream::{ReceiverConfig, SenderConfig, StreamReceiver, StreamSender};
use tollcast_wire::address::Address;

fn receiver(addr: &str) -> Arc<StreamReceiver> {
    Arc::new(StreamReceiver::new(ReceiverConfig::new(
        Address::new(addr).unwrap(),
        "XYZ",
        9,
    )))
}

async fn node_path(dir: &std::path::Path) -> (Node, Arc<StreamReceiver>) {
    let text = format!(
        "[node]\nname = \"bench\"\naddress = \"test.bench\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n",
        dir.join("ledger.redb").display()
    );
    let node = Node::start(NodeConfig::from_toml(&text, "bench").unwrap())
        .await
        .unwrap();
    let r = receiver("test.bench.recv");
    node.connector
        .add_local_handler("test.bench.recv", r.clone());
    (node, r)
}

async fn connect(service: Arc<dyn IlpService>, r: &StreamReceiver) -> StreamSender {
    let (dest, secret) = r.generate_credentials(None);
    StreamSender::connect(service, SenderConfig::new(dest, secret))
        .await
        .unwrap()
}

/// CPU time (user + system) of this process, from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after the command: state is 0, utime is 11, stime is 12 (clock ticks, 100 Hz).
    let ticks: u64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn sustained(rt: &tokio::runtime::Runtime, name: &str, s: &mut StreamSender, n: u64) {
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            s.send(1).await.unwrap();
        }
    });
    let wall = t0.elapsed();
    let cpu = cpu_time() - cpu0;
    println!(
        "STREAM-BENCH {name}: {n} payments in {:.3} s = {:.0} payments/s; CPU {:.4} s per 1,000 payments",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 1000.0 / n as f64
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();

    let r = receiver("test.direct.recv");
    let mut direct = rt.block_on(connect(r.clone(), &r));
    c.bench_function("stream/payment/direct", |b| {
        b.iter(|| rt.block_on(direct.send(1)).unwrap());
    });

    let dir = tempfile::tempdir().unwrap();
    let (node, nr) = rt.block_on(node_path(dir.path()));
    let mut via_node = rt.block_on(connect(node.connector.sender(AccountId::local()), &nr));
    c.bench_function("stream/payment/node", |b| {
        b.iter(|| rt.block_on(via_node.send(1)).unwrap());
    });
    c.final_summary();

    sustained(&rt, "direct", &mut direct, 50_000);
    sustained(&rt, "node", &mut via_node, 10_000);
}

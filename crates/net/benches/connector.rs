//! Prepare -> Fulfill through 1 and 2 tollcast connector hops over BTP on loopback.
//!
//! The sender and receiver are bare BTP clients (like ilp-plugin-btp in the JS run,
//! tests/interop/connector/bench.js); only the connectors keep ledgers. Printed figures:
//! sequential round-trip p50/p99 and packets/s with 32 packets in flight, for an in-memory
//! ledger (like ilp-connector's memory store) and for the durable redb ledger (every
//! reserve and every commit fsynced). Then criterion measures the sequential round trip.
//!
//! Run: `cargo bench -p tollcast-net --bench connector`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::Notify;
use tollcast_net::connector::btp_codec::ProtocolData;
use tollcast_net::connector::btp_peer::{self, LinkHandler, PeerLink};
use tollcast_net::connector::metrics::Metrics;
use tollcast_net::connector::{AccountId, IlpReply, Node, NodeConfig};
use tollcast_wire::address::Address;
use tollcast_wire::ilp::{Fulfill, Prepare, condition_of};

/// A bare BTP endpoint: keeps its link, fulfills test packets (data = preimage).
#[derive(Default)]
struct Endpoint {
    link: Mutex<Option<Arc<PeerLink>>>,
    up: Notify,
    metrics: Metrics,
}

impl LinkHandler for Endpoint {
    fn on_prepare(&self, _from: AccountId, p: Prepare) -> BoxFuture<'_, IlpReply> {
        Box::pin(async move {
            let f: [u8; 32] = p.data[..].try_into().unwrap_or([0; 32]);
            Ok(Fulfill {
                fulfillment: f,
                data: Bytes::new(),
            })
        })
    }
    fn on_transfer(
        &self,
        _: AccountId,
        _: u64,
        _: Vec<ProtocolData>,
    ) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }
    fn authenticate(&self, _: Option<&str>, _: &str) -> Option<AccountId> {
        None
    }
    fn on_connect(&self, link: Arc<PeerLink>) {
        *self.link.lock().unwrap() = Some(link);
        self.up.notify_waiters();
        self.up.notify_one();
    }
    fn on_disconnect(&self, _: &Arc<PeerLink>) {}
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

async fn endpoint(url: &str, token: &str) -> (Arc<Endpoint>, Arc<PeerLink>) {
    let ep = Arc::new(Endpoint::default());
    let target = btp_peer::parse_btp_url(url, Some(token)).unwrap();
    let notified = ep.up.notified();
    tokio::spawn(btp_peer::run_client(
        AccountId::from(token),
        target,
        ep.clone(),
        Duration::from_millis(20),
        Duration::from_millis(200),
    ));
    let _ = tokio::time::timeout(Duration::from_secs(10), notified).await;
    let link = ep.link.lock().unwrap().clone().expect("endpoint connected");
    (ep, link)
}

fn connector_cfg(name: &str, ledger: &str, extra: &str) -> NodeConfig {
    NodeConfig::from_toml(
        &format!(
            r#"
[node]
name = "{name}"
ledger = "{ledger}"
{extra}
"#
        ),
        "bench",
    )
    .unwrap()
}

const ACC: &str = r#"relation = "child"
asset_code = "USD"
asset_scale = 6
credit_limit = 1000000000000000"#;

/// The connectors (kept alive) plus the sender's link and the destination.
struct Setup {
    _nodes: Vec<Node>,
    _eps: Vec<Arc<Endpoint>>,
    sender: Arc<PeerLink>,
    dest: &'static str,
    _dir: tempfile::TempDir,
}

async fn setup(hops: usize, durable: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let ledger = |n: &str| {
        if durable {
            format!("{}/{n}.redb", dir.path().display())
        } else {
            ":memory:".into()
        }
    };
    let (nodes, sender_url, receiver_url, dest) = if hops == 1 {
        let b = Node::start(connector_cfg(
            "b",
            &ledger("b"),
            &format!("[[accounts]]\nid = \"snd\"\nauth_token = \"snd\"\n{ACC}\n[[accounts]]\nid = \"rcv\"\nauth_token = \"rcv\"\n{ACC}\n"),
        ))
        .await
        .unwrap();
        let u = b.btp_url();
        (vec![b], u.clone(), u, "g.tollcast.b.rcv.x")
    } else {
        let b2 = Node::start(connector_cfg(
            "b2",
            &ledger("b2"),
            &format!("[[accounts]]\nid = \"b1\"\nauth_token = \"b1\"\n{ACC}\n[[accounts]]\nid = \"rcv\"\nauth_token = \"rcv\"\n{ACC}\n"),
        ))
        .await
        .unwrap();
        let b1 = Node::start(connector_cfg(
            "b1",
            &ledger("b1"),
            &format!(
                "[[accounts]]\nid = \"snd\"\nauth_token = \"snd\"\n{ACC}\n[[accounts]]\nid = \"b2\"\nbtp_url = \"{}\"\nauth_token = \"b1\"\nrelation = \"peer\"\nasset_code = \"USD\"\nasset_scale = 6\ncredit_limit = 1000000000000000\n[[routes]]\nprefix = \"g.tollcast.b2\"\naccount = \"b2\"\n",
                b2.btp_url()
            ),
        ))
        .await
        .unwrap();
        assert!(
            b1.connector
                .wait_connected(&AccountId::from("b2"), Duration::from_secs(10))
                .await
        );
        let (s, r) = (b1.btp_url(), b2.btp_url());
        (vec![b1, b2], s, r, "g.tollcast.b2.rcv.x")
    };
    let (rep, _) = endpoint(&receiver_url, "rcv").await;
    let (sep, sender) = endpoint(&sender_url, "snd").await;
    Setup {
        _nodes: nodes,
        _eps: vec![rep, sep],
        sender,
        dest,
        _dir: dir,
    }
}

async fn one(link: &PeerLink, dest: &str) {
    let pre: [u8; 32] = rand::random();
    let p = Prepare {
        amount: 100,
        expires_at: SystemTime::now() + Duration::from_secs(30),
        execution_condition: condition_of(&pre),
        destination: Address::new(dest).unwrap(),
        data: Bytes::copy_from_slice(&pre),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    match link.send_prepare(&p, deadline).await {
        Ok(Ok(_)) => {}
        other => panic!("packet failed: {other:?}"),
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn summary(rt: &tokio::runtime::Runtime) {
    let seq: usize = std::env::var("BENCH_SEQ")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let conc_total: usize = std::env::var("BENCH_CONC_TOTAL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    for durable in [false, true] {
        for hops in [1, 2] {
            rt.block_on(async {
                let s = setup(hops, durable).await;
                let (seq, conc_total) = if durable { (seq / 4, conc_total / 4) } else { (seq, conc_total) };
                for _ in 0..100 {
                    one(&s.sender, s.dest).await;
                }
                let mut lat = Vec::with_capacity(seq);
                for _ in 0..seq {
                    let t = Instant::now();
                    one(&s.sender, s.dest).await;
                    lat.push(t.elapsed());
                }
                lat.sort();
                let t = Instant::now();
                futures::stream::iter(0..conc_total)
                    .for_each_concurrent(32, |_| one(&s.sender, s.dest))
                    .await;
                let pps = conc_total as f64 / t.elapsed().as_secs_f64();
                println!(
                    "BENCH connector tollcast hops={hops} ledger={} p50_us={:.0} p99_us={:.0} packets_per_s={:.0} (seq n={seq}, concurrent n={conc_total} x32)",
                    if durable { "redb" } else { "memory" },
                    pct(&lat, 0.5),
                    pct(&lat, 0.99),
                    pps
                );
            });
        }
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    summary(&rt);
    let mut g = c.benchmark_group("connector_roundtrip_memory_ledger");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for hops in [1, 2] {
        let s = rt.block_on(setup(hops, false));
        g.bench_function(format!("{hops}_hop"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let t = Instant::now();
                    for _ in 0..iters {
                        one(&s.sender, s.dest).await;
                    }
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}

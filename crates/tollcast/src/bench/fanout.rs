//! `tollcast bench fanout`: how many concurrent viewers of a live ~3 Mbit/s stream one server
//! sustains on this machine: nginx serving the parts as static files, a tollcast relay (free),
//! and a tollcast relay in credit mode (every viewer paying over STREAM through ILP nodes).
//!
//! One live origin (RTMP encoder -> CMAF parts) feeds all three. When a part becomes
//! available at the server under test (nginx: its file is written; relay: a warm-up fetch
//! through the relay returned, so its cache holds the verified part), every viewer is told and
//! GETs it over its kept-alive connection. A step with N viewers passes when ≥ 99 % of the
//! (part, viewer) deliveries complete within one part duration of availability and < 0.5 %
//! fail; a failed step is measured once more before it counts. N doubles until a step fails,
//! then one step bisects.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use nostr::prelude::Keys;
use serde::Serialize;
use tokio::sync::broadcast;
use tollcast_events::StreamAddress;
use tollcast_media::live::LiveEvent;
use tollcast_net::connector::AccountId;

use super::http::Client;
use super::machine::{self, Machine};
use super::network::{self, Options, epoch_ms, on, runtime};
use super::stats::Summary;
use super::{cpu, network::PaymentLog};

#[derive(Debug, Clone)]
pub struct FanoutOptions {
    pub stream: Options,
    /// Seconds per step.
    pub step: Duration,
    /// First N; doubles each step.
    pub start: usize,
    pub max: usize,
    /// Which servers: "nginx", "relay", "relay-paid".
    pub servers: Vec<String>,
    /// Times each server is measured, in rotated order (round r starts with server r): on a
    /// shared, noisy machine one server's run can meet a busy minute the other's did not, so
    /// sustained viewers are reported as the median over rounds.
    pub rounds: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub viewers: usize,
    pub parts: usize,
    pub deliveries: usize,
    pub on_time_pct: f64,
    pub failed_pct: f64,
    pub lag_ms: Summary,
    /// Server CPU seconds per second of the step (cores busy).
    pub server_cores: f64,
    /// Media delivered to viewers, Mbit/s.
    pub goodput_mbps: f64,
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerResult {
    pub server: String,
    /// Which round (0-based) this measurement belongs to.
    pub round: usize,
    pub steps: Vec<Step>,
    /// Largest N that passed.
    pub sustained: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub command: String,
    pub machine: Machine,
    pub stream_kbps: f64,
    pub part_ms: u32,
    pub servers: Vec<ServerResult>,
    /// Per server: median sustained viewers over the rounds.
    pub sustained: Vec<(String, usize)>,
    /// relay-paid ÷ nginx, relay ÷ nginx, relay-paid ÷ relay: the ratio of the medians.
    pub ratios: Vec<(String, f64)>,
    /// The same ratios per round (both servers measured in that round).
    pub round_ratios: Vec<(usize, String, f64)>,
}

type Trigger = (String, f64);

/// One viewer: on every trigger, GET the part; record (trigger time, lag ms or NaN).
async fn viewer(
    addr: SocketAddr,
    bearer: Option<String>,
    mut rx: broadcast::Receiver<Trigger>,
    out: Arc<Mutex<Vec<(f64, f64)>>>,
) {
    let mut c = Client::new(addr, bearer);
    loop {
        match rx.recv().await {
            Ok((hash, t)) => {
                let lag = match c.get(&format!("/{hash}.m4s")).await {
                    Ok((200, _)) => epoch_ms() - t,
                    _ => f64::NAN,
                };
                out.lock().unwrap_or_else(|p| p.into_inner()).push((t, lag));
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                let t = epoch_ms();
                let mut g = out.lock().unwrap_or_else(|p| p.into_inner());
                for _ in 0..n {
                    g.push((t, f64::NAN));
                }
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

fn free_port() -> anyhow::Result<SocketAddr> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

struct Nginx {
    child: std::process::Child,
    addr: SocketAddr,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_nginx(dir: &std::path::Path, www: &std::path::Path) -> anyhow::Result<Nginx> {
    let addr = free_port()?;
    let conf = format!(
        "worker_processes 2;\ndaemon off;\nmaster_process on;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{ worker_connections 8192; }}\n\
         http {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n  keepalive_requests 1000000;\n  keepalive_timeout 120s;\n\
           client_body_temp_path {d}/tmp;\n  proxy_temp_path {d}/tmp;\n  fastcgi_temp_path {d}/tmp;\n  uwsgi_temp_path {d}/tmp;\n  scgi_temp_path {d}/tmp;\n\
           types {{ video/iso.segment m4s; }}\n\
           server {{ listen {addr}; root {w}; location / {{ add_header Cache-Control \"public, max-age=31536000, immutable\"; }} }}\n}}\n",
        d = dir.display(),
        w = www.display()
    );
    std::fs::create_dir_all(dir.join("tmp"))?;
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf)?;
    let child = std::process::Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .arg("-p")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("cannot run nginx (apt-get install nginx-light)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        if Instant::now() > deadline {
            bail!(
                "nginx did not listen on {addr}: see {}/error.log",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(Nginx { child, addr })
}

/// CPU ns of process `pid` and its direct children (nginx master + workers).
fn tree_ns(pid: u32) -> u64 {
    let mut total = cpu::process_ns(pid).unwrap_or(0);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, t)| t.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u32>().ok());
            if ppid == Some(pid) {
                total += cpu::process_ns(p).unwrap_or(0);
            }
        }
    }
    total
}

pub async fn run(o: FanoutOptions) -> anyhow::Result<FanoutReport> {
    let mut machine = Machine::describe();
    let tmp = tempfile::tempdir()?;
    let sub = |n: &str| -> anyhow::Result<std::path::PathBuf> {
        let d = tmp.path().join(n);
        std::fs::create_dir_all(&d)?;
        Ok(d)
    };
    let nostr = tollcast_net::nostr_relay::NostrRelay::open(
        tollcast_net::nostr_relay::RelayConfig::default(),
        tmp.path().join("nostr.redb"),
    )
    .map_err(|e| anyhow!("nostr relay: {e}"))?;
    let (naddr, _nt) = nostr.serve("127.0.0.1:0".parse()?).await?;
    let nostr_url = format!("ws://{naddr}");
    let rt_origin = runtime("tcb-origin", 1)?;
    let keys = Keys::generate();
    let stream = StreamAddress::new(keys.public_key(), "fanout");
    let origin = on(
        &rt_origin,
        network::start_origin(
            o.stream.clone(),
            sub("origin")?,
            keys,
            stream.clone(),
            nostr_url.clone(),
            Arc::default(),
        ),
    )
    .await?;
    let mut enc = network::encoder(origin.rtmp, &o.stream)?;
    let part_ms = o.stream.part_ms as f64;
    // Warm-up: the encoder's first seconds come in bursts (x264 start-up, RTMP handshake);
    // measuring the first server then would charge it for that. Wait for 5 s of parts.
    {
        let mut ev = origin.live.subscribe();
        let want = (5_000.0 / part_ms).ceil() as usize;
        let mut seen = 0;
        let warm = async {
            while seen < want {
                match ev.recv().await {
                    Ok(LiveEvent::Part { .. }) => seen += 1,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), warm)
            .await
            .map_err(|_| {
                anyhow!("the encoder produced no parts within 60 s (is ffmpeg working?)")
            })?;
    }
    let www = sub("www")?;
    let mut results = Vec::new();
    let mut bytes_per_s = Vec::new();

    let rounds = o.rounds.max(1);
    let schedule: Vec<(usize, String)> = (0..rounds)
        .flat_map(|r| {
            let n = o.servers.len();
            (0..n).map(move |i| (r, (r + i) % n))
        })
        .map(|(r, i)| (r, o.servers[i].clone()))
        .collect();
    for (round, server) in &schedule {
        let (round, server) = (*round, server);
        eprintln!("fanout: round {} of {rounds}: {server}", round + 1);
        // The server under test and how a part becomes "available" there.
        let rt_server = runtime("tcb-server", 2)?;
        let rt_ilp = runtime("tcb-eilp-0", 1)?;
        let rt_pay = runtime("tcb-pay", 1)?;
        let mut nginx = None;
        let mut relay = None;
        let mut wallet = None;
        let addr = match server.as_str() {
            "nginx" => {
                let n = start_nginx(&sub(&format!("nginx-{round}"))?, &www)?;
                let a = n.addr;
                nginx = Some(n);
                a
            }
            "relay" | "relay-paid" => {
                let paid = if server == "relay-paid" {
                    let (node, receiver, billing) = on(
                        &rt_ilp,
                        network::start_edge_ilp(
                            0,
                            sub(&format!("{server}-{round}-ilp"))?,
                            o.stream.price_per_second,
                        ),
                    )
                    .await?;
                    let w = on(
                        &rt_pay,
                        network::start_wallet(
                            sub(&format!("{server}-{round}-wallet"))?,
                            vec![node.local_addr],
                        ),
                    )
                    .await?;
                    wallet = Some((w, node));
                    (Some(billing), Some(receiver))
                } else {
                    (None, None)
                };
                let (r, a) = on(
                    &rt_server,
                    network::start_relay(
                        stream.clone(),
                        nostr_url.clone(),
                        format!("http://{}", origin.addr),
                        sub(&format!("{server}-{round}"))?,
                        paid.0,
                        paid.1,
                    ),
                )
                .await?;
                relay = Some(r);
                a
            }
            other => bail!("unknown server `{other}`: nginx, relay or relay-paid"),
        };
        let server_ns = |nginx: &Option<Nginx>| -> u64 {
            match nginx {
                Some(n) => tree_ns(n.child.id()),
                None => cpu::prefix_ns(&cpu::threads_by_name(), "tcb-server"),
            }
        };

        // Payers (relay-paid): one per viewer id, started as N grows; "warm" pays too.
        let payments: Arc<Mutex<Vec<PaymentLog>>> = Arc::default();
        let mut payers: Vec<(Arc<AtomicBool>, tokio::task::JoinHandle<anyhow::Result<()>>)> =
            Vec::new();
        let paying = Arc::new(AtomicU64::new(0));
        let ensure_payers =
            |n: usize,
             payers: &mut Vec<(Arc<AtomicBool>, tokio::task::JoinHandle<anyhow::Result<()>>)>|
             -> usize {
                let Some((w, _)) = &wallet else { return 0 };
                let mut started = 0;
                while payers.len() < n + 1 {
                    let id = if payers.is_empty() {
                        "warm".to_string()
                    } else {
                        format!("v{}", payers.len() - 1)
                    };
                    let stop = Arc::new(AtomicBool::new(false));
                    let h = rt_pay.spawn(network::payer(
                        w.connector.sender(AccountId::local()),
                        addr,
                        id,
                        o.stream.price_per_second,
                        o.stream.pay_every,
                        payments.clone(),
                        stop.clone(),
                        paying.clone(),
                    ));
                    payers.push((stop, h));
                    started += 1;
                }
                while payers.len() > n + 1 {
                    if let Some((s, h)) = payers.pop() {
                        s.store(true, Ordering::Relaxed);
                        h.abort();
                    }
                }
                started
            };
        let bearer =
            |i: usize| -> Option<String> { (server == "relay-paid").then(|| format!("v{i}")) };

        // Trigger task: part events -> available at this server -> tell viewers.
        let (tx, _) = broadcast::channel::<Trigger>(256);
        let mut events = origin.live.subscribe();
        let store = origin.origin.store().clone();
        let www2 = www.clone();
        let tx2 = tx.clone();
        let is_nginx = server == "nginx";
        let warm_bearer = (server == "relay-paid").then(|| "warm".to_string());
        let bytes_seen = Arc::new(AtomicU64::new(0));
        let bytes2 = bytes_seen.clone();
        let triggers: Arc<Mutex<Vec<f64>>> = Arc::default();
        let triggers2 = triggers.clone();
        let trigger = tokio::spawn(async move {
            let mut warm = Client::new(addr, warm_bearer);
            loop {
                let hash = match events.recv().await {
                    Ok(LiveEvent::Part { hash, size, .. }) => {
                        bytes2.fetch_add(size as u64, Ordering::Relaxed);
                        hash
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => break,
                };
                if is_nginx {
                    let s = store.clone();
                    let h = hash.clone();
                    let Ok(Ok(Some(b))) = tokio::task::spawn_blocking(move || s.get(&h)).await
                    else {
                        continue;
                    };
                    if std::fs::write(www2.join(format!("{hash}.m4s")), &b).is_err() {
                        continue;
                    }
                } else if !matches!(warm.get(&format!("/{hash}.m4s")).await, Ok((200, _))) {
                    continue;
                }
                let t = epoch_ms();
                triggers2.lock().unwrap_or_else(|p| p.into_inner()).push(t);
                let _ = tx2.send((hash, t));
            }
        });

        let mut steps: Vec<Step> = Vec::new();
        let mut n = o.start;
        let mut lo_hi: Option<(usize, usize)> = None;
        let mut ever = 0usize;
        let mut retried: Option<usize> = None;
        loop {
            let started = ensure_payers(n, &mut payers);
            ever += started;
            if wallet.is_some() {
                let deadline = Instant::now()
                    + Duration::from_secs(30)
                    + Duration::from_millis(started as u64 * 20);
                while (paying.load(Ordering::Relaxed) as usize) < ever {
                    if Instant::now() > deadline {
                        bail!(
                            "{server}: only {} of {ever} payers could pay",
                            paying.load(Ordering::Relaxed)
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let out: Arc<Mutex<Vec<(f64, f64)>>> = Arc::default();
            let rt_view = runtime("tcb-view", 1)?;
            let tasks: Vec<_> = (0..n)
                .map(|i| rt_view.spawn(viewer(addr, bearer(i), tx.subscribe(), out.clone())))
                .collect();
            // Let connections open, then measure.
            tokio::time::sleep(Duration::from_millis(600)).await;
            let cpu0 = server_ns(&nginx);
            let b0 = bytes_seen.load(Ordering::Relaxed);
            let t0 = epoch_ms();
            tokio::time::sleep(o.step).await;
            let t1 = epoch_ms();
            let cpu1 = server_ns(&nginx);
            let b1 = bytes_seen.load(Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(part_ms as u64 * 5 + 500)).await;
            for t in tasks {
                t.abort();
            }
            drop(rt_view);
            let got: Vec<(f64, f64)> = out
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|(t, _)| *t >= t0 && *t <= t1)
                .copied()
                .collect();
            // Parts available in the step = deliveries expected per viewer.
            let parts_in = triggers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter(|t| **t >= t0 && **t <= t1)
                .count();
            let expected = parts_in * n;
            let lags: Vec<f64> = got
                .iter()
                .map(|(_, l)| *l)
                .filter(|l| l.is_finite())
                .collect();
            let on_time = lags.iter().filter(|l| **l <= part_ms).count();
            let failed = expected.saturating_sub(lags.len());
            let secs = (t1 - t0) / 1000.0;
            let media_bps = (b1 - b0) as f64 * 8.0 / secs;
            let on_time_pct = if expected == 0 {
                0.0
            } else {
                on_time as f64 * 100.0 / expected as f64
            };
            let failed_pct = if expected == 0 {
                100.0
            } else {
                failed as f64 * 100.0 / expected as f64
            };
            let step = Step {
                viewers: n,
                parts: parts_in,
                deliveries: lags.len(),
                on_time_pct,
                failed_pct,
                lag_ms: Summary::of(&lags),
                server_cores: (cpu1.saturating_sub(cpu0)) as f64 / 1e9 / secs,
                goodput_mbps: lags.len() as f64 / parts_in.max(1) as f64 * media_bps / 1e6,
                passed: expected > 0 && on_time_pct >= 99.0 && failed_pct < 0.5,
            };
            eprintln!(
                "fanout {server}: {n} viewers: {:.1} % on time, {:.2} % failed, lag p50 {:.0} / p99 {:.0} ms, server {:.2} cores -> {}",
                step.on_time_pct,
                step.failed_pct,
                step.lag_ms.p50,
                step.lag_ms.p99,
                step.server_cores,
                if step.passed { "ok" } else { "FAILED" }
            );
            bytes_per_s.push(media_bps);
            let passed = step.passed;
            steps.push(step);
            // A failed step is measured once more before it counts: on a shared machine a
            // single scheduling hiccup (one p99 spike) fails a step the server can carry.
            if !passed && retried != Some(n) {
                retried = Some(n);
                continue;
            }
            match lo_hi {
                None if passed && n * 2 <= o.max => n *= 2,
                None if passed => break,
                None => {
                    // Bisect once between the last pass and this failure.
                    let lo = steps
                        .iter()
                        .filter(|s| s.passed)
                        .map(|s| s.viewers)
                        .max()
                        .unwrap_or(0);
                    if lo == 0 || n - lo < 4 {
                        break;
                    }
                    lo_hi = Some((lo, n));
                    n = (lo + n) / 2;
                }
                Some(_) => break,
            }
        }
        trigger.abort();
        for (s, h) in payers.drain(..) {
            s.store(true, Ordering::Relaxed);
            h.abort();
        }
        let sustained = steps
            .iter()
            .filter(|s| s.passed)
            .map(|s| s.viewers)
            .max()
            .unwrap_or(0);
        results.push(ServerResult {
            server: server.clone(),
            round,
            steps,
            sustained,
        });
        drop(relay);
        drop(wallet);
        drop(nginx);
    }
    let _ = enc.kill().await;
    origin.live.abort();
    machine.load_end = machine::loadavg();
    let sustained: Vec<(String, usize)> = o
        .servers
        .iter()
        .map(|name| {
            let per_round: Vec<usize> = results
                .iter()
                .filter(|r| &r.server == name)
                .map(|r| r.sustained)
                .collect();
            (name.clone(), median(&per_round))
        })
        .collect();
    let get = |name: &str, round: Option<usize>| -> Option<f64> {
        match round {
            None => sustained
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| *v as f64),
            Some(r) => results
                .iter()
                .find(|x| x.server == name && x.round == r)
                .map(|x| x.sustained as f64),
        }
    };
    let pairs = [
        ("relay-paid", "nginx"),
        ("relay", "nginx"),
        ("relay-paid", "relay"),
    ];
    let ratio = |a: &str, b: &str, round| match (get(a, round), get(b, round)) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    };
    let ratios: Vec<(String, f64)> = pairs
        .iter()
        .filter_map(|(a, b)| Some((format!("{a} / {b}"), ratio(a, b, None)?)))
        .collect();
    let round_ratios: Vec<(usize, String, f64)> = (0..rounds)
        .flat_map(|r| pairs.iter().map(move |p| (r, p)))
        .filter_map(|(r, (a, b))| Some((r, format!("{a} / {b}"), ratio(a, b, Some(r))?)))
        .collect();
    let s = &o.stream;
    let kbps = if bytes_per_s.is_empty() {
        0.0
    } else {
        bytes_per_s.iter().sum::<f64>() / bytes_per_s.len() as f64 / 1000.0
    };
    Ok(FanoutReport {
        command: format!(
            "tollcast bench fanout --servers {} --rounds {rounds} --start {} --max {} --step-s {} --size {}x{} --fps {} --video-kbps {} --parts-ms {} --pay-every-ms {}",
            o.servers.join(","),
            o.start,
            o.max,
            o.step.as_secs(),
            s.width,
            s.height,
            s.fps,
            s.video_kbps,
            s.part_ms,
            s.pay_every.as_millis()
        ),
        machine,
        stream_kbps: kbps,
        part_ms: s.part_ms,
        servers: results,
        sustained,
        ratios,
        round_ratios,
    })
}

pub fn markdown(r: &FanoutReport) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(o, "# tollcast bench fanout\n");
    let _ = writeln!(o, "Command: `{}`  ", r.command);
    let _ = writeln!(o, "Machine: {}  ", r.machine.line());
    let _ = writeln!(
        o,
        "Live stream measured at {:.0} kbit/s (parts of {} ms). A step passes when >= 99 % of deliveries finish within one part duration of the part being available at the server and < 0.5 % fail.\n",
        r.stream_kbps, r.part_ms
    );
    let _ = writeln!(
        o,
        "| round | server | viewers | on time % | failed % | lag p50 ms | lag p99 ms | server cores busy | goodput Mbit/s | pass |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for s in &r.servers {
        for st in &s.steps {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {:.1} | {:.2} | {:.0} | {:.0} | {:.2} | {:.0} | {} |",
                s.round + 1,
                s.server,
                st.viewers,
                st.on_time_pct,
                st.failed_pct,
                st.lag_ms.p50,
                st.lag_ms.p99,
                st.server_cores,
                st.goodput_mbps,
                if st.passed { "yes" } else { "no" }
            );
        }
    }
    let _ = writeln!(
        o,
        "\nSustained viewers (median over rounds; per round in brackets):"
    );
    for (name, v) in &r.sustained {
        let per: Vec<String> = r
            .servers
            .iter()
            .filter(|s| &s.server == name)
            .map(|s| s.sustained.to_string())
            .collect();
        let _ = writeln!(o, "- {name}: {v} [{}]", per.join(", "));
    }
    for (k, v) in &r.ratios {
        let per: Vec<String> = r
            .round_ratios
            .iter()
            .filter(|(_, name, _)| name == k)
            .map(|(_, _, x)| format!("{x:.2}"))
            .collect();
        let _ = writeln!(o, "- ratio {k}: {v:.2} [{}]", per.join(", "));
    }
    o
}

/// Median of `v` (the lower middle for an even count; 0 when empty).
fn median(v: &[usize]) -> usize {
    let mut v = v.to_vec();
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0)
}

//! The paid NIP-90 transcoding job end to end, real parts on 127.0.0.1: a live origin (ffmpeg
//! synthetic source) publishing the creator's signed manifests on a real Nostr relay; an ILP
//! hub node holding the streamer's wallet; the transcoder's own node peered with the hub over
//! BTP, its STREAM receiver and SPSP; the transcoder agent; the streamer's job client.
//! Checks: offer -> acceptance -> result; the ladder is served with the mirrored source;
//! rung segments align with the source (same MSN, duration within a frame, `source` hash);
//! the transcoder is paid per unit and every ledger balances; when payment stops the
//! transcoder stops and says why. A second test: `replace` moves the job to another
//! transcoder, and a source part with the wrong bytes is refused. The origin publishes part
//! manifests, so the job feeds source parts as they are signed; the test prints how far rung
//! segments trail the source (`TRANSCODE` line).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tollcast_agents::transcoder::job_client::{ActiveJob, JobClient, JobClientConfig};
use tollcast_agents::transcoder::{Transcoder, TranscoderConfig, Wallet};
use tollcast_events::jobs::JobStatus;
use tollcast_events::manifest::KIND_SEGMENT_MANIFEST;
use tollcast_events::nostr::prelude::{Event, Filter, Keys, Kind};
use tollcast_events::{Price, Role, StreamAddress};
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ingest::Source;
use tollcast_media::ingest::synthetic::SyntheticOptions;
use tollcast_media::ladder::Rung;
use tollcast_media::live::{LiveConfig, LiveEvent, LiveHandle, ManifestSigner, spawn_live};
use tollcast_media::manifest::SegmentManifest;
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_media::store::ChunkStore;
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig as NostrConfig};
use tollcast_net::stream::{StreamReceiver, spsp_http};

const PRICE: u64 = 600; // per minute: 20 per 2-second unit
const UNIT: f64 = 2.0;

async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("HTTP answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    (status, body)
}

async fn serve(router: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = tollcast_net::http_serve::serve(l, router).await;
    });
    a
}

async fn node(name: &str, address: &str, accounts: &str) -> (Node, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[node]\nname = \"{name}\"\naddress = \"{address}\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n{accounts}",
        dir.path().join("ledger.redb").display()
    );
    let cfg = NodeConfig::from_toml(&text, "test").unwrap();
    (Node::start(cfg).await.unwrap(), dir)
}

fn balance(n: &Node, account: &str) -> i128 {
    n.connector
        .ledger()
        .account(account)
        .unwrap()
        .map_or(0, |a| a.balance)
}

struct World {
    nostr_url: String,
    origin_addr: SocketAddr,
    creator: Keys,
    stream: StreamAddress,
    hub: Node,
    _live: LiveHandle,
    _dirs: Vec<tempfile::TempDir>,
}

/// Nostr relay, a live 320x240 origin publishing signed manifests, the ILP hub.
async fn world() -> World {
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
    let origin_addr = serve(origin.router()).await;
    let creator = Keys::generate();
    let stream = StreamAddress::new(creator.public_key(), "transcoder-test");
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
    // Part manifests too, as every origin does (TOLLCAST_TEST_NO_PART_MANIFESTS=1: segment
    // manifests only, how origins worked before them, to compare the rungs' lag).
    let parts_too = std::env::var_os("TOLLCAST_TEST_NO_PART_MANIFESTS").is_none();
    tokio::spawn(async move {
        while let Ok(ev) = rx.recv().await {
            match ev {
                LiveEvent::ManifestSigned(ev) => {
                    let _ = publisher.publish(&ev, Duration::from_secs(5)).await;
                }
                LiveEvent::PartManifestSigned(ev) if parts_too => {
                    let p = publisher.clone();
                    tokio::spawn(async move { p.publish(&ev, Duration::from_secs(5)).await });
                }
                _ => {}
            }
        }
    });
    let (hub, hdir) = node(
        "hub",
        "test.hub",
        r#"
[[accounts]]
id = "streamer"
relation = "child"
asset_code = "USD"
asset_scale = 6
credit_limit = 1000000000
auth_token = "streamer-wallet"

[[accounts]]
id = "tx1"
relation = "child"
asset_code = "USD"
asset_scale = 6
auth_token = "tok1"

[[accounts]]
id = "tx2"
relation = "child"
asset_code = "USD"
asset_scale = 6
auth_token = "tok2"

[[routes]]
prefix = "test.tx1"
account = "tx1"

[[routes]]
prefix = "test.tx2"
account = "tx2"
"#,
    )
    .await;
    World {
        nostr_url,
        origin_addr,
        creator,
        stream,
        hub,
        _live: live,
        _dirs: vec![ndir, sdir, hdir],
    }
}

struct Tx {
    agent: Transcoder,
    node: Node,
    receiver: Arc<StreamReceiver>,
    addr: SocketAddr,
    _dirs: Vec<tempfile::TempDir>,
}

/// A transcoder agent on its own ILP node (`test.txN`), peered with the hub over BTP.
async fn transcoder(w: &World, n: u32, price: u64) -> Tx {
    let (tnode, tdir) = node(
        &format!("tx{n}"),
        &format!("test.tx{n}"),
        &format!(
            r#"
[[accounts]]
id = "hub"
relation = "parent"
asset_code = "USD"
asset_scale = 6
btp_url = "{}"
auth_token = "tok{n}"
credit_limit = 1000000000

[[routes]]
prefix = "test"
account = "hub"
"#,
            w.hub.btp_url()
        ),
    )
    .await;
    assert!(
        tnode
            .connector
            .wait_connected(&AccountId::new("hub"), Duration::from_secs(10))
            .await
    );
    let receiver = StreamReceiver::attach(&tnode.connector, "pay", "USD", 6, None).unwrap();
    let sdir = tempfile::tempdir().unwrap();
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let cfg = TranscoderConfig {
        price_per_minute: price,
        preset: "ultrafast".into(),
        unit_secs: UNIT,
        credit_secs: UNIT,
        store_dir: sdir.path().to_path_buf(),
        store_mib: 128,
        ..TranscoderConfig::default()
    };
    let agent = Transcoder::start(
        cfg,
        Keys::generate(),
        std::slice::from_ref(&w.nostr_url),
        Wallet {
            receiver: receiver.clone(),
            spsp_base: format!("http://{addr}/.well-known/pay"),
        },
    )
    .await
    .unwrap();
    agent.set_public_url(&format!("http://{addr}"));
    let app = agent
        .router()
        .merge(spsp_http::router(receiver.clone(), "/.well-known/pay"));
    tokio::spawn(async move {
        let _ = tollcast_net::http_serve::serve(l, app).await;
    });
    Tx {
        agent,
        node: tnode,
        receiver,
        addr,
        _dirs: vec![tdir, sdir],
    }
}

fn client(w: &World, window: Duration) -> JobClient {
    JobClient::new(
        JobClientConfig {
            stream: w.stream.clone(),
            source_url: format!("http://{}", w.origin_addr),
            rungs: vec![
                Rung::new("180p", 320, 180, 200_000),
                Rung::new("120p", 160, 120, 100_000),
            ],
            bid_per_minute: Price::new(PRICE, "USD", 6),
            max_price_per_minute: 10_000,
            part_target: 0.25,
            segment_target: 1.0,
            offer_window: window,
            result_timeout: Duration::from_secs(30),
        },
        w.creator.clone(),
        std::slice::from_ref(&w.nostr_url),
        w.hub.connector.sender(AccountId::new("streamer")),
        AccountId::new("streamer"),
    )
    .unwrap()
}

async fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn manifests_by(url: &str, author: &Keys) -> Vec<Event> {
    let c = RelayClient::connect(url, ClientOptions::default()).unwrap();
    c.fetch(
        vec![
            Filter::new()
                .kind(Kind::from(KIND_SEGMENT_MANIFEST))
                .author(author.public_key()),
        ],
        Duration::from_secs(5),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_ladder_job_aligned_and_stops_when_unpaid() {
    let w = world().await;
    let tx = transcoder(&w, 1, PRICE).await;
    // When each segment manifest (source and rungs) reaches a Nostr subscriber.
    let arrivals: Arc<std::sync::Mutex<BTreeMap<(String, u64), tokio::time::Instant>>> =
        Arc::default();
    let watch = {
        let arrivals = arrivals.clone();
        let c = RelayClient::connect(&w.nostr_url, ClientOptions::default()).unwrap();
        let filter = Filter::new()
            .kind(Kind::from(KIND_SEGMENT_MANIFEST))
            .since(tollcast_events::nostr::prelude::Timestamp::now());
        let mut sub = c.subscribe(vec![filter]).await.unwrap();
        tokio::spawn(async move {
            let _c = c;
            while let Some(item) = sub.recv().await {
                let tollcast_net::nostr_relay::client::SubItem::Event(e) = item else {
                    continue;
                };
                if let Ok((m, _, _)) = SegmentManifest::from_event(&e) {
                    arrivals
                        .lock()
                        .unwrap()
                        .entry((m.rendition, m.msn))
                        .or_insert_with(tokio::time::Instant::now);
                }
            }
        })
    };
    let jc = client(&w, Duration::from_millis(1500));
    let job: ActiveJob = jc.start().await.expect("job accepted and result published");
    assert_eq!(job.transcoder, tx.agent.pubkey());
    assert_eq!(job.offer.price.amount, PRICE);
    assert_eq!(job.result.renditions, vec!["source", "180p", "120p"]);
    assert_eq!(job.result.signer, tx.agent.pubkey().to_hex());

    // Paid unit by unit as minutes (here: 2 s units) are delivered.
    let unit_price = (PRICE as f64 * UNIT / 60.0).ceil() as u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while job.paid() < 3 * unit_price {
        assert!(
            tokio::time::Instant::now() < deadline,
            "three units not paid: paid {} ({:?}), delivered {} s, feedback {:?}, jobs {:?}",
            job.paid(),
            job.payment_error(),
            job.delivered_secs(),
            job.last_feedback(),
            tx.agent.jobs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(job.delivered_secs() >= 3.0 * UNIT);

    // The job's origin serves the multivariant (mirrored source + rungs) and the rungs.
    let base = job.result.origin.trim_start_matches("http://").to_string();
    let path = base.split_once('/').map(|x| format!("/{}", x.1)).unwrap();
    let (st, master) = http_get(tx.addr, &format!("{path}/live/master.m3u8")).await;
    assert_eq!(st, 200, "{master}");
    for r in ["source/index.m3u8", "180p/index.m3u8", "120p/index.m3u8"] {
        assert!(master.contains(r), "{r} in {master}");
    }
    assert!(master.contains("RESOLUTION=160x120"), "{master}");
    let (st, pl) = http_get(tx.addr, &format!("{path}/live/180p/index.m3u8")).await;
    assert_eq!(st, 200);
    assert!(pl.contains("#EXT-X-PART:"), "{pl}");
    let (st, metrics) = http_get(tx.addr, "/metrics").await;
    assert_eq!(st, 200);
    assert!(
        metrics.contains("tollcast_transcoder_jobs_running 1"),
        "{metrics}"
    );

    // A relay agent uses the job's origin as its upstream and trusts the transcoder's key
    // (`--signer`): it serves the rung playlists and verified rung parts.
    {
        use tollcast_agents::relay::manifests::ManifestBook;
        use tollcast_agents::relay::nostr::follow_manifests;
        use tollcast_agents::relay::{Relay, RelayConfig};
        let rdir = tempfile::tempdir().unwrap();
        let book = Arc::new(ManifestBook::new(w.stream.clone(), [tx.agent.pubkey()]));
        let rc = RelayClient::connect(&w.nostr_url, ClientOptions::default()).unwrap();
        let _follow = follow_manifests(&rc, book.clone(), &[tx.agent.pubkey()], None)
            .await
            .unwrap();
        let relay = Relay::new(
            RelayConfig::new(job.result.origin.clone()),
            ChunkStore::open(rdir.path(), 64 << 20).unwrap(),
            book,
            None,
        )
        .unwrap();
        let raddr = serve(relay.router()).await;
        let (st, pl) = http_get(raddr, "/live/120p/index.m3u8").await;
        assert_eq!(st, 200, "{pl}");
        let part = pl
            .lines()
            .find(|l| l.starts_with("#EXT-X-PART:"))
            .and_then(|l| l.split("URI=\"").nth(1))
            .and_then(|u| u.split('"').next())
            .expect("a part in the relayed rung playlist")
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let (st, _) = http_get(raddr, &format!("/{part}")).await;
        assert_eq!(st, 200, "relay serves the verified rung part {part}");
    }

    // Alignment: every rung segment has the MSN, duration (within a frame) and hash of the
    // source segment it names.
    let source: BTreeMap<u64, SegmentManifest> = manifests_by(&w.nostr_url, &w.creator)
        .await
        .iter()
        .map(|e| SegmentManifest::from_event(e).unwrap().0)
        .map(|m| (m.msn, m))
        .collect();
    let tx_keys_pub = tx.agent.pubkey();
    let c = RelayClient::connect(&w.nostr_url, ClientOptions::default()).unwrap();
    let rung_events = c
        .fetch(
            vec![
                Filter::new()
                    .kind(Kind::from(KIND_SEGMENT_MANIFEST))
                    .author(tx_keys_pub),
            ],
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let mut per_rung: BTreeMap<String, usize> = BTreeMap::new();
    for e in &rung_events {
        let (m, st, role) = SegmentManifest::from_event(e).unwrap();
        assert_eq!(st, w.stream);
        assert_eq!(role, Role::Transcoder);
        let s = &source[&m.msn];
        assert!(
            (m.duration - s.duration).abs() <= 1.0 / 15.0 + 0.002,
            "{} msn {}: {} vs {}",
            m.rendition,
            m.msn,
            m.duration,
            s.duration
        );
        assert_eq!(m.source.as_deref(), Some(s.segment.as_str()));
        *per_rung.entry(m.rendition.clone()).or_default() += 1;
    }
    assert!(
        per_rung["180p"] >= 3 && per_rung["120p"] >= 3,
        "{per_rung:?}"
    );
    // How far the rungs trail the source: rung segment k's manifest vs source segment k's.
    watch.abort();
    let arrivals = arrivals.lock().unwrap().clone();
    let mut lag: Vec<i64> = arrivals
        .iter()
        .filter(|((r, _), _)| r != "source")
        .filter_map(|((_, msn), t)| {
            let s = arrivals.get(&("source".to_string(), *msn))?;
            Some(t.duration_since(*s).as_millis() as i64 - s.duration_since(*t).as_millis() as i64)
        })
        .collect();
    lag.sort_unstable();
    assert!(!lag.is_empty(), "rung and source manifests seen");
    println!(
        "TRANSCODE rung segment manifest after the source's ({} manifests, 1 s segments, source {}): p50 {} ms, max {} ms",
        lag.len(),
        if std::env::var_os("TOLLCAST_TEST_NO_PART_MANIFESTS").is_some() {
            "segment manifests only"
        } else {
            "part + segment manifests"
        },
        lag[lag.len() / 2],
        lag[lag.len() - 1]
    );

    // Money: what the client paid reached the transcoder's receiver over BTP; every ledger
    // balances and nothing was created or lost between them.
    let paid = job.paid();
    wait_until("receiver credited", 10, || {
        tx.receiver.total_received() as u64 >= paid
    })
    .await;
    assert_eq!(tx.receiver.total_received() as u64, paid);
    assert_eq!(balance(&w.hub, "streamer"), -(paid as i128));
    assert_eq!(balance(&w.hub, "tx1"), paid as i128);
    assert_eq!(balance(&tx.node, "hub"), -(paid as i128));
    let sum: i128 = ["streamer", "tx1", "tx2"]
        .iter()
        .map(|a| balance(&w.hub, a))
        .sum::<i128>()
        + balance(&tx.node, "hub")
        + tx.receiver.total_received() as i128;
    assert_eq!(
        sum, 0,
        "money conserved across hub, transcoder node and receiver"
    );
    w.hub.connector.ledger().audit().unwrap();
    tx.node.connector.ledger().audit().unwrap();

    // Stop paying: past its credit the transcoder stops and says why.
    job.stop_paying();
    wait_until("transcoder stops", 40, || tx.agent.running_jobs() == 0).await;
    let jobs = tx.agent.jobs();
    let (_, _, secs, received) = &jobs[0];
    let owed = (PRICE as f64 * secs / 60.0).floor() as u64;
    assert!(owed > received + unit_price, "stopped only past the credit");
    assert!(
        *secs <= job.paid() as f64 * 60.0 / PRICE as f64 + 2.0 * UNIT + 1.5,
        "did not run far past the credit: {secs} s for {} paid",
        job.paid()
    );
    wait_until("error feedback", 10, || {
        job.last_feedback()
            .is_some_and(|f| f.status == JobStatus::Error)
    })
    .await;
    let fb = job.last_feedback().unwrap();
    assert!(
        fb.info.as_deref().unwrap_or("").contains("payment stopped"),
        "{fb:?}"
    );
    let (_, pl) = http_get(tx.addr, &format!("{path}/live/180p/index.m3u8")).await;
    assert!(pl.contains("#EXT-X-ENDLIST"), "playlist ended: {pl}");
    println!(
        "transcoder job: paid {} for {:.1} s delivered, stopped at {secs:.1} s: {}",
        job.paid(),
        job.delivered_secs(),
        fb.info.unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_moves_the_job_and_bad_source_bytes_are_refused() {
    let w = world().await;
    // The cheaper transcoder wins first; replacing it picks the other.
    let a = transcoder(&w, 1, 300).await;
    let b = transcoder(&w, 2, 900).await;
    let jc = client(&w, Duration::from_millis(1500));
    let job = jc.start().await.unwrap();
    assert_eq!(job.transcoder, a.agent.pubkey());
    wait_until("first segment delivered", 40, || {
        job.delivered_secs() >= 1.0
    })
    .await;
    let job = job.replace("verifier: test replacement").await.unwrap();
    assert_eq!(job.transcoder, b.agent.pubkey());
    wait_until("old job cancelled", 20, || a.agent.running_jobs() == 0).await;
    wait_until("new job delivering", 40, || job.delivered_secs() >= 1.0).await;
    assert_eq!(b.agent.running_jobs(), 1);

    // A source served with one flipped byte is refused segment by segment (no verified
    // manifest lists those bytes), nothing reaches ffmpeg.
    let bad = tamper_proxy(w.origin_addr).await;
    let c2 = JobClient::new(
        JobClientConfig {
            stream: w.stream.clone(),
            source_url: format!("http://{bad}"),
            rungs: vec![Rung::new("120p", 160, 120, 100_000)],
            bid_per_minute: Price::new(PRICE, "USD", 6),
            max_price_per_minute: 10_000,
            part_target: 0.25,
            segment_target: 1.0,
            offer_window: Duration::from_millis(1500),
            result_timeout: Duration::from_secs(4),
        },
        w.creator.clone(),
        std::slice::from_ref(&w.nostr_url),
        w.hub.connector.sender(AccountId::new("streamer")),
        AccountId::new("streamer"),
    )
    .unwrap();
    // `a` is free again (its job was cancelled), `b` is busy: `a` takes it.
    use std::sync::atomic::Ordering::Relaxed;
    let m = a.agent.metrics();
    let fed_before = m.source_segments_fed.load(Relaxed);
    let r = c2.start().await;
    assert!(r.is_err(), "no result from a tampered source");
    wait_until("segments refused", 20, || {
        m.source_segments_rejected.load(Relaxed) >= 1
    })
    .await;
    assert_eq!(
        m.source_segments_fed.load(Relaxed),
        fed_before,
        "nothing fed"
    );
}

/// An HTTP front of the origin that flips the last byte of every `.m4s` body.
async fn tamper_proxy(origin: SocketAddr) -> SocketAddr {
    use axum::extract::Path;
    let app = axum::Router::new().route(
        "/{name}",
        axum::routing::get(move |Path(name): Path<String>| async move {
            let (st, body) = http_get_bytes(origin, &format!("/{name}")).await;
            let mut body = body;
            if name.ends_with(".m4s")
                && let Some(b) = body.last_mut()
            {
                *b ^= 0x55;
            }
            (
                axum::http::StatusCode::from_u16(st).unwrap_or(axum::http::StatusCode::BAD_GATEWAY),
                body,
            )
        }),
    );
    serve(app).await
}

async fn http_get_bytes(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    (status, buf[(split + 4).min(buf.len())..].to_vec())
}

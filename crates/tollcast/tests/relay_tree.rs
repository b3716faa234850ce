//! The paid fan-out tree, multi-process on 127.0.0.1: a hub ILP node (`tollcast node`, also
//! the Nostr relay), the creator's node (`tollcast node`, its SPSP receiver is the creator's
//! wallet), an origin (`tollcast origin`, synthetic source, signed manifests on the hub's
//! relay), a level-1 relay R1 and two level-2 relays R2a/R2b pulling from R1 (`tollcast relay`,
//! credit mode, each with its own ILP node under the hub). Viewers (in this process, on their
//! own ILP node under the hub) pay their level-2 relay per second over STREAM and fetch every
//! part of every signed manifest over HTTP, checking each part's hash. R2 relays forward
//! shares in 1 s batches: 10 % margin, 20 % to R1 (tagged `relay-…`, kept whole by R1), the
//! rest to the creator. R1 is prepaid by the R2 operators and also keeps their shares.
//!
//! Checks: every viewer got every part, verified; all ledgers (six nodes, read over
//! `/accounts`) sum to zero with nothing pending; each relay's books (`/splits`) balance
//! exactly; R2 revenue equals what its viewers' STREAM connections delivered; the creator's
//! wallet holds exactly the creator shares; R1 kept exactly prepayments + upstream shares.
//!
//! CI runs 10 viewers for 15 s. The full scenario (20 viewers for 60 s) is
//! `cargo test -p tollcast --test relay_tree -- --ignored twenty_viewers_sixty_seconds`.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nostr::prelude::{Filter, Keys, Kind, Timestamp};
use tokio::sync::Mutex;
use tollcast_media::manifest::SegmentManifest;
use tollcast_media::store::sha256_hex;
use tollcast_net::connector::{AccountId, Node, NodeConfig};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient};
use tollcast_net::stream::{SenderConfig, StreamSender, spsp_http};

mod common;
use common::http::{self, get_json, num};
use common::nodes::{child_account, node_toml, parent_account};
use common::proc::spawn;

const TIMEOUT: Duration = Duration::from_secs(60);
/// Viewer price at the level-2 relays, base units per second (USD, scale 6).
const PPS: u64 = 1_000;
/// R1's price to its child relays, per second.
const R1_PPS: u64 = 100;

/// GET over a fresh TCP connection; (status, body).
async fn http_get(url: &str, bearer: Option<&str>) -> (u16, Vec<u8>) {
    let r = http::get_url(url, bearer).await;
    (r.status, r.body)
}

/// Checks a relay's `/splits` books; returns them.
async fn books(relay_url: &str) -> serde_json::Value {
    let b = get_json(&format!("{relay_url}/splits")).await;
    let payees = b["payees"].as_array().unwrap();
    let targets: i128 = payees.iter().map(|p| num(&p["target"])).sum();
    assert_eq!(
        num(&b["received"]),
        num(&b["margin"]) + num(&b["residue"]) + targets,
        "{relay_url} books: received = margin + residue + shares: {b}"
    );
    for p in payees {
        assert_eq!(
            num(&p["target"]),
            num(&p["delivered"]) + num(&p["fees"]) + num(&p["in_flight"]) + num(&p["owed"]),
            "{relay_url} payee books: {p}"
        );
    }
    b
}

fn owed(b: &serde_json::Value) -> i128 {
    b["payees"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| num(&p["owed"]) + num(&p["in_flight"]))
        .sum()
}

fn payee(b: &serde_json::Value, role: &str) -> serde_json::Value {
    b["payees"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == role)
        .cloned()
        .unwrap_or_else(|| panic!("no {role} payee in {b}"))
}

/// Sum of balances and pendings of a node's `/accounts`.
async fn accounts(node_http: SocketAddr) -> (i128, i128, serde_json::Value) {
    let v = get_json(&format!("http://{node_http}/accounts")).await;
    let mut sum = 0;
    let mut pending = 0;
    for a in v["accounts"].as_array().unwrap() {
        sum += num(&a["balance"]);
        pending += num(&a["pending_incoming"]).abs() + num(&a["pending_outgoing"]).abs();
    }
    (sum, pending, v)
}

fn balance_of(v: &serde_json::Value, id: &str) -> i128 {
    v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == id)
        .map_or(0, |a| num(&a["balance"]))
}

async fn pay(node: &Node, spsp: &str) -> StreamSender {
    let d = spsp_http::query(spsp, Duration::from_secs(5))
        .await
        .unwrap();
    let mut cfg = SenderConfig::new(d.destination_account, d.shared_secret);
    cfg.source_address = Some(node.connector.address().clone());
    StreamSender::connect(node.connector.sender(AccountId::local()), cfg)
        .await
        .unwrap()
}

async fn run_tree(viewers: usize, seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Hub: ILP parent of everyone, Nostr relay for manifests.
    let hub_cfg = node_toml(
        d,
        "hub",
        "test.hub",
        &["r1", "r2a", "r2b", "creator", "viewers"]
            .map(child_account)
            .concat(),
        "",
    );
    let mut hub = spawn(&["node", "--config", &hub_cfg]);
    let l = hub.lines_for(&["LISTENING ", "NOSTR "]).await;
    let hub_addr: SocketAddr = l[0].parse().unwrap();
    let nostr = l[1].split(' ').next().unwrap().to_string();
    // The creator's wallet: a node under the hub, its SPSP receiver is where shares go.
    let creator_cfg = node_toml(
        d,
        "creator",
        "test.hub.creator",
        &parent_account(hub_addr, "creator"),
        "[nostr]\nenabled = false\n",
    );
    let mut creator = spawn(&["node", "--config", &creator_cfg]);
    let l = creator.lines_for(&["LISTENING ", "SPSP "]).await;
    let creator_addr: SocketAddr = l[0].parse().unwrap();
    let creator_spsp = l[1].split(' ').next().unwrap().to_string();

    // Origin.
    let keys = Keys::generate();
    let sk = keys.secret_key().to_secret_hex();
    let stream = format!("30311:{}:tree", keys.public_key().to_hex());
    let origin_store = d.join("origin-chunks").display().to_string();
    let mut origin = spawn(&[
        "origin",
        "--listen",
        "127.0.0.1:0",
        "--store-dir",
        &origin_store,
        "--size",
        "320x180",
        "--secret-key",
        &sk,
        "--stream-id",
        "tree",
        "--relay",
        &nostr,
    ]);
    let playlist = origin.line("playlist: ").await;
    let origin_url = playlist.trim_end_matches("/live/master.m3u8").to_string();

    // Relays: R1 under the origin, R2a/R2b under R1.
    let relay = |name: &str, upstream: &str, extra: Vec<String>| {
        let cfg = node_toml(
            d,
            &format!("{name}-node"),
            &format!("test.hub.{name}"),
            &parent_account(hub_addr, name),
            "",
        );
        let mut args: Vec<String> = [
            "relay",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            upstream,
            "--stream",
            &stream,
            "--nostr",
            &nostr,
            "--node-config",
            &cfg,
            "--grace-ms",
            "5000",
            "--batch-ms",
            "1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (flag, file) in [
            ("--store-dir", "cache"),
            ("--billing-db", "billing.redb"),
            ("--splits-db", "splits.redb"),
        ] {
            args.push(flag.into());
            args.push(d.join(format!("{name}-{file}")).display().to_string());
        }
        args.extend(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        spawn(&args)
    };
    let mut r1 = relay(
        "r1",
        &origin_url,
        vec![
            "--price-per-second".into(),
            R1_PPS.to_string(),
            "--split".into(),
            format!("creator={creator_spsp}=1"),
        ],
    );
    let r1_ready: serde_json::Value = serde_json::from_str(&r1.line("ready: ").await).unwrap();
    let r1_url = r1_ready["url"].as_str().unwrap().to_string();
    let mut r2 = Vec::new();
    for name in ["r2a", "r2b"] {
        let mut p = relay(
            name,
            &r1_url,
            vec![
                "--price-per-second".into(),
                PPS.to_string(),
                "--upstream-viewer".into(),
                format!("relay-{name}"),
                "--split".into(),
                format!("creator={creator_spsp}=1"),
                "--relay-margin-ppm".into(),
                "100000".into(),
                "--upstream-pay-to".into(),
                format!("{r1_url}/.well-known/pay/relay-{name}"),
                "--upstream-ppm".into(),
                "200000".into(),
            ],
        );
        let ready: serde_json::Value = serde_json::from_str(&p.line("ready: ").await).unwrap();
        r2.push((name, p, ready));
    }
    let node_http = |ready: &serde_json::Value| -> SocketAddr {
        ready["node"]["btp"]
            .as_str()
            .unwrap()
            .trim_start_matches("ws://")
            .parse()
            .unwrap()
    };

    // The viewers' node (in this process) under the hub.
    let vtext = format!(
        "[node]\nname = \"viewers\"\naddress = \"test.hub.viewers\"\nlisten = \"127.0.0.1:0\"\nledger = \"{}\"\n\n{}",
        d.join("viewers.redb").display(),
        parent_account(hub_addr, "viewers")
    );
    let vnode = Arc::new(
        Node::start(NodeConfig::from_toml(&vtext, "viewers").unwrap())
            .await
            .unwrap(),
    );
    assert!(
        vnode
            .connector
            .wait_connected(&AccountId::new("hub"), TIMEOUT)
            .await
    );

    // The R2 operators prepay R1 for the whole run (R2 relays pull from R1 as viewers
    // `relay-r2a` / `relay-r2b`); their upstream shares add to it.
    let prepay = R1_PPS * (seconds + 60);
    for (name, _, _) in &r2 {
        let mut s = pay(&vnode, &format!("{r1_url}/.well-known/pay/relay-{name}")).await;
        s.send(prepay).await.unwrap();
    }

    // Signed manifests, as published (the test verifies them itself).
    let manifests: Arc<Mutex<BTreeMap<u64, SegmentManifest>>> = Arc::default();
    let since = Timestamp::now();
    let watcher = {
        let manifests = manifests.clone();
        let client = RelayClient::connect(&nostr, ClientOptions::default()).unwrap();
        let filter = Filter::new()
            .kind(Kind::from(tollcast_events::manifest::KIND_SEGMENT_MANIFEST))
            .author(keys.public_key())
            .since(Timestamp::from_secs(since.as_secs().saturating_sub(5)));
        tokio::spawn(async move {
            loop {
                if let Ok(evs) = client
                    .fetch(vec![filter.clone()], Duration::from_secs(5))
                    .await
                {
                    let mut m = manifests.lock().await;
                    for ev in evs {
                        let (man, addr, _) =
                            SegmentManifest::from_event(&ev).expect("manifest signature");
                        assert_eq!(addr.pubkey, keys.public_key());
                        m.insert(man.msn, man);
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    // Parts of segments starting after this msn are the ones every viewer must get.
    let first_msn = loop {
        if let Some((&msn, _)) = manifests.lock().await.last_key_value() {
            break msn + 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stop_at = tokio::time::Instant::now() + Duration::from_secs(seconds);

    // Viewers: pay per second ahead, fetch every part of every new manifest, verify.
    let mut tasks = Vec::new();
    for i in 0..viewers {
        let (name, _, ready) = &r2[i % 2];
        let relay_url = ready["url"].as_str().unwrap().to_string();
        let id = format!("viewer-{i}");
        let vnode = vnode.clone();
        let manifests = manifests.clone();
        let name = name.to_string();
        tasks.push(tokio::spawn(async move {
            let mut sender = pay(&vnode, &format!("{relay_url}/.well-known/pay/{id}")).await;
            sender.send(PPS * 3).await.unwrap();
            let mut next_pay = tokio::time::Instant::now() + Duration::from_secs(1);
            let mut got: BTreeMap<u64, usize> = BTreeMap::new();
            let mut msn = first_msn;
            let mut bytes = 0u64;
            loop {
                if tokio::time::Instant::now() >= next_pay {
                    sender.send(PPS).await.unwrap();
                    next_pay += Duration::from_secs(1);
                }
                let m = manifests.lock().await.get(&msn).cloned();
                match m {
                    Some(m) => {
                        for p in &m.parts {
                            let (status, body) =
                                http_get(&format!("{relay_url}/{}.m4s", p.hash), Some(&id)).await;
                            assert_eq!(
                                status,
                                200,
                                "{id} at {name}: part {} of msn {msn}: {}",
                                p.hash,
                                String::from_utf8_lossy(&body)
                            );
                            assert_eq!(
                                sha256_hex(&body),
                                p.hash,
                                "{id}: part bytes do not hash to their name"
                            );
                            assert_eq!(body.len() as u64, p.size);
                            bytes += p.size;
                        }
                        got.insert(msn, m.parts.len());
                        msn += 1;
                    }
                    None if tokio::time::Instant::now() >= stop_at => break,
                    None => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
            (name, sender.totals().delivered, got, bytes)
        }));
    }
    let mut paid_to: BTreeMap<String, i128> = BTreeMap::new();
    let mut per_viewer = Vec::new();
    for t in tasks {
        let (name, delivered, got, bytes) = t.await.unwrap();
        *paid_to.entry(name).or_default() += delivered as i128;
        per_viewer.push((got, bytes));
    }
    watcher.abort();
    // Every viewer got every part of every segment from first_msn to the last one published.
    let all = manifests.lock().await.clone();
    let last = *all.keys().last().unwrap();
    let expected: BTreeMap<u64, usize> = all
        .range(first_msn..=last)
        .map(|(k, m)| (*k, m.parts.len()))
        .collect();
    assert!(
        expected.len() as u64 >= seconds / 2,
        "segments published: {}",
        expected.len()
    );
    let parts: usize = expected.values().sum();
    for (i, (got, _)) in per_viewer.iter().enumerate() {
        let got: BTreeMap<u64, usize> = got.range(..=last).map(|(k, v)| (*k, *v)).collect();
        assert_eq!(got, expected, "viewer {i} missed parts");
    }
    let segs: HashSet<u64> = expected.keys().copied().collect();
    println!(
        "TREE {viewers} viewers x {seconds} s: {} segments, {parts} parts each, all verified; viewer bytes {}",
        segs.len(),
        per_viewer.iter().map(|(_, b)| b).sum::<u64>()
    );

    // Let the last batches go out, then audit every book and ledger.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let mut pending = 0;
        for (_, _, ready) in &r2 {
            pending += owed(&books(ready["url"].as_str().unwrap()).await);
        }
        pending += owed(&books(&r1_url).await);
        if pending == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "shares still owed after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut creator_shares = 0;
    let mut upstream_shares = 0;
    for (name, _, ready) in &r2 {
        let b = books(ready["url"].as_str().unwrap()).await;
        assert_eq!(
            num(&b["received"]),
            paid_to[*name],
            "{name}: books = what its viewers' connections delivered"
        );
        assert_eq!(num(&b["kept"]), 0);
        creator_shares += num(&payee(&b, "creator")["delivered"]);
        upstream_shares += num(&payee(&b, "upstream")["delivered"]);
        println!("BOOKS {name}: {b}");
    }
    let b1 = books(&r1_url).await;
    println!("BOOKS r1: {b1}");
    assert_eq!(num(&b1["received"]), 0, "R1 has no direct viewers");
    assert_eq!(
        num(&b1["kept"]),
        2 * prepay as i128 + upstream_shares,
        "R1 keeps prepayments + upstream shares"
    );

    // Ledgers: the six nodes' books sum to zero, nothing pending, the creator holds its shares.
    let mut total = 0;
    let mut nodes = vec![
        ("hub", hub_addr),
        ("creator", creator_addr),
        ("r1", node_http(&r1_ready)),
    ];
    for (name, _, ready) in &r2 {
        nodes.push((name, node_http(ready)));
    }
    let mut views = BTreeMap::new();
    for (name, addr) in &nodes {
        let (sum, pending, v) = accounts(*addr).await;
        assert_eq!(pending, 0, "{name} has pending packets: {v}");
        total += sum;
        views.insert(*name, v);
    }
    for a in vnode.connector.ledger().accounts().unwrap() {
        assert_eq!(a.pending_incoming + a.pending_outgoing, 0);
        total += a.balance;
    }
    vnode.connector.ledger().audit().unwrap();
    assert_eq!(total, 0, "money is conserved across all ledgers");
    assert_eq!(
        balance_of(&views["creator"], "hub"),
        -creator_shares,
        "the creator's wallet holds its shares"
    );
    let viewers_paid: i128 = vnode
        .connector
        .ledger()
        .account("hub")
        .unwrap()
        .unwrap()
        .balance;
    assert_eq!(
        viewers_paid,
        paid_to.values().sum::<i128>() + 2 * prepay as i128,
        "viewers' node paid (no fees at the hub)"
    );

    for p in [&mut hub, &mut creator, &mut origin, &mut r1] {
        p.kill();
    }
    for (_, p, _) in &mut r2 {
        p.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_viewers_fifteen_seconds() {
    run_tree(10, 15).await;
}

/// The scenario at full size (heavy for a 2-core CI machine):
/// `cargo test -p tollcast --test relay_tree -- --ignored twenty_viewers_sixty_seconds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn twenty_viewers_sixty_seconds() {
    run_tree(20, 60).await;
}

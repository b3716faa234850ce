//! The tollcast Nostr client survives a relay crash: after `kill -9` and a restart on the same
//! port it reconnects, re-sends its open REQ and a publish issued while the relay was down,
//! and the pool's deduplication hides the stored events the relay sends again.

mod nostr_common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use nostr::prelude::*;
use nostr_common::*;
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::{PoolItem, RelayPool};
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

const DB: &str = "TOLLCAST_NOSTR_CLIENT_CHILD_DB";
const PORT: &str = "TOLLCAST_NOSTR_CLIENT_CHILD_PORT";

#[tokio::test]
async fn child_relay_for_client_test() {
    let Some(db) = std::env::var_os(DB) else {
        return; // Only active when started by `client_reconnects_after_relay_crash`.
    };
    let port: u16 = std::env::var(PORT).unwrap().parse().unwrap();
    let relay = NostrRelay::open(RelayConfig::default(), db).unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (addr, task) = relay.serve(addr).await.unwrap();
    println!("PORT {}", addr.port());
    task.await.unwrap();
}

async fn spawn_child(db: &std::path::Path, port: u16) -> (Child, u16) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_relay_for_client_test",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB, db)
        .env(PORT, port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let port = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(i) = line.find("PORT ") {
                return line[i + 5..].trim().parse::<u16>().unwrap();
            }
        }
        panic!("child relay exited without printing its port");
    })
    .await
    .unwrap();
    (child, port)
}

async fn next_event(sub: &mut tollcast_net::nostr_relay::pool::PoolSubscription) -> Event {
    loop {
        match tokio::time::timeout(T, sub.recv()).await.unwrap().unwrap() {
            PoolItem::Event { event, .. } => return *event,
            PoolItem::Closed { relay, message } => panic!("{relay} closed: {message}"),
            _ => {}
        }
    }
}

#[tokio::test]
async fn client_reconnects_after_relay_crash() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.redb");
    let (mut child, port) = spawn_child(&db, 0).await;
    let url = format!("ws://127.0.0.1:{port}");
    let pool = RelayPool::new([url.as_str()], ClientOptions::default()).unwrap();
    let keys = Keys::generate();
    let mut sub = pool
        .subscribe(vec![
            Filter::new().author(keys.public_key()).kind(Kind::TextNote),
        ])
        .await
        .unwrap();
    loop {
        if let PoolItem::AllEose = tokio::time::timeout(T, sub.recv()).await.unwrap().unwrap() {
            break;
        }
    }
    let e1 = note(&keys, 1, "before crash", vec![], now() - 1);
    let res = pool.publish(&e1, T).await;
    assert!(res[0].1.as_ref().unwrap().accepted);
    assert_eq!(next_event(&mut sub).await.id, e1.id);

    child.kill().unwrap();
    child.wait().unwrap();

    // Publish while the relay is down: queued, sent after the reconnect.
    let e2 = note(&keys, 1, "after crash", vec![], now());
    let publish = {
        let pool = pool.clone();
        let e2 = e2.clone();
        tokio::spawn(async move { pool.publish(&e2, T).await })
    };
    let (mut child2, port2) = spawn_child(&db, port).await;
    assert_eq!(port2, port);
    let res = publish.await.unwrap();
    let ack = res[0].1.as_ref().unwrap();
    assert!(ack.accepted, "{ack:?}");
    // The re-sent REQ returns e1 (stored) and e2; e1 was seen already and is dropped.
    assert_eq!(next_event(&mut sub).await.id, e2.id);
    let fetched = pool
        .fetch(vec![Filter::new().author(keys.public_key())], T)
        .await;
    assert_eq!(ids(&fetched), vec![e2.id, e1.id]);
    child2.kill().unwrap();
    child2.wait().unwrap();
}

//! Every event acknowledged with `OK true` survives `kill -9` of the relay process.
//!
//! The test re-runs its own binary as a child that serves a relay (`child_relay_process`,
//! active only when `TOLLCAST_NOSTR_CHILD_DB` is set), publishes over WebSocket, SIGKILLs the
//! child right after the last OK and reopens the store file.

mod nostr_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use nostr::prelude::*;
use nostr_common::*;
use serde_json::json;
use tollcast_net::nostr_relay::{EventStore, NostrRelay, RelayConfig};

const ENV: &str = "TOLLCAST_NOSTR_CHILD_DB";

#[tokio::test]
async fn child_relay_process() {
    let Some(db) = std::env::var_os(ENV) else {
        return; // Only does something when started by `acknowledged_events_survive_kill_9`.
    };
    let relay = NostrRelay::open(RelayConfig::default(), db).unwrap();
    let (addr, task) = relay.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    println!("PORT {}", addr.port());
    task.await.unwrap();
}

#[tokio::test]
async fn acknowledged_events_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_relay_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let port = tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            // libtest prints "test child_relay_process ... " on the same line.
            if let Some(i) = line.find("PORT ") {
                return line[i + 5..].trim().parse::<u16>().unwrap();
            }
        }
        panic!("child relay exited without printing its port");
    })
    .await
    .unwrap();

    let mut ws = Raw::connect(&format!("ws://127.0.0.1:{port}")).await;
    let keys = Keys::generate();
    let base = now() - 1000;
    let events: Vec<Event> = (0..300)
        .map(|i| {
            note(
                &keys,
                1,
                &format!("durable {i}"),
                vec![tag(&["t", "kill9"])],
                base + i,
            )
        })
        .collect();
    let profile = note(&keys, 0, "{\"name\":\"v2\"}", vec![], base + 500);
    // Pipeline all EVENTs, then collect every OK.
    for e in events.iter().chain([&profile]) {
        ws.send(json!(["EVENT", e])).await;
    }
    let mut acked = 0;
    while acked < events.len() + 1 {
        let m = ws.recv().await;
        assert_eq!(m[0], "OK");
        assert_eq!(m[2], true, "{m}");
        acked += 1;
    }
    // SIGKILL right after the last OK: no graceful shutdown, no flush.
    child.kill().unwrap();
    child.wait().unwrap();

    let store = EventStore::open(&db).unwrap();
    assert_eq!(store.len().unwrap(), events.len() as u64 + 1);
    for e in &events {
        assert_eq!(store.get(&e.id).unwrap().as_ref(), Some(e));
    }
    let got = store
        .query(
            &[Filter::new().kind(Kind::Metadata).author(keys.public_key())],
            10,
            10,
        )
        .unwrap();
    assert_eq!(ids(&got), vec![profile.id]);
    let tagged = store
        .query(&[Filter::new().hashtag("kill9")], 1000, 1000)
        .unwrap();
    assert_eq!(tagged.len(), events.len(), "indexes survived too");
}

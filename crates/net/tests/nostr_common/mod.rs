//! Shared helpers for the Nostr relay tests: a relay on 127.0.0.1, a raw WebSocket speaking
//! NIP-01, event builders.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nostr::prelude::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tollcast_net::nostr_relay::{NostrRelay, RelayConfig};

pub const T: Duration = Duration::from_secs(10);

pub struct TestRelay {
    pub relay: NostrRelay,
    pub addr: SocketAddr,
    pub url: String,
    pub dir: tempfile::TempDir,
    pub task: tokio::task::JoinHandle<()>,
}

pub async fn start_relay(config: RelayConfig) -> TestRelay {
    let dir = tempfile::tempdir().unwrap();
    start_relay_in(config, dir, "127.0.0.1:0".parse().unwrap()).await
}

pub async fn start_relay_in(
    config: RelayConfig,
    dir: tempfile::TempDir,
    addr: SocketAddr,
) -> TestRelay {
    let relay = NostrRelay::open(config, dir.path().join("events.redb")).unwrap();
    let (addr, task) = relay.clone().serve(addr).await.unwrap();
    TestRelay {
        relay,
        addr,
        url: format!("ws://{addr}"),
        dir,
        task,
    }
}

pub fn note(keys: &Keys, kind: u16, content: &str, tags: Vec<Tag>, created_at: u64) -> Event {
    EventBuilder::new(Kind::from(kind), content)
        .tags(tags)
        .custom_created_at(Timestamp::from_secs(created_at))
        .finalize(keys)
        .unwrap()
}

pub fn now() -> u64 {
    Timestamp::now().as_secs()
}

pub fn tag(parts: &[&str]) -> Tag {
    Tag::parse(parts.iter().copied()).unwrap()
}

/// A raw NIP-01 WebSocket connection for protocol-level assertions.
pub struct Raw {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Raw {
    pub async fn connect(url: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Raw { ws }
    }

    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_text(&mut self, s: &str) {
        self.ws.send(Message::text(s.to_string())).await.unwrap();
    }

    /// Next JSON message (fails the test after a 10 s guard).
    pub async fn recv(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(T, self.ws.next())
                .await
                .expect("relay answered within 10 s")
                .expect("connection open")
                .expect("websocket ok");
            if let Message::Text(t) = m {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    /// Wait for a message within `d`; None if nothing arrived.
    pub async fn try_recv(&mut self, d: Duration) -> Option<Value> {
        match tokio::time::timeout(d, self.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => Some(serde_json::from_str(t.as_str()).unwrap()),
            _ => None,
        }
    }

    /// Publish and return `(accepted, message)` of the OK.
    pub async fn publish(&mut self, ev: &Event) -> (bool, String) {
        self.send(json!(["EVENT", ev])).await;
        let ok = self.recv().await;
        assert_eq!(ok[0], "OK", "expected OK, got {ok}");
        assert_eq!(ok[1], ev.id.to_hex(), "OK for the right id: {ok}");
        (
            ok[2].as_bool().unwrap(),
            ok[3].as_str().unwrap().to_string(),
        )
    }

    /// REQ, collect stored events until EOSE, then CLOSE.
    pub async fn req(&mut self, sid: &str, filters: Vec<Value>) -> Vec<Event> {
        let out = self.req_open(sid, filters).await;
        self.send(json!(["CLOSE", sid])).await;
        out
    }

    /// REQ and collect stored events until EOSE; the subscription stays open.
    pub async fn req_open(&mut self, sid: &str, filters: Vec<Value>) -> Vec<Event> {
        let mut msg = vec![json!("REQ"), json!(sid)];
        msg.extend(filters);
        self.send(Value::Array(msg)).await;
        let mut out = Vec::new();
        loop {
            let m = self.recv().await;
            match m[0].as_str().unwrap() {
                "EVENT" => {
                    assert_eq!(m[1], sid);
                    out.push(serde_json::from_value(m[2].clone()).unwrap());
                }
                "EOSE" => {
                    assert_eq!(m[1], sid);
                    return out;
                }
                other => panic!("unexpected {other}: {m}"),
            }
        }
    }
}

pub fn ids(evs: &[Event]) -> Vec<EventId> {
    evs.iter().map(|e| e.id).collect()
}

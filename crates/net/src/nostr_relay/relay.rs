//! The WebSocket front end: one axum route serving NIP-01 over WebSocket and the NIP-11
//! relay information document over plain HTTP (`Accept: application/nostr+json`), plus
//! NIP-42 AUTH for relays whose WebSocket writes need a paid account.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use nostr::prelude::{Event, Filter, Kind, PublicKey, Timestamp};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

use super::config::{RelayConfig, WritePolicy};
use super::core::{Prefix, Refusal, RelayCore};
use super::metrics::RelayMetrics;
use super::store::{Charge, EventStore, StoreError};
use super::toon;

/// A running relay's shared state; cheap to clone. Mount [`router`] to serve it.
#[derive(Clone)]
pub struct NostrRelay {
    core: Arc<RelayCore>,
}

impl NostrRelay {
    /// Open the store at `store_path` and build the relay.
    pub fn open(
        config: RelayConfig,
        store_path: impl AsRef<std::path::Path>,
    ) -> Result<Self, StoreError> {
        let store = EventStore::open(store_path)?;
        Ok(Self {
            core: Arc::new(RelayCore::new(config, store)),
        })
    }

    /// The shared core (ingest, store, config).
    pub fn core(&self) -> &Arc<RelayCore> {
        &self.core
    }

    /// Counters for the node's Prometheus endpoint.
    pub fn metrics(&self) -> &RelayMetrics {
        &self.core.metrics
    }

    /// Start the background task that purges NIP-40-expired events every `every`.
    pub fn spawn_expiry_purge(&self, every: Duration) -> JoinHandle<()> {
        let core = self.core.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = core.store.purge_expired(Timestamp::now()).await {
                    tracing::warn!(error = %e, "expiry purge failed");
                }
            }
        })
    }

    /// Bind `addr` and serve [`router`] there (plus the expiry purge); returns the bound
    /// address and the server task. Convenience for the CLI and tests.
    pub async fn serve(self, addr: SocketAddr) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let purge = self.spawn_expiry_purge(Duration::from_secs(30));
        let app = router(self);
        // Small frames (OK, EOSE) must not wait for Nagle/delayed-ACK (~40 ms).
        let task = tokio::spawn(async move {
            let _ = crate::http_serve::serve(listener, app).await;
            purge.abort();
        });
        Ok((local, task))
    }
}

/// The relay's axum router: `GET /` upgrades to WebSocket, or answers NIP-11 when asked with
/// `Accept: application/nostr+json`; `OPTIONS /` answers CORS preflight.
pub fn router(relay: NostrRelay) -> Router {
    Router::new()
        .route("/", get(root).options(preflight))
        .with_state(relay)
}

fn cors(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
}

async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    cors(r.headers_mut());
    r
}

async fn root(
    State(relay): State<NostrRelay>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Ok(ws) = ws {
        let max = relay.core.config.limits.max_message_length;
        return ws
            .max_message_size(max)
            .max_frame_size(max)
            .on_upgrade(move |socket| connection(relay.core, socket));
    }
    let wants_info = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/nostr+json"));
    if wants_info {
        let body = info_document(&relay.core.config).to_string();
        let mut r = body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/nostr+json"),
        );
        cors(r.headers_mut());
        return r;
    }
    let mut r = (
        StatusCode::OK,
        "tollcast Nostr relay: connect with a Nostr client over WebSocket; \
         GET with 'Accept: application/nostr+json' for the NIP-11 document\n",
    )
        .into_response();
    cors(r.headers_mut());
    r
}

/// The NIP-11 relay information document.
pub fn info_document(cfg: &RelayConfig) -> Value {
    let paid = cfg.write_policy == WritePolicy::PaidAccounts;
    let mut doc = json!({
        "name": cfg.info.name,
        "description": cfg.info.description,
        "supported_nips": [1, 9, 11, 40, 42],
        "software": "https://github.com/tollcast/tollcast",
        "version": env!("CARGO_PKG_VERSION"),
        "limitation": {
            "max_message_length": cfg.limits.max_message_length,
            "max_subscriptions": cfg.limits.max_subscriptions,
            "max_limit": cfg.limits.max_limit,
            "default_limit": cfg.limits.default_limit,
            "max_subid_length": cfg.limits.max_subid_length,
            "max_event_tags": cfg.limits.max_event_tags,
            "max_content_length": cfg.limits.max_content_length,
            "auth_required": false,
            "payment_required": paid,
            "restricted_writes": paid,
            "created_at_lower_limit": cfg.limits.created_at_lower_limit,
            "created_at_upper_limit": cfg.limits.created_at_upper_limit,
        },
        "tollcast": {
            "pay_to_write": {
                "ilp_address": cfg.info.ilp_address,
                "price_per_byte": cfg.pricing.base_per_byte,
                "kind_price_per_byte": cfg.pricing.kind_per_byte,
                "data": "TOON-encoded signed event (UTF-8)",
                "condition": "sha256(sha256(data))",
                "fulfillment": "sha256(data)",
            },
            "websocket_writes": if paid { "nip42_auth_and_prepaid_account" } else { "free" },
        },
    });
    if let Some(pk) = &cfg.info.pubkey {
        doc["pubkey"] = json!(pk.to_hex());
    }
    if let Some(pk) = &cfg.info.self_pubkey {
        doc["self"] = json!(pk.to_hex());
    }
    if let Some(c) = &cfg.info.contact {
        doc["contact"] = json!(c);
    }
    doc
}

/// Bounded per-connection outbox: a subscriber that cannot keep up is disconnected rather
/// than buffering without limit.
const OUTBOX: usize = 4096;
/// EVENTs of one connection being ingested at once.
const MAX_INFLIGHT_EVENTS: usize = 256;

struct Conn {
    core: Arc<RelayCore>,
    out: mpsc::Sender<Message>,
    subs: HashMap<String, Vec<Filter>>,
    challenge: String,
    authed: Option<PublicKey>,
    inflight: Arc<tokio::sync::Semaphore>,
}

async fn connection(core: Arc<RelayCore>, socket: WebSocket) {
    let m = core.metrics.clone();
    RelayMetrics::inc(&m.connections_total);
    RelayMetrics::inc(&m.connections_open);
    let (mut sink, mut stream) = socket.split();
    let (out, mut outbox) = mpsc::channel::<Message>(OUTBOX);
    let writer = tokio::spawn(async move {
        while let Some(msg) = outbox.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut live = core.subscribe_live();
    let challenge = hex::encode(rand::random::<[u8; 16]>());
    let mut conn = Conn {
        core,
        out,
        subs: HashMap::new(),
        challenge,
        authed: None,
        inflight: Arc::new(tokio::sync::Semaphore::new(MAX_INFLIGHT_EVENTS)),
    };
    if conn.core.config.write_policy == WritePolicy::PaidAccounts {
        conn.send(json!(["AUTH", conn.challenge])).await;
    }
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(Ok(msg)) = msg else { break };
                match msg {
                    Message::Text(t) => conn.handle_text(t.as_str()).await,
                    Message::Binary(_) => {
                        conn.send(json!(["NOTICE", "invalid: binary frames are not supported"])).await
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
            ev = live.recv() => match ev {
                Ok(ev) => {
                    if !conn.fan_out(&ev) {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    // We missed live events: tell every subscription so clients can re-REQ.
                    let ids: Vec<String> = conn.subs.keys().cloned().collect();
                    for id in ids {
                        conn.send(json!(["CLOSED", id, format!("error: subscriber too slow, {n} live events dropped; re-subscribe")])).await;
                    }
                    conn.drop_all_subs();
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    conn.drop_all_subs();
    drop(conn);
    let _ = writer.await;
    RelayMetrics::dec(&m.connections_open);
}

impl Conn {
    async fn send(&self, v: Value) {
        let _ = self.out.send(Message::Text(v.to_string().into())).await;
    }

    fn drop_all_subs(&mut self) {
        for _ in self.subs.drain() {
            RelayMetrics::dec(&self.core.metrics.subscriptions_open);
        }
    }

    /// Deliver a live event to matching subscriptions; false if the client is too slow.
    fn fan_out(&self, ev: &Event) -> bool {
        if ev.is_expired_at(Timestamp::now()) {
            return true;
        }
        let mut json: Option<String> = None;
        for (id, filters) in &self.subs {
            if super::filter::matches_any(filters, ev) {
                let ev_json = json.get_or_insert_with(|| ev.as_json());
                let sid = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".into());
                let text = format!("[\"EVENT\",{sid},{ev_json}]");
                if self.out.try_send(Message::Text(text.into())).is_err() {
                    return false;
                }
                RelayMetrics::inc(&self.core.metrics.events_sent);
            }
        }
        true
    }

    async fn handle_text(&mut self, text: &str) {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return self
                    .send(json!([
                        "NOTICE",
                        format!("invalid: message is not JSON: {e}")
                    ]))
                    .await;
            }
        };
        let Some(arr) = v.as_array() else {
            return self
                .send(json!(["NOTICE", "invalid: message must be a JSON array"]))
                .await;
        };
        match arr.first().and_then(Value::as_str) {
            Some("EVENT") => self.on_event(arr).await,
            Some("REQ") => self.on_req(arr).await,
            Some("CLOSE") => self.on_close(arr).await,
            Some("AUTH") => self.on_auth(arr).await,
            Some("COUNT") => self.on_count(arr).await,
            Some(other) => {
                self.send(json!([
                    "NOTICE",
                    format!("invalid: unknown message type {other:?}")
                ]))
                .await
            }
            None => {
                self.send(json!([
                    "NOTICE",
                    "invalid: first element must be the message type"
                ]))
                .await
            }
        }
    }

    async fn ok(&self, id: &str, accepted: bool, message: String) {
        self.send(json!(["OK", id, accepted, message])).await;
    }

    async fn on_event(&mut self, arr: &[Value]) {
        let Some(raw) = arr.get(1) else {
            return self
                .send(json!(["NOTICE", "invalid: EVENT needs an event object"]))
                .await;
        };
        let id = raw
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ev: Event = match serde_json::from_value(raw.clone()) {
            Ok(ev) => ev,
            Err(e) => {
                RelayMetrics::inc(&self.core.metrics.events_received);
                RelayMetrics::inc(&self.core.metrics.events_rejected);
                return self
                    .ok(&id, false, format!("invalid: malformed event: {e}"))
                    .await;
            }
        };
        let id = ev.id.to_hex();
        let charge = match self.write_charge(&ev) {
            Ok(c) => c,
            Err(r) => {
                RelayMetrics::inc(&self.core.metrics.events_received);
                RelayMetrics::inc(&self.core.metrics.events_rejected);
                return self.ok(&id, false, r.to_string()).await;
            }
        };
        // Ingest concurrently (bounded per connection) so pipelined EVENTs share the store's
        // group commit instead of waiting one fsync each. OKs may come back out of order,
        // which NIP-01 allows: each carries its event id.
        let Ok(permit) = self.inflight.clone().acquire_owned().await else {
            return;
        };
        let core = self.core.clone();
        let out = self.out.clone();
        tokio::spawn(async move {
            if let Some(g) = core.websocket_guard()
                && let Err(r) = g.check(&ev).await
            {
                RelayMetrics::inc(&core.metrics.events_received);
                RelayMetrics::inc(&core.metrics.events_rejected);
                let msg = json!(["OK", id, false, r.to_string()]).to_string();
                let _ = out.send(Message::Text(msg.into())).await;
                drop(permit);
                return;
            }
            let res = core.ingest(ev, charge).await;
            let msg = json!(["OK", id, res.accepted(), res.message()]).to_string();
            let _ = out.send(Message::Text(msg.into())).await;
            drop(permit);
        });
    }

    /// WebSocket write policy: free, or charged to the NIP-42-authenticated account.
    fn write_charge(&self, ev: &Event) -> Result<Option<Charge>, Refusal> {
        let cfg = &self.core.config;
        if cfg.write_policy == WritePolicy::Open || cfg.pricing.free_authors.contains(&ev.pubkey) {
            return Ok(None);
        }
        let Some(payer) = self.authed else {
            return Err(Refusal::new(
                Prefix::AuthRequired,
                "publishing here needs NIP-42 AUTH and a prepaid account (or pay-to-write over ILP)",
            ));
        };
        let bytes = toon::encode_event(ev)
            .map(|s| s.len())
            .unwrap_or_else(|_| ev.as_json().len());
        Ok(Some(Charge {
            payer,
            price: cfg.pricing.price(ev.kind, &ev.pubkey, bytes),
        }))
    }

    async fn on_req(&mut self, arr: &[Value]) {
        RelayMetrics::inc(&self.core.metrics.reqs);
        let lim = self.core.config.limits.clone();
        let Some(sid) = arr.get(1).and_then(Value::as_str) else {
            return self
                .send(json!([
                    "NOTICE",
                    "invalid: REQ needs a subscription id string"
                ]))
                .await;
        };
        let sid = sid.to_string();
        if sid.is_empty() || sid.len() > lim.max_subid_length {
            return self
                .send(json!([
                    "CLOSED",
                    sid,
                    format!(
                        "invalid: subscription id must be 1..={} characters",
                        lim.max_subid_length
                    )
                ]))
                .await;
        }
        let raw_filters = &arr[2..];
        if raw_filters.is_empty() {
            return self
                .send(json!([
                    "CLOSED",
                    sid,
                    "invalid: REQ needs at least one filter"
                ]))
                .await;
        }
        if raw_filters.len() > lim.max_filters {
            return self
                .send(json!([
                    "CLOSED",
                    sid,
                    format!("invalid: too many filters (max {})", lim.max_filters)
                ]))
                .await;
        }
        let mut filters = Vec::with_capacity(raw_filters.len());
        for f in raw_filters {
            if !f.is_object() {
                return self
                    .send(json!([
                        "CLOSED",
                        sid,
                        "invalid: each filter must be a JSON object"
                    ]))
                    .await;
            }
            match serde_json::from_value::<Filter>(f.clone()) {
                Ok(f) => filters.push(f),
                Err(e) => {
                    return self
                        .send(json!(["CLOSED", sid, format!("invalid: bad filter: {e}")]))
                        .await;
                }
            }
        }
        if !self.subs.contains_key(&sid) && self.subs.len() >= lim.max_subscriptions {
            return self
                .send(json!([
                    "CLOSED",
                    sid,
                    format!(
                        "rate-limited: too many open subscriptions (max {})",
                        lim.max_subscriptions
                    )
                ]))
                .await;
        }
        // A new REQ with the same id replaces the old subscription.
        if self.subs.remove(&sid).is_some() {
            RelayMetrics::dec(&self.core.metrics.subscriptions_open);
        }
        let store = self.core.store.clone();
        let qf = filters.clone();
        let found =
            tokio::task::spawn_blocking(move || store.query(&qf, lim.default_limit, lim.max_limit))
                .await;
        let events = match found {
            Ok(Ok(evs)) => evs,
            Ok(Err(e)) => {
                RelayMetrics::inc(&self.core.metrics.store_errors);
                return self
                    .send(json!(["CLOSED", sid, format!("error: query failed: {e}")]))
                    .await;
            }
            Err(e) => {
                return self
                    .send(json!(["CLOSED", sid, format!("error: query failed: {e}")]))
                    .await;
            }
        };
        let sid_json = serde_json::to_string(&sid).unwrap_or_else(|_| "\"\"".into());
        for ev in &events {
            let text = format!("[\"EVENT\",{sid_json},{}]", ev.as_json());
            if self.out.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        RelayMetrics::add(&self.core.metrics.events_sent, events.len() as u64);
        self.send(json!(["EOSE", sid])).await;
        self.subs.insert(sid, filters);
        RelayMetrics::inc(&self.core.metrics.subscriptions_open);
    }

    async fn on_close(&mut self, arr: &[Value]) {
        match arr.get(1).and_then(Value::as_str) {
            Some(sid) => {
                if self.subs.remove(sid).is_some() {
                    RelayMetrics::dec(&self.core.metrics.subscriptions_open);
                }
            }
            None => {
                self.send(json!([
                    "NOTICE",
                    "invalid: CLOSE needs a subscription id string"
                ]))
                .await
            }
        }
    }

    /// NIP-45 COUNT (counts up to `max_limit` per filter).
    async fn on_count(&mut self, arr: &[Value]) {
        let Some(sid) = arr.get(1).and_then(Value::as_str).map(str::to_string) else {
            return self
                .send(json!(["NOTICE", "invalid: COUNT needs a subscription id"]))
                .await;
        };
        let mut filters = Vec::new();
        for f in &arr[2..] {
            match serde_json::from_value::<Filter>(f.clone()) {
                Ok(f) => filters.push(f.remove_limit()),
                Err(e) => {
                    return self
                        .send(json!(["CLOSED", sid, format!("invalid: bad filter: {e}")]))
                        .await;
                }
            }
        }
        let store = self.core.store.clone();
        let max = self.core.config.limits.max_limit;
        let n = tokio::task::spawn_blocking(move || store.query(&filters, max, max)).await;
        match n {
            Ok(Ok(evs)) => self.send(json!(["COUNT", sid, {"count": evs.len()}])).await,
            _ => {
                self.send(json!(["CLOSED", sid, "error: count failed"]))
                    .await
            }
        }
    }

    /// NIP-42: kind 22242, our challenge, recent, valid signature.
    async fn on_auth(&mut self, arr: &[Value]) {
        let Some(raw) = arr.get(1) else {
            return self
                .send(json!(["NOTICE", "invalid: AUTH needs an event"]))
                .await;
        };
        let id = raw
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ev: Event = match serde_json::from_value(raw.clone()) {
            Ok(ev) => ev,
            Err(e) => {
                return self
                    .ok(&id, false, format!("invalid: malformed auth event: {e}"))
                    .await;
            }
        };
        match self.check_auth(&ev) {
            Ok(()) => {
                self.authed = Some(ev.pubkey);
                self.ok(&id, true, String::new()).await;
            }
            Err(r) => self.ok(&id, false, r.to_string()).await,
        }
    }

    fn check_auth(&self, ev: &Event) -> Result<(), Refusal> {
        if ev.kind != Kind::Authentication {
            return Err(Refusal::new(
                Prefix::Invalid,
                "auth event must be kind 22242",
            ));
        }
        if ev.verify().is_err() {
            return Err(Refusal::new(
                Prefix::Invalid,
                "bad auth event id or signature",
            ));
        }
        if ev.tags.challenge().as_deref() != Some(self.challenge.as_str()) {
            return Err(Refusal::new(
                Prefix::Invalid,
                "auth challenge does not match",
            ));
        }
        let now = Timestamp::now().as_secs();
        if now.abs_diff(ev.created_at.as_secs()) > 600 {
            return Err(Refusal::new(
                Prefix::Invalid,
                "auth event created_at is more than 10 minutes off",
            ));
        }
        if let Some(url) = &self.core.config.public_url {
            let relay_tag = ev
                .tags
                .iter()
                .find(|t| t.kind() == "relay")
                .and_then(|t| t.content());
            let norm = |s: &str| s.trim_end_matches('/').to_ascii_lowercase();
            if relay_tag.map(norm) != Some(norm(url)) {
                return Err(Refusal::new(
                    Prefix::Invalid,
                    format!("auth relay tag must be {url}"),
                ));
            }
        }
        Ok(())
    }
}

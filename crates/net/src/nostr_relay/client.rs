//! A NIP-01 WebSocket client for one relay, with automatic reconnect.
//!
//! [`RelayClient`] owns a background task holding the connection. It reconnects with
//! exponential backoff (250 ms doubling to 30 s, reset after a successful connect), re-sends
//! every open REQ after a reconnect, and re-sends publishes still waiting for their OK
//! (harmless: relays answer `duplicate:`). Events received are verified (id and signature)
//! before they are handed out; forged ones are dropped.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nostr::prelude::{Event, EventId, Filter};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Client-side failures.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ClientError {
    #[error("invalid relay URL {0:?}: use ws://host:port or wss://host:port")]
    BadUrl(String),
    #[error("no answer from the relay within {0:?}")]
    Timeout(Duration),
    #[error("the relay client has shut down")]
    Closed,
    #[error("subscription closed by the relay: {0}")]
    SubscriptionClosed(String),
}

/// A relay's answer to a published event (`["OK", id, accepted, message]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishAck {
    pub event_id: EventId,
    pub accepted: bool,
    pub message: String,
}

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum SubItem {
    Event(Box<Event>),
    /// End of stored events.
    Eose,
    /// The relay closed the subscription (`CLOSED`), with its reason.
    Closed(String),
}

/// Options for [`RelayClient`].
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Largest message accepted from the relay.
    pub max_message_size: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            min_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
            max_message_size: 4 * 1024 * 1024,
        }
    }
}

enum Cmd {
    Publish {
        event: Box<Event>,
        reply: oneshot::Sender<PublishAck>,
    },
    Req {
        sid: String,
        filters: Vec<Filter>,
        tx: mpsc::Sender<SubItem>,
    },
    Close {
        sid: String,
    },
}

/// Connection to one relay; cheap to clone. The task stops when every clone is dropped.
#[derive(Clone)]
pub struct RelayClient {
    url: String,
    cmds: mpsc::Sender<Cmd>,
}

/// A live subscription on one relay; dropping it sends CLOSE.
pub struct Subscription {
    sid: String,
    rx: mpsc::Receiver<SubItem>,
    cmds: mpsc::Sender<Cmd>,
}

impl Subscription {
    /// Next item, or `None` when the client shut down.
    pub async fn recv(&mut self) -> Option<SubItem> {
        self.rx.recv().await
    }

    /// The subscription id used on the wire.
    pub fn id(&self) -> &str {
        &self.sid
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.cmds.try_send(Cmd::Close {
            sid: self.sid.clone(),
        });
    }
}

impl RelayClient {
    /// Start a client for `url` (`ws://` or `wss://`). Connecting happens in the background;
    /// commands issued before the connection is up are queued.
    pub fn connect(url: &str, opts: ClientOptions) -> Result<Self, ClientError> {
        let parsed = url::Url::parse(url).map_err(|_| ClientError::BadUrl(url.to_string()))?;
        if !matches!(parsed.scheme(), "ws" | "wss") || parsed.host_str().is_none() {
            return Err(ClientError::BadUrl(url.to_string()));
        }
        let (cmds, rx) = mpsc::channel(1024);
        let task_url = url.to_string();
        let _task: JoinHandle<()> = tokio::spawn(run(task_url, opts, rx));
        Ok(Self {
            url: url.to_string(),
            cmds,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Publish `event` and wait up to `timeout` for the relay's OK.
    pub async fn publish(
        &self,
        event: &Event,
        timeout: Duration,
    ) -> Result<PublishAck, ClientError> {
        let (reply, rx) = oneshot::channel();
        self.cmds
            .send(Cmd::Publish {
                event: Box::new(event.clone()),
                reply,
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => Err(ClientError::Timeout(timeout)),
        }
    }

    /// Open a subscription (REQ). It survives reconnects (the REQ is re-sent).
    pub async fn subscribe(&self, filters: Vec<Filter>) -> Result<Subscription, ClientError> {
        let sid = format!("tc-{}", hex::encode(rand::random::<[u8; 8]>()));
        let (tx, rx) = mpsc::channel(4096);
        self.cmds
            .send(Cmd::Req {
                sid: sid.clone(),
                filters,
                tx,
            })
            .await
            .map_err(|_| ClientError::Closed)?;
        Ok(Subscription {
            sid,
            rx,
            cmds: self.cmds.clone(),
        })
    }

    /// Stored events matching `filters` (everything up to EOSE), within `timeout`.
    pub async fn fetch(
        &self,
        filters: Vec<Filter>,
        timeout: Duration,
    ) -> Result<Vec<Event>, ClientError> {
        let mut sub = self.subscribe(filters).await?;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(Some(SubItem::Event(ev))) => out.push(*ev),
                Ok(Some(SubItem::Eose)) => return Ok(out),
                Ok(Some(SubItem::Closed(m))) => return Err(ClientError::SubscriptionClosed(m)),
                Ok(None) => return Err(ClientError::Closed),
                Err(_) => return Err(ClientError::Timeout(timeout)),
            }
        }
    }
}

struct State {
    /// Publishes waiting for OK, in send order (the order matters for relays that answer a
    /// bad event with an empty id, like the Python `nostr-relay`).
    pending: VecDeque<(EventId, Box<Event>, oneshot::Sender<PublishAck>)>,
    subs: HashMap<String, (Vec<Filter>, mpsc::Sender<SubItem>)>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn run(url: String, opts: ClientOptions, mut cmds: mpsc::Receiver<Cmd>) {
    let mut st = State {
        pending: VecDeque::new(),
        subs: HashMap::new(),
    };
    let mut backoff = opts.min_backoff;
    loop {
        let cfg = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(opts.max_message_size));
        let ws = match tokio_tungstenite::connect_async_with_config(url.as_str(), Some(cfg), true)
            .await
        {
            Ok((ws, _)) => ws,
            Err(e) => {
                tracing::debug!(%url, error = %e, "relay connect failed; retrying");
                // Keep accepting commands while waiting, so callers are never blocked.
                let sleep = tokio::time::sleep(backoff);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        c = cmds.recv() => match c {
                            Some(c) => queue(&mut st, c),
                            None => return,
                        },
                    }
                }
                backoff = (backoff * 2).min(opts.max_backoff);
                continue;
            }
        };
        backoff = opts.min_backoff;
        match session(ws, &mut st, &mut cmds).await {
            SessionEnd::Shutdown => return,
            SessionEnd::Disconnected => {
                tracing::debug!(%url, "relay connection lost; reconnecting");
            }
        }
    }
}

/// Record a command while disconnected; it is sent when the connection comes up.
fn queue(st: &mut State, c: Cmd) {
    match c {
        Cmd::Publish { event, reply } => st.pending.push_back((event.id, event, reply)),
        Cmd::Req { sid, filters, tx } => {
            st.subs.insert(sid, (filters, tx));
        }
        Cmd::Close { sid } => {
            st.subs.remove(&sid);
        }
    }
}

enum SessionEnd {
    Shutdown,
    Disconnected,
}

fn req_text(sid: &str, filters: &[Filter]) -> String {
    let mut arr = vec![json!("REQ"), json!(sid)];
    arr.extend(
        filters
            .iter()
            .map(|f| serde_json::to_value(f).unwrap_or(Value::Null)),
    );
    Value::Array(arr).to_string()
}

fn event_text(ev: &Event) -> String {
    format!("[\"EVENT\",{}]", ev.as_json())
}

async fn session(mut ws: Ws, st: &mut State, cmds: &mut mpsc::Receiver<Cmd>) -> SessionEnd {
    // Re-establish everything that was open or queued (skipping publishes nobody awaits).
    st.pending.retain(|(_, _, reply)| !reply.is_closed());
    st.subs.retain(|_, (_, tx)| !tx.is_closed());
    for (sid, (filters, _)) in &st.subs {
        if ws
            .send(Message::text(req_text(sid, filters)))
            .await
            .is_err()
        {
            return SessionEnd::Disconnected;
        }
    }
    for (_, ev, _) in &st.pending {
        if ws.send(Message::text(event_text(ev))).await.is_err() {
            return SessionEnd::Disconnected;
        }
    }
    loop {
        tokio::select! {
            c = cmds.recv() => {
                let Some(c) = c else {
                    let _ = ws.close(None).await;
                    return SessionEnd::Shutdown;
                };
                let text = match &c {
                    Cmd::Publish { event, .. } => event_text(event),
                    Cmd::Req { sid, filters, .. } => req_text(sid, filters),
                    Cmd::Close { sid } => json!(["CLOSE", sid]).to_string(),
                };
                queue(st, c);
                if ws.send(Message::text(text)).await.is_err() {
                    return SessionEnd::Disconnected;
                }
            }
            m = ws.next() => {
                let text = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return SessionEnd::Disconnected,
                    Some(Ok(_)) => continue,
                };
                on_relay_message(st, text.as_str()).await;
            }
        }
    }
}

async fn on_relay_message(st: &mut State, text: &str) {
    let Ok(Value::Array(arr)) = serde_json::from_str::<Value>(text) else {
        tracing::debug!("ignoring non-array relay message");
        return;
    };
    match arr.first().and_then(Value::as_str) {
        Some("EVENT") => {
            let (Some(sid), Some(raw)) = (arr.get(1).and_then(Value::as_str), arr.get(2)) else {
                return;
            };
            let Some((filters, tx)) = st.subs.get(sid) else {
                return;
            };
            let Ok(ev) = serde_json::from_value::<Event>(raw.clone()) else {
                tracing::debug!("relay sent a malformed event; dropped");
                return;
            };
            // Never trust a relay: verify, and check it matches what we asked for.
            if ev.verify().is_err() || !super::filter::matches_any(filters, &ev) {
                tracing::debug!(id = %ev.id, "relay sent a forged or unrequested event; dropped");
                return;
            }
            let _ = tx.send(SubItem::Event(Box::new(ev))).await;
        }
        Some("EOSE") => {
            if let Some(sid) = arr.get(1).and_then(Value::as_str)
                && let Some((_, tx)) = st.subs.get(sid)
            {
                let _ = tx.send(SubItem::Eose).await;
            }
        }
        Some("CLOSED") => {
            if let Some(sid) = arr.get(1).and_then(Value::as_str)
                && let Some((_, tx)) = st.subs.remove(sid)
            {
                let msg = arr.get(2).and_then(Value::as_str).unwrap_or("").to_string();
                let _ = tx.send(SubItem::Closed(msg)).await;
            }
        }
        Some("OK") => {
            let id = arr.get(1).and_then(Value::as_str).unwrap_or("");
            let accepted = arr.get(2).and_then(Value::as_bool).unwrap_or(false);
            let message = arr.get(3).and_then(Value::as_str).unwrap_or("").to_string();
            let pos = match EventId::from_hex(id) {
                Ok(id) => st.pending.iter().position(|(p, _, _)| *p == id),
                // Some relays answer a rejected event with an empty id: match in order.
                Err(_) if !accepted && !st.pending.is_empty() => Some(0),
                Err(_) => None,
            };
            if let Some(pos) = pos
                && let Some((event_id, _, reply)) = st.pending.remove(pos)
            {
                let _ = reply.send(PublishAck {
                    event_id,
                    accepted,
                    message,
                });
            }
        }
        Some("NOTICE") => {
            tracing::debug!(notice = ?arr.get(1), "relay notice");
        }
        _ => {}
    }
}

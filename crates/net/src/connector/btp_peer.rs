//! BTP (RFC 0023) links over WebSocket, as server and as client.
//!
//! A [`PeerLink`] is one authenticated connection to one account. Requests we send carry a
//! fresh request id and wait for the matching `Response`/`Error`; requests the peer sends
//! (`Message` with an `ilp` PREPARE, `Transfer` for settlement) go to a [`LinkHandler`]
//! (the connector) and are answered with the same id. Frames that cannot be decoded and
//! responses nobody waits for are dropped without an answer (RFC 0023: no feedback loops).
//!
//! Server side: the first frame must be an `auth` Message whose `auth_token` matches an
//! account's configured token within [`AUTH_TIMEOUT`]; otherwise the peer gets an `Error`
//! and the socket is closed. Client side: connect, authenticate, and on any drop reconnect
//! with exponential backoff (doubling from the configured minimum up to the maximum, reset
//! after a successful authentication).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::btp_codec::{self as btp, Frame, ProtocolData};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tollcast_wire::ilp::{Packet, Prepare};

use super::metrics::Metrics;
use super::service::{AccountId, IlpReply};

/// How long a connecting client has to authenticate.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request over a link failed (never an ILP-level REJECT: those are replies).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("BTP connection to {0} is closed")]
    Closed(AccountId),
    #[error("peer {0} did not answer in time")]
    Timeout(AccountId),
    #[error("peer {account} answered with BTP error {code} {name}: {message}")]
    PeerError {
        account: AccountId,
        code: String,
        name: String,
        message: String,
    },
    #[error("peer {account} sent an invalid answer: {reason}")]
    BadAnswer { account: AccountId, reason: String },
}

/// What the connector does with requests a peer sends us.
pub trait LinkHandler: Send + Sync + 'static {
    /// An ILP PREPARE arrived from `from` (already decoded).
    fn on_prepare(&self, from: AccountId, prepare: Prepare) -> BoxFuture<'_, IlpReply>;
    /// A settlement (BTP Transfer) arrived: `Ok` means it was applied to the ledger.
    fn on_transfer(
        &self,
        from: AccountId,
        amount: u64,
        data: Vec<ProtocolData>,
    ) -> BoxFuture<'_, Result<(), String>>;
    /// A settlement message (BTP Message whose primary protocolData is
    /// `tollcast-settlement`): `Ok` means it was verified and applied. By default refused.
    fn on_settlement_message(
        &self,
        from: AccountId,
        data: Bytes,
    ) -> BoxFuture<'_, Result<(), String>> {
        let _ = (from, data);
        Box::pin(async { Err("settlement messages are not accepted here".to_string()) })
    }
    /// The account whose server-side token is `token` (`username` as sent, if any).
    fn authenticate(&self, username: Option<&str>, token: &str) -> Option<AccountId>;
    /// The link is authenticated and usable (or replaced an older one).
    fn on_connect(&self, link: Arc<PeerLink>);
    /// The link closed.
    fn on_disconnect(&self, link: &Arc<PeerLink>);
    fn metrics(&self) -> &Metrics;
}

/// One authenticated BTP connection.
pub struct PeerLink {
    pub account: AccountId,
    out: mpsc::UnboundedSender<Bytes>,
    pending: std::sync::Mutex<HashMap<u32, oneshot::Sender<Frame>>>,
    next_id: AtomicU32,
}

impl PeerLink {
    fn new(account: AccountId, out: mpsc::UnboundedSender<Bytes>) -> Arc<Self> {
        Arc::new(PeerLink {
            account,
            out,
            pending: Default::default(),
            next_id: AtomicU32::new(rand::random::<u32>() | 1),
        })
    }

    pub fn is_open(&self) -> bool {
        !self.out.is_closed()
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u32, oneshot::Sender<Frame>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends a request frame built for a fresh id and waits for its answer until `deadline`.
    async fn request(
        &self,
        build: impl FnOnce(u32) -> Bytes,
        deadline: Instant,
    ) -> Result<Frame, LinkError> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut p = self.pending();
            // Never two requests in flight with the same id (RFC 0023).
            let mut id = self.next_id.fetch_add(1, Ordering::Relaxed);
            while p.contains_key(&id) {
                id = self.next_id.fetch_add(1, Ordering::Relaxed);
            }
            p.insert(id, tx);
            id
        };
        if self.out.send(build(id)).is_err() {
            self.pending().remove(&id);
            return Err(LinkError::Closed(self.account.clone()));
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(frame)) => Ok(frame),
            Ok(Err(_)) => Err(LinkError::Closed(self.account.clone())),
            Err(_) => {
                self.pending().remove(&id);
                Err(LinkError::Timeout(self.account.clone()))
            }
        }
    }

    fn answer_error(&self, frame: Frame) -> LinkError {
        match frame {
            Frame::Error {
                code, name, data, ..
            } => LinkError::PeerError {
                account: self.account.clone(),
                code,
                name,
                message: String::from_utf8_lossy(&data).into_owned(),
            },
            other => LinkError::BadAnswer {
                account: self.account.clone(),
                reason: format!("unexpected {} frame as an answer", other.kind()),
            },
        }
    }

    /// Forwards a PREPARE and waits for the FULFILL/REJECT until `deadline`.
    pub async fn send_prepare(
        &self,
        prepare: &Prepare,
        deadline: Instant,
    ) -> Result<IlpReply, LinkError> {
        let ilp = Packet::Prepare(prepare.clone()).encode();
        let frame = self
            .request(
                |id| btp::encode_message(id, &[ProtocolData::ilp(ilp)]),
                deadline,
            )
            .await?;
        match frame {
            Frame::Response { protocol_data, .. } => {
                let ilp = protocol_data
                    .iter()
                    .find(|p| p.name == "ilp")
                    .ok_or_else(|| LinkError::BadAnswer {
                        account: self.account.clone(),
                        reason: "BTP Response without an ilp entry".into(),
                    })?;
                match Packet::decode(ilp.data.clone()) {
                    Ok(Packet::Fulfill(f)) => Ok(Ok(f)),
                    Ok(Packet::Reject(r)) => Ok(Err(r)),
                    Ok(Packet::Prepare(_)) => Err(LinkError::BadAnswer {
                        account: self.account.clone(),
                        reason: "a PREPARE as the answer to a PREPARE".into(),
                    }),
                    Err(e) => Err(LinkError::BadAnswer {
                        account: self.account.clone(),
                        reason: e.to_string(),
                    }),
                }
            }
            other => Err(self.answer_error(other)),
        }
    }

    /// Sends a settlement of `amount` (BTP Transfer); `Ok` once the peer applied it.
    pub async fn send_transfer_with(
        &self,
        amount: u64,
        data: &[ProtocolData],
        deadline: Instant,
    ) -> Result<(), LinkError> {
        match self
            .request(|id| btp::encode_transfer(id, amount, data), deadline)
            .await?
        {
            Frame::Response { .. } => Ok(()),
            other => Err(self.answer_error(other)),
        }
    }
}

impl PeerLink {
    /// Sends a settlement message (BTP Message, e.g. a signed claim); `Ok` once the peer
    /// accepted it, [`LinkError::PeerError`] with its reason when it refused.
    pub async fn send_settlement_message(
        &self,
        data: &[ProtocolData],
        deadline: Instant,
    ) -> Result<(), LinkError> {
        match self
            .request(|id| btp::encode_message(id, data), deadline)
            .await?
        {
            Frame::Response { .. } => Ok(()),
            other => Err(self.answer_error(other)),
        }
    }
}

/// Reads frames from `inbound` until the socket closes, dispatching requests to `handler`
/// and answers to waiting requests. Returns when the connection is over.
async fn drive(
    link: Arc<PeerLink>,
    mut inbound: mpsc::Receiver<Bytes>,
    handler: Arc<dyn LinkHandler>,
) {
    while let Some(raw) = inbound.recv().await {
        let frame = match btp::decode(raw) {
            Ok(f) => f,
            Err(e) => {
                // Unreadable: no answer (RFC 0023), count it, keep the connection.
                tracing::debug!(account = %link.account, error = %e, "dropping unreadable BTP frame");
                handler.metrics().btp_error("malformed");
                continue;
            }
        };
        match frame {
            Frame::Response { request_id, .. } | Frame::Error { request_id, .. } => {
                let waiter = link.pending().remove(&request_id);
                match waiter {
                    Some(w) => {
                        let _ = w.send(frame);
                    }
                    None => handler.metrics().btp_error("unexpected_response"),
                }
            }
            Frame::Message {
                request_id,
                protocol_data,
            } => {
                let link = link.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let reply =
                        on_message(&link, handler.as_ref(), request_id, protocol_data).await;
                    let _ = link.out.send(reply);
                });
            }
            Frame::Transfer {
                request_id,
                amount,
                protocol_data,
            } => {
                let link = link.clone();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let reply = match handler
                        .on_transfer(link.account.clone(), amount, protocol_data)
                        .await
                    {
                        Ok(()) => btp::encode_response(request_id, &[]),
                        Err(msg) => btp::encode_error(
                            request_id,
                            "F00",
                            "NotAcceptedError",
                            msg.as_bytes(),
                            &[],
                        ),
                    };
                    let _ = link.out.send(reply);
                });
            }
        }
    }
    // Fail everything still waiting on this connection.
    link.pending().clear();
}

async fn on_message(
    link: &PeerLink,
    handler: &dyn LinkHandler,
    id: u32,
    pd: Vec<ProtocolData>,
) -> Bytes {
    let Some(primary) = pd.first() else {
        return btp::encode_error(
            id,
            "F00",
            "NotAcceptedError",
            b"Message without protocol data",
            &[],
        );
    };
    match primary.name.as_str() {
        "ilp" => {
            let reply = match Packet::decode(primary.data.clone()) {
                Ok(Packet::Prepare(p)) => handler.on_prepare(link.account.clone(), p).await,
                Ok(_) => {
                    return btp::encode_error(
                        id,
                        "F00",
                        "NotAcceptedError",
                        b"expected an ILP PREPARE",
                        &[],
                    );
                }
                Err(e) => {
                    handler.metrics().btp_error("malformed_ilp");
                    let msg = format!("malformed ILP packet: {e}");
                    return btp::encode_error(id, "F01", "InvalidFieldsError", msg.as_bytes(), &[]);
                }
            };
            let bytes = match reply {
                Ok(f) => Packet::Fulfill(f).encode(),
                Err(r) => Packet::Reject(r).encode(),
            };
            btp::encode_response(id, &[ProtocolData::ilp(bytes)])
        }
        tollcast_ledger::PROTOCOL_DATA_NAME => {
            match handler
                .on_settlement_message(link.account.clone(), primary.data.clone())
                .await
            {
                Ok(()) => btp::encode_response(id, &[]),
                Err(msg) => btp::encode_error(id, "F00", "NotAcceptedError", msg.as_bytes(), &[]),
            }
        }
        // Re-auth on an open connection is harmless: acknowledge it.
        "auth" => btp::encode_response(id, &[]),
        other => {
            let msg = format!("unsupported BTP sub-protocol {other:?}");
            btp::encode_error(id, "F00", "NotAcceptedError", msg.as_bytes(), &[])
        }
    }
}

/// Runs an authenticated link over a socket already split into raw frame channels:
/// registers it with the handler, drives it, and unregisters it when it closes.
async fn run_link(
    account: AccountId,
    out_tx: mpsc::UnboundedSender<Bytes>,
    inbound: mpsc::Receiver<Bytes>,
    handler: Arc<dyn LinkHandler>,
) {
    let link = PeerLink::new(account, out_tx);
    handler.on_connect(link.clone());
    drive(link.clone(), inbound, handler.clone()).await;
    handler.on_disconnect(&link);
}

/// Checks the first frame of a server-side connection; `Ok((id, account))` when it is a
/// valid `auth` Message with a known token.
fn check_auth(
    raw: Bytes,
    handler: &dyn LinkHandler,
) -> Result<(u32, AccountId), (Option<u32>, String)> {
    let frame = btp::decode(raw).map_err(|e| (None, format!("unreadable first frame: {e}")))?;
    let Frame::Message {
        request_id,
        protocol_data,
    } = frame
    else {
        return Err((
            None,
            format!("expected an auth Message first, got {}", frame.kind()),
        ));
    };
    let fail = |m: &str| Err((Some(request_id), m.to_string()));
    match protocol_data.first() {
        Some(p) if p.name == "auth" => {}
        _ => return fail("the first Message must have primary sub-protocol 'auth'"),
    }
    let Some(token) = protocol_data.iter().find(|p| p.name == "auth_token") else {
        return fail("auth Message without an 'auth_token' entry");
    };
    let token = match std::str::from_utf8(&token.data) {
        Ok(t) => t,
        Err(_) => return fail("auth_token is not UTF-8"),
    };
    let username = protocol_data
        .iter()
        .find(|p| p.name == "auth_username")
        .and_then(|p| std::str::from_utf8(&p.data).ok())
        .filter(|u| !u.is_empty());
    match handler.authenticate(username, token) {
        Some(acc) => Ok((request_id, acc)),
        None => fail("invalid auth token"),
    }
}

/// Serves one server-side WebSocket (from axum's upgrade): authentication, then the link.
pub async fn serve_socket(socket: axum::extract::ws::WebSocket, handler: Arc<dyn LinkHandler>) {
    use axum::extract::ws::Message;
    let (mut sink, mut stream) = socket.split();
    let first = tokio::time::timeout(AUTH_TIMEOUT, async {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) => return Some(b),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
        None
    })
    .await;
    let raw = match first {
        Ok(Some(b)) => b,
        Ok(None) => return,
        Err(_) => {
            handler.metrics().btp_error("auth_timeout");
            let _ = sink.send(Message::Close(None)).await;
            return;
        }
    };
    let (auth_id, account) = match check_auth(raw, handler.as_ref()) {
        Ok(ok) => ok,
        Err((id, msg)) => {
            tracing::info!("refusing BTP peer: {msg}");
            handler.metrics().btp_error("unauthenticated");
            if let Some(id) = id {
                let err = btp::encode_error(id, "F00", "NotAcceptedError", msg.as_bytes(), &[]);
                let _ = sink.send(Message::Binary(err)).await;
            }
            let _ = sink.send(Message::Close(None)).await;
            return;
        }
    };
    if sink
        .send(Message::Binary(btp::encode_response(auth_id, &[])))
        .await
        .is_err()
    {
        return;
    }
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(1024);
    let writer = tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if sink.send(Message::Binary(b)).await.is_err() {
                break;
            }
        }
        let _ = sink.send(Message::Close(None)).await;
    });
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) => {
                    let Ok(()) = in_tx.send(b).await else { break };
                }
                Message::Close(_) => break,
                // Text frames are not BTP: ignore like any unreadable frame.
                _ => {}
            }
        }
    });
    run_link(account, out_tx, in_rx, handler).await;
    reader.abort();
    writer.abort();
}

/// A parsed BTP client URL: the WebSocket URL to dial and the credentials to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BtpTarget {
    pub ws_url: String,
    pub username: String,
    pub token: String,
}

/// Accepts `ws://`, `wss://`, `btp+ws://` and `btp+wss://` URLs; credentials in the URL
/// (`btp+ws://user:token@host`) are used unless `token` is given.
pub fn parse_btp_url(u: &str, token: Option<&str>) -> Result<BtpTarget, String> {
    let mut url = url::Url::parse(u).map_err(|e| format!("{u:?}: {e}"))?;
    let scheme = match url.scheme() {
        "ws" | "btp+ws" => "ws",
        "wss" | "btp+wss" => "wss",
        s => {
            return Err(format!(
                "{u:?}: scheme {s:?} is not ws, wss, btp+ws or btp+wss"
            ));
        }
    };
    let username = url.username().to_string();
    let url_token = url.password().unwrap_or_default().to_string();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let rest = url
        .as_str()
        .split_once("://")
        .map(|(_, r)| r.to_string())
        .unwrap_or_default();
    Ok(BtpTarget {
        ws_url: format!("{scheme}://{rest}"),
        username,
        token: token.map(str::to_string).unwrap_or(url_token),
    })
}

/// Keeps a client link to `target` up for `account`: connect, authenticate, drive; on any
/// failure wait (exponential backoff from `min` to `max`) and reconnect, forever.
pub async fn run_client(
    account: AccountId,
    target: BtpTarget,
    handler: Arc<dyn LinkHandler>,
    min: Duration,
    max: Duration,
) {
    let mut delay = min;
    loop {
        match connect_once(&account, &target, handler.clone()).await {
            Ok(()) => delay = min,
            Err(e) => {
                tracing::debug!(%account, url = %target.ws_url, "BTP connect failed: {e}");
                handler.metrics().btp_error("connect_failed");
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max);
    }
}

/// One client connection: returns `Ok` after an authenticated session ended.
async fn connect_once(
    account: &AccountId,
    target: &BtpTarget,
    handler: Arc<dyn LinkHandler>,
) -> Result<(), String> {
    use tokio_tungstenite::tungstenite::Message;
    // Nagle off (`connect_async` leaves it on): a PREPARE or a FULFILL written while an
    // earlier one is unacknowledged would wait for the peer's delayed ACK.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(target.ws_url.as_str(), None, true)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = ws.split();
    let auth_id: u32 = rand::random();
    let auth = btp::encode_message(
        auth_id,
        &[
            btp::octets("auth", Bytes::new()),
            ProtocolData::text("auth_username", &target.username),
            ProtocolData::text("auth_token", &target.token),
        ],
    );
    sink.send(Message::Binary(auth))
        .await
        .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(AUTH_TIMEOUT, async {
        while let Some(m) = stream.next().await {
            match m {
                Ok(Message::Binary(b)) => return Ok(b),
                Ok(Message::Close(_)) => return Err("closed during auth".to_string()),
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err("closed during auth".to_string())
    })
    .await
    .map_err(|_| "no answer to auth".to_string())??;
    match btp::decode(answer) {
        Ok(Frame::Response { request_id, .. }) if request_id == auth_id => {}
        Ok(Frame::Error {
            code, name, data, ..
        }) => {
            return Err(format!(
                "auth refused: {code} {name}: {}",
                String::from_utf8_lossy(&data)
            ));
        }
        Ok(f) => return Err(format!("unexpected {} frame in answer to auth", f.kind())),
        Err(e) => return Err(format!("unreadable answer to auth: {e}")),
    }
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Bytes>();
    let (in_tx, in_rx) = mpsc::channel::<Bytes>(1024);
    let writer = tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if sink.send(Message::Binary(b)).await.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) => {
                    let Ok(()) = in_tx.send(b).await else { break };
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    run_link(account.clone(), out_tx, in_rx, handler).await;
    reader.abort();
    writer.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btp_urls() {
        let t = parse_btp_url("btp+ws://alice:s3cret@127.0.0.1:7768", None).unwrap();
        assert_eq!(
            t,
            BtpTarget {
                ws_url: "ws://127.0.0.1:7768".into(),
                username: "alice".into(),
                token: "s3cret".into()
            }
        );
        let t = parse_btp_url("ws://127.0.0.1:1/x", Some("tok")).unwrap();
        assert_eq!(t.token, "tok");
        assert_eq!(t.ws_url, "ws://127.0.0.1:1/x");
        assert!(parse_btp_url("http://127.0.0.1:1", None).is_err());
        assert!(parse_btp_url("nonsense", None).is_err());
    }
}

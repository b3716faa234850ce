//! The RTMP listener (OBS's default ingest): `rtmp-rs` accepts `rtmp://host:port/{app}/{key}`,
//! refuses a wrong app or stream key and a second concurrent publisher, and re-wraps the raw FLV
//! tags into an FLV byte stream that ffmpeg remuxes (no re-encode) into CMAF on its stdout.
//! An encoder disconnect closes the FLV stream, so ffmpeg flushes and the session ends cleanly.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};
use rtmp_rs::media::{FlvTag, FlvTagType};
use rtmp_rs::protocol::message::{ConnectParams, PublishParams};
use rtmp_rs::server::handler::MediaDeliveryMode;
use rtmp_rs::session::{SessionContext, StreamContext};
use rtmp_rs::{AuthResult, RtmpHandler, RtmpServer, ServerConfig};
use tokio::sync::mpsc;

use crate::error::{MediaError, Result};

/// One accepted publish: the FLV bytes (header first) until the encoder goes away.
pub struct RtmpSession {
    pub session_id: u64,
    pub peer: SocketAddr,
    pub flv: mpsc::Receiver<Bytes>,
    /// Wall clock (ms since epoch) when the first media tag arrived: the capture anchor of the
    /// session's first sample.
    pub anchor_ms: Arc<Mutex<Option<i64>>>,
}

struct Active {
    session_id: u64,
    tx: mpsc::Sender<Bytes>,
    anchor_ms: Arc<Mutex<Option<i64>>>,
}

struct Handler {
    app: String,
    key: String,
    active: Mutex<Option<Active>>,
    sessions: mpsc::Sender<RtmpSession>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The 13 bytes that start an FLV stream with audio and video (header + PreviousTagSize0).
fn flv_header() -> Bytes {
    Bytes::from_static(&[b'F', b'L', b'V', 1, 0x05, 0, 0, 0, 9, 0, 0, 0, 0])
}

/// One FLV tag with its trailing PreviousTagSize.
fn flv_tag(tag: &FlvTag) -> Option<Bytes> {
    let kind: u8 = match tag.tag_type {
        FlvTagType::Audio => 8,
        FlvTagType::Video => 9,
        FlvTagType::Script => 18,
    };
    let len = tag.data.len();
    if len >= 1 << 24 {
        return None;
    }
    let mut b = BytesMut::with_capacity(11 + len + 4);
    b.put_u8(kind);
    b.put_uint(len as u64, 3);
    b.put_uint((tag.timestamp & 0x00ff_ffff) as u64, 3);
    b.put_u8((tag.timestamp >> 24) as u8);
    b.put_uint(0, 3);
    b.put_slice(&tag.data);
    b.put_u32((11 + len) as u32);
    Some(b.freeze())
}

impl Handler {
    fn active(&self) -> std::sync::MutexGuard<'_, Option<Active>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn end(&self, session_id: u64) {
        let mut a = self.active();
        if a.as_ref().is_some_and(|x| x.session_id == session_id) {
            tracing::info!(session_id, "RTMP publisher left; ending the session");
            *a = None;
        }
    }
}

impl RtmpHandler for Handler {
    async fn on_connect(&self, ctx: &SessionContext, params: &ConnectParams) -> AuthResult {
        if params.app != self.app {
            tracing::warn!(peer = %ctx.peer_addr, app = %params.app, "RTMP connect refused: unknown app");
            return AuthResult::Reject(format!("unknown app `{}`", params.app));
        }
        AuthResult::Accept
    }

    async fn on_publish(&self, ctx: &SessionContext, params: &PublishParams) -> AuthResult {
        if params.stream_key != self.key {
            tracing::warn!(peer = %ctx.peer_addr, "RTMP publish refused: wrong stream key");
            return AuthResult::Reject("wrong stream key".into());
        }
        let (tx, rx) = mpsc::channel(1024);
        let anchor = Arc::new(Mutex::new(None));
        {
            let mut a = self.active();
            if a.is_some() {
                tracing::warn!(peer = %ctx.peer_addr, "RTMP publish refused: a publisher is already live");
                return AuthResult::Reject("stream already has a publisher".into());
            }
            if tx.try_send(flv_header()).is_err() {
                return AuthResult::Reject("internal: session channel closed".into());
            }
            *a = Some(Active {
                session_id: ctx.session_id,
                tx,
                anchor_ms: anchor.clone(),
            });
        }
        tracing::info!(peer = %ctx.peer_addr, session_id = ctx.session_id, "RTMP publisher accepted");
        let session = RtmpSession {
            session_id: ctx.session_id,
            peer: ctx.peer_addr,
            flv: rx,
            anchor_ms: anchor,
        };
        if self.sessions.send(session).await.is_err() {
            self.end(ctx.session_id);
            return AuthResult::Reject("ingest is shutting down".into());
        }
        AuthResult::Accept
    }

    async fn on_media_tag(&self, ctx: &StreamContext, tag: &FlvTag) -> bool {
        let tx = {
            let a = self.active();
            match a.as_ref() {
                Some(x) if x.session_id == ctx.session.session_id => {
                    if tag.tag_type != FlvTagType::Script {
                        let mut anchor = x.anchor_ms.lock().unwrap_or_else(|e| e.into_inner());
                        if anchor.is_none() {
                            *anchor = Some(now_ms());
                        }
                    }
                    x.tx.clone()
                }
                _ => return true,
            }
        };
        if let Some(bytes) = flv_tag(tag)
            && tx.send(bytes).await.is_err()
        {
            // ffmpeg went away: stop feeding this session.
            self.end(ctx.session.session_id);
        }
        true
    }

    async fn on_unpublish(&self, ctx: &StreamContext) {
        self.end(ctx.session.session_id);
    }

    async fn on_disconnect(&self, ctx: &SessionContext) {
        self.end(ctx.session_id);
    }

    fn media_delivery_mode(&self) -> MediaDeliveryMode {
        MediaDeliveryMode::RawFlv
    }
}

/// A running RTMP listener; new publish sessions arrive on [`RtmpIngest::next_session`].
pub struct RtmpIngest {
    pub addr: SocketAddr,
    sessions: mpsc::Receiver<RtmpSession>,
    task: tokio::task::JoinHandle<()>,
}

impl RtmpIngest {
    /// Listen on `addr` (port 0 picks a free port) for publishers to `/{app}/{key}`.
    pub async fn start(addr: SocketAddr, app: &str, key: &str) -> Result<Self> {
        // rtmp-rs binds by itself; probe the address first so a busy port is a clear error and
        // port 0 resolves to a concrete free port.
        let probe = std::net::TcpListener::bind(addr)
            .map_err(|e| MediaError::BadSource(format!("cannot listen for RTMP on {addr}: {e}")))?;
        let addr = probe.local_addr()?;
        drop(probe);
        let (stx, srx) = mpsc::channel(4);
        let handler = Handler {
            app: app.to_string(),
            key: key.to_string(),
            active: Mutex::new(None),
            sessions: stx,
        };
        let server = RtmpServer::new(ServerConfig::default().bind(addr), handler);
        let task = tokio::spawn(async move {
            if let Err(e) = server.run().await {
                tracing::error!(%addr, "RTMP listener stopped: {e}");
            }
        });
        // Wait until the listener accepts connections.
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        tracing::info!(%addr, "RTMP ingest listening (rtmp://{addr}/{app}/<stream key>)");
        Ok(Self {
            addr,
            sessions: srx,
            task,
        })
    }

    /// The next accepted publisher (None once the listener stopped).
    pub async fn next_session(&mut self) -> Option<RtmpSession> {
        self.sessions.recv().await
    }

    /// ffmpeg input arguments to read this ingest's FLV from stdin and remux it.
    pub fn ffmpeg_args() -> Vec<String> {
        ["-f", "flv", "-i", "pipe:0", "-c", "copy"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

impl Drop for RtmpIngest {
    fn drop(&mut self) {
        self.task.abort();
    }
}

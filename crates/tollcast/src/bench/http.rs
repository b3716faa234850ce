//! A keep-alive HTTP/1.1 GET client for simulated players (one connection per viewer, like a
//! browser's), counting the body bytes it received.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;

pub struct Client {
    addr: SocketAddr,
    bearer: Option<String>,
    timeout: Duration,
    conn: Option<SendRequest<Empty<Bytes>>>,
    pub body_bytes: u64,
    pub requests: u64,
}

impl Client {
    pub fn new(addr: SocketAddr, bearer: Option<String>) -> Client {
        Client {
            addr,
            bearer,
            timeout: Duration::from_secs(15),
            conn: None,
            body_bytes: 0,
            requests: 0,
        }
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Empty<Bytes>>> {
        let s = tokio::net::TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connect {}", self.addr))?;
        let _ = s.set_nodelay(true);
        let (sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(s)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// GET `path`; reconnects once if the kept-alive connection was closed.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Bytes)> {
        match tokio::time::timeout(self.timeout, self.get_inner(path)).await {
            Ok(r) => r,
            Err(_) => {
                self.conn = None;
                bail!("GET {path}: no answer within {:?}", self.timeout)
            }
        }
    }

    async fn get_inner(&mut self, path: &str) -> anyhow::Result<(u16, Bytes)> {
        let mut last = None;
        for _ in 0..2 {
            if self.conn.as_ref().is_none_or(|c| c.is_closed()) {
                self.conn = Some(self.connect().await?);
            }
            let Some(c) = self.conn.as_mut() else {
                continue;
            };
            if c.ready().await.is_err() {
                self.conn = None;
                continue;
            }
            let mut req =
                hyper::Request::get(path).header(hyper::header::HOST, self.addr.to_string());
            if let Some(b) = &self.bearer {
                req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {b}"));
            }
            match c.send_request(req.body(Empty::new())?).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.into_body().collect().await?.to_bytes();
                    self.body_bytes += body.len() as u64;
                    self.requests += 1;
                    return Ok((status, body));
                }
                Err(e) => {
                    self.conn = None;
                    last = Some(e);
                }
            }
        }
        bail!(
            "GET {path} from {}: {}",
            self.addr,
            last.map(|e| e.to_string())
                .unwrap_or_else(|| "connection refused".into())
        )
    }
}

//! Talking to the upstream (the origin or a parent relay): a small HTTP/1.1 GET client and a
//! request coalescer, so N viewers asking for the same thing at once cause one upstream fetch.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::OnceCell;

use super::RelayError;

/// Largest upstream body accepted (a segment of a high-bitrate rendition fits many times).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// What the upstream answered.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub body: Bytes,
}

/// The upstream's base URL (`http://host:port`, optionally with a path prefix).
#[derive(Debug, Clone)]
pub struct Upstream {
    host: String,
    port: u16,
    prefix: String,
    timeout: Duration,
    /// Viewer id presented to a paid upstream (`Authorization: Bearer`).
    bearer: Option<String>,
}

impl Upstream {
    /// Parse `http://host:port[/prefix]`; `timeout` bounds each request (blocking playlist
    /// reloads wait up to three target durations upstream, so give it more than that).
    pub fn new(url: &str, timeout: Duration) -> Result<Self, RelayError> {
        let u = url::Url::parse(url)
            .map_err(|e| RelayError::Config(format!("upstream URL `{url}`: {e}")))?;
        if u.scheme() != "http" {
            return Err(RelayError::Config(format!(
                "upstream URL `{url}` must start with http:// (TLS upstreams are not supported yet)"
            )));
        }
        let host = u
            .host_str()
            .ok_or_else(|| RelayError::Config(format!("upstream URL `{url}` has no host")))?
            .to_string();
        Ok(Self {
            host,
            port: u.port_or_known_default().unwrap_or(80),
            prefix: u.path().trim_end_matches('/').to_string(),
            timeout,
            bearer: None,
        })
    }

    /// Present `viewer` to the upstream (a paid parent relay credits this relay's payments to
    /// that id).
    pub fn with_bearer(mut self, viewer: impl Into<String>) -> Self {
        self.bearer = Some(viewer.into());
        self
    }

    /// `http://host:port/prefix`.
    pub fn base_url(&self) -> String {
        format!("http://{}:{}{}", self.host, self.port, self.prefix)
    }

    /// GET `path_and_query` (starting with `/`) from the upstream.
    pub async fn get(&self, path_and_query: &str) -> Result<UpstreamResponse, RelayError> {
        let what = format!("{}{}", self.base_url(), path_and_query);
        match tokio::time::timeout(self.timeout, self.get_inner(path_and_query, &what)).await {
            Ok(r) => r,
            Err(_) => Err(RelayError::Upstream(format!(
                "{what}: no answer within {:?}",
                self.timeout
            ))),
        }
    }

    async fn get_inner(
        &self,
        path_and_query: &str,
        what: &str,
    ) -> Result<UpstreamResponse, RelayError> {
        let err = |e: &dyn std::fmt::Display| RelayError::Upstream(format!("{what}: {e}"));
        let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| err(&e))?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| err(&e))?;
        let driver = tokio::spawn(conn);
        let mut req = hyper::Request::get(format!("{}{path_and_query}", self.prefix))
            .header(header::HOST, format!("{}:{}", self.host, self.port));
        if let Some(b) = &self.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {b}"));
        }
        let req = req
            .body(http_body_util::Empty::<Bytes>::new())
            .map_err(|e| err(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| err(&e))?;
        let status = resp.status();
        let hv = |n: header::HeaderName| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = hv(header::CONTENT_TYPE);
        let cache_control = hv(header::CACHE_CONTROL);
        let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| err(&e))?
            .to_bytes();
        driver.abort();
        Ok(UpstreamResponse {
            status,
            content_type,
            cache_control,
            body,
        })
    }
}

/// Coalesces concurrent work by key: while one call for `key` runs, later callers wait for its
/// result instead of starting their own. Nothing is remembered once the call finished (the
/// caller caches results where they are immutable).
pub struct Coalescer<T: Clone> {
    inflight: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T: Clone> Default for Coalescer<T> {
    fn default() -> Self {
        Self {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<T: Clone> Coalescer<T> {
    /// Run `work` for `key` unless a run for `key` is in flight; either way return its result.
    /// If the leading caller is cancelled, a waiting caller takes over the work.
    pub async fn run<F, Fut>(&self, key: &str, work: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = self
            .lock()
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let out = cell.get_or_init(work).await.clone();
        let mut map = self.lock();
        if map.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            map.remove(key);
        }
        out
    }

    /// Keys being worked on now.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<T>>>> {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn concurrent_calls_share_one_run() {
        let c = Arc::new(Coalescer::<u32>::default());
        let runs = Arc::new(AtomicU32::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (c, runs, gate) = (c.clone(), runs.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                c.run("k", || async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    7
                })
                .await
            }));
        }
        // Wait until the leader is inside its work, then release it.
        while runs.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(c.in_flight(), 0);
        // A later call runs again (nothing is cached).
        assert_eq!(c.run("k", || async { 8 }).await, 8);
    }

    #[test]
    fn upstream_url_must_be_http() {
        assert!(Upstream::new("https://x.example", Duration::from_secs(1)).is_err());
        assert!(Upstream::new("not a url", Duration::from_secs(1)).is_err());
        let u = Upstream::new("http://127.0.0.1:9/base/", Duration::from_secs(1)).unwrap();
        assert_eq!(u.base_url(), "http://127.0.0.1:9/base");
    }
}

//! A small keep-alive HTTP/1.1 client for the demo (simulated viewers, metric scraping, the
//! reverse proxy in front of the viewer agent).

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest body read (a part or a playlist is far smaller).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// A cloneable pooled client.
#[derive(Clone)]
pub struct Http {
    client: HyperClient<HttpConnector, Full<Bytes>>,
}

/// Status and body of an answer.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Http {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        let client = HyperClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(conn);
        Http { client }
    }

    /// GET `url` with an optional bearer token, giving up after `timeout`.
    pub async fn get(
        &self,
        url: &str,
        bearer: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Answer> {
        self.request(Method::GET, url, bearer, None, timeout).await
    }

    pub async fn request(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> anyhow::Result<Answer> {
        let mut req = Request::builder().method(method).uri(url);
        if let Some(b) = bearer {
            req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {b}"));
        }
        if body.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .with_context(|| format!("bad URL {url}"))?;
        let work = async {
            let resp = self
                .client
                .request(req)
                .await
                .with_context(|| format!("GET {url}"))?;
            let status = resp.status();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading {url}: {e}"))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(timeout, work)
            .await
            .with_context(|| format!("{url}: no answer within {timeout:?}"))?
    }

    /// Forwards a whole request (the demo's reverse proxy); returns the raw response.
    pub async fn forward(
        &self,
        req: Request<Full<Bytes>>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        self.client.request(req).await
    }
}

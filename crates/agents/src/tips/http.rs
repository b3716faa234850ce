//! A minimal HTTP/1.1 JSON client (plain `http://` only) for the tip exchange.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header;

/// A JSON request/response failure.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("URL `{0}`: {1}")]
    Url(String, String),
    #[error("{0}: {1}")]
    Io(String, String),
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{0}: no answer within {1:?}")]
    Timeout(String, Duration),
    #[error("{0}: body is not JSON: {1}")]
    Json(String, String),
}

/// POST `body` as JSON to `url` (None: GET) and parse the JSON answer of a 2xx status.
pub async fn json(
    url: &str,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<serde_json::Value, HttpError> {
    json_accept(url, body, "application/json", timeout).await
}

/// [`json`] with another `Accept` header (e.g. `application/nostr+json` for NIP-11).
pub async fn json_accept(
    url: &str,
    body: Option<&serde_json::Value>,
    accept: &str,
    timeout: Duration,
) -> Result<serde_json::Value, HttpError> {
    match tokio::time::timeout(timeout, inner(url, body, accept)).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout(url.to_string(), timeout)),
    }
}

async fn inner(
    url: &str,
    body: Option<&serde_json::Value>,
    accept: &str,
) -> Result<serde_json::Value, HttpError> {
    let u = url::Url::parse(url).map_err(|e| HttpError::Url(url.into(), e.to_string()))?;
    if u.scheme() != "http" {
        return Err(HttpError::Url(
            url.into(),
            "only http:// is supported".into(),
        ));
    }
    let host = u
        .host_str()
        .ok_or_else(|| HttpError::Url(url.into(), "no host".into()))?
        .to_string();
    let port = u.port_or_known_default().unwrap_or(80);
    let io_err = |e: &dyn std::fmt::Display| HttpError::Io(url.to_string(), e.to_string());
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| io_err(&e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| io_err(&e))?;
    let driver = tokio::spawn(conn);
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_string(),
    };
    let builder = hyper::Request::builder()
        .method(if body.is_some() { "POST" } else { "GET" })
        .uri(path)
        .header(header::HOST, format!("{host}:{port}"))
        .header(header::ACCEPT, accept);
    let req = match body {
        Some(b) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(Bytes::from(b.to_string()))),
        None => builder.body(http_body_util::Full::new(Bytes::new())),
    }
    .map_err(|e| io_err(&e))?;
    let resp = sender.send_request(req).await.map_err(|e| io_err(&e))?;
    let status = resp.status().as_u16();
    let bytes = http_body_util::Limited::new(resp.into_body(), 1 << 20)
        .collect()
        .await
        .map_err(|e| io_err(&e))?
        .to_bytes();
    driver.abort();
    if !(200..300).contains(&status) {
        return Err(HttpError::Status {
            url: url.to_string(),
            status,
            body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| HttpError::Json(url.to_string(), e.to_string()))
}

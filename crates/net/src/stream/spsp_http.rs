//! SPSP over HTTP (RFC 0009): the responder route and a small client.
//!
//! The responder answers `GET <path>` (and `GET <path>/<tag>`, the tag reaching the receiver's
//! events) with fresh STREAM credentials as `application/spsp4+json`:
//! `{"destination_account": "...", "shared_secret": "<base64 of 32 bytes>"}`, with
//! `Cache-Control: no-cache` (each answer has its own secret) and the CORS headers RFC 0009
//! recommends. The client resolves `$host/path` payment pointers and plain URLs; it speaks
//! HTTP/1.1 over TCP (plain `http://`; `https://` needs a TLS stack tollcast does not link).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use tollcast_wire::address::Address;

use super::receiver::StreamReceiver;

/// The media type of SPSP v4 responses.
pub const SPSP_CONTENT_TYPE: &str = "application/spsp4+json";

/// Resolved SPSP details: where and with which secret to open a STREAM connection.
#[derive(Clone, PartialEq, Eq)]
pub struct SpspDetails {
    /// `destination_account`.
    pub destination_account: Address,
    /// `shared_secret`, decoded.
    pub shared_secret: [u8; 32],
}

impl std::fmt::Debug for SpspDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpspDetails")
            .field("destination_account", &self.destination_account)
            .finish_non_exhaustive()
    }
}

impl SpspDetails {
    /// The JSON body of an SPSP response.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "destination_account": self.destination_account.as_str(),
            "shared_secret": base64::engine::general_purpose::STANDARD.encode(self.shared_secret),
        })
    }

    /// Parses an SPSP response body (unknown fields ignored; the secret may be base64 or
    /// base64url, padded or not).
    pub fn from_json(body: &[u8]) -> Result<Self, SpspError> {
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| SpspError::BadResponse(format!("not JSON: {e}")))?;
        let dest = v
            .get("destination_account")
            .and_then(|d| d.as_str())
            .ok_or_else(|| SpspError::BadResponse("missing destination_account".into()))?;
        let secret = v
            .get("shared_secret")
            .and_then(|d| d.as_str())
            .ok_or_else(|| SpspError::BadResponse("missing shared_secret".into()))?;
        Self::from_parts(dest, secret)
    }

    /// Validates an address and a base64/base64url 32-byte secret.
    pub fn from_parts(
        destination_account: &str,
        shared_secret_b64: &str,
    ) -> Result<Self, SpspError> {
        let destination_account = Address::new(destination_account)
            .map_err(|e| SpspError::BadResponse(format!("destination_account: {e}")))?;
        let shared_secret = decode_secret(shared_secret_b64).ok_or_else(|| {
            SpspError::BadResponse("shared_secret is not 32 bytes of base64".into())
        })?;
        Ok(Self {
            destination_account,
            shared_secret,
        })
    }
}

/// Decodes a 32-byte secret in any base64 flavour.
pub fn decode_secret(s: &str) -> Option<[u8; 32]> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let t = s.trim().trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(t)
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
        .ok()?;
    bytes.try_into().ok()
}

/// Why an SPSP query failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpspError {
    /// The receiver string is not a URL or payment pointer we can use.
    #[error("invalid SPSP receiver {0:?}: give http://host:port/path or $host/path")]
    BadReceiver(String),
    /// https is not available in this build.
    #[error(
        "{0}: https SPSP endpoints are not supported by this build; use an http:// URL (e.g. a local node) or SPSP over Nostr (npub)"
    )]
    HttpsUnsupported(String),
    /// Network failure.
    #[error("SPSP request to {url} failed: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// Non-200 answer.
    #[error("SPSP endpoint {url} answered HTTP {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body (truncated).
        body: String,
    },
    /// The body is not an SPSP response.
    #[error("bad SPSP response: {0}")]
    BadResponse(String),
}

/// Turns `$host/path` into `https://host/path` (`/.well-known/pay` for an empty path), and
/// leaves URLs alone (an empty path becomes `/.well-known/pay` too).
pub fn endpoint_url(receiver: &str) -> Result<url::Url, SpspError> {
    let s = receiver.trim();
    let mut u = if let Some(rest) = s.strip_prefix('$') {
        url::Url::parse(&format!("https://{rest}")).map_err(|_| SpspError::BadReceiver(s.into()))?
    } else {
        url::Url::parse(s).map_err(|_| SpspError::BadReceiver(s.into()))?
    };
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
        return Err(SpspError::BadReceiver(s.into()));
    }
    if u.path() == "/" || u.path().is_empty() {
        u.set_path("/.well-known/pay");
    }
    Ok(u)
}

/// Queries an SPSP endpoint (`http://...` URL or `$pointer`).
pub async fn query(receiver: &str, timeout: Duration) -> Result<SpspDetails, SpspError> {
    let url = endpoint_url(receiver)?;
    if url.scheme() == "https" {
        return Err(SpspError::HttpsUnsupported(url.to_string()));
    }
    let u = url.to_string();
    let fut = async {
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port_or_known_default().unwrap_or(80);
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| SpspError::Http {
                url: u.clone(),
                reason: e.to_string(),
            })?;
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| SpspError::Http {
                url: u.clone(),
                reason: e.to_string(),
            })?;
        let driver = tokio::spawn(conn);
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        let req = hyper::Request::get(path)
            .header(header::HOST, host_header)
            .header(
                header::ACCEPT,
                "application/spsp4+json, application/spsp+json",
            )
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| SpspError::Http {
                url: u.clone(),
                reason: e.to_string(),
            })?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| SpspError::Http {
                url: u.clone(),
                reason: e.to_string(),
            })?;
        let status = resp.status();
        use http_body_util::BodyExt;
        let body = http_body_util::Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| SpspError::Http {
                url: u.clone(),
                reason: e.to_string(),
            })?
            .to_bytes();
        driver.abort();
        if status != StatusCode::OK {
            return Err(SpspError::Status {
                url: u.clone(),
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            });
        }
        SpspDetails::from_json(&body)
    };
    match tokio::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(SpspError::Http {
            url: u,
            reason: format!("no answer within {timeout:?}"),
        }),
    }
}

/// An axum router answering SPSP queries at `path` and `path/{tag}` with credentials of
/// `receiver`. Merge it into the node's HTTP server (e.g. `path = "/.well-known/pay"`).
pub fn router(receiver: Arc<StreamReceiver>, path: &str) -> Router {
    let base = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let tagged = format!("{}/{{tag}}", base.trim_end_matches('/'));
    Router::new()
        .route(&base, get(spsp_untagged).options(preflight))
        .route(&tagged, get(spsp_tagged).options(preflight))
        .with_state(receiver)
}

async fn spsp_untagged(State(r): State<Arc<StreamReceiver>>, headers: HeaderMap) -> Response {
    respond(&r, None, &headers)
}

async fn spsp_tagged(
    State(r): State<Arc<StreamReceiver>>,
    Path(tag): Path<String>,
    headers: HeaderMap,
) -> Response {
    if tag.is_empty()
        || tag.len() > 128
        || !tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_~".contains(&b))
    {
        return error_response(
            StatusCode::NOT_FOUND,
            "InvalidReceiverError",
            "Invalid receiver ID",
        );
    }
    respond(&r, Some(&tag), &headers)
}

async fn preflight() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    cors(resp.headers_mut());
    resp
}

fn cors(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("web-monetization-id"),
    );
}

fn error_response(status: StatusCode, id: &str, message: &str) -> Response {
    let body = serde_json::json!({ "id": id, "message": message }).to_string();
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SPSP_CONTENT_TYPE),
    );
    cors(resp.headers_mut());
    resp
}

fn respond(r: &StreamReceiver, tag: Option<&str>, headers: &HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    let acceptable = accept.split(',').any(|m| {
        let m = m.split(';').next().unwrap_or("").trim();
        matches!(
            m,
            "application/spsp4+json" | "application/spsp+json" | "application/*" | "*/*"
        )
    });
    if !acceptable {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            "send Accept: application/spsp4+json",
        );
    }
    let (destination_account, shared_secret) = r.generate_credentials(tag);
    let body = SpspDetails {
        destination_account,
        shared_secret,
    }
    .to_json()
    .to_string();
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(SPSP_CONTENT_TYPE),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    cors(h);
    resp
}

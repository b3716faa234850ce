//! The relay's HTTP face: the origin's LL-HLS routes (so players and child relays cannot tell
//! a relay from the origin), each gated by credit-mode billing when it is on.
//!
//! - `/live/master.m3u8`, `/live/{rendition}/index.m3u8[?...]`: passed through from upstream
//!   (blocking reloads wait upstream; identical concurrent requests share one upstream request)
//! - `/live/{rendition}/hint/{msn}.{part}.m4s`: preload-hinted part, verified
//! - `/{sha256}[.ext]`: any chunk, verified and cached
//! - `/.well-known/pay[/{viewer}]`: SPSP, with [`Relay::paid_router`]
//!
//! A viewer names itself with `Authorization: Bearer <viewer>` or `?viewer=<viewer>`. Refused
//! viewers get `402 Payment Required` with a JSON [`PaymentRequired`](super::billing::PaymentRequired).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{OriginalUri, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tollcast_net::stream::{StreamReceiver, spsp_http};

use super::{Relay, RelayError};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl Relay {
    /// The HTTP routes (see the module doc).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/live/master.m3u8", get(playlist).options(preflight))
            .route(
                "/live/{rendition}/index.m3u8",
                get(playlist).options(preflight),
            )
            .route(
                "/live/{rendition}/hint/{file}",
                get(hint).options(preflight),
            )
            .route("/{name}", get(chunk).options(preflight))
            .layer(middleware::from_fn_with_state(self.clone(), gate))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }

    /// [`Self::router`] plus the SPSP endpoint viewers pay through (never gated):
    /// `/.well-known/pay/{viewer}` hands out STREAM credentials tagged with the viewer id,
    /// which [`Billing::follow`](super::billing::Billing::follow) credits.
    pub fn paid_router(&self, receiver: Arc<StreamReceiver>) -> Router {
        self.router().merge(spsp_http::router(receiver, PAY_PATH))
    }
}

/// Where [`Relay::paid_router`] serves SPSP.
pub const PAY_PATH: &str = "/.well-known/pay";

/// Where the CLI serves SPSP for ILP-native delivery (its own receiver).
pub const NATIVE_PAY_PATH: &str = "/.well-known/pay-native";

/// The viewer id a request carries.
pub fn viewer_of(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        let v = v.trim();
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "viewer")
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// CORS preflight (players on another origin send `Authorization`), then the credit-mode
/// gate: 402 unless the viewer's balance covers it.
async fn gate(State(relay): State<Relay>, req: Request, next: Next) -> Response {
    if req.method() == Method::OPTIONS {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        common(&mut resp, "no-store");
        return resp;
    }
    let path = req.uri().path();
    let is_media = !path.ends_with(".m3u8") && !path.starts_with(PAY_PATH);
    if relay.config().ilp_only_chunks && is_media {
        relay
            .metrics()
            .payment_required
            .fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "error": "payment_required",
            "reason": "ilp_native_only",
            "message": "this relay delivers media over ILP only: open a STREAM connection (SPSP at \
                        /.well-known/pay-native/<viewer id>) and request chunks by hash, each \
                        packet paying for the bytes its FULFILL carries",
        });
        let mut resp = (
            StatusCode::PAYMENT_REQUIRED,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        common(&mut resp, "no-store");
        return resp;
    }
    if let Some(billing) = relay.billing() {
        let viewer = viewer_of(req.headers(), req.uri().query());
        if let Err(pr) = billing.check(viewer.as_deref()) {
            relay
                .metrics()
                .payment_required
                .fetch_add(1, Ordering::Relaxed);
            let mut resp = (
                StatusCode::PAYMENT_REQUIRED,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_string(&*pr).unwrap_or_default(),
            )
                .into_response();
            common(&mut resp, "no-store");
            return resp;
        }
    }
    next.run(req).await
}

/// Prometheus text: the relay's counters (never gated).
async fn metrics(State(relay): State<Relay>) -> Response {
    let m = relay.metrics();
    let mut out = String::new();
    for (name, help, v) in [
        (
            "upstream_chunk_fetches",
            "chunks fetched from upstream",
            &m.upstream_chunk_fetches,
        ),
        (
            "upstream_playlist_fetches",
            "playlists fetched from upstream",
            &m.upstream_playlist_fetches,
        ),
        ("cache_hits", "chunks served from the cache", &m.cache_hits),
        (
            "hot_hits",
            "cache hits answered from memory (hot cache)",
            &m.hot_hits,
        ),
        (
            "refused_chunks",
            "chunks refused (bad hash, size or unsigned)",
            &m.refused_chunks,
        ),
        (
            "bytes_served",
            "media bytes served (HTTP and ILP-native)",
            &m.bytes_served,
        ),
        (
            "payment_required",
            "requests answered 402",
            &m.payment_required,
        ),
    ] {
        out.push_str(&format!(
            "# HELP tollcast_relay_{name} {help}\n# TYPE tollcast_relay_{name} counter\ntollcast_relay_{name} {}\n",
            v.load(Ordering::Relaxed)
        ));
    }
    out.push_str(&format!(
        "# HELP tollcast_relay_manifest_hashes chunk hashes known from signed manifests\n# TYPE tollcast_relay_manifest_hashes gauge\ntollcast_relay_manifest_hashes {}\n",
        relay.manifests().len()
    ));
    if let Some(b) = relay.billing() {
        out.push_str(&format!(
            "# HELP tollcast_relay_active_viewers viewers with paid time left\n# TYPE tollcast_relay_active_viewers gauge\ntollcast_relay_active_viewers {}\n",
            b.active_viewers()
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// Answered by [`gate`]; the route only has to exist.
async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Cache-Control and open CORS: every LL-HLS response of a relay or a viewer agent.
pub(crate) fn common(resp: &mut Response, cache: &str) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

fn error(e: &RelayError) -> Response {
    let status = match e {
        RelayError::BadName => StatusCode::BAD_REQUEST,
        // The parent relay wants *this* relay to pay: not the viewer's business.
        RelayError::UpstreamStatus { status: 402, .. } => StatusCode::BAD_GATEWAY,
        RelayError::UpstreamStatus { status, .. } => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
        }
        RelayError::Upstream(_) => StatusCode::GATEWAY_TIMEOUT,
        RelayError::Cache(_) | RelayError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_GATEWAY,
    };
    let mut resp = (status, e.to_string()).into_response();
    common(&mut resp, "no-store");
    resp
}

fn media(relay: &Relay, bytes: Bytes, cache: &str) -> Response {
    relay
        .metrics()
        .bytes_served
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let mut resp = ([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response();
    common(&mut resp, cache);
    resp
}

async fn playlist(State(relay): State<Relay>, OriginalUri(uri): OriginalUri) -> Response {
    match relay.playlist(&upstream_playlist_path(&uri)).await {
        Ok(r) => playlist_response(&r),
        Err(e) => error(&e),
    }
}

/// The path to ask upstream for a playlist: the HLS query only (not the viewer id), so the
/// upstream answer is the same for everyone.
pub(crate) fn upstream_playlist_path(uri: &axum::http::Uri) -> String {
    let hls: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| kv.starts_with("_HLS_"))
        .collect();
    if hls.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), hls.join("&"))
    }
}

/// An upstream playlist answer passed on: status, body, content type, cache policy.
pub(crate) fn playlist_response(r: &super::upstream::UpstreamResponse) -> Response {
    let mut resp = (r.status, r.body.clone()).into_response();
    if let Some(ct) = r.content_type.as_deref().and_then(|c| c.parse().ok()) {
        resp.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    common(&mut resp, r.cache_control.as_deref().unwrap_or("no-cache"));
    resp
}

/// A preload-hint file name `{msn}.{part}.m4s` under a plain rendition name.
pub(crate) fn is_hint_path(rendition: &str, file: &str) -> bool {
    let well_formed = file
        .strip_suffix(".m4s")
        .and_then(|s| s.split_once('.'))
        .is_some_and(|(m, p)| m.parse::<u64>().is_ok() && p.parse::<u32>().is_ok());
    well_formed && !rendition.contains(['/', '?', '%'])
}

async fn hint(
    State(relay): State<Relay>,
    Path((rendition, file)): Path<(String, String)>,
) -> Response {
    if !is_hint_path(&rendition, &file) {
        let mut resp = (
            StatusCode::BAD_REQUEST,
            "hint path must be /live/{rendition}/hint/{msn}.{part}.m4s",
        )
            .into_response();
        common(&mut resp, "no-store");
        return resp;
    }
    match relay.hinted_part(&rendition, &file).await {
        Ok(b) => media(&relay, b, "public, max-age=60"),
        Err(e) => error(&e),
    }
}

async fn chunk(
    State(relay): State<Relay>,
    Path(name): Path<String>,
    Query(_q): Query<HashMap<String, String>>,
) -> Response {
    let hash = name.split_once('.').map(|(h, _)| h).unwrap_or(&name);
    match relay.chunk(hash).await {
        Ok(b) => media(&relay, b, IMMUTABLE),
        Err(e) => error(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_from_header_or_query() {
        let mut h = HeaderMap::new();
        assert_eq!(viewer_of(&h, None), None);
        assert_eq!(viewer_of(&h, Some("a=1&viewer=bob")), Some("bob".into()));
        assert_eq!(viewer_of(&h, Some("viewer=")), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer alice"),
        );
        assert_eq!(viewer_of(&h, Some("viewer=bob")), Some("alice".into()));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic eA=="),
        );
        assert_eq!(viewer_of(&h, None), None);
    }
}

//! The recorder's HTTP face:
//!
//! - `/{sha256}.m3u8`: a VOD playlist of the recording (free)
//! - `/{sha256}[.ext]`: any recorded chunk (init, segment), paid per GB when a price is set
//! - `/api/vod`: the recording as JSON (`null` until the stream ended and the VOD is written)
//! - `/metrics`: Prometheus text
//! - `/.well-known/pay[/{viewer}]`: SPSP, with [`Recorder::paid_router`]
//!
//! Chunks are immutable (content-addressed): served with a year-long immutable Cache-Control.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tollcast_media::store::is_valid_hash;
use tollcast_net::stream::{StreamReceiver, spsp_http};

use super::Recorder;
use crate::relay::http::viewer_of;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Where [`Recorder::paid_router`] serves SPSP.
pub const PAY_PATH: &str = "/.well-known/pay";

impl Recorder {
    /// The HTTP routes (see the module doc).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .route("/api/vod", get(vod))
            .route("/{name}", get(chunk).options(preflight))
            .with_state(self.clone())
    }

    /// [`Self::router`] plus SPSP for viewers' payments (`/.well-known/pay/{viewer}` hands out
    /// credentials tagged with the viewer id that [`GbBilling::follow`](super::per_gb::GbBilling::follow) credits).
    pub fn paid_router(&self, receiver: Arc<StreamReceiver>) -> Router {
        self.router().merge(spsp_http::router(receiver, PAY_PATH))
    }

    /// Prometheus text of the counters.
    pub fn metrics_text(&self) -> String {
        let m = self.metrics();
        let s = self.mirrors().stats();
        let r = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        let mut o = String::new();
        for (name, help, v) in [
            (
                "tollcast_recorder_manifests_accepted_total",
                "signed segment manifests accepted",
                r(&m.manifests_accepted),
            ),
            (
                "tollcast_recorder_manifests_refused_total",
                "manifests refused (bad signature, foreign stream, untrusted signer)",
                r(&m.manifests_refused),
            ),
            (
                "tollcast_recorder_segments_recorded_total",
                "segments stored, verified",
                r(&m.segments_recorded),
            ),
            (
                "tollcast_recorder_segments_missing_total",
                "segments no source could deliver verified",
                r(&m.segments_missing),
            ),
            (
                "tollcast_recorder_bytes_recorded_total",
                "segment bytes stored",
                r(&m.bytes_recorded),
            ),
            (
                "tollcast_recorder_bytes_served_total",
                "VOD bytes served",
                r(&m.bytes_served),
            ),
            (
                "tollcast_recorder_payment_required_total",
                "402 answers",
                r(&m.payment_required),
            ),
            (
                "tollcast_recorder_mirror_fetches_total",
                "verified chunks fetched from sources",
                r(&s.fetched),
            ),
            (
                "tollcast_recorder_mirror_misses_total",
                "sources lacking a chunk",
                r(&s.misses),
            ),
            (
                "tollcast_recorder_mirror_refused_total",
                "chunks refused: bytes not matching their hash or size",
                r(&s.tampered),
            ),
        ] {
            o.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            ));
        }
        let ended = u8::from(self.ended());
        o.push_str(&format!(
            "# HELP tollcast_recorder_stream_ended 1 once the stream's end was seen\n# TYPE tollcast_recorder_stream_ended gauge\ntollcast_recorder_stream_ended {ended}\n"
        ));
        if let Some(b) = self.billing() {
            o.push_str(&format!(
                "# HELP tollcast_recorder_received_total money received from viewers (base units)\n# TYPE tollcast_recorder_received_total counter\ntollcast_recorder_received_total {}\n",
                b.total_received()
            ));
        }
        o
    }
}

fn common(resp: &mut Response, cache: &str) {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

async fn preflight() -> Response {
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
    common(&mut resp, "no-store");
    resp
}

async fn metrics(State(rec): State<Recorder>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        rec.metrics_text(),
    )
        .into_response()
}

async fn vod(State(rec): State<Recorder>) -> Response {
    let mut resp = axum::Json(rec.vod()).into_response();
    common(&mut resp, "no-store");
    resp
}

async fn chunk(
    State(rec): State<Recorder>,
    Path(name): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    let hash = name.split_once('.').map_or(name.as_str(), |(h, _)| h);
    if !is_valid_hash(hash) {
        let mut r = (
            StatusCode::BAD_REQUEST,
            "chunk names are 64 lowercase hex digits (SHA-256)",
        )
            .into_response();
        common(&mut r, "no-store");
        return r;
    }
    let (store, h) = (rec.store().clone(), hash.to_string());
    let bytes = match tokio::task::spawn_blocking(move || store.get(&h)).await {
        Ok(Ok(Some(b))) => b,
        Ok(Ok(None)) => {
            let mut r = (StatusCode::NOT_FOUND, "not in this recording").into_response();
            common(&mut r, "no-store");
            return r;
        }
        _ => {
            let mut r = (StatusCode::INTERNAL_SERVER_ERROR, "chunk store failed").into_response();
            common(&mut r, "no-store");
            return r;
        }
    };
    let playlist = rec.is_playlist(hash);
    if !playlist && let Some(b) = rec.billing() {
        let viewer = viewer_of(&headers, uri.query());
        if let Err(pr) = b.charge(viewer.as_deref(), bytes.len() as u64) {
            rec.metrics()
                .payment_required
                .fetch_add(1, Ordering::Relaxed);
            let mut r = (
                StatusCode::PAYMENT_REQUIRED,
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::to_string(&*pr).unwrap_or_default(),
            )
                .into_response();
            common(&mut r, "no-store");
            return r;
        }
    }
    rec.metrics()
        .bytes_served
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let ct = if playlist {
        "application/vnd.apple.mpegurl"
    } else {
        "video/mp4"
    };
    let mut r = ([(header::CONTENT_TYPE, ct)], bytes).into_response();
    common(&mut r, IMMUTABLE);
    r
}

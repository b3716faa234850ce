//! The transcoder's HTTP listener: each job's LL-HLS origin under `/jobs/{tag}/…` (the same
//! routes as any origin: `live/master.m3u8` with the mirrored `source` and the rungs, media
//! playlists, parts by hash), `/status` (JSON: jobs, prices) and `/metrics` (Prometheus).
//! Relays use `{base}/jobs/{tag}` as their upstream.

use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower::ServiceExt;

use super::Transcoder;
use super::job::JobState;

impl Transcoder {
    /// The HTTP routes (see the module doc).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/metrics", get(metrics))
            .route("/status", get(status))
            .route("/jobs/{tag}/{*rest}", get(job_route))
            .with_state(self.clone())
    }
}

async fn job_route(
    State(t): State<Transcoder>,
    Path((tag, rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    let job = t.inner.jobs.lock().ok().and_then(|j| j.get(&tag).cloned());
    let Some(job) = job else {
        return (StatusCode::NOT_FOUND, format!("no job `{tag}` here")).into_response();
    };
    // Hand the request to the job's origin with the `/jobs/{tag}` prefix removed.
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let Ok(uri) = format!("/{rest}{query}").parse::<Uri>() else {
        return (StatusCode::BAD_REQUEST, "bad path").into_response();
    };
    // A fresh request: the outer router's path parameters must not leak into the inner one.
    let (parts, body) = req.into_parts();
    let mut inner = Request::new(body);
    *inner.method_mut() = parts.method;
    *inner.uri_mut() = uri;
    *inner.headers_mut() = parts.headers;
    match job.origin.router().oneshot(inner).await {
        Ok(r) => r,
        Err(e) => match e {},
    }
}

async fn status(State(t): State<Transcoder>) -> Response {
    let cfg = &t.inner.cfg;
    let jobs: Vec<serde_json::Value> = t
        .jobs()
        .into_iter()
        .map(|(tag, state, secs, received)| {
            serde_json::json!({
                "tag": tag,
                "state": match state { JobState::Running => "running", JobState::Stopped => "stopped" },
                "transcoded_seconds": secs,
                "received": received,
                "origin": format!("{}/jobs/{tag}", t.public_url()),
            })
        })
        .collect();
    let body = serde_json::json!({
        "pubkey": t.pubkey().to_hex(),
        "price_per_minute": cfg.price_per_minute,
        "asset_code": cfg.asset_code,
        "asset_scale": cfg.asset_scale,
        "capacity": cfg.capacity,
        "running": t.running_jobs(),
        "jobs": jobs,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body.to_string()),
    )
        .into_response()
}

async fn metrics(State(t): State<Transcoder>) -> Response {
    let m = t.metrics();
    let g = |x: &std::sync::atomic::AtomicU64| x.load(Ordering::Relaxed);
    let mut s = String::new();
    let mut line = |name: &str, kind: &str, help: &str, v: String| {
        s.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        ));
    };
    line(
        "tollcast_transcoder_requests_total",
        "counter",
        "Transcode requests (kind 5200) seen.",
        g(&m.requests_seen).to_string(),
    );
    line(
        "tollcast_transcoder_offers_total",
        "counter",
        "Offers (kind 7000 payment-required) sent.",
        g(&m.offers_sent).to_string(),
    );
    line(
        "tollcast_transcoder_jobs_started_total",
        "counter",
        "Jobs accepted and started.",
        g(&m.jobs_started).to_string(),
    );
    line(
        "tollcast_transcoder_jobs_stopped_unpaid_total",
        "counter",
        "Jobs stopped because the customer stopped paying.",
        g(&m.jobs_stopped_unpaid).to_string(),
    );
    line(
        "tollcast_transcoder_jobs_running",
        "gauge",
        "Jobs running now.",
        t.running_jobs().to_string(),
    );
    line(
        "tollcast_transcoder_source_segments_total",
        "counter",
        "Source segments verified and fed to ffmpeg.",
        g(&m.source_segments_fed).to_string(),
    );
    line(
        "tollcast_transcoder_source_segments_rejected_total",
        "counter",
        "Source segments refused (bytes not matching the creator's signed manifest, fetch errors).",
        g(&m.source_segments_rejected).to_string(),
    );
    line(
        "tollcast_transcoder_transcoded_seconds_total",
        "counter",
        "Seconds of source media transcoded (every rung done).",
        format!("{:.3}", g(&m.transcoded_ms) as f64 / 1000.0),
    );
    line(
        "tollcast_transcoder_received_total",
        "counter",
        "Base units received for jobs over STREAM.",
        g(&m.received).to_string(),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], s).into_response()
}

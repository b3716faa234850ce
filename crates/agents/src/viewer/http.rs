//! The viewer's local HTTP face for the browser (plan11.md contract):
//!
//! - LL-HLS, same paths as a relay: `/live/master.m3u8`, `/live/{rendition}/index.m3u8[?..]`
//!   (blocking reloads passed through), `/live/{rendition}/hint/{msn}.{part}.m4s`,
//!   `/{sha256}[.ext]` — every byte verified (hash + signed manifest) before it is sent
//! - `GET /api/status`, `POST /api/relay {"pubkey"}`, `POST /api/latency {"capture_ms"}`
//! - `POST /api/chat {"content"}` -> `{"id","paid"}`; `POST /api/tip {"amount","message"}` ->
//!   `{"receipt_id","delivered","sent"}`; failures -> `{"error","message"}`
//! - `GET /metrics`: Prometheus text
//!
//! The page itself (`/`, `/dashboard`) is merged in by `tollcast watch` (a separate router).

use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;
use tollcast_events::nostr::prelude::PublicKey;

use super::{Viewer, ViewerError};
use crate::relay::http::{common, is_hint_path, playlist_response, upstream_playlist_path};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl Viewer {
    /// The routes (see the module doc).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/live/master.m3u8", get(playlist))
            .route("/live/{rendition}/index.m3u8", get(playlist))
            .route("/live/{rendition}/hint/{file}", get(hint))
            .route("/api/status", get(status))
            .route("/api/relay", post(select_relay))
            .route("/api/latency", post(latency))
            .route("/api/chat", post(chat))
            .route("/api/tip", post(tip))
            .route("/metrics", get(metrics))
            .route("/{name}", get(chunk))
            .with_state(self.clone())
    }
}

fn error(e: &ViewerError) -> Response {
    let (status, code) = match e {
        ViewerError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        ViewerError::Payment(_) => (StatusCode::PAYMENT_REQUIRED, "payment_required"),
        ViewerError::NoRelay(_) => (StatusCode::SERVICE_UNAVAILABLE, "no_relay"),
        ViewerError::Target(_) | ViewerError::Config(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        _ => (StatusCode::BAD_GATEWAY, "upstream"),
    };
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({"error": code, "message": e.to_string()}).to_string(),
    )
        .into_response();
    common(&mut resp, "no-store");
    resp
}

fn media(bytes: Bytes, cache: &str) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response();
    common(&mut resp, cache);
    resp
}

async fn playlist(State(v): State<Viewer>, OriginalUri(uri): OriginalUri) -> Response {
    match v.playlist(&upstream_playlist_path(&uri)).await {
        Ok(r) => playlist_response(&r),
        Err(e) => error(&e),
    }
}

async fn hint(
    State(v): State<Viewer>,
    Path((rendition, file)): Path<(String, String)>,
) -> Response {
    if !is_hint_path(&rendition, &file) {
        return error(&ViewerError::Target(
            "hint path must be /live/{rendition}/hint/{msn}.{part}.m4s".into(),
        ));
    }
    match v.hinted_part(&rendition, &file).await {
        Ok(b) => media(b, "public, max-age=60"),
        Err(e) => error(&e),
    }
}

async fn chunk(State(v): State<Viewer>, Path(name): Path<String>) -> Response {
    let hash = name.split_once('.').map(|(h, _)| h).unwrap_or(&name);
    if !tollcast_media::store::is_valid_hash(hash) {
        return error(&ViewerError::NotFound(format!("/{name}")));
    }
    match v.chunk(hash).await {
        Ok(b) => media(b, IMMUTABLE),
        Err(e) => error(&e),
    }
}

async fn status(State(v): State<Viewer>) -> Response {
    let mut resp = axum::Json(v.status()).into_response();
    common(&mut resp, "no-store");
    resp
}

async fn select_relay(State(v): State<Viewer>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Req {
        pubkey: String,
    }
    let pk = match serde_json::from_slice::<Req>(&body)
        .map_err(|e| e.to_string())
        .and_then(|r| PublicKey::parse(&r.pubkey).map_err(|e| e.to_string()))
    {
        Ok(pk) => pk,
        Err(e) => {
            return error(&ViewerError::Target(format!(
                "want {{\"pubkey\": \"<relay hex pubkey>\"}}: {e}"
            )));
        }
    };
    match v.select(pk).await {
        Ok(()) => axum::Json(v.status()).into_response(),
        Err(e) => error(&e),
    }
}

async fn latency(State(v): State<Viewer>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Req {
        capture_ms: i64,
    }
    match serde_json::from_slice::<Req>(&body) {
        Ok(r) => {
            v.report_playing(r.capture_ms);
            axum::Json(json!({"latency_ms": v.latency_ms()})).into_response()
        }
        Err(e) => error(&ViewerError::Target(format!(
            "want {{\"capture_ms\": <unix ms>}}: {e}"
        ))),
    }
}

async fn chat(State(v): State<Viewer>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Req {
        content: String,
    }
    let r = match serde_json::from_slice::<Req>(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(&ViewerError::Target(format!(
                "want {{\"content\": \"text\"}}: {e}"
            )));
        }
    };
    match v.chat(&r.content).await {
        Ok(sent) => axum::Json(sent).into_response(),
        Err(e) => error(&e),
    }
}

async fn tip(State(v): State<Viewer>, body: Bytes) -> Response {
    #[derive(serde::Deserialize)]
    struct Req {
        amount: u64,
        #[serde(default)]
        message: String,
    }
    let r = match serde_json::from_slice::<Req>(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(&ViewerError::Target(format!(
                "want {{\"amount\": base units, \"message\": \"text\"}}: {e}"
            )));
        }
    };
    match tokio::time::timeout(
        std::time::Duration::from_secs(30),
        v.tip(r.amount, &r.message),
    )
    .await
    {
        Ok(Ok(sent)) => axum::Json(sent).into_response(),
        Ok(Err(e)) => error(&e),
        Err(_) => error(&ViewerError::Upstream(
            "the tip did not complete within 30 s".into(),
        )),
    }
}

async fn metrics(State(v): State<Viewer>) -> Response {
    let s = v.status();
    let mut out = String::new();
    let mut put = |name: &str, help: &str, kind: &str, value: String| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    };
    put(
        "tollcast_viewer_parts_verified_total",
        "Parts handed to the player after hash and manifest checks.",
        "counter",
        s.parts.verified.to_string(),
    );
    put(
        "tollcast_viewer_parts_rejected_total",
        "Parts refused (bytes not matching their hash or signed size).",
        "counter",
        s.parts.rejected.to_string(),
    );
    put(
        "tollcast_viewer_spent_total",
        "Base units sent to relays.",
        "counter",
        s.wallet.spent.to_string(),
    );
    put(
        "tollcast_viewer_wallet_balance",
        "Spendable wallet balance, base units.",
        "gauge",
        s.wallet.balance.to_string(),
    );
    put(
        "tollcast_viewer_relay_switches_total",
        "Relay switches (failover or choice).",
        "counter",
        s.switches.to_string(),
    );
    put(
        "tollcast_viewer_bytes_served_total",
        "Verified bytes served to the player.",
        "counter",
        v.bytes_served().to_string(),
    );
    put(
        "tollcast_viewer_latency_ms",
        "Wall clock minus capture time of what plays (NaN: unknown).",
        "gauge",
        s.latency_ms.map_or("NaN".into(), |l| format!("{l:.0}")),
    );
    put(
        "tollcast_viewer_healthy_candidates",
        "Candidate relays not marked unhealthy.",
        "gauge",
        s.candidates
            .iter()
            .filter(|c| c.healthy)
            .count()
            .to_string(),
    );
    out.push_str(&format!(
        "# HELP tollcast_viewer_state Current state (1 for the active one).\n# TYPE tollcast_viewer_state gauge\ntollcast_viewer_state{{state=\"{}\"}} 1\n",
        s.state.as_str()
    ));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

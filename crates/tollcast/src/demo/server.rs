//! The demo's web server: the pages ([`crate::web::web_router`]), `/api/dashboard` (ledgers,
//! relay counters, latency — collected by the demo), and, for the page's viewer, the viewer
//! agent contract of plan11 (`/api/status`, `/api/relay`, `/api/chat`, `/api/tip`,
//! `/api/latency`) with LL-HLS proxied from the relay the page's wallet pays (its viewer id is
//! added to each request, so the browser needs no credentials).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tollcast_net::connector::AccountId;
use tollcast_net::stream::{SenderConfig, StreamSender, spsp_http};

use super::topology::{ASSET_CODE, ASSET_SCALE};
use super::{Demo, percentile};

type S = State<Arc<Demo>>;

pub fn router(demo: Arc<Demo>) -> Router {
    let api = Router::new()
        .route("/api/dashboard", get(dashboard))
        .route("/api/status", get(status))
        .route("/api/relay", post(switch_relay))
        .route("/api/chat", post(chat))
        .route("/api/tip", post(tip))
        .route("/api/latency", post(latency))
        .fallback(proxy)
        .with_state(demo);
    crate::web::web_router().merge(api)
}

fn err(code: StatusCode, error: &str, message: impl Into<String>) -> Response {
    (
        code,
        Json(json!({"error": error, "message": message.into()})),
    )
        .into_response()
}

async fn dashboard(State(d): S) -> Json<Value> {
    let books = d.books.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let series: Vec<_> = d
        .series
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    let counters = d.counters.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let lat = d.latency_samples();
    let mut roles = serde_json::Map::new();
    for r in ["creator", "relay", "hub", "viewer"] {
        roles.insert(
            r.into(),
            json!(books.as_ref().map(|b| b.by_role(r)).unwrap_or(0)),
        );
    }
    if let Some(b) = &books {
        for p in &b.parties {
            if !roles.contains_key(&p.role) {
                roles.insert(p.role.clone(), json!(b.by_role(&p.role)));
            }
        }
    }
    let relays: Vec<Value> = d
        .relays
        .iter()
        .map(|r| {
            let c = counters.get(&r.name).cloned().unwrap_or_default();
            // Paying clients: viewers and child relays (relay-b pays relay-a).
            let viewers = d
                .all_wallets()
                .filter(|v| v.pays && v.relay().name == r.name)
                .count();
            let hit_rate = match (c.cache_hits, c.upstream_fetches) {
                (Some(h), Some(f)) if h + f > 0 => Some(h as f64 / (h + f) as f64),
                _ => None,
            };
            let earned = books
                .as_ref()
                .and_then(|b| b.parties.iter().find(|p| p.name == r.name).map(|p| p.net))
                .unwrap_or(0);
            json!({
                "name": r.name, "url": r.url, "upstream": r.upstream,
                "price_per_second": r.price_per_second, "viewers": viewers,
                "bytes_served": c.bytes_served.unwrap_or(0), "cache_hits": c.cache_hits,
                "upstream_fetches": c.upstream_fetches, "payment_required": c.payment_required,
                "hit_rate": hit_rate, "earned": earned,
            })
        })
        .collect();
    Json(json!({
        "stream": d.stream,
        "asset": {"code": ASSET_CODE, "scale": ASSET_SCALE},
        "agents": d.agents,
        "viewers": d.all_viewers().count(),
        "roles": roles,
        "parties": books.as_ref().map(|b| json!(b.parties)).unwrap_or(json!([])),
        "books": books.as_ref().map(|b| json!({
            "balanced": b.balanced, "total": b.total, "pending": b.pending,
            "mismatched": b.mismatched})).unwrap_or(json!({"balanced": false, "total": 0, "pending": 0, "mismatched": []})),
        "series": series,
        "relays": relays,
        "ladder": *d.ladder.lock().unwrap_or_else(|e| e.into_inner()),
        "latency": {
            "p50": percentile(&lat, 50.0), "p90": percentile(&lat, 90.0),
            "p99": percentile(&lat, 99.0), "n": lat.len(),
        },
        "moderation": d.moderation.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        "wallets": books.as_ref().map(|b| json!(b.wallets)).unwrap_or(json!([])),
    }))
}

async fn status(State(d): S, req: Request) -> Response {
    if let Some(w) = d.watch.clone() {
        return forward(&d, req, &w, None).await;
    }
    own_status(&d).into_response()
}

fn own_status(d: &Demo) -> Json<Value> {
    let books = d.books.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let page = &d.page;
    let (balance, credit) = books
        .as_ref()
        .and_then(|b| b.wallets.iter().find(|w| w.0 == page.id))
        .map(|w| (w.1, w.2))
        .unwrap_or((0, 0));
    let choice = page.relay();
    let relay = d.relays.iter().find(|r| r.name == choice.name);
    let last_error = page
        .stats
        .last_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let paid = page.stats.paid.load(Relaxed);
    let (state, message) = if balance <= 0 && credit > 0 {
        (
            "wallet_empty",
            Some("Your wallet is empty: the demo's credit line is used up. Restart the demo for a fresh wallet.".to_string()),
        )
    } else if paid == 0 {
        match last_error {
            Some(e) => (
                "relay_failed",
                Some(format!("Paying the relay failed: {e}. Pick another relay.")),
            ),
            None => (
                "starting",
                Some("Opening a payment stream to the relay…".to_string()),
            ),
        }
    } else {
        ("playing", None)
    };
    let rel = |r: &super::RelayInfo| {
        json!({
            "pubkey": r.pubkey, "name": r.name, "url": r.url,
            "price_per_second": r.price_per_second, "price_per_gb": null, "rtt_ms": null,
            "ilp_address": r.ilp_address,
        })
    };
    let candidates: Vec<Value> = d
        .relays
        .iter()
        .map(|r| {
            let mut v = rel(r);
            v["healthy"] = json!(true);
            v["reason"] = Value::Null;
            v
        })
        .collect();
    let latency = d
        .page_latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .filter(|(_, at)| at.elapsed() < Duration::from_secs(10))
        .map(|(ms, _)| ms);
    Json(json!({
        "state": state,
        "message": message,
        "stream": {
            "address": d.stream.address, "naddr": d.stream.naddr, "title": d.stream.title,
            "summary": d.stream.summary, "image": null, "status": "live",
            "starts": d.stream.starts, "host": d.stream.host,
            "nostr_relays": [d.stream.nostr_url], "chat_price": null,
            "asset_code": ASSET_CODE, "asset_scale": ASSET_SCALE,
        },
        "relay": relay.map(rel),
        "candidates": candidates,
        "wallet": {"balance": balance, "asset_code": ASSET_CODE, "asset_scale": ASSET_SCALE, "spent": paid},
        "latency_ms": latency,
        "parts": {"verified": 0, "rejected": 0},
        "viewer": {"pubkey": d.page_keys.public_key().to_hex(),
                   "npub": nostr::prelude::ToBech32::to_bech32(&d.page_keys.public_key()).unwrap_or_default()},
    }))
}

#[derive(Deserialize)]
struct RelayReq {
    pubkey: String,
}

async fn switch_relay(State(d): S, req: Request) -> Response {
    if let Some(w) = d.watch.clone() {
        return forward(&d, req, &w, None).await;
    }
    let Some(r) = json_body::<RelayReq>(req).await else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"pubkey\": hex}",
        );
    };
    match d.relays.iter().find(|x| x.pubkey == r.pubkey) {
        Some(x) => {
            d.page.switch(x.choice());
            Json(json!({"relay": x.name})).into_response()
        }
        None => err(
            StatusCode::NOT_FOUND,
            "unknown_relay",
            "no relay with that pubkey serves this stream; pick one of /api/status candidates",
        ),
    }
}

#[derive(Deserialize)]
struct ChatReq {
    content: String,
}

/// Reads a JSON body.
async fn json_body<T: serde::de::DeserializeOwned>(req: Request) -> Option<T> {
    let b = req.into_body().collect().await.ok()?.to_bytes();
    serde_json::from_slice(&b).ok()
}

/// Asks the viewer agent first; when it has no such route yet (501), the demo does it.
async fn watch_or_own(d: &Arc<Demo>, req: Request) -> Result<Response, bytes::Bytes> {
    let (parts, body) = req.into_parts();
    let Ok(b) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(err(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "request body unreadable",
        ));
    };
    if let Some(w) = d.watch.clone() {
        let req = Request::from_parts(parts, Body::from(b.clone()));
        let resp = forward(d, req, &w, None).await;
        if resp.status() != StatusCode::NOT_IMPLEMENTED {
            return Ok(resp);
        }
    }
    Err(b)
}

async fn chat(State(d): S, req: Request) -> Response {
    let body = match watch_or_own(&d, req).await {
        Ok(resp) => return resp,
        Err(b) => b,
    };
    let Ok(r) = serde_json::from_slice::<ChatReq>(&body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"content\": text}",
        );
    };
    let content = r.content.trim();
    if content.is_empty() || content.len() > 2000 {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_message",
            "write 1 to 2000 characters",
        );
    }
    let Ok(stream) = d.stream.address.parse() else {
        return err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_stream",
            "stream address is invalid",
        );
    };
    let Ok(relay_ilp) = tollcast_wire::address::Address::new(&d.nostr_ilp) else {
        return err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no_relay",
            "the chat relay has no pay-to-write address",
        );
    };
    // Pay-to-write from the page's wallet: the hub's relay sells chat writes per byte.
    let client = tollcast_agents::chat::ChatClient::new(
        d.page_keys.clone(),
        d.page.node.connector.sender(AccountId::local()),
        relay_ilp,
        stream,
    )
    .with_relay_hint(d.stream.nostr_url.clone());
    match tokio::time::timeout(Duration::from_secs(20), client.send(content)).await {
        Ok(Ok(sent)) => {
            Json(json!({"id": sent.event.id.to_hex(), "paid": sent.paid})).into_response()
        }
        Ok(Err(e)) => err(
            StatusCode::PAYMENT_REQUIRED,
            "not_sent",
            format!("the chat relay did not take it: {e}"),
        ),
        Err(_) => err(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the chat relay did not answer within 20 s",
        ),
    }
}

#[derive(Deserialize)]
struct TipReq {
    amount: u64,
    #[allow(dead_code)]
    #[serde(default)]
    message: Option<String>,
}

async fn tip(State(d): S, req: Request) -> Response {
    let body = match watch_or_own(&d, req).await {
        Ok(resp) => return resp,
        Err(b) => b,
    };
    let Ok(r) = serde_json::from_slice::<TipReq>(&body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "send {\"amount\": base units, \"message\": text}",
        );
    };
    if r.amount == 0 {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_amount",
            "tip at least 1 base unit",
        );
    }
    let work = async {
        let spsp = spsp_http::query(&d.stream.creator_spsp, Duration::from_secs(5))
            .await
            .map_err(|e| format!("the creator's SPSP endpoint: {e}"))?;
        let mut cfg = SenderConfig::new(spsp.destination_account, spsp.shared_secret);
        cfg.source_asset = Some((ASSET_CODE.into(), ASSET_SCALE));
        let mut s = StreamSender::connect(d.page.node.connector.sender(AccountId::local()), cfg)
            .await
            .map_err(|e| format!("STREAM to the creator: {e}"))?;
        let res = s.send(r.amount).await;
        let totals = s.totals();
        let _ = s.close().await;
        res.map_err(|e| format!("tip stopped after delivering {}: {e}", totals.delivered))?;
        Ok::<_, String>(totals)
    };
    match tokio::time::timeout(Duration::from_secs(20), work).await {
        Ok(Ok(t)) => Json(json!({"receipt_id": null, "delivered": t.delivered, "sent": t.sent}))
            .into_response(),
        Ok(Err(m)) => err(StatusCode::PAYMENT_REQUIRED, "tip_failed", m),
        Err(_) => err(
            StatusCode::GATEWAY_TIMEOUT,
            "tip_timeout",
            "the tip did not complete within 20 s",
        ),
    }
}

#[derive(Deserialize)]
struct LatencyReq {
    capture_ms: i64,
}

async fn latency(State(d): S, req: Request) -> Response {
    if let Some(w) = d.watch.clone() {
        return forward(&d, req, &w, None).await;
    }
    let Some(r) = json_body::<LatencyReq>(req).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let ms = (super::now_ms() - r.capture_ms) as f64;
    *d.page_latency.lock().unwrap_or_else(|e| e.into_inner()) = Some((ms, Instant::now()));
    StatusCode::NO_CONTENT.into_response()
}

/// Everything else (LL-HLS playlists, parts) goes to the viewer agent, or without one to the
/// relay the page's wallet pays, with the wallet's viewer id.
async fn proxy(State(d): S, req: Request) -> Response {
    if let Some(w) = d.watch.clone() {
        return forward(&d, req, &w, None).await;
    }
    let relay = d.page.relay();
    let id = d.page.id.clone();
    forward(&d, req, &relay.url, Some(&id)).await
}

/// Sends `req` to `base` + its path and query; streams the answer back.
async fn forward(d: &Demo, req: Request, base: &str, bearer: Option<&str>) -> Response {
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let method = req.method().clone();
    let content_type = req.headers().get(hyper::header::CONTENT_TYPE).cloned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return err(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "request body unreadable",
            );
        }
    };
    let mut fwd = hyper::Request::builder()
        .method(method)
        .uri(format!("{base}{pq}"));
    if let Some(b) = bearer {
        fwd = fwd.header(hyper::header::AUTHORIZATION, format!("Bearer {b}"));
    }
    if let Some(ct) = content_type {
        fwd = fwd.header(hyper::header::CONTENT_TYPE, ct);
    }
    let Ok(fwd) = fwd.body(http_body_util::Full::new(body)) else {
        return err(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "cannot forward this path",
        );
    };
    match d.http.forward(fwd).await {
        Ok(resp) => {
            let (parts, body) = resp.into_parts();
            Response::from_parts(parts, Body::new(body))
        }
        Err(e) => err(
            StatusCode::BAD_GATEWAY,
            "relay_failed",
            format!("{base} did not answer: {e}"),
        ),
    }
}

//! Tips: STREAM payments to a stream's creator with a signed receipt (the ILP analogue of
//! NIP-57 zaps; kinds and trust model in [`tollcast_events::tip`]).
//!
//! - [`TipService`] — the creator's receiving agent: a STREAM receiver on the creator's node
//!   plus two HTTP routes. `POST /tip` takes a signed tip request (kind 9736) and answers SPSP
//!   credentials for a connection tagged with the request id; `POST /tip/{request id}/receipt`
//!   counts what arrived on that connection, signs the tip receipt (kind 9737) with the
//!   agent's key — embedding the request and an RFC 0039 STREAM receipt under the agent's
//!   receipt secret — publishes it to the stream's relays, and returns it. The creator names
//!   the agent in its live event: `["tip", "<http url of the service>", "<agent pubkey hex>"]`.
//! - [`tip`] — the payer side: sign the request, get credentials, pay with a
//!   [`StreamSender`] through the wallet, fetch the receipt and check it.
//!
//! Money conservation: the receipt states what the receiver counted (`amount` in the
//! receiver's asset), never what the payer claims to have sent.

pub mod http;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use nostr::prelude::{Event, EventId, Keys, PublicKey};
use serde_json::json;
use tollcast_events::tip::{TipReceipt, TipRequest};
use tollcast_events::{Price, StreamAddress};
use tollcast_net::connector::{Connector, IlpService};
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::RelayPool;
use tollcast_net::stream::{SenderConfig, SpspDetails, StreamReceiver, StreamSender};
use tollcast_wire::stream::Receipt;

/// Settings of a receiving agent.
#[derive(Clone, Debug)]
pub struct TipServiceConfig {
    /// ILP address segment of the receiver under the node address (default `tips`).
    pub segment: String,
    /// Asset the receiver counts in.
    pub asset_code: String,
    pub asset_scale: u8,
    /// Relays the receipts are published to (WebSocket URLs); the request's `relays` are
    /// added to these.
    pub publish_relays: Vec<String>,
    /// Secret keying the RFC 0039 receipts (random when None).
    pub receipt_secret: Option<[u8; 32]>,
}

impl TipServiceConfig {
    pub fn new(asset_code: impl Into<String>, asset_scale: u8) -> Self {
        Self {
            segment: "tips".into(),
            asset_code: asset_code.into(),
            asset_scale,
            publish_relays: Vec::new(),
            receipt_secret: None,
        }
    }
}

struct Pending {
    request: Event,
    parsed: TipRequest,
    destination: String,
    secret: [u8; 32],
    receipt: Option<Event>,
}

/// The creator's receiving agent.
pub struct TipService {
    receiver: Arc<StreamReceiver>,
    keys: Keys,
    creator: PublicKey,
    cfg: TipServiceConfig,
    receipt_secret: [u8; 32],
    pending: Mutex<HashMap<EventId, Pending>>,
    pool: Option<RelayPool>,
}

/// Why a tip failed, on either side.
#[derive(Debug, thiserror::Error)]
pub enum TipError {
    #[error("bad tip request: {0}")]
    Request(String),
    #[error("tip endpoint: {0}")]
    Http(#[from] http::HttpError),
    #[error("SPSP answer: {0}")]
    Spsp(String),
    #[error("payment failed after delivering {delivered}: {message}")]
    Payment { delivered: u64, message: String },
    #[error("receipt does not verify: {0}")]
    Receipt(String),
    #[error("{0}")]
    Config(String),
}

impl TipService {
    /// Create the agent on `connector` (its receiver answers at `<node>.<segment>`), signing
    /// receipts with `keys` for `creator`'s streams.
    pub fn attach(
        connector: &Connector,
        keys: Keys,
        creator: PublicKey,
        cfg: TipServiceConfig,
    ) -> Result<Arc<Self>, TipError> {
        let receiver = StreamReceiver::attach(
            connector,
            &cfg.segment,
            &cfg.asset_code,
            cfg.asset_scale,
            None,
        )
        .map_err(|e| TipError::Config(format!("receiver address: {e}")))?;
        let pool = if cfg.publish_relays.is_empty() {
            None
        } else {
            Some(
                RelayPool::new(cfg.publish_relays.clone(), ClientOptions::default())
                    .map_err(|e| TipError::Config(format!("publish relays: {e}")))?,
            )
        };
        Ok(Arc::new(Self {
            receiver,
            keys,
            creator,
            receipt_secret: cfg.receipt_secret.unwrap_or_else(rand::random),
            cfg,
            pending: Mutex::new(HashMap::new()),
            pool,
        }))
    }

    /// The agent's public key (what the live event's `tip` tag names).
    pub fn pubkey(&self) -> PublicKey {
        self.keys.public_key()
    }

    /// The secret that checks this agent's RFC 0039 receipts (give it only to auditors).
    pub fn receipt_secret(&self) -> [u8; 32] {
        self.receipt_secret
    }

    /// Total received by the agent's receiver (all tips).
    pub fn total_received(&self) -> u128 {
        self.receiver.total_received()
    }

    /// `POST /tip`, `POST /tip/{id}/receipt`.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/tip", post(open))
            .route("/tip/{id}/receipt", post(receipt))
            .with_state(self.clone())
    }

    /// Accept a signed request; return SPSP credentials for it.
    pub fn open(&self, request: Event) -> Result<SpspDetails, TipError> {
        let parsed =
            TipRequest::from_event(&request).map_err(|e| TipError::Request(e.to_string()))?;
        if parsed.recipient != self.creator {
            return Err(TipError::Request(
                "this agent receives tips for another creator".into(),
            ));
        }
        if parsed.amount.asset_code != self.cfg.asset_code
            || parsed.amount.asset_scale != self.cfg.asset_scale
        {
            return Err(TipError::Request(format!(
                "this agent receives {} (scale {})",
                self.cfg.asset_code, self.cfg.asset_scale
            )));
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = pending.get(&request.id) {
            return Ok(SpspDetails {
                destination_account: tollcast_wire::address::Address::new(&p.destination)
                    .map_err(|e| TipError::Config(e.to_string()))?,
                shared_secret: p.secret,
            });
        }
        if pending.len() >= 100_000 {
            return Err(TipError::Request("too many open tips; retry later".into()));
        }
        let (dest, secret) = self
            .receiver
            .generate_credentials(Some(&request.id.to_hex()));
        pending.insert(
            request.id,
            Pending {
                request,
                parsed,
                destination: dest.as_str().to_string(),
                secret,
                receipt: None,
            },
        );
        Ok(SpspDetails {
            destination_account: dest,
            shared_secret: secret,
        })
    }

    /// Count what arrived for request `id`, sign and publish the receipt (once).
    pub async fn issue_receipt(&self, id: &EventId) -> Result<Event, TipError> {
        let (ev, publish) = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let p = pending
                .get_mut(id)
                .ok_or_else(|| TipError::Request("unknown tip request id".into()))?;
            if let Some(r) = &p.receipt {
                return Ok(r.clone());
            }
            let totals = self
                .receiver
                .connection_totals(&p.destination)
                .unwrap_or_default();
            if totals.total_received == 0 {
                return Err(TipError::Payment {
                    delivered: 0,
                    message: "nothing received on this tip's connection yet".into(),
                });
            }
            let stream_id = totals
                .streams
                .iter()
                .max_by_key(|(_, v)| **v)
                .map(|(k, _)| *k)
                .unwrap_or(1);
            let mut nonce = [0u8; 16];
            nonce.copy_from_slice(&id.as_bytes()[..16]);
            let stream_receipt = Receipt {
                nonce,
                stream_id: u8::try_from(stream_id).unwrap_or(u8::MAX),
                total_received: totals.total_received,
            }
            .sign(&self.receipt_secret);
            let receipt = TipReceipt {
                recipient: self.creator,
                payer: p.request.pubkey,
                stream: p.parsed.stream.clone(),
                request_id: *id,
                amount: Price::new(
                    totals.total_received,
                    self.cfg.asset_code.clone(),
                    self.cfg.asset_scale,
                ),
                ilp_address: p.destination.clone(),
                stream_receipt: stream_receipt.to_vec(),
                request: p.request.clone(),
                message: p.parsed.message.clone(),
            };
            let ev = receipt
                .sign(&self.keys, None)
                .map_err(|e| TipError::Receipt(e.to_string()))?;
            p.receipt = Some(ev.clone());
            (ev, p.parsed.relays.clone())
        };
        let mut urls: Vec<String> = Vec::new();
        if let Some(pool) = &self.pool {
            for (url, r) in pool.publish(&ev, Duration::from_secs(5)).await {
                if let Err(e) = r {
                    tracing::warn!(%url, error = %e, "tip receipt not published");
                }
                urls.push(url);
            }
        }
        let extra: Vec<String> = publish.into_iter().filter(|u| !urls.contains(u)).collect();
        if !extra.is_empty()
            && let Ok(pool) = RelayPool::new(extra, ClientOptions::default())
        {
            for (url, r) in pool.publish(&ev, Duration::from_secs(5)).await {
                if let Err(e) = r {
                    tracing::warn!(%url, error = %e, "tip receipt not published");
                }
            }
        }
        Ok(ev)
    }
}

fn error_response(e: TipError) -> Response {
    let status = match &e {
        TipError::Request(_) => StatusCode::BAD_REQUEST,
        TipError::Payment { .. } => StatusCode::PAYMENT_REQUIRED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, Json(json!({"error": e.to_string()}))).into_response()
}

async fn open(State(s): State<Arc<TipService>>, body: axum::body::Bytes) -> Response {
    let ev: Event = match serde_json::from_slice(&body) {
        Ok(e) => e,
        Err(e) => return error_response(TipError::Request(format!("body is not an event: {e}"))),
    };
    let id = ev.id;
    match s.open(ev) {
        Ok(d) => {
            let mut v = d.to_json();
            v["request_id"] = json!(id.to_hex());
            Json(v).into_response()
        }
        Err(e) => error_response(e),
    }
}

async fn receipt(State(s): State<Arc<TipService>>, Path(id): Path<String>) -> Response {
    let Ok(id) = EventId::from_hex(&id) else {
        return error_response(TipError::Request("request id is not 64 hex chars".into()));
    };
    match s.issue_receipt(&id).await {
        Ok(ev) => Json(json!({ "receipt": ev })).into_response(),
        Err(e) => error_response(e),
    }
}

/// What a tip did.
#[derive(Clone, Debug)]
pub struct TipOutcome {
    /// The verified receipt event (kind 9737).
    pub receipt: Event,
    /// Parsed receipt.
    pub parsed: TipReceipt,
    /// Sent from the wallet (sender's units).
    pub sent: u64,
    /// Counted by the receiver (receiver's units, = `parsed.amount.amount`).
    pub delivered: u64,
    /// What the tip asked the creator to receive (receiver's units).
    pub requested: u64,
}

impl TipOutcome {
    /// How much less than requested arrived (0 when the tip arrived whole): the exchange rate
    /// or fees on the path moved between the probe and the payment, or the payment stopped.
    pub fn shortfall(&self) -> u64 {
        self.requested.saturating_sub(self.delivered)
    }
}

/// Tip the creator of `stream`: `amount` (receiver's asset units, `asset` = code, scale)
/// with `message`, through the receiving agent at `endpoint` (the live event's `tip` URL),
/// paid from `wallet`. `agent` is the receipt signer the live event declares (None: the
/// creator itself must sign). Returns the verified receipt.
#[allow(clippy::too_many_arguments)]
pub async fn tip(
    keys: &Keys,
    wallet: Arc<dyn IlpService>,
    endpoint: &str,
    agent: Option<PublicKey>,
    stream: &StreamAddress,
    amount: u64,
    asset: (&str, u8),
    message: &str,
    relays: Vec<String>,
) -> Result<TipOutcome, TipError> {
    let req = TipRequest {
        recipient: stream.pubkey,
        stream: stream.clone(),
        amount: Price::new(amount, asset.0, asset.1),
        relays,
        message: message.to_string(),
    }
    .sign(keys, None)
    .map_err(|e| TipError::Request(e.to_string()))?;
    let base = endpoint.trim_end_matches('/');
    let t = Duration::from_secs(10);
    let body = serde_json::to_value(&req).map_err(|e| TipError::Request(e.to_string()))?;
    let v = http::json(&format!("{base}/tip"), Some(&body), t).await?;
    let d = SpspDetails::from_json(v.to_string().as_bytes())
        .map_err(|e| TipError::Spsp(e.to_string()))?;
    let mut cfg = SenderConfig::new(d.destination_account, d.shared_secret);
    cfg.packet_timeout = Duration::from_secs(10);
    let mut sender = StreamSender::connect(wallet, cfg)
        .await
        .map_err(|e| TipError::Payment {
            delivered: 0,
            message: e.to_string(),
        })?;
    // `amount` is what the creator should receive: convert with the probed rate.
    let source = match sender.rate() {
        Some(r) => r.invert(amount).max(1),
        None => amount,
    };
    let sent = match sender.send(source).await {
        Ok(r) => r.sent,
        Err(e) => {
            let t = sender.totals();
            if t.delivered == 0 {
                return Err(TipError::Payment {
                    delivered: 0,
                    message: e.to_string(),
                });
            }
            t.sent
        }
    };
    let _ = sender.close().await;
    let v = http::json(
        &format!("{base}/tip/{}/receipt", req.id.to_hex()),
        Some(&json!({})),
        t,
    )
    .await?;
    let receipt: Event = serde_json::from_value(v["receipt"].clone())
        .map_err(|e| TipError::Receipt(format!("no receipt event in the answer: {e}")))?;
    let parsed = TipReceipt::from_event(&receipt).map_err(|e| TipError::Receipt(e.to_string()))?;
    let declared: Vec<PublicKey> = agent.into_iter().collect();
    parsed
        .check_issuer(&receipt.pubkey, &declared)
        .map_err(|e| TipError::Receipt(e.to_string()))?;
    if parsed.request_id != req.id || parsed.payer != keys.public_key() {
        return Err(TipError::Receipt("receipt is for another request".into()));
    }
    Ok(TipOutcome {
        delivered: parsed.amount.amount,
        requested: amount,
        receipt,
        parsed,
        sent,
    })
}

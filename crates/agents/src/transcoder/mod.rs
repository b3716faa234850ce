//! The transcoder agent: sells the adaptive ladder of live streams as paid NIP-90 jobs.
//!
//! It listens on Nostr for kind-5200 transcode requests, answers each with an offer (kind 7000
//! `payment-required`: price per transcoded minute, capacity, its SPSP/ILP details), and on
//! the customer's acceptance ([`protocol`]) runs the job ([`job`]): it pulls the source
//! rendition from the streamer's origin part by part as the creator signs them
//! ([`source_feed`]), checks every byte against the creator's signed manifests, runs ONE
//! ffmpeg for the whole ladder ([`tollcast_media::ladder`]), signs each rung segment with its own key (naming the source
//! segment it came from), publishes those manifests and a kind-6200 result, and serves the job
//! (multivariant with the source mirrored as-is plus the rungs) from its HTTP origin
//! ([`http`]), which relays use as their upstream. It is paid per transcoded minute over STREAM
//! to its own receiver; when the customer stops paying past the credit it extends, it stops
//! and says why (kind 7000 `error`).
//!
//! [`job_client`] is the other side (the streamer): request, collect offers, choose, accept,
//! pay as minutes are delivered, and `replace` a transcoder that failed a check.

pub mod http;
pub mod job;
pub mod job_client;
pub mod protocol;
pub mod source_feed;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tollcast_events::Price;
use tollcast_events::jobs::{JobFeedback, JobStatus, KIND_TRANSCODE_REQUEST, TranscodeRequest};
use tollcast_events::nostr::prelude::{Event, EventId, Filter, Keys, Kind, PublicKey, Timestamp};
use tollcast_media::store::ChunkStore;
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient, SubItem};
use tollcast_net::stream::{ReceiverEvent, StreamReceiver};

use job::{Job, JobState};
use protocol::{OfferTerms, acceptance_of, deleted_ids, job_tag};

/// Transcoder failures.
#[derive(Debug, thiserror::Error)]
pub enum TranscoderError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("nostr: {0}")]
    Nostr(String),
    #[error("media: {0}")]
    Media(#[from] tollcast_media::MediaError),
    #[error("source: {0}")]
    Source(String),
    #[error("payment: {0}")]
    Payment(String),
    #[error("no offer: {0}")]
    NoOffer(String),
}

/// `[transcoder]` settings (node TOML or `tollcast transcode` flags). Every field has a
/// default, so an empty section works.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TranscoderConfig {
    /// Price per transcoded minute of source, base units of `asset_code` (default 1000).
    pub price_per_minute: u64,
    /// Asset the price is in (default `USD`).
    pub asset_code: String,
    /// Its scale (default 6: micro-units).
    pub asset_scale: u8,
    /// Jobs run at once (default 1; each is one ffmpeg).
    pub capacity: u32,
    /// x264 preset (default `veryfast`; `ultrafast` for tests and small machines).
    pub preset: String,
    /// Seconds of media per payment unit (default 60: paid per minute).
    pub unit_secs: f64,
    /// Seconds transcoded ahead of payment before the job stops (default 60).
    pub credit_secs: f64,
    /// Also answer requests whose bid is below the price (with the price; default true).
    pub answer_low_bids: bool,
    /// Directory of the chunk store (default `tollcast-transcoder`).
    pub store_dir: PathBuf,
    /// Store bound, MiB (default 2048).
    pub store_mib: u64,
    /// Public base URL of this transcoder's HTTP listener (default: the bound address).
    pub public_url: Option<String>,
    /// How long a source segment may take to fetch before it is skipped (seconds, default 10).
    pub fetch_timeout_secs: f64,
}

impl Default for TranscoderConfig {
    fn default() -> Self {
        Self {
            price_per_minute: 1000,
            asset_code: "USD".into(),
            asset_scale: 6,
            capacity: 1,
            preset: "veryfast".into(),
            unit_secs: 60.0,
            credit_secs: 60.0,
            answer_low_bids: true,
            store_dir: PathBuf::from("tollcast-transcoder"),
            store_mib: 2048,
            public_url: None,
            fetch_timeout_secs: 10.0,
        }
    }
}

impl TranscoderConfig {
    /// Check ranges; errors say what to change.
    pub fn validate(&self) -> Result<(), TranscoderError> {
        if self.capacity == 0 {
            return Err(TranscoderError::Config(
                "capacity must be at least 1".into(),
            ));
        }
        if !(self.unit_secs >= 0.5 && self.unit_secs <= 3600.0) {
            return Err(TranscoderError::Config(
                "unit_secs must be between 0.5 and 3600".into(),
            ));
        }
        if !(self.credit_secs >= 0.0 && self.credit_secs.is_finite()) {
            return Err(TranscoderError::Config("credit_secs must be >= 0".into()));
        }
        if self.asset_code.is_empty() {
            return Err(TranscoderError::Config("asset_code is empty".into()));
        }
        Ok(())
    }

    /// Price of one billing unit.
    pub fn unit_price(&self) -> u64 {
        ((self.price_per_minute as f64) * self.unit_secs / 60.0).ceil() as u64
    }
}

/// Where the transcoder gets paid.
#[derive(Clone)]
pub struct Wallet {
    /// Its STREAM receiver (registered at its node under `ilp_address`).
    pub receiver: Arc<StreamReceiver>,
    /// SPSP base URL; a job's URL is `{spsp_base}/{job tag}`.
    pub spsp_base: String,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub requests_seen: AtomicU64,
    pub offers_sent: AtomicU64,
    pub jobs_started: AtomicU64,
    pub jobs_stopped_unpaid: AtomicU64,
    pub source_segments_rejected: AtomicU64,
    pub source_segments_fed: AtomicU64,
    /// Milliseconds of source transcoded (all jobs).
    pub transcoded_ms: AtomicU64,
    /// Base units received for jobs.
    pub received: AtomicU64,
}

pub(crate) struct Inner {
    pub cfg: TranscoderConfig,
    pub keys: Keys,
    pub clients: Vec<RelayClient>,
    pub relay_urls: Vec<String>,
    pub wallet: Wallet,
    pub store: ChunkStore,
    pub public_url: Mutex<String>,
    /// Open requests we offered on: request id -> (request event, offer id).
    pub offered: Mutex<HashMap<EventId, (Event, EventId)>>,
    /// Jobs by tag.
    pub jobs: Mutex<HashMap<String, Arc<Job>>>,
    pub metrics: Metrics,
}

/// A running transcoder agent. Cheap to clone.
#[derive(Clone)]
pub struct Transcoder {
    pub(crate) inner: Arc<Inner>,
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    Timestamp::now().as_secs()
}

impl Transcoder {
    /// Start: open the store, connect to `relays`, follow requests. Serve [`Self::router`] on
    /// an HTTP listener and tell the agent its URL with [`Self::set_public_url`] (unless the
    /// config names one).
    pub async fn start(
        cfg: TranscoderConfig,
        keys: Keys,
        relays: &[String],
        wallet: Wallet,
    ) -> Result<Transcoder, TranscoderError> {
        cfg.validate()?;
        if relays.is_empty() {
            return Err(TranscoderError::Config(
                "at least one Nostr relay URL is needed (--nostr ws://...)".into(),
            ));
        }
        let store = ChunkStore::open(&cfg.store_dir, cfg.store_mib.max(16) * 1024 * 1024)?;
        let mut clients = Vec::new();
        for u in relays {
            clients.push(
                RelayClient::connect(u, ClientOptions::default())
                    .map_err(|e| TranscoderError::Nostr(format!("{u}: {e}")))?,
            );
        }
        let t = Transcoder {
            inner: Arc::new(Inner {
                public_url: Mutex::new(cfg.public_url.clone().unwrap_or_default()),
                cfg,
                keys,
                clients,
                relay_urls: relays.to_vec(),
                wallet,
                store,
                offered: Mutex::new(HashMap::new()),
                jobs: Mutex::new(HashMap::new()),
                metrics: Metrics::default(),
            }),
        };
        for c in &t.inner.clients {
            let filter = Filter::new()
                .kinds([Kind::from(KIND_TRANSCODE_REQUEST), Kind::from(5u16)])
                .since(Timestamp::from_secs(unix_now().saturating_sub(5)));
            let mut sub = c
                .subscribe(vec![filter])
                .await
                .map_err(|e| TranscoderError::Nostr(e.to_string()))?;
            let me = t.clone();
            tokio::spawn(async move {
                while let Some(item) = sub.recv().await {
                    match item {
                        SubItem::Event(ev) => me.on_event(*ev).await,
                        SubItem::Eose => {}
                        SubItem::Closed(why) => {
                            tracing::warn!("request subscription closed by the relay: {why}");
                            break;
                        }
                    }
                }
            });
        }
        // Money for jobs, as it arrives.
        let mut money = t.inner.wallet.receiver.subscribe();
        let me = t.clone();
        tokio::spawn(async move {
            loop {
                match money.recv().await {
                    Ok(ReceiverEvent::Money {
                        tag: Some(tag),
                        amount,
                        ..
                    }) => {
                        let job = me
                            .inner
                            .jobs
                            .lock()
                            .ok()
                            .and_then(|j| j.get(&*tag).cloned());
                        if let Some(job) = job {
                            job.credit(amount);
                            me.inner
                                .metrics
                                .received
                                .fetch_add(amount, Ordering::Relaxed);
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::error!("missed {n} receiver events: job balances may lag");
                    }
                    Err(_) => break,
                }
            }
        });
        Ok(t)
    }

    /// The Nostr relays it listens and publishes on.
    pub fn relays(&self) -> &[String] {
        &self.inner.relay_urls
    }

    /// The public key that signs offers, results and rung manifests.
    pub fn pubkey(&self) -> PublicKey {
        self.inner.keys.public_key()
    }

    /// Set the public base URL (`http://host:port`) once the listener is bound.
    pub fn set_public_url(&self, url: &str) {
        if let Ok(mut u) = self.inner.public_url.lock() {
            *u = url.trim_end_matches('/').to_string();
        }
    }

    pub(crate) fn public_url(&self) -> String {
        self.inner
            .public_url
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default()
    }

    /// Jobs running now.
    pub fn running_jobs(&self) -> usize {
        self.inner
            .jobs
            .lock()
            .map(|j| {
                j.values()
                    .filter(|j| j.state() == JobState::Running)
                    .count()
            })
            .unwrap_or(0)
    }

    /// Snapshot of every job: (tag, state, transcoded seconds, received base units).
    pub fn jobs(&self) -> Vec<(String, JobState, f64, u64)> {
        let jobs: Vec<Arc<Job>> = self
            .inner
            .jobs
            .lock()
            .map(|j| j.values().cloned().collect())
            .unwrap_or_default();
        jobs.iter()
            .map(|j| (j.tag.clone(), j.state(), j.transcoded_secs(), j.received()))
            .collect()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Publish to every relay (best effort; logs failures).
    pub(crate) async fn publish(&self, ev: &Event) {
        for c in &self.inner.clients {
            match c.publish(ev, Duration::from_secs(5)).await {
                Ok(ack) if ack.accepted => {}
                Ok(ack) => tracing::warn!("{} refused event {}: {}", c.url(), ev.id, ack.message),
                Err(e) => tracing::warn!("cannot publish to {}: {e}", c.url()),
            }
        }
    }

    pub(crate) async fn feedback(
        &self,
        request: &Event,
        status: JobStatus,
        info: Option<String>,
        amount: Option<Price>,
        content: String,
    ) -> Option<EventId> {
        let fb = JobFeedback {
            status,
            info,
            request_id: request.id,
            customer: request.pubkey,
            amount,
            ilp_address: Some(
                self.inner
                    .wallet
                    .receiver
                    .config()
                    .server_address
                    .to_string(),
            ),
            content,
        };
        match fb.sign(&self.inner.keys, None) {
            Ok(ev) => {
                self.publish(&ev).await;
                Some(ev.id)
            }
            Err(e) => {
                tracing::error!("cannot sign feedback: {e}");
                None
            }
        }
    }

    fn free_slots(&self) -> u32 {
        self.inner
            .cfg
            .capacity
            .saturating_sub(self.running_jobs() as u32)
    }

    async fn on_event(&self, ev: Event) {
        if ev.kind == Kind::from(5u16) {
            let ids = deleted_ids(&ev);
            let jobs: Vec<Arc<Job>> = self
                .inner
                .jobs
                .lock()
                .map(|j| j.values().cloned().collect())
                .unwrap_or_default();
            for job in jobs {
                if ids.contains(&job.acceptance.id) && ev.pubkey == job.acceptance.pubkey {
                    job.stop(format!("cancelled by the customer: {}", ev.content), false)
                        .await;
                }
            }
            return;
        }
        let req = match TranscodeRequest::from_event(&ev) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("ignoring request {}: {e}", ev.id);
                return;
            }
        };
        self.inner
            .metrics
            .requests_seen
            .fetch_add(1, Ordering::Relaxed);
        let me = self.pubkey();
        if let Some((request_id, offer_id)) = acceptance_of(&ev) {
            if req.providers != vec![me] {
                return; // accepted someone else
            }
            self.on_acceptance(ev, req, request_id, offer_id).await;
            return;
        }
        if !req.providers.is_empty() && !req.providers.contains(&me) {
            return;
        }
        self.on_request(ev, req).await;
    }

    async fn on_request(&self, ev: Event, req: TranscodeRequest) {
        let cfg = &self.inner.cfg;
        let slots = self.free_slots();
        if slots == 0 {
            return;
        }
        if let Some(bid) = &req.bid_per_minute {
            if bid.asset_code != cfg.asset_code || bid.asset_scale != cfg.asset_scale {
                tracing::info!(
                    "request {}: bid in {} not {}",
                    ev.id,
                    bid.asset_code,
                    cfg.asset_code
                );
                return;
            }
            if bid.amount < cfg.price_per_minute && !cfg.answer_low_bids {
                return;
            }
        }
        if req.source_urls.is_empty() {
            tracing::info!("request {} names no source URL", ev.id);
            return;
        }
        let terms = OfferTerms {
            spsp: format!(
                "{}/{}",
                self.inner.wallet.spsp_base.trim_end_matches('/'),
                job_tag(&ev.id)
            ),
            capacity: slots,
            unit_secs: cfg.unit_secs,
            credit_secs: cfg.credit_secs,
            origin: format!("{}/jobs/{}", self.public_url(), job_tag(&ev.id)),
        };
        let content = serde_json::to_string(&terms).unwrap_or_default();
        let price = Price::new(
            cfg.price_per_minute,
            cfg.asset_code.clone(),
            cfg.asset_scale,
        );
        if let Some(offer) = self
            .feedback(
                &ev,
                JobStatus::PaymentRequired,
                Some(format!(
                    "{} {} per minute (scale {}), {} slot(s)",
                    cfg.price_per_minute, cfg.asset_code, cfg.asset_scale, slots
                )),
                Some(price),
                content,
            )
            .await
        {
            self.inner
                .metrics
                .offers_sent
                .fetch_add(1, Ordering::Relaxed);
            if let Ok(mut o) = self.inner.offered.lock() {
                o.insert(ev.id, (ev, offer));
                if o.len() > 1000 {
                    o.clear();
                }
            }
        }
    }

    async fn on_acceptance(
        &self,
        acceptance: Event,
        req: TranscodeRequest,
        request_id: EventId,
        offer_id: EventId,
    ) {
        let Some((request, our_offer)) = self
            .inner
            .offered
            .lock()
            .ok()
            .and_then(|o| o.get(&request_id).cloned())
        else {
            tracing::info!(
                "acceptance {} names a request we did not offer on",
                acceptance.id
            );
            return;
        };
        if our_offer != offer_id || request.pubkey != acceptance.pubkey {
            tracing::warn!(
                "acceptance {} refused: not our offer or not the requester",
                acceptance.id
            );
            return;
        }
        let tag = job_tag(&request.id);
        if self
            .inner
            .jobs
            .lock()
            .map(|j| j.contains_key(&tag))
            .unwrap_or(true)
        {
            return; // duplicate from another relay
        }
        if self.free_slots() == 0 {
            self.feedback(
                &request,
                JobStatus::Error,
                Some("no capacity left: choose another transcoder".into()),
                None,
                String::new(),
            )
            .await;
            return;
        }
        let job = Job::new(self.clone(), tag.clone(), request, acceptance, req);
        if let Ok(mut j) = self.inner.jobs.lock() {
            j.insert(tag, job.clone());
        }
        self.inner
            .metrics
            .jobs_started
            .fetch_add(1, Ordering::Relaxed);
        job.start().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_toml_and_checks() {
        let c: TranscoderConfig = toml::from_str("").unwrap();
        assert_eq!(c.price_per_minute, 1000);
        assert_eq!(c.unit_secs, 60.0);
        assert_eq!(c.unit_price(), 1000);
        c.validate().unwrap();
        let c: TranscoderConfig =
            toml::from_str("price_per_minute = 600\nunit_secs = 2.0\npreset = \"ultrafast\"")
                .unwrap();
        assert_eq!(c.unit_price(), 20);
        assert_eq!(c.preset, "ultrafast");
        assert!(toml::from_str::<TranscoderConfig>("price_per_minut = 1").is_err());
        let bad = TranscoderConfig {
            capacity: 0,
            ..TranscoderConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = TranscoderConfig {
            unit_secs: 0.0,
            ..TranscoderConfig::default()
        };
        assert!(bad.validate().is_err());
    }
}

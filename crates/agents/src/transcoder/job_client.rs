//! The requester side of a transcoding job (the streamer): publish the kind-5200 request,
//! collect offers (kind 7000 `payment-required`) for a window, choose the cheapest one within
//! budget that has capacity, accept it, then pay over STREAM (from the streamer's wallet, an
//! account at its ILP node) one billing unit at a time as the transcoder's signed rung
//! manifests show delivered minutes. [`ActiveJob::replace`] moves the job to another
//! transcoder (the verifier calls it when a check fails): the old job is cancelled (NIP-09
//! deletion of the acceptance, the reason in content), its transcoder is excluded, and a new
//! request is run.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tollcast_events::jobs::{
    JobFeedback, JobResult, JobStatus, KIND_JOB_FEEDBACK, KIND_TRANSCODE_RESULT, Rendition,
    TranscodeRequest,
};
use tollcast_events::manifest::KIND_SEGMENT_MANIFEST;
use tollcast_events::nostr::prelude::{Event, Filter, Keys, Kind, PublicKey, Timestamp};
use tollcast_events::{Price, Role, StreamAddress};
use tollcast_media::ladder::Rung;
use tollcast_media::manifest::SegmentManifest;
use tollcast_net::connector::{AccountId, IlpService};
use tollcast_net::nostr_relay::client::{ClientOptions, RelayClient, SubItem};
use tollcast_net::stream::{SenderConfig, StreamSender, spsp_http};

use super::protocol::{OfferTerms, ResultInfo, sign_acceptance, sign_cancel, sign_request};
use super::{TranscoderError, unix_now};

/// What the streamer asks for.
#[derive(Debug, Clone)]
pub struct JobClientConfig {
    pub stream: StreamAddress,
    /// Base URL of the streamer's origin (`http://host:port`).
    pub source_url: String,
    pub rungs: Vec<Rung>,
    /// Offer per transcoded minute.
    pub bid_per_minute: Price,
    /// Highest price per minute accepted.
    pub max_price_per_minute: u64,
    /// Cut targets of the source (the rungs use the same).
    pub part_target: f64,
    pub segment_target: f64,
    /// How long offers are collected.
    pub offer_window: Duration,
    /// How long the chosen transcoder has to publish its result.
    pub result_timeout: Duration,
}

/// One transcoder's offer.
#[derive(Debug, Clone)]
pub struct Offer {
    pub transcoder: PublicKey,
    /// The offer event (kind 7000) id.
    pub event: Event,
    pub price: Price,
    pub ilp_address: String,
    pub terms: OfferTerms,
}

struct Inner {
    cfg: JobClientConfig,
    keys: Keys,
    clients: Vec<RelayClient>,
    wallet: Arc<dyn IlpService>,
    from: AccountId,
    excluded: Mutex<HashSet<PublicKey>>,
}

/// The streamer's job client. Cheap to clone.
#[derive(Clone)]
pub struct JobClient {
    inner: Arc<Inner>,
}

impl JobClient {
    /// A client publishing with `keys` (the stream's creator key) on `relays`, paying from
    /// `wallet` (e.g. `node.connector.sender(AccountId::new("streamer"))`) booked on `from`.
    pub fn new(
        cfg: JobClientConfig,
        keys: Keys,
        relays: &[String],
        wallet: Arc<dyn IlpService>,
        from: AccountId,
    ) -> Result<JobClient, TranscoderError> {
        if relays.is_empty() {
            return Err(TranscoderError::Config("no Nostr relay given".into()));
        }
        let clients = relays
            .iter()
            .map(|u| {
                RelayClient::connect(u, ClientOptions::default())
                    .map_err(|e| TranscoderError::Nostr(format!("{u}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(JobClient {
            inner: Arc::new(Inner {
                cfg,
                keys,
                clients,
                wallet,
                from,
                excluded: Mutex::new(HashSet::new()),
            }),
        })
    }

    fn client(&self) -> &RelayClient {
        &self.inner.clients[0]
    }

    async fn publish(&self, ev: &Event) -> Result<(), TranscoderError> {
        let mut ok = false;
        let mut last = String::new();
        for c in &self.inner.clients {
            match c.publish(ev, Duration::from_secs(5)).await {
                Ok(a) if a.accepted => ok = true,
                Ok(a) => last = a.message,
                Err(e) => last = e.to_string(),
            }
        }
        if ok {
            Ok(())
        } else {
            Err(TranscoderError::Nostr(format!(
                "event {} not published: {last}",
                ev.id
            )))
        }
    }

    fn request(&self) -> TranscodeRequest {
        let c = &self.inner.cfg;
        TranscodeRequest {
            stream: c.stream.clone(),
            source_urls: vec![c.source_url.clone()],
            output: "video/mp4".into(),
            renditions: c
                .rungs
                .iter()
                .map(|r| Rendition {
                    name: r.name.clone(),
                    width: r.width,
                    height: r.height,
                    bitrate: r.video_bps,
                })
                .collect(),
            codec: Some("h264".into()),
            bid_per_minute: Some(c.bid_per_minute.clone()),
            providers: vec![],
            relays: self
                .inner
                .clients
                .iter()
                .map(|c| c.url().to_string())
                .collect(),
        }
    }

    /// Publish a request and collect offers for the configured window.
    pub async fn request_offers(&self) -> Result<(Event, Vec<Offer>), TranscoderError> {
        let c = &self.inner.cfg;
        let ev = sign_request(
            &self.request(),
            c.part_target,
            c.segment_target,
            &self.inner.keys,
        )
        .map_err(TranscoderError::Config)?;
        let filter = Filter::new()
            .kind(Kind::from(KIND_JOB_FEEDBACK))
            .event(ev.id)
            .since(Timestamp::from_secs(unix_now().saturating_sub(5)));
        let mut sub = self
            .client()
            .subscribe(vec![filter])
            .await
            .map_err(|e| TranscoderError::Nostr(e.to_string()))?;
        self.publish(&ev).await?;
        let mut offers: BTreeMap<PublicKey, Offer> = BTreeMap::new();
        let deadline = tokio::time::Instant::now() + c.offer_window;
        while let Ok(Some(item)) = tokio::time::timeout_at(deadline, sub.recv()).await {
            let SubItem::Event(fe) = item else { continue };
            let Ok(fb) = JobFeedback::from_event(&fe) else {
                continue;
            };
            if fb.request_id != ev.id || fb.status != JobStatus::PaymentRequired {
                continue;
            }
            let (Some(price), Some(ilp)) = (fb.amount.clone(), fb.ilp_address.clone()) else {
                continue;
            };
            let Ok(terms) = serde_json::from_str::<OfferTerms>(&fb.content) else {
                tracing::info!("offer {} has unreadable terms", fe.id);
                continue;
            };
            offers.insert(
                fe.pubkey,
                Offer {
                    transcoder: fe.pubkey,
                    event: *fe,
                    price,
                    ilp_address: ilp,
                    terms,
                },
            );
        }
        Ok((ev, offers.into_values().collect()))
    }

    /// The cheapest offer in our asset, within budget, with capacity, from a transcoder not
    /// excluded by an earlier [`ActiveJob::replace`].
    pub fn choose(&self, offers: &[Offer]) -> Option<Offer> {
        let c = &self.inner.cfg;
        let excluded = self
            .inner
            .excluded
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        offers
            .iter()
            .filter(|o| {
                o.price.asset_code == c.bid_per_minute.asset_code
                    && o.price.asset_scale == c.bid_per_minute.asset_scale
                    && o.price.amount <= c.max_price_per_minute
                    && o.terms.capacity > 0
                    && !excluded.contains(&o.transcoder)
            })
            .min_by_key(|o| (o.price.amount, o.transcoder.to_hex()))
            .cloned()
    }

    /// Accept `offer`: publish the acceptance, wait for the result, start paying.
    pub async fn accept(
        &self,
        request: &Event,
        offer: &Offer,
    ) -> Result<ActiveJob, TranscoderError> {
        let acc = sign_acceptance(
            &self.request(),
            request,
            offer.event.id,
            offer.transcoder,
            &self.inner.keys,
        )
        .map_err(TranscoderError::Config)?;
        let filter = Filter::new()
            .kinds([
                Kind::from(KIND_TRANSCODE_RESULT),
                Kind::from(KIND_JOB_FEEDBACK),
            ])
            .author(offer.transcoder)
            .event(request.id)
            .since(Timestamp::from_secs(unix_now().saturating_sub(5)));
        let mut sub = self
            .client()
            .subscribe(vec![filter])
            .await
            .map_err(|e| TranscoderError::Nostr(e.to_string()))?;
        self.publish(&acc).await?;
        let deadline = tokio::time::Instant::now() + self.inner.cfg.result_timeout;
        let result = loop {
            match tokio::time::timeout_at(deadline, sub.recv()).await {
                Ok(Some(SubItem::Event(ev))) => {
                    if ev.kind == Kind::from(KIND_TRANSCODE_RESULT) {
                        let Ok(r) = JobResult::from_event(&ev) else {
                            continue;
                        };
                        if r.request_id != request.id {
                            continue;
                        }
                        match serde_json::from_str::<ResultInfo>(&r.content) {
                            Ok(info) => break info,
                            Err(e) => {
                                return Err(TranscoderError::NoOffer(format!(
                                    "result {} unreadable: {e}",
                                    ev.id
                                )));
                            }
                        }
                    }
                    if let Ok(fb) = JobFeedback::from_event(&ev)
                        && fb.status == JobStatus::Error
                    {
                        return Err(TranscoderError::NoOffer(format!(
                            "transcoder refused: {}",
                            fb.info.unwrap_or_default()
                        )));
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    let _ = self
                        .publish(
                            &sign_cancel(acc.id, "no result in time", &self.inner.keys)
                                .map_err(TranscoderError::Config)?,
                        )
                        .await;
                    return Err(TranscoderError::NoOffer(format!(
                        "transcoder {} sent no result within {:?}",
                        offer.transcoder.to_hex(),
                        self.inner.cfg.result_timeout
                    )));
                }
            }
        };
        // Keep following this job's feedback (errors say why it stopped).
        let last_feedback = Arc::new(Mutex::new(None::<JobFeedback>));
        let lf = last_feedback.clone();
        let fb_task = tokio::spawn(async move {
            while let Some(item) = sub.recv().await {
                if let SubItem::Event(ev) = item
                    && let Ok(fb) = JobFeedback::from_event(&ev)
                    && let Ok(mut l) = lf.lock()
                {
                    *l = Some(fb);
                }
            }
        });
        let job = ActiveJob {
            client: self.clone(),
            transcoder: offer.transcoder,
            offer: offer.clone(),
            result,
            acceptance: acc,
            paid: Arc::new(AtomicU64::new(0)),
            delivered_ms: Arc::new(AtomicU64::new(0)),
            paying: Arc::new(AtomicBool::new(true)),
            last_feedback,
            payment_error: Arc::new(Mutex::new(None)),
            tasks: Vec::new(),
        };
        let mut job = job;
        let payer = job.spawn_payer().await?;
        job.tasks = vec![payer, fb_task];
        Ok(job)
    }

    /// Request, choose, accept.
    pub async fn start(&self) -> Result<ActiveJob, TranscoderError> {
        let (req, offers) = self.request_offers().await?;
        let n = offers.len();
        let Some(offer) = self.choose(&offers) else {
            return Err(TranscoderError::NoOffer(format!(
                "{n} offer(s), none within {} {} per minute with capacity",
                self.inner.cfg.max_price_per_minute, self.inner.cfg.bid_per_minute.asset_code
            )));
        };
        self.accept(&req, &offer).await
    }
}

/// A running job from the streamer's side. Dropping it stops paying.
pub struct ActiveJob {
    client: JobClient,
    pub transcoder: PublicKey,
    pub offer: Offer,
    pub result: ResultInfo,
    pub acceptance: Event,
    paid: Arc<AtomicU64>,
    delivered_ms: Arc<AtomicU64>,
    paying: Arc<AtomicBool>,
    last_feedback: Arc<Mutex<Option<JobFeedback>>>,
    payment_error: Arc<Mutex<Option<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ActiveJob {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl ActiveJob {
    /// Base units paid to the transcoder so far.
    pub fn paid(&self) -> u64 {
        self.paid.load(Ordering::Relaxed)
    }

    /// Seconds delivered (every rung), as the transcoder's signed manifests show.
    pub fn delivered_secs(&self) -> f64 {
        self.delivered_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// The transcoder's latest feedback on this job (e.g. why it stopped).
    pub fn last_feedback(&self) -> Option<JobFeedback> {
        self.last_feedback.lock().ok().and_then(|l| l.clone())
    }

    /// The last payment failure, if the latest attempt failed.
    pub fn payment_error(&self) -> Option<String> {
        self.payment_error.lock().ok().and_then(|e| e.clone())
    }

    /// Stop paying (the transcoder stops once past its credit).
    pub fn stop_paying(&self) {
        self.paying.store(false, Ordering::Relaxed);
    }

    /// End the job: stop paying and delete the acceptance (NIP-09) with `reason`.
    pub async fn cancel(&self, reason: &str) -> Result<(), TranscoderError> {
        self.stop_paying();
        let ev = sign_cancel(self.acceptance.id, reason, &self.client.inner.keys)
            .map_err(TranscoderError::Config)?;
        self.client.publish(&ev).await
    }

    /// Move the job to another transcoder: cancel this one with `reason`, never choose it
    /// again, and run a new request. The verifier calls this when a check fails.
    pub async fn replace(self, reason: &str) -> Result<ActiveJob, TranscoderError> {
        tracing::warn!(
            "replacing transcoder {}: {reason}",
            self.transcoder.to_hex()
        );
        if let Ok(mut e) = self.client.inner.excluded.lock() {
            e.insert(self.transcoder);
        }
        self.cancel(reason).await?;
        let client = self.client.clone();
        drop(self);
        client.start().await
    }

    /// Count delivered seconds from the transcoder's manifests and pay per unit.
    async fn spawn_payer(&self) -> Result<tokio::task::JoinHandle<()>, TranscoderError> {
        let c = &self.client.inner;
        let filter = Filter::new()
            .kind(Kind::from(KIND_SEGMENT_MANIFEST))
            .author(self.transcoder)
            .since(Timestamp::from_secs(unix_now().saturating_sub(30)));
        let mut sub = self
            .client
            .client()
            .subscribe(vec![filter])
            .await
            .map_err(|e| TranscoderError::Nostr(e.to_string()))?;
        let spsp = spsp_http::query(&self.offer.terms.spsp, Duration::from_secs(5))
            .await
            .map_err(|e| {
                TranscoderError::Payment(format!("SPSP {}: {e}", self.offer.terms.spsp))
            })?;
        let mut scfg = SenderConfig::new(spsp.destination_account, spsp.shared_secret);
        scfg.from = c.from.clone();
        let wallet = c.wallet.clone();
        let rungs: Vec<String> = self
            .result
            .renditions
            .iter()
            .filter(|r| r.as_str() != "source")
            .cloned()
            .collect();
        let stream = c.cfg.stream.clone();
        let unit_secs = self.offer.terms.unit_secs.max(0.5);
        let unit_price = ((self.offer.price.amount as f64) * unit_secs / 60.0).ceil() as u64;
        let paid = self.paid.clone();
        let delivered_ms = self.delivered_ms.clone();
        let paying = self.paying.clone();
        let perr = self.payment_error.clone();
        let set_err = move |e: Option<String>| {
            if let Ok(mut p) = perr.lock() {
                *p = e;
            }
        };
        Ok(tokio::spawn(async move {
            let mut sender: Option<StreamSender> = None;
            let mut secs: BTreeMap<String, BTreeMap<u64, f64>> = BTreeMap::new();
            while let Some(item) = sub.recv().await {
                let SubItem::Event(ev) = item else { continue };
                let Ok((m, st, role)) = SegmentManifest::from_event(&ev) else {
                    continue;
                };
                if st != stream || role != Role::Transcoder || !rungs.contains(&m.rendition) {
                    continue;
                }
                secs.entry(m.rendition.clone())
                    .or_default()
                    .insert(m.msn, m.duration);
                let delivered = rungs
                    .iter()
                    .map(|r| secs.get(r).map(|s| s.values().sum::<f64>()).unwrap_or(0.0))
                    .fold(f64::INFINITY, f64::min);
                if !delivered.is_finite() {
                    continue;
                }
                delivered_ms.store((delivered * 1000.0) as u64, Ordering::Relaxed);
                if !paying.load(Ordering::Relaxed) {
                    continue;
                }
                let due = (delivered / unit_secs).floor() as u64 * unit_price;
                let already = paid.load(Ordering::Relaxed);
                if due <= already {
                    continue;
                }
                if sender.is_none() {
                    match StreamSender::connect(wallet.clone(), scfg.clone()).await {
                        Ok(s) => sender = Some(s),
                        Err(e) => {
                            tracing::warn!("cannot open STREAM to the transcoder: {e}");
                            set_err(Some(format!("cannot open STREAM: {e}")));
                            continue;
                        }
                    }
                }
                let Some(s) = sender.as_mut() else { continue };
                match s.send(due - already).await {
                    Ok(_) => {
                        set_err(None);
                        paid.store(due, Ordering::Relaxed);
                        tracing::info!("paid the transcoder {due} in total for {delivered:.1} s");
                    }
                    Err(e) => {
                        tracing::warn!("payment to the transcoder failed: {e}");
                        set_err(Some(format!("payment failed: {e}")));
                        sender = None;
                    }
                }
            }
        }))
    }
}

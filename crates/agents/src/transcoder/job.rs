//! One accepted transcoding job: pull the source part by part from the streamer's origin as the
//! creator's signed part manifests list them (every byte checked against a signed hash and size
//! before ffmpeg sees it, segments closed by the signed segment manifests), run the
//! ladder into this job's origin, publish the signed rung manifests and the result, and keep
//! the books (transcoded seconds vs money received): past the credit it extends, the job stops
//! with a feedback event saying why.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tollcast_events::jobs::{JobResult, JobStatus, KIND_TRANSCODE_REQUEST, TranscodeRequest};
use tollcast_events::manifest::KIND_SEGMENT_MANIFEST;
use tollcast_events::nostr::prelude::{Event, Timestamp};
use tollcast_events::part_manifest::KIND_PART_MANIFEST;
use tollcast_events::{Price, Role};
use tollcast_media::cutter::CutterConfig;
use tollcast_media::ladder::{Ladder, LadderConfig, Rung, SourcePart};
use tollcast_media::live::{LiveEvent, ManifestSigner};
use tollcast_media::manifest::{ManifestPart, PartManifest, SegmentManifest};
use tollcast_media::origin::Origin;
use tollcast_media::playlist::PlaylistConfig;
use tollcast_net::nostr_relay::client::SubItem;

use super::protocol::{ResultInfo, cut_targets};
use super::source_feed::{Signed, SourceFeed, Step};
use super::{Transcoder, unix_now};
use crate::relay::nostr::manifest_filters;
use crate::relay::upstream::Upstream;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Stopped,
}

/// A job (shared by its tasks and the HTTP routes).
pub struct Job {
    t: Transcoder,
    /// SPSP tag and URL path segment of the job.
    pub tag: String,
    /// The open request.
    pub request: Event,
    /// The customer's acceptance.
    pub acceptance: Event,
    req: TranscodeRequest,
    pub origin: Origin,
    state: Mutex<JobState>,
    stop_reason: Mutex<Option<String>>,
    received: AtomicU64,
    transcoded_ms: AtomicU64,
    ladder: Mutex<Option<Arc<Ladder>>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    cut: CutterConfig,
}

impl Job {
    pub(crate) fn new(
        t: Transcoder,
        tag: String,
        request: Event,
        acceptance: Event,
        req: TranscodeRequest,
    ) -> Arc<Job> {
        let (p, s) = cut_targets(&acceptance);
        let cut = CutterConfig {
            part_target: p.unwrap_or(0.2),
            segment_target: s.unwrap_or(1.0),
        };
        let origin = Origin::new(
            t.inner.store.clone(),
            PlaylistConfig {
                part_target: cut.part_target,
                segment_target: cut.segment_target,
                window: 12,
            },
        );
        Arc::new(Job {
            t,
            tag,
            request,
            acceptance,
            req,
            origin,
            state: Mutex::new(JobState::Running),
            stop_reason: Mutex::new(None),
            received: AtomicU64::new(0),
            transcoded_ms: AtomicU64::new(0),
            ladder: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
            cut,
        })
    }

    pub fn state(&self) -> JobState {
        self.state.lock().map(|s| *s).unwrap_or(JobState::Stopped)
    }

    /// Why it stopped, if it did.
    pub fn stop_reason(&self) -> Option<String> {
        self.stop_reason.lock().ok().and_then(|r| r.clone())
    }

    /// Base units received for this job.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Seconds of source every rung has finished.
    pub fn transcoded_secs(&self) -> f64 {
        self.transcoded_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub(crate) fn credit(&self, amount: u64) {
        self.received.fetch_add(amount, Ordering::Relaxed);
    }

    /// What the customer owes for what was transcoded (prorated per second).
    pub fn owed(&self) -> u64 {
        let cfg = &self.t.inner.cfg;
        (cfg.price_per_minute as f64 * self.transcoded_secs() / 60.0).floor() as u64
    }

    fn push_task(&self, h: tokio::task::JoinHandle<()>) {
        if let Ok(mut t) = self.tasks.lock() {
            t.push(h);
        }
    }

    pub(crate) async fn start(self: &Arc<Self>) {
        let cfg = &self.t.inner.cfg;
        let rungs: Vec<Rung> = self
            .req
            .renditions
            .iter()
            .map(|r| Rung::new(&r.name, r.width, r.height, r.bitrate))
            .collect();
        let lcfg = LadderConfig {
            rungs,
            cutter: self.cut,
            preset: cfg.preset.clone(),
            audio_kbps: None,
            signer: Some(ManifestSigner {
                keys: self.t.inner.keys.clone(),
                stream: self.req.stream.clone(),
                role: Role::Transcoder,
            }),
            mirror_source: true,
            source_name: "source".into(),
            threads: None,
        };
        let ladder = Arc::new(Ladder::spawn(lcfg, self.origin.clone()));
        if let Ok(mut l) = self.ladder.lock() {
            *l = Some(ladder.clone());
        }
        self.t
            .feedback(
                &self.request,
                JobStatus::Processing,
                Some(format!("transcoding {}", self.req.stream)),
                None,
                String::new(),
            )
            .await;
        let me = self.clone();
        let l2 = ladder.clone();
        self.push_task(tokio::spawn(async move { me.publish_outputs(l2).await }));
        let me = self.clone();
        let l2 = ladder.clone();
        self.push_task(tokio::spawn(async move {
            if let Err(e) = me.pull_source(l2).await {
                me.stop(format!("source failed: {e}"), false).await;
            }
        }));
        let me = self.clone();
        self.push_task(tokio::spawn(async move { me.keep_books(ladder).await }));
    }

    /// Forward signed rung manifests (segment and part) to Nostr; publish the result with the
    /// first segment manifest.
    async fn publish_outputs(self: Arc<Self>, ladder: Arc<Ladder>) {
        let mut rx = ladder.subscribe();
        let mut result_sent = false;
        loop {
            match rx.recv().await {
                Ok(LiveEvent::ManifestSigned(ev)) => {
                    self.t.publish(&ev).await;
                    if !result_sent {
                        result_sent = true;
                        self.publish_result(&ladder).await;
                    }
                }
                Ok(LiveEvent::PartManifestSigned(ev)) => {
                    // Ephemeral and frequent (per part and rung): never queue behind a slow
                    // Nostr relay.
                    let t = self.t.clone();
                    tokio::spawn(async move { t.publish(&ev).await });
                }
                Ok(LiveEvent::SessionEnded { reason, .. }) => {
                    tracing::info!(job = %self.tag, "ladder ffmpeg ended: {reason}")
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(job = %self.tag, "missed {n} ladder events")
                }
                Err(_) => break,
            }
        }
    }

    async fn publish_result(&self, ladder: &Ladder) {
        let base = format!("{}/jobs/{}", self.t.public_url(), self.tag);
        let mut renditions = vec!["source".to_string()];
        renditions.extend(ladder.rungs().into_iter().map(|r| r.name));
        let info = ResultInfo {
            master: format!("{base}/live/master.m3u8"),
            origin: base,
            renditions,
            signer: self.t.pubkey().to_hex(),
        };
        let cfg = &self.t.inner.cfg;
        let res = JobResult {
            request_kind: KIND_TRANSCODE_REQUEST,
            request_id: self.request.id,
            customer: self.request.pubkey,
            request_json: None,
            amount: Some(Price::new(
                cfg.price_per_minute,
                cfg.asset_code.clone(),
                cfg.asset_scale,
            )),
            content: serde_json::to_string(&info).unwrap_or_default(),
        };
        match res.sign(&self.t.inner.keys, None) {
            Ok(ev) => self.t.publish(&ev).await,
            Err(e) => tracing::error!("cannot sign result: {e}"),
        }
    }

    /// Follow the creator's source manifests and feed every verified part to the ladder as
    /// soon as a signed manifest lists it: part manifests (21311) while the segment is open,
    /// the segment manifest (31311) to close it ([`SourceFeed`] decides the order).
    async fn pull_source(self: &Arc<Self>, ladder: Arc<Ladder>) -> Result<(), String> {
        let url = self
            .req
            .source_urls
            .first()
            .ok_or("the request names no source URL")?
            .clone();
        let timeout = Duration::from_secs_f64(self.t.inner.cfg.fetch_timeout_secs.max(1.0));
        let upstream = Upstream::new(&url, timeout).map_err(|e| e.to_string())?;
        let creator = self.req.stream.pubkey;
        let since = Timestamp::from_secs(unix_now().saturating_sub(10));
        let client = self.t.inner.clients.first().ok_or("no Nostr relay")?;
        let mut sub = client
            .subscribe(manifest_filters(vec![creator], Some(since)))
            .await
            .map_err(|e| e.to_string())?;
        let mut inits: HashMap<String, Bytes> = HashMap::new();
        let mut feed = SourceFeed::default();
        // Bytes of the open segment's parts fed so far (to check the whole segment's hash).
        let mut open: Vec<Bytes> = Vec::new();
        let metrics = &self.t.inner.metrics;
        while let Some(item) = sub.recv().await {
            let ev = match item {
                SubItem::Event(ev) => ev,
                SubItem::Eose => continue,
                SubItem::Closed(why) => return Err(format!("manifest subscription closed: {why}")),
            };
            let parsed = match ev.kind.as_u16() {
                KIND_SEGMENT_MANIFEST => SegmentManifest::from_event(&ev)
                    .map(|(m, st, role)| (m.rendition.clone(), st, role, Signed::Segment(m))),
                KIND_PART_MANIFEST => PartManifest::from_event(&ev)
                    .map(|(m, st, role)| (m.rendition.clone(), st, role, Signed::Parts(m))),
                _ => continue,
            };
            let (rendition, stream, role, signed) = match parsed {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(job = %self.tag, "source manifest {} dropped: {e}", ev.id);
                    continue;
                }
            };
            if stream != self.req.stream
                || ev.pubkey != creator
                || role != Role::Streamer
                || rendition != "source"
            {
                continue;
            }
            feed.note(signed);
            while let Some(step) = feed.next_step() {
                if self.state() != JobState::Running {
                    return Ok(());
                }
                match step {
                    Step::Feed {
                        msn,
                        index,
                        part,
                        init,
                        capture_ms,
                    } => {
                        if index == 0 {
                            open.clear();
                        }
                        match self.fetch_part(&upstream, &part, &init, &mut inits).await {
                            Ok((init_bytes, bytes)) => {
                                feed.fed(&part.hash, true);
                                open.push(bytes.clone());
                                let p = SourcePart {
                                    msn,
                                    index,
                                    init: init_bytes,
                                    init_hash: init,
                                    bytes,
                                    hash: part.hash,
                                    duration: part.duration,
                                    independent: part.independent,
                                    capture_ms,
                                };
                                if ladder.push_part(p).await.is_err() {
                                    return Err("the ladder stopped".into());
                                }
                            }
                            Err(e) => {
                                feed.fed(&part.hash, false);
                                metrics
                                    .source_segments_rejected
                                    .fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(job = %self.tag, "source segment {msn} refused at part {index}: {e}");
                            }
                        }
                    }
                    Step::Closed(m) => {
                        let mut whole = Vec::with_capacity(m.segment_size as usize);
                        for b in open.drain(..) {
                            whole.extend_from_slice(&b);
                        }
                        if tollcast_media::store::sha256_hex(&whole) == m.segment {
                            metrics.source_segments_fed.fetch_add(1, Ordering::Relaxed);
                        } else {
                            // Every part matched its signed hash; only the creator's own
                            // manifests disagree with each other.
                            tracing::warn!(job = %self.tag, "source segment {}: its parts do not make its signed segment hash", m.msn);
                        }
                    }
                    Step::Skipped(msn) => {
                        open.clear();
                        tracing::debug!(job = %self.tag, "source segment {msn} skipped");
                    }
                }
            }
        }
        Ok(())
    }

    /// One source part (and its init, fetched once), checked against the signed hashes and
    /// size.
    async fn fetch_part(
        &self,
        up: &Upstream,
        part: &ManifestPart,
        init_hash: &str,
        inits: &mut HashMap<String, Bytes>,
    ) -> Result<(Bytes, Bytes), String> {
        let get = |path: String| async move {
            let r = up.get(&path).await.map_err(|e| e.to_string())?;
            if r.status.as_u16() != 200 {
                return Err(format!("{path}: HTTP {}", r.status));
            }
            Ok::<Bytes, String>(r.body)
        };
        let init = match inits.get(init_hash) {
            Some(b) => b.clone(),
            None => {
                let b = get(format!("/{init_hash}.mp4")).await?;
                if tollcast_media::store::sha256_hex(&b) != init_hash {
                    return Err(format!("init {init_hash} has bytes of another hash"));
                }
                inits.insert(init_hash.to_string(), b.clone());
                b
            }
        };
        let bytes = get(format!("/{}.m4s", part.hash)).await?;
        if tollcast_media::store::sha256_hex(&bytes) != part.hash {
            return Err(format!("part {} has bytes of another hash", part.hash));
        }
        if bytes.len() as u64 != part.size {
            return Err(format!(
                "part {} is {} bytes, its manifest says {}",
                part.hash,
                bytes.len(),
                part.size
            ));
        }
        Ok((init, bytes))
    }

    /// Track transcoded time against money; stop when the customer falls behind the credit.
    async fn keep_books(self: Arc<Self>, ladder: Arc<Ladder>) {
        let mut progress = ladder.progress();
        let cfg = self.t.inner.cfg.clone();
        let credit = (cfg.price_per_minute as f64 * cfg.credit_secs / 60.0).ceil() as u64;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                r = progress.changed() => if r.is_err() { break },
                _ = tick.tick() => {}
            }
            let secs = *progress.borrow();
            let ms = (secs * 1000.0) as u64;
            let before = self.transcoded_ms.swap(ms, Ordering::Relaxed);
            if ms > before {
                self.t
                    .inner
                    .metrics
                    .transcoded_ms
                    .fetch_add(ms - before, Ordering::Relaxed);
            }
            let owed = self.owed();
            let received = self.received();
            if owed > received.saturating_add(credit) {
                let reason = format!(
                    "payment stopped: {secs:.1} s transcoded = {owed} {} (scale {}) owed, {received} received, credit {credit}; pay to resume with a new job",
                    cfg.asset_code, cfg.asset_scale
                );
                self.stop(reason, true).await;
                break;
            }
            if self.state() != JobState::Running {
                break;
            }
        }
    }

    /// Stop the job: kill ffmpeg, end the playlists, tell the customer why.
    pub async fn stop(&self, reason: String, unpaid: bool) {
        {
            let Ok(mut s) = self.state.lock() else { return };
            if *s == JobState::Stopped {
                return;
            }
            *s = JobState::Stopped;
        }
        tracing::warn!(job = %self.tag, "job stopped: {reason}");
        if let Ok(mut r) = self.stop_reason.lock() {
            *r = Some(reason.clone());
        }
        if unpaid {
            self.t
                .inner
                .metrics
                .jobs_stopped_unpaid
                .fetch_add(1, Ordering::Relaxed);
        }
        if let Some(l) = self.ladder.lock().ok().and_then(|mut l| l.take()) {
            l.abort();
        }
        for r in self.origin.renditions() {
            self.origin.end_stream(&r);
        }
        self.t
            .feedback(
                &self.request,
                JobStatus::Error,
                Some(reason),
                None,
                String::new(),
            )
            .await;
        // Our own task may be the caller: abort the others after the feedback is out.
        let tasks: Vec<_> = self
            .tasks
            .lock()
            .map(|mut t| t.drain(..).collect())
            .unwrap_or_default();
        for t in tasks {
            t.abort();
        }
    }
}

//! The recorder agent (live-to-VOD): follows a stream's signed segment manifests (kind 31311)
//! on Nostr, fetches every segment and init it lists from any source that has it ([`mirrors`],
//! tried in order, each byte hash-verified), keeps them in its content-addressed chunk store,
//! and when the stream ends (its kind-30311 announcement says `ended`, or a source's playlist
//! carries `EXT-X-ENDLIST`) writes HLS VOD playlists ([`playlist`]) that name every chunk by
//! hash, stores the playlists content-addressed too, and publishes a NIP-71 video event
//! (`tollcast_events::vod`, kind 34235) pointing at the multivariant playlist by hash with an
//! `a` tag of the live event. It serves the recording over HTTP ([`http`]), paid per GB
//! ([`per_gb`]) when a price is set.
//!
//! A segment whose bytes no source can deliver verified is left out (the VOD playlist marks the
//! gap with a discontinuity) and counted in `/metrics`.

pub mod http;
pub mod mirrors;
pub mod per_gb;
pub mod per_gb_store;
pub mod playlist;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tollcast_events::StreamAddress;
use tollcast_events::live::{KIND_LIVE_EVENT, LiveEvent, LiveStatus};
use tollcast_events::manifest::KIND_SEGMENT_MANIFEST;
use tollcast_events::nostr::prelude::{
    Event, Filter, Keys, Kind, PublicKey, SingleLetterTag, Timestamp,
};
use tollcast_events::vod::{HLS_MIME, VideoEvent, VideoVariant};
use tollcast_media::fmp4::{Fmp4Splitter, read_top_box};
use tollcast_media::manifest::SegmentManifest;
use tollcast_media::store::{ChunkStore, sha256_hex};
use tollcast_net::nostr_relay::pool::{PoolItem, RelayPool};

use mirrors::Mirrors;
use per_gb::GbBilling;
use playlist::{VodVariant, render_master, render_media};

/// Recorder failures.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RecorderError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("`{0}` is not a chunk name (64 lowercase hex digits of SHA-256)")]
    BadName(String),
    #[error("no source delivered verified bytes for {hash}: {tried}")]
    Unavailable { hash: String, tried: String },
    #[error("bad manifest: {0}")]
    Manifest(String),
    #[error("parts of segment {segment} concatenate to bytes hashing to {got}: refused")]
    SegmentMismatch { segment: String, got: String },
    #[error("chunk store: {0}")]
    Store(String),
    #[error("nostr: {0}")]
    Nostr(String),
    #[error("nothing was recorded: no segment of the stream could be fetched")]
    Empty,
}

/// Recorder settings (the `[recorder]` table of a node config; every field has a default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RecorderConfig {
    /// Base URLs chunks are fetched from, in order (origin, relays, other recorders).
    pub mirrors: Vec<String>,
    /// Also trust manifests signed by these keys (hex), besides the stream's author.
    pub signers: Vec<String>,
    /// Bound of one chunk request, ms (default 10000).
    pub fetch_timeout_ms: u64,
    /// Attempts per segment before it is given up (default 5; 1 s apart).
    pub fetch_attempts: u32,
    /// After the end is seen, wait this long for late manifests, ms (default 1500).
    pub settle_ms: u64,
    /// How often sources' playlists are checked for EXT-X-ENDLIST, ms (default 1000; 0 = never).
    pub endlist_poll_ms: u64,
    /// Treat the stream as ended when no new manifest arrived for this long after the first
    /// one, ms (default 120000; 0 = never): a crashed origin still yields a VOD.
    pub idle_end_ms: u64,
    /// VOD price in base units per 10^9 bytes (None: free).
    pub price_per_gb: Option<u64>,
    /// Asset of the price (default USD).
    pub asset_code: String,
    /// Scale of the asset (default 6).
    pub asset_scale: u8,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            mirrors: Vec::new(),
            signers: Vec::new(),
            fetch_timeout_ms: 10_000,
            fetch_attempts: 5,
            settle_ms: 1_500,
            endlist_poll_ms: 1_000,
            idle_end_ms: 120_000,
            price_per_gb: None,
            asset_code: "USD".into(),
            asset_scale: 6,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct RecorderMetrics {
    pub manifests_accepted: AtomicU64,
    pub manifests_refused: AtomicU64,
    pub segments_recorded: AtomicU64,
    pub segments_missing: AtomicU64,
    pub bytes_recorded: AtomicU64,
    pub bytes_served: AtomicU64,
    pub payment_required: AtomicU64,
}

/// The finished recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Vod {
    /// Hash of the multivariant playlist (`/<hash>.m3u8`).
    pub master: String,
    /// Per rendition: name, media playlist hash, duration (s), peak bitrate, resolution.
    pub renditions: Vec<VodRendition>,
    /// Longest rendition, seconds.
    pub duration: f64,
    pub segments: u64,
    pub bytes: u64,
    /// Id of the published NIP-71 event, once published.
    pub event_id: Option<String>,
}

/// One rendition of a [`Vod`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VodRendition {
    pub name: String,
    pub playlist: String,
    pub duration: f64,
    pub bandwidth: u64,
    pub resolution: Option<(u16, u16)>,
    pub codecs: String,
}

#[derive(Default)]
struct State {
    /// rendition -> msn -> manifest (accepted, not necessarily fetched yet).
    manifests: BTreeMap<String, BTreeMap<u64, SegmentManifest>>,
    /// (rendition, msn) whose bytes are stored.
    recorded: HashSet<(String, u64)>,
    /// Playlist hashes (served free).
    playlists: HashSet<String>,
    live: Option<(Event, LiveEvent)>,
    vod: Option<Vod>,
}

/// A recorder of one stream; cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    stream: StreamAddress,
    signers: HashSet<PublicKey>,
    cfg: RecorderConfig,
    store: ChunkStore,
    mirrors: Mirrors,
    billing: Option<Arc<GbBilling>>,
    state: Mutex<State>,
    ended: AtomicBool,
    changed: tokio::sync::Notify,
    metrics: RecorderMetrics,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> tollcast_media::Result<T> + Send + 'static,
) -> Result<T, RecorderError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RecorderError::Store(e.to_string()))?
        .map_err(|e| RecorderError::Store(e.to_string()))
}

impl Recorder {
    /// A recorder of `stream`, trusting manifests by its author and `cfg.signers`.
    pub fn new(
        stream: StreamAddress,
        cfg: RecorderConfig,
        store: ChunkStore,
        billing: Option<Arc<GbBilling>>,
    ) -> Result<Self, RecorderError> {
        let mut signers = HashSet::new();
        signers.insert(stream.pubkey);
        for s in &cfg.signers {
            signers.insert(
                PublicKey::parse(s)
                    .map_err(|e| RecorderError::Config(format!("signer `{s}`: {e}")))?,
            );
        }
        let mirrors = Mirrors::new(&cfg.mirrors, Duration::from_millis(cfg.fetch_timeout_ms))?;
        Ok(Self {
            inner: Arc::new(Inner {
                stream,
                signers,
                cfg,
                store,
                mirrors,
                billing,
                state: Mutex::new(State::default()),
                ended: AtomicBool::new(false),
                changed: tokio::sync::Notify::new(),
                metrics: RecorderMetrics::default(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn stream(&self) -> &StreamAddress {
        &self.inner.stream
    }
    pub fn store(&self) -> &ChunkStore {
        &self.inner.store
    }
    pub fn mirrors(&self) -> &Mirrors {
        &self.inner.mirrors
    }
    pub fn metrics(&self) -> &RecorderMetrics {
        &self.inner.metrics
    }
    pub fn billing(&self) -> Option<&Arc<GbBilling>> {
        self.inner.billing.as_ref()
    }
    pub fn config(&self) -> &RecorderConfig {
        &self.inner.cfg
    }
    /// The recording, once finished.
    pub fn vod(&self) -> Option<Vod> {
        self.lock().vod.clone()
    }
    /// Whether `hash` is one of the recording's playlists (served free).
    pub fn is_playlist(&self, hash: &str) -> bool {
        self.lock().playlists.contains(hash)
    }
    /// Whether the end of the stream was seen.
    pub fn ended(&self) -> bool {
        self.inner.ended.load(Ordering::SeqCst)
    }

    /// Mark the stream as ended.
    pub fn mark_ended(&self) {
        if !self.inner.ended.swap(true, Ordering::SeqCst) {
            tracing::info!("stream {} ended", self.inner.stream);
        }
        self.inner.changed.notify_waiters();
    }

    /// Take a kind-31311 event: verified (id, signature), for our stream, by a trusted signer.
    /// Returns the manifest if it is new. Bad input changes nothing.
    pub fn accept_manifest(&self, ev: &Event) -> Result<Option<SegmentManifest>, RecorderError> {
        let refuse = |e: RecorderError| {
            self.inner
                .metrics
                .manifests_refused
                .fetch_add(1, Ordering::Relaxed);
            Err(e)
        };
        let (m, stream, _role) = match SegmentManifest::from_event(ev) {
            Ok(x) => x,
            Err(e) => return refuse(RecorderError::Manifest(e.to_string())),
        };
        if stream != self.inner.stream {
            return refuse(RecorderError::Manifest(format!(
                "for stream {stream}, recording {}",
                self.inner.stream
            )));
        }
        if !self.inner.signers.contains(&ev.pubkey) {
            return refuse(RecorderError::Manifest(format!(
                "signed by {}, not a trusted producer",
                ev.pubkey.to_hex()
            )));
        }
        let mut st = self.lock();
        let r = st.manifests.entry(m.rendition.clone()).or_default();
        if r.contains_key(&m.msn) {
            return Ok(None); // first signed manifest for a position wins
        }
        r.insert(m.msn, m.clone());
        drop(st);
        self.inner
            .metrics
            .manifests_accepted
            .fetch_add(1, Ordering::Relaxed);
        Ok(Some(m))
    }

    /// Take a kind-30311 event of our stream (newest wins); `ended` status ends the recording.
    pub fn accept_live_event(&self, ev: &Event) {
        let Ok(le) = LiveEvent::from_event(ev) else {
            return;
        };
        if le.address(ev.pubkey) != self.inner.stream {
            return;
        }
        let ended = le.status == Some(LiveStatus::Ended);
        {
            let mut st = self.lock();
            if st
                .live
                .as_ref()
                .is_some_and(|(old, _)| old.created_at > ev.created_at)
            {
                return;
            }
            st.live = Some((ev.clone(), le));
        }
        if ended {
            self.mark_ended();
        }
    }

    async fn have(&self, hash: &str) -> bool {
        let (s, h) = (self.inner.store.clone(), hash.to_string());
        tokio::task::spawn_blocking(move || s.contains(&h))
            .await
            .unwrap_or(false)
    }

    async fn put(&self, bytes: Bytes) -> Result<String, RecorderError> {
        let s = self.inner.store.clone();
        blocking(move || s.put_with(bytes, true)).await
    }

    /// Fetch and store the init and the segment `m` lists: the whole segment by its hash, or
    /// else its parts, concatenated and checked against the segment hash.
    pub async fn record(&self, m: &SegmentManifest) -> Result<(), RecorderError> {
        let mirrors = &self.inner.mirrors;
        if !self.have(&m.init).await {
            let b = mirrors.fetch(&m.init, "mp4", None).await?;
            self.put(b).await?;
        }
        if !self.have(&m.segment).await {
            let seg = match mirrors.fetch(&m.segment, "m4s", Some(m.segment_size)).await {
                Ok(b) => b,
                Err(whole) if !m.parts.is_empty() => {
                    let mut buf = Vec::with_capacity(m.segment_size as usize);
                    for p in &m.parts {
                        match mirrors.fetch(&p.hash, "m4s", Some(p.size)).await {
                            Ok(b) => buf.extend_from_slice(&b),
                            Err(_) => return Err(whole),
                        }
                    }
                    let got = sha256_hex(&buf);
                    if got != m.segment {
                        return Err(RecorderError::SegmentMismatch {
                            segment: m.segment.clone(),
                            got,
                        });
                    }
                    Bytes::from(buf)
                }
                Err(e) => return Err(e),
            };
            self.inner
                .metrics
                .bytes_recorded
                .fetch_add(seg.len() as u64, Ordering::Relaxed);
            self.put(seg).await?;
        }
        self.lock().recorded.insert((m.rendition.clone(), m.msn));
        self.inner
            .metrics
            .segments_recorded
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// [`Self::record`] with retries (a source may not have a fresh segment yet).
    pub async fn record_with_retries(&self, m: &SegmentManifest) -> Result<(), RecorderError> {
        let mut last = None;
        for i in 0..self.inner.cfg.fetch_attempts.max(1) {
            if i > 0 {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            match self.record(m).await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        self.inner
            .metrics
            .segments_missing
            .fetch_add(1, Ordering::Relaxed);
        Err(last.unwrap_or(RecorderError::Empty))
    }

    /// Codecs and resolution of an init segment (empty / None if it does not parse).
    async fn init_info(&self, init: &str) -> (String, Option<(u16, u16)>) {
        let (s, h) = (self.inner.store.clone(), init.to_string());
        let Ok(Some(bytes)) = blocking(move || s.get(&h)).await else {
            return (String::new(), None);
        };
        let mut rd: &[u8] = &bytes;
        let mut sp = Fmp4Splitter::new();
        while let Ok(Some((kind, b))) = read_top_box(&mut rd).await {
            if sp.push_box(kind, b).is_err() {
                break;
            }
            if let Some(i) = sp.init() {
                return (i.codecs(), i.resolution());
            }
        }
        (String::new(), None)
    }

    /// Write and store the VOD playlists of everything recorded; returns the recording.
    pub async fn finish(&self) -> Result<Vod, RecorderError> {
        let snapshot: Vec<(String, Vec<SegmentManifest>)> = {
            let st = self.lock();
            st.manifests
                .iter()
                .map(|(r, segs)| {
                    let done: Vec<SegmentManifest> = segs
                        .values()
                        .filter(|m| st.recorded.contains(&(r.clone(), m.msn)))
                        .cloned()
                        .collect();
                    (r.clone(), done)
                })
                .filter(|(_, v)| !v.is_empty())
                .collect()
        };
        if snapshot.is_empty() {
            return Err(RecorderError::Empty);
        }
        let (mut variants, mut renditions, mut segments, mut bytes) =
            (Vec::new(), Vec::new(), 0u64, 0u64);
        let mut playlists = Vec::new();
        for (name, segs) in &snapshot {
            let refs: Vec<&SegmentManifest> = segs.iter().collect();
            let text = render_media(&refs);
            let hash = self.put(Bytes::from(text)).await?;
            playlists.push(hash.clone());
            let duration: f64 = segs.iter().map(|s| s.duration).sum();
            let bandwidth = segs
                .iter()
                .filter(|s| s.duration > 0.0)
                .map(|s| (s.segment_size as f64 * 8.0 / s.duration) as u64)
                .max()
                .unwrap_or(1);
            let (codecs, resolution) = self.init_info(&segs[0].init).await;
            segments += segs.len() as u64;
            bytes += segs.iter().map(|s| s.segment_size).sum::<u64>();
            variants.push(VodVariant {
                playlist: hash.clone(),
                bandwidth,
                codecs: codecs.clone(),
                resolution,
            });
            renditions.push(VodRendition {
                name: name.clone(),
                playlist: hash,
                duration,
                bandwidth,
                resolution,
                codecs,
            });
        }
        // Highest bandwidth first: players start with the first variant.
        variants.sort_by_key(|v| std::cmp::Reverse(v.bandwidth));
        let master = self.put(Bytes::from(render_master(&variants))).await?;
        playlists.push(master.clone());
        let vod = Vod {
            master,
            duration: renditions.iter().map(|r| r.duration).fold(0.0, f64::max),
            renditions,
            segments,
            bytes,
            event_id: None,
        };
        let mut st = self.lock();
        st.playlists.extend(playlists);
        st.vod = Some(vod.clone());
        Ok(vod)
    }

    /// The NIP-71 event for `vod` served at `base_urls` (the first is the primary `url`, the
    /// others `fallback`s).
    pub fn video_event(
        &self,
        vod: &Vod,
        base_urls: &[String],
    ) -> Result<VideoEvent, RecorderError> {
        let live = self.lock().live.clone();
        let le = live.as_ref().map(|(_, l)| l);
        let primary = base_urls
            .first()
            .ok_or_else(|| RecorderError::Config("no public URL for the VOD".into()))?;
        let url = |base: &str, h: &str| format!("{}/{h}.m3u8", base.trim_end_matches('/'));
        let hash = |h: &str| h.parse().map_err(|_| RecorderError::BadName(h.to_string()));
        let mut variants = vec![VideoVariant {
            url: url(primary, &vod.master),
            mime: HLS_MIME.into(),
            hash: hash(&vod.master)?,
            dim: vod
                .renditions
                .iter()
                .filter_map(|r| r.resolution)
                .max()
                .map(|(w, h)| (w as u32, h as u32)),
            duration: Some(vod.duration),
            bitrate: vod.renditions.iter().map(|r| r.bandwidth).max(),
            fallbacks: base_urls[1..].iter().map(|b| url(b, &vod.master)).collect(),
        }];
        for r in &vod.renditions {
            variants.push(VideoVariant {
                url: url(primary, &r.playlist),
                mime: HLS_MIME.into(),
                hash: hash(&r.playlist)?,
                dim: r.resolution.map(|(w, h)| (w as u32, h as u32)),
                duration: Some(r.duration),
                bitrate: Some(r.bandwidth),
                fallbacks: base_urls[1..].iter().map(|b| url(b, &r.playlist)).collect(),
            });
        }
        let host = le
            .and_then(|l| {
                l.participants
                    .iter()
                    .find(|p| {
                        p.role
                            .as_deref()
                            .is_some_and(|r| r.eq_ignore_ascii_case("host"))
                    })
                    .map(|p| p.pubkey)
            })
            .unwrap_or(self.inner.stream.pubkey);
        let title = le
            .and_then(|l| l.title.clone())
            .unwrap_or_else(|| format!("Recording of {}", self.inner.stream));
        Ok(VideoEvent {
            identifier: self.inner.stream.to_string(),
            title: title.clone(),
            summary: le.and_then(|l| l.summary.clone()).unwrap_or_default(),
            published_at: Some(Timestamp::now().as_secs()),
            alt: Some(format!("Recording of the live stream \"{title}\"")),
            variants,
            duration: Some(vod.duration),
            hashtags: le.map(|l| l.hashtags.clone()).unwrap_or_default(),
            participants: vec![host],
            live: Some(self.inner.stream.clone()),
        })
    }

    /// Follow the stream on `pool` until it ends, recording every segment; then finish the VOD
    /// and publish its NIP-71 event signed by `keys` (served at `base_urls`).
    pub async fn run(
        &self,
        pool: &RelayPool,
        keys: &Keys,
        base_urls: &[String],
    ) -> Result<(Vod, Event), RecorderError> {
        let s = &self.inner.stream;
        let authors: Vec<PublicKey> = self.inner.signers.iter().copied().collect();
        let filters = vec![
            // Only this stream's manifests (a creator may run several streams).
            Filter::new()
                .kind(Kind::from(KIND_SEGMENT_MANIFEST))
                .authors(authors)
                .custom_tag(
                    SingleLetterTag::from_char('a').expect("`a` is a single-letter tag"),
                    s.to_string(),
                ),
            Filter::new()
                .kind(Kind::from(KIND_LIVE_EVENT))
                .author(s.pubkey)
                .identifier(s.identifier.clone()),
        ];
        let mut sub = pool
            .subscribe(filters)
            .await
            .map_err(|e| RecorderError::Nostr(e.to_string()))?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<SegmentManifest>();
        // Fetching runs beside the subscription, in arrival order.
        let me = self.clone();
        let fetcher = tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if let Err(e) = me.record_with_retries(&m).await {
                    tracing::warn!("segment {}/{} left out: {e}", m.rendition, m.msn);
                }
            }
        });
        let poller = (self.inner.cfg.endlist_poll_ms > 0).then(|| {
            let me = self.clone();
            tokio::spawn(async move { me.poll_endlist().await })
        });
        let settle = Duration::from_millis(self.inner.cfg.settle_ms);
        let mut quiet_since: Option<tokio::time::Instant> = None;
        let idle_end = Duration::from_millis(self.inner.cfg.idle_end_ms);
        let mut last_manifest: Option<tokio::time::Instant> = None;
        loop {
            if !self.ended()
                && !idle_end.is_zero()
                && last_manifest.is_some_and(|t| t.elapsed() >= idle_end)
            {
                tracing::warn!("no manifest for {idle_end:?}: treating the stream as ended");
                self.mark_ended();
            }
            let wait = if self.ended() {
                let t = *quiet_since.get_or_insert_with(tokio::time::Instant::now);
                let left = (t + settle).saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() {
                    break;
                }
                left
            } else {
                Duration::from_millis(250)
            };
            tokio::select! {
                item = sub.recv() => match item {
                    Some(PoolItem::Event { event, .. }) => {
                        let k = event.kind.as_u16();
                        if k == KIND_SEGMENT_MANIFEST {
                            match self.accept_manifest(&event) {
                                Ok(Some(m)) => {
                                    quiet_since = None;
                                    last_manifest = Some(tokio::time::Instant::now());
                                    let _ = tx.send(m);
                                }
                                Ok(None) => {}
                                Err(e) => tracing::warn!("manifest {} refused: {e}", event.id),
                            }
                        } else if k == KIND_LIVE_EVENT {
                            self.accept_live_event(&event);
                        }
                    }
                    Some(_) => {}
                    None => return Err(RecorderError::Nostr("subscription ended".into())),
                },
                _ = self.inner.changed.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        drop(sub);
        drop(tx);
        if let Some(p) = poller {
            p.abort();
        }
        let _ = fetcher.await;
        let mut vod = self.finish().await?;
        let ev = self
            .video_event(&vod, base_urls)?
            .sign(keys, None)
            .map_err(|e| RecorderError::Nostr(e.to_string()))?;
        let acks = pool.publish(&ev, Duration::from_secs(10)).await;
        if !acks
            .iter()
            .any(|(_, r)| r.as_ref().is_ok_and(|a| a.accepted))
        {
            return Err(RecorderError::Nostr(format!(
                "no relay accepted the video event: {acks:?}"
            )));
        }
        vod.event_id = Some(ev.id.to_hex());
        self.lock().vod = Some(vod.clone());
        Ok((vod, ev))
    }

    /// Check the sources' media playlists for EXT-X-ENDLIST until the end is seen.
    async fn poll_endlist(&self) {
        let every = Duration::from_millis(self.inner.cfg.endlist_poll_ms.max(100));
        let ups: Vec<crate::relay::upstream::Upstream> = self
            .inner
            .cfg
            .mirrors
            .iter()
            .filter_map(|u| crate::relay::upstream::Upstream::new(u, every * 3).ok())
            .collect();
        while !self.ended() {
            tokio::time::sleep(every).await;
            let renditions: Vec<String> = self.lock().manifests.keys().cloned().collect();
            'outer: for r in &renditions {
                for up in &ups {
                    if let Ok(resp) = up.get(&format!("/live/{r}/index.m3u8")).await
                        && resp.status == axum::http::StatusCode::OK
                        && resp.body.windows(14).any(|w| w == b"#EXT-X-ENDLIST")
                    {
                        self.mark_ended();
                        break 'outer;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_fill_missing_fields() {
        let c: RecorderConfig =
            serde_json::from_str(r#"{"mirrors":["http://127.0.0.1:8080"],"price_per_gb":5}"#)
                .unwrap();
        assert_eq!(c.mirrors, vec!["http://127.0.0.1:8080".to_string()]);
        assert_eq!(c.price_per_gb, Some(5));
        assert_eq!(c.fetch_attempts, 5);
        assert_eq!(c.idle_end_ms, 120_000);
        assert_eq!(c.asset_code, "USD");
    }

    #[test]
    fn no_mirror_is_a_config_error() {
        let stream = StreamAddress::new(Keys::generate().public_key(), "s");
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), 1 << 20).unwrap();
        let r = Recorder::new(stream, RecorderConfig::default(), store, None);
        assert!(matches!(r, Err(RecorderError::Config(_))));
    }
}

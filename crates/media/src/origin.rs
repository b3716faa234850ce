//! The LL-HLS origin: an axum [`Router`] serving the multivariant playlist, per-rendition media
//! playlists with blocking reloads (`_HLS_msn`/`_HLS_part`) and delta updates (`_HLS_skip`),
//! preload-hinted parts by position, and every chunk by its SHA-256 name (immutable).
//!
//! Routes (all GET):
//! - `/live/master.m3u8`: multivariant playlist
//! - `/live/{rendition}/index.m3u8[?_HLS_msn=M[&_HLS_part=P]][&_HLS_skip=YES|v2]`
//! - `/live/{rendition}/hint/{msn}.{part}.m4s`: the part at that position, waiting for it
//! - `/{sha256}[.ext]`: any stored chunk (init, part, segment), Blossom style
//!
//! The origin is fed part/segment records ([`Origin::push_part`] and friends); it never looks
//! inside the media, so it serves transcoded renditions and relayed streams alike.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tokio::sync::watch;

use crate::playlist::{
    MediaPlaylist, PartRecord, PlaylistConfig, Position, RenditionReport, Variant,
    render_multivariant,
};
use crate::store::{ChunkStore, is_valid_hash};

/// Cache-Control of chunks: content-addressed, so never stale.
pub const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of a playlist answered to a blocking request: that URL's answer never changes.
pub const CACHE_BLOCKING: &str = "public, max-age=6";
/// Cache-Control of a plain playlist request: always revalidate.
pub const CACHE_LIVE: &str = "no-cache";
const MPEGURL: &str = "application/vnd.apple.mpegurl";

/// URI of a chunk in a media playlist (playlists live at `/live/{r}/index.m3u8`).
pub fn chunk_uri(hash: &str, ext: &str) -> String {
    format!("../../{hash}.{ext}")
}

/// URI of the preload hint for a position, relative to the media playlist.
pub fn hint_uri(msn: u64, part: u32) -> String {
    format!("hint/{msn}.{part}.m4s")
}

struct Rendition {
    playlist: MediaPlaylist,
    variant: Variant,
    /// (msn, part index) -> chunk hash, for hint requests.
    parts: BTreeMap<(u64, u32), String>,
}

struct Inner {
    store: ChunkStore,
    cfg: PlaylistConfig,
    renditions: RwLock<BTreeMap<String, Rendition>>,
    changed: watch::Sender<u64>,
}

/// Shared handle to the origin's state; clone freely.
#[derive(Clone)]
pub struct Origin {
    inner: Arc<Inner>,
}

impl Origin {
    /// A new origin serving chunks from `store`, with playlists configured by `cfg`.
    pub fn new(store: ChunkStore, cfg: PlaylistConfig) -> Self {
        let (changed, _) = watch::channel(0);
        Self {
            inner: Arc::new(Inner {
                store,
                cfg,
                renditions: RwLock::new(BTreeMap::new()),
                changed,
            }),
        }
    }

    pub fn store(&self) -> &ChunkStore {
        &self.inner.store
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Rendition>> {
        self.inner
            .renditions
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Rendition>> {
        self.inner
            .renditions
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.inner.changed.send_modify(|v| *v += 1);
    }

    /// A receiver that changes whenever any playlist changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changed.subscribe()
    }

    /// Declare (or update) a rendition's init segment and variant attributes. A new init hash
    /// after media was published starts a discontinuity.
    pub fn set_init(
        &self,
        rendition: &str,
        init_hash: &str,
        codecs: &str,
        resolution: Option<(u16, u16)>,
        bandwidth: u64,
        first_msn: u64,
    ) {
        let mut map = self.write();
        let cfg = self.inner.cfg;
        let r = map
            .entry(rendition.to_string())
            .or_insert_with(|| Rendition {
                playlist: MediaPlaylist::new(cfg, first_msn),
                variant: Variant {
                    uri: format!("{rendition}/index.m3u8"),
                    bandwidth,
                    codecs: codecs.to_string(),
                    resolution,
                    frame_rate: None,
                },
                parts: BTreeMap::new(),
            });
        r.variant.codecs = codecs.to_string();
        r.variant.resolution = resolution;
        if bandwidth > 0 {
            r.variant.bandwidth = bandwidth;
        }
        r.playlist.set_init(chunk_uri(init_hash, "mp4"));
        drop(map);
        self.bump();
    }

    /// Raise the advertised BANDWIDTH of `rendition` to `bps` if higher (peak of segments seen).
    pub fn observe_bandwidth(&self, rendition: &str, bps: u64) {
        if let Some(r) = self.write().get_mut(rendition)
            && bps > r.variant.bandwidth
        {
            r.variant.bandwidth = bps;
        }
    }

    /// Mark the next segment of `rendition` as a discontinuity (encoder reconnected).
    pub fn mark_discontinuity(&self, rendition: &str) {
        if let Some(r) = self.write().get_mut(rendition) {
            r.playlist.mark_discontinuity();
        }
        self.bump();
    }

    /// The MSN the next part of `rendition` will get.
    pub fn next_msn(&self, rendition: &str) -> Option<u64> {
        self.read().get(rendition).map(|r| r.playlist.open_msn())
    }

    /// Publish a part (its bytes must already be in the store under `hash`).
    pub fn push_part(
        &self,
        rendition: &str,
        hash: &str,
        duration: f64,
        independent: bool,
        capture_ms: Option<i64>,
    ) {
        let mut map = self.write();
        let Some(r) = map.get_mut(rendition) else {
            return;
        };
        let msn = r.playlist.open_msn();
        let idx = r.playlist.open_part_count();
        r.playlist.push_part(
            PartRecord {
                uri: chunk_uri(hash, "m4s"),
                duration,
                independent,
            },
            capture_ms,
        );
        r.parts.insert((msn, idx), hash.to_string());
        r.playlist.set_preload_hint(Some(hint_uri(msn, idx + 1)));
        drop(map);
        self.bump();
    }

    /// Close the open segment of `rendition` (its bytes stored under `hash`).
    pub fn end_segment(&self, rendition: &str, hash: &str, duration: f64) {
        let mut map = self.write();
        let Some(r) = map.get_mut(rendition) else {
            return;
        };
        r.playlist.end_segment(chunk_uri(hash, "m4s"), duration);
        let next = r.playlist.open_msn();
        r.playlist.set_preload_hint(Some(hint_uri(next, 0)));
        let oldest = r.playlist.media_sequence();
        r.parts.retain(|(m, _), _| *m >= oldest);
        drop(map);
        self.bump();
    }

    /// Publish a whole segment from its (verified) manifest: how a relay builds the same
    /// playlists from signed manifests without parsing media. The chunks must already be in
    /// the store. Parts of a segment arrive together here, so relays trail the origin by one
    /// segment unless they also forward parts as they come.
    pub fn apply_manifest(
        &self,
        m: &crate::manifest::SegmentManifest,
        codecs: &str,
        resolution: Option<(u16, u16)>,
    ) {
        let known_init = self
            .read()
            .get(&m.rendition)
            .and_then(|r| r.playlist.segments().back().map(|s| s.init_uri.clone()));
        let init_uri = chunk_uri(&m.init, "mp4");
        if known_init.as_deref() != Some(init_uri.as_str()) {
            self.set_init(&m.rendition, &m.init, codecs, resolution, 0, m.msn);
        }
        // The manifest's capture time dates the parts (EXT-X-PROGRAM-DATE-TIME), so players
        // of a mirrored rendition can measure latency as on the origin; 0 means unknown.
        let mut at = m.capture_ms;
        for p in &m.parts {
            let capture = (m.capture_ms > 0).then_some(at);
            self.push_part(&m.rendition, &p.hash, p.duration, p.independent, capture);
            at += (p.duration * 1000.0).round() as i64;
        }
        self.end_segment(&m.rendition, &m.segment, m.duration);
        if m.duration > 0.0 {
            self.observe_bandwidth(
                &m.rendition,
                (m.segment_size as f64 * 8.0 / m.duration) as u64,
            );
        }
    }

    /// The stream of `rendition` ended (EXT-X-ENDLIST); waiting requests are answered.
    pub fn end_stream(&self, rendition: &str) {
        if let Some(r) = self.write().get_mut(rendition) {
            r.playlist.end_stream();
        }
        self.bump();
    }

    /// The live edge of `rendition`.
    pub fn position(&self, rendition: &str) -> Option<Position> {
        self.read()
            .get(rendition)
            .and_then(|r| r.playlist.position())
    }

    /// A snapshot of `rendition`'s playlist model.
    pub fn playlist(&self, rendition: &str) -> Option<MediaPlaylist> {
        self.read().get(rendition).map(|r| r.playlist.clone())
    }

    /// Rendition names.
    pub fn renditions(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// The HTTP routes (see the module doc).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/live/master.m3u8", get(master))
            .route("/live/{rendition}/index.m3u8", get(media_playlist))
            .route("/live/{rendition}/hint/{file}", get(hint_part))
            .route("/{name}", get(chunk))
            .with_state(self.clone())
    }

    fn render(&self, rendition: &str, skip: bool) -> Option<String> {
        let map = self.read();
        let r = map.get(rendition)?;
        let reports: Vec<RenditionReport> = map
            .iter()
            .filter(|(name, _)| name.as_str() != rendition)
            .filter_map(|(name, other)| {
                other.playlist.position().map(|p| RenditionReport {
                    uri: format!("../{name}/index.m3u8"),
                    last_msn: p.msn,
                    last_part: p.part,
                })
            })
            .collect();
        Some(r.playlist.render(skip, &reports))
    }

    /// How long a blocking request may wait: three target durations (spec), at least 3 s.
    fn block_timeout(&self, rendition: &str) -> Duration {
        let td = self
            .read()
            .get(rendition)
            .map(|r| r.playlist.target_duration())
            .unwrap_or(1);
        Duration::from_secs((3 * td).max(3))
    }

    /// Wait until `ready` holds for `rendition` (or the stream ends); false on timeout.
    async fn wait_for(&self, rendition: &str, ready: impl Fn(&MediaPlaylist) -> bool) -> bool {
        let mut rx = self.subscribe();
        let deadline = tokio::time::Instant::now() + self.block_timeout(rendition);
        loop {
            {
                let map = self.read();
                match map.get(rendition) {
                    Some(r) if ready(&r.playlist) || r.playlist.is_ended() => return true,
                    _ => {}
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return false,
            }
        }
    }
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], msg.into()).into_response()
}

fn with_common(mut resp: Response, cache: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    resp
}

async fn master(State(origin): State<Origin>) -> Response {
    let variants: Vec<Variant> = origin.read().values().map(|r| r.variant.clone()).collect();
    if variants.is_empty() {
        return text(StatusCode::NOT_FOUND, "no rendition is live yet");
    }
    with_common(
        (
            [(header::CONTENT_TYPE, MPEGURL)],
            render_multivariant(&variants),
        )
            .into_response(),
        CACHE_LIVE,
    )
}

struct PlaylistQuery {
    msn: Option<String>,
    part: Option<String>,
    skip: Option<String>,
}

async fn media_playlist(
    State(origin): State<Origin>,
    Path(rendition): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let q = PlaylistQuery {
        msn: q.get("_HLS_msn").cloned(),
        part: q.get("_HLS_part").cloned(),
        skip: q.get("_HLS_skip").cloned(),
    };
    let Some(pos_open) = origin.read().get(&rendition).map(|r| r.playlist.open_msn()) else {
        return text(StatusCode::NOT_FOUND, format!("no rendition `{rendition}`"));
    };
    let skip = match q.skip.as_deref() {
        None => false,
        Some("YES") | Some("v2") => true,
        Some(other) => {
            return text(
                StatusCode::BAD_REQUEST,
                format!("_HLS_skip must be YES or v2, got `{other}`"),
            );
        }
    };
    let msn = match q.msn.as_deref().map(str::parse::<u64>) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                "_HLS_msn must be a decimal integer",
            );
        }
    };
    let part = match q.part.as_deref().map(str::parse::<u32>) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => {
            return text(
                StatusCode::BAD_REQUEST,
                "_HLS_part must be a decimal integer",
            );
        }
    };
    if part.is_some() && msn.is_none() {
        return text(StatusCode::BAD_REQUEST, "_HLS_part requires _HLS_msn");
    }
    let mut cache = CACHE_LIVE;
    if let Some(m) = msn {
        // Spec: a request more than two segments ahead of the live edge is an error.
        if m > pos_open + 2 {
            return text(
                StatusCode::BAD_REQUEST,
                format!("_HLS_msn={m} is more than two segments beyond the live edge ({pos_open})"),
            );
        }
        let ready = origin.wait_for(&rendition, |pl| pl.has(m, part)).await;
        if !ready {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("segment {m} part {part:?} did not appear in time; retry"),
            );
        }
        cache = CACHE_BLOCKING;
    }
    match origin.render(&rendition, skip) {
        Some(body) => with_common(
            ([(header::CONTENT_TYPE, MPEGURL)], body).into_response(),
            cache,
        ),
        None => text(StatusCode::NOT_FOUND, format!("no rendition `{rendition}`")),
    }
}

async fn hint_part(
    State(origin): State<Origin>,
    Path((rendition, file)): Path<(String, String)>,
) -> Response {
    let parsed = file
        .strip_suffix(".m4s")
        .and_then(|s| s.split_once('.'))
        .and_then(|(m, p)| Some((m.parse::<u64>().ok()?, p.parse::<u32>().ok()?)));
    let Some((msn, idx)) = parsed else {
        return text(
            StatusCode::BAD_REQUEST,
            "hint path must be {msn}.{part}.m4s",
        );
    };
    let Some(open) = origin.next_msn(&rendition) else {
        return text(StatusCode::NOT_FOUND, format!("no rendition `{rendition}`"));
    };
    if msn > open + 1 {
        return text(
            StatusCode::BAD_REQUEST,
            "hinted part is too far ahead of the live edge",
        );
    }
    let lookup = |o: &Origin| -> Option<String> {
        o.read()
            .get(&rendition)
            .and_then(|r| r.parts.get(&(msn, idx)).cloned())
    };
    let ok = origin
        .wait_for(&rendition, |pl| {
            // The part exists, or its segment closed without it (then it never will).
            pl.part(msn, idx).is_some() || msn < pl.open_msn()
        })
        .await;
    let hash = match (ok, lookup(&origin)) {
        (_, Some(h)) => h,
        // Segment `msn` closed with fewer parts: that position never gets a part.
        (true, None) => return text(StatusCode::NOT_FOUND, "that part does not exist"),
        (false, None) => {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "part did not appear in time",
            );
        }
    };
    serve_chunk(&origin, &hash, "public, max-age=60").await
}

async fn serve_chunk(origin: &Origin, hash: &str, cache: &'static str) -> Response {
    let store = origin.store().clone();
    let h = hash.to_string();
    match tokio::task::spawn_blocking(move || store.get(&h)).await {
        Ok(Ok(Some(bytes))) => with_common(
            ([(header::CONTENT_TYPE, "video/mp4")], Bytes::clone(&bytes)).into_response(),
            cache,
        ),
        Ok(Ok(None)) => text(StatusCode::NOT_FOUND, format!("no chunk {hash}")),
        Ok(Err(e)) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn chunk(State(origin): State<Origin>, Path(name): Path<String>) -> Response {
    let hash = name.split_once('.').map(|(h, _)| h).unwrap_or(&name);
    if !is_valid_hash(hash) {
        return text(
            StatusCode::BAD_REQUEST,
            "chunk names are 64 lowercase hex digits (SHA-256)",
        );
    }
    serve_chunk(&origin, hash, CACHE_IMMUTABLE).await
}

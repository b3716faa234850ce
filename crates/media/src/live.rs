//! The live pipeline: source (ffmpeg child, supervised) -> fMP4 splitter -> cutter -> chunk store
//! -> origin playlists, emitting [`LiveEvent`]s (parts with capture/availability times, segment
//! manifests) for logs, metrics and manifest signing. With a [`ManifestSigner`] it signs a part
//! manifest (kind 21311) after every part and a segment manifest (kind 31311) per segment; the
//! caller publishes both to Nostr.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncRead;
use tokio::sync::broadcast;

use tollcast_events::nostr::prelude::{Event, Keys};
use tollcast_events::{Role, StreamAddress};

use crate::cutter::{CutEvent, Cutter, CutterConfig};
use crate::error::{MediaError, Result};
use crate::fmp4::{Fmp4Item, Fmp4Splitter, read_top_box};
use crate::ingest::ffmpeg::FfmpegProcess;
use crate::ingest::rtmp::RtmpIngest;
use crate::ingest::{Source, cmaf_output_args, srt};
use crate::manifest::{ManifestPart, PartManifest, SegmentManifest};
use crate::origin::Origin;
use crate::store::ChunkStore;

/// Pipeline settings.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub source: Source,
    /// Rendition name in the playlists (`source` for the ingested stream).
    pub rendition: String,
    pub cutter: CutterConfig,
    /// When the encoder disconnects: true ends the stream (EXT-X-ENDLIST), false pauses it
    /// (playlist kept; a reconnect continues after a discontinuity).
    pub end_on_disconnect: bool,
    /// Sign a part manifest event per part and a segment manifest event per segment with
    /// these keys (the producer's).
    pub signer: Option<ManifestSigner>,
}

/// Who signs part and segment manifests, for which stream.
#[derive(Debug, Clone)]
pub struct ManifestSigner {
    pub keys: Keys,
    pub stream: StreamAddress,
    pub role: Role,
}

impl LiveConfig {
    pub fn new(source: Source) -> Self {
        Self {
            source,
            rendition: "source".into(),
            cutter: CutterConfig::default(),
            end_on_disconnect: false,
            signer: None,
        }
    }
}

/// What the pipeline did (for logs, metrics, manifest signing).
#[derive(Debug, Clone)]
pub enum LiveEvent {
    /// An encoder session started (ffmpeg spawned / publisher accepted).
    SessionStarted { session: u64, what: String },
    /// A new init segment is stored.
    Init {
        rendition: String,
        hash: String,
        codecs: String,
    },
    /// A part is stored and listed in the playlist.
    Part {
        rendition: String,
        msn: u64,
        index: u32,
        hash: String,
        size: usize,
        duration: f64,
        independent: bool,
        /// Wall-clock capture time of the part's first sample (ms since epoch).
        capture_ms: i64,
        /// Wall clock when the part became available in the playlist (ms since epoch).
        available_ms: i64,
        /// Wall clock when the fragment completing the part came out of ffmpeg (ms since
        /// epoch): splits capture -> available into encode and cut (`tollcast bench network`).
        fragment_ms: i64,
    },
    /// A segment is complete; the manifest to sign and publish.
    Segment(SegmentManifest),
    /// The signed kind-31311 event of the last segment (when a signer is configured).
    ManifestSigned(Box<Event>),
    /// The signed kind-21311 event listing the open segment's parts so far, sent right after
    /// each part is stored, before the part enters the playlist (when a signer is configured).
    /// Ephemeral: publish it to Nostr at once; it is never stored.
    PartManifestSigned(Box<Event>),
    /// The encoder session ended.
    SessionEnded { session: u64, reason: String },
}

/// Handle to a running pipeline.
pub struct LiveHandle {
    events: broadcast::Sender<LiveEvent>,
    task: Option<tokio::task::JoinHandle<Result<()>>>,
    /// Where the RTMP listener is bound (for an RTMP source).
    pub rtmp_addr: Option<std::net::SocketAddr>,
}

impl LiveHandle {
    /// Subscribe to pipeline events (subscribe before the first part to see all of them).
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Stop the pipeline (kills ffmpeg).
    pub fn abort(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }

    /// Wait for the pipeline to finish (a synthetic source with a duration ends by itself).
    pub async fn join(mut self) -> Result<()> {
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => Ok(()),
            Err(e) => Err(MediaError::Ffmpeg(format!("pipeline task failed: {e}"))),
        }
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Start the pipeline feeding `origin`. For an RTMP source the listener is bound before this
/// returns.
pub async fn spawn_live(cfg: LiveConfig, origin: Origin) -> Result<LiveHandle> {
    let (events, _) = broadcast::channel(1024);
    let ev = events.clone();
    match cfg.source.clone() {
        Source::Rtmp { listen, app, key } => {
            let ingest = RtmpIngest::start(listen, &app, &key).await?;
            let addr = ingest.addr;
            let task = tokio::spawn(run_rtmp(cfg, origin, ingest, ev));
            Ok(LiveHandle {
                events,
                task: Some(task),
                rtmp_addr: Some(addr),
            })
        }
        _ => {
            let task = tokio::spawn(run_ffmpeg_source(cfg, origin, ev));
            Ok(LiveHandle {
                events,
                task: Some(task),
                rtmp_addr: None,
            })
        }
    }
}

fn frag_us(cfg: &CutterConfig) -> u64 {
    // One fragment per part target (ffmpeg also cuts at every keyframe).
    ((cfg.part_target * 1_000_000.0) as u64).max(20_000)
}

/// Synthetic and SRT sources: ffmpeg does the listening/generating; restart it when it stops.
async fn run_ffmpeg_source(
    cfg: LiveConfig,
    origin: Origin,
    events: broadcast::Sender<LiveEvent>,
) -> Result<()> {
    let mut backoff = Duration::from_millis(250);
    let mut session = 0u64;
    loop {
        session += 1;
        let (label, mut args, anchor_at_spawn) = match &cfg.source {
            Source::Synthetic(o) => ("synthetic", o.ffmpeg_args(cfg.cutter.segment_target), true),
            Source::Srt { listen, passphrase } => (
                "srt",
                srt::ffmpeg_args(*listen, passphrase.as_deref()),
                false,
            ),
            Source::Rtmp { .. } => unreachable!("RTMP has its own loop"),
        };
        args.extend(cmaf_output_args(frag_us(&cfg.cutter)));
        let mut ff = FfmpegProcess::spawn(label, &args, false)?;
        let spawned_ms = now_ms();
        let _ = events.send(LiveEvent::SessionStarted {
            session,
            what: format!("ffmpeg {label} source"),
        });
        let anchor = if anchor_at_spawn {
            Some(spawned_ms)
        } else {
            None
        };
        let res = run_session(&cfg, &origin, &mut ff.stdout, anchor, &events).await;
        let exit = ff.wait().await;
        let reason = match (&res, &exit) {
            (Err(e), _) => format!("pipeline error: {e}"),
            (Ok(_), Err(e)) => e.to_string(),
            (Ok(n), Ok(())) => format!("ffmpeg finished after {n} parts"),
        };
        let finished_ok = matches!((&res, &exit), (Ok(_), Ok(())));
        let ends = finished_ok
            && (matches!(&cfg.source, Source::Synthetic(o) if o.duration.is_some())
                || (matches!(cfg.source, Source::Srt { .. }) && cfg.end_on_disconnect));
        // The playlist ends before anyone hears the session ended, so a subscriber reacting to
        // SessionEnded always finds EXT-X-ENDLIST.
        if ends {
            origin.end_stream(&cfg.rendition);
        }
        let _ = events.send(LiveEvent::SessionEnded {
            session,
            reason: reason.clone(),
        });
        if ends {
            return Ok(());
        }
        let produced = matches!(res, Ok(n) if n > 0);
        if produced {
            backoff = Duration::from_millis(250);
        }
        tracing::warn!(
            source = label,
            "ffmpeg stopped ({reason}); restarting in {backoff:?}"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// RTMP: one ffmpeg remuxer per accepted publisher.
async fn run_rtmp(
    cfg: LiveConfig,
    origin: Origin,
    mut ingest: RtmpIngest,
    events: broadcast::Sender<LiveEvent>,
) -> Result<()> {
    let mut args = RtmpIngest::ffmpeg_args();
    args.extend(cmaf_output_args(frag_us(&cfg.cutter)));
    while let Some(mut sess) = ingest.next_session().await {
        let id = sess.session_id;
        let _ = events.send(LiveEvent::SessionStarted {
            session: id,
            what: format!("RTMP publisher {}", sess.peer),
        });
        let mut ff = match FfmpegProcess::spawn("rtmp", &args, true) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!("cannot remux RTMP session: {e}");
                continue;
            }
        };
        let mut stdin = ff.stdin.take();
        let feeder = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            while let Some(b) = sess.flv.recv().await {
                let Some(w) = stdin.as_mut() else { break };
                if w.write_all(&b).await.is_err() {
                    break;
                }
            }
            // Dropping stdin tells ffmpeg the stream ended: it flushes the last fragment.
            drop(stdin);
        });
        // The anchor is known once the first media tag arrived, before ffmpeg emits anything.
        let anchor = sess.anchor_ms.clone();
        let res = run_session_with(&cfg, &origin, &mut ff.stdout, &events, move || {
            *anchor.lock().unwrap_or_else(|e| e.into_inner())
        })
        .await;
        feeder.abort();
        let exit = ff.wait().await;
        let reason = match (&res, &exit) {
            (Err(e), _) => format!("pipeline error: {e}"),
            (Ok(_), Err(e)) => format!("encoder disconnected; {e}"),
            (Ok(n), Ok(())) => format!("encoder disconnected after {n} parts"),
        };
        if cfg.end_on_disconnect {
            origin.end_stream(&cfg.rendition);
        }
        let _ = events.send(LiveEvent::SessionEnded {
            session: id,
            reason,
        });
    }
    Ok(())
}

async fn run_session<R: AsyncRead + Unpin>(
    cfg: &LiveConfig,
    origin: &Origin,
    reader: &mut R,
    anchor: Option<i64>,
    events: &broadcast::Sender<LiveEvent>,
) -> Result<u64> {
    run_session_with(cfg, origin, reader, events, move || anchor).await
}

async fn put(store: &ChunkStore, bytes: Bytes, durable: bool) -> Result<String> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.put_with(bytes, durable))
        .await
        .map_err(|e| MediaError::Store(format!("store task failed: {e}")))?
}

/// Sign the kind-21311 part manifest of segment `msn` listing `parts` (hash, bytes, duration,
/// independent) so far; None (logged) if it cannot be signed.
pub(crate) fn sign_parts_so_far(
    signer: &ManifestSigner,
    rendition: &str,
    msn: u64,
    init: &str,
    parts: &[(String, Bytes, f64, bool)],
    capture_ms: i64,
) -> Option<Event> {
    let list = PartManifest {
        rendition: rendition.to_string(),
        msn,
        init: init.to_string(),
        parts: parts
            .iter()
            .map(|(hash, bytes, duration, independent)| ManifestPart {
                hash: hash.clone(),
                duration: *duration,
                independent: *independent,
                size: bytes.len() as u64,
            })
            .collect(),
        capture_ms,
    };
    match list.sign(&signer.keys, &signer.stream, signer.role) {
        Ok(ev) => Some(ev),
        Err(e) => {
            tracing::error!("{rendition} segment {msn} part {}: {e}", parts.len());
            None
        }
    }
}

/// Per-session bookkeeping between cutter events.
struct Session<'a> {
    cfg: &'a LiveConfig,
    origin: &'a Origin,
    store: ChunkStore,
    events: &'a broadcast::Sender<LiveEvent>,
    init_hash: String,
    seg_parts: Vec<(String, Bytes, f64, bool)>,
    seg_capture: Option<i64>,
    /// (wall clock ms, media time s) of the first keyframe.
    anchor: Option<(i64, f64)>,
    parts: u64,
    /// Wall clock when the last fragment was read from ffmpeg (ms since epoch).
    fragment_ms: i64,
}

impl Session<'_> {
    async fn apply(&mut self, ev: CutEvent) -> Result<()> {
        let r = self.cfg.rendition.as_str();
        match ev {
            CutEvent::Part(p) => {
                let capture_ms = self
                    .anchor
                    .map(|(a, first)| a + ((p.start - first) * 1000.0).round() as i64)
                    .unwrap_or_else(now_ms);
                let size = p.bytes.len();
                let hash = put(&self.store, p.bytes.clone(), false).await?;
                if self.seg_parts.is_empty() {
                    self.seg_capture = Some(capture_ms);
                }
                self.seg_parts
                    .push((hash.clone(), p.bytes, p.duration, p.independent));
                // Signed before the playlist lists the part: the event is on its way to Nostr
                // while relays learn of the part from a blocking playlist reload.
                if let Some(signer) = &self.cfg.signer {
                    let capture = self.seg_capture.unwrap_or(capture_ms);
                    if let Some(ev) = sign_parts_so_far(
                        signer,
                        r,
                        p.msn,
                        &self.init_hash,
                        &self.seg_parts,
                        capture,
                    ) {
                        let _ = self
                            .events
                            .send(LiveEvent::PartManifestSigned(Box::new(ev)));
                    }
                }
                self.origin
                    .push_part(r, &hash, p.duration, p.independent, Some(capture_ms));
                let available_ms = now_ms();
                self.parts += 1;
                let _ = self.events.send(LiveEvent::Part {
                    rendition: r.to_string(),
                    msn: p.msn,
                    index: p.index,
                    hash,
                    size,
                    duration: p.duration,
                    independent: p.independent,
                    capture_ms,
                    available_ms,
                    fragment_ms: self.fragment_ms,
                });
            }
            CutEvent::SegmentEnd { msn, duration, .. } => {
                let mut whole = BytesMut::new();
                for (_, b, _, _) in &self.seg_parts {
                    whole.extend_from_slice(b);
                }
                let size = whole.len();
                let seg_hash = put(&self.store, whole.freeze(), true).await?;
                // Keep the init newest so eviction never drops it while the stream needs it.
                let s = self.store.clone();
                let ih = self.init_hash.clone();
                let _ = tokio::task::spawn_blocking(move || s.touch(&ih)).await;
                self.origin.end_segment(r, &seg_hash, duration);
                if duration > 0.0 {
                    self.origin
                        .observe_bandwidth(r, ((size as f64 * 8.0) / duration) as u64);
                }
                let manifest = SegmentManifest {
                    rendition: r.to_string(),
                    msn,
                    init: self.init_hash.clone(),
                    segment: seg_hash,
                    segment_size: size as u64,
                    parts: self
                        .seg_parts
                        .drain(..)
                        .map(|(hash, bytes, duration, independent)| ManifestPart {
                            hash,
                            duration,
                            independent,
                            size: bytes.len() as u64,
                        })
                        .collect(),
                    duration,
                    capture_ms: self.seg_capture.take().unwrap_or_else(now_ms),
                    source: None,
                };
                if let Some(signer) = &self.cfg.signer {
                    match manifest.sign(&signer.keys, &signer.stream, signer.role) {
                        Ok(ev) => {
                            let _ = self.events.send(LiveEvent::ManifestSigned(Box::new(ev)));
                        }
                        Err(e) => tracing::error!("segment {msn}: {e}"),
                    }
                }
                let _ = self.events.send(LiveEvent::Segment(manifest));
            }
        }
        Ok(())
    }
}

/// Read one encoder session's fMP4 until EOF; returns the number of parts published.
async fn run_session_with<R: AsyncRead + Unpin>(
    cfg: &LiveConfig,
    origin: &Origin,
    reader: &mut R,
    events: &broadcast::Sender<LiveEvent>,
    anchor: impl Fn() -> Option<i64>,
) -> Result<u64> {
    let r = cfg.rendition.as_str();
    let mut splitter = Fmp4Splitter::new();
    let mut cutter: Option<Cutter> = None;
    let mut had_media_before = origin.position(r).is_some();
    let mut sess = Session {
        cfg,
        origin,
        store: origin.store().clone(),
        events,
        init_hash: String::new(),
        seg_parts: Vec::new(),
        seg_capture: None,
        anchor: None,
        parts: 0,
        fragment_ms: 0,
    };
    while let Some((kind, bytes)) = read_top_box(reader).await? {
        match splitter.push_box(kind, bytes)? {
            None => {}
            Some(Fmp4Item::Init(init)) => {
                // A new init mid-session (encoder changed parameters): close what is open first.
                if let Some(c) = cutter.as_mut() {
                    for ev in c.finish() {
                        sess.apply(ev).await?;
                    }
                }
                let hash = put(&sess.store, init.bytes.clone(), true).await?;
                let codecs = init.codecs();
                let first_msn = origin.next_msn(r).unwrap_or(0);
                origin.set_init(r, &hash, &codecs, init.resolution(), 0, first_msn);
                if had_media_before {
                    origin.mark_discontinuity(r);
                }
                had_media_before = true;
                sess.init_hash = hash.clone();
                cutter = Some(Cutter::new(
                    cfg.cutter,
                    origin.next_msn(r).unwrap_or(first_msn),
                ));
                let _ = events.send(LiveEvent::Init {
                    rendition: r.to_string(),
                    hash,
                    codecs,
                });
            }
            Some(Fmp4Item::Fragment(f)) => {
                sess.fragment_ms = now_ms();
                if sess.anchor.is_none() && f.keyframe {
                    sess.anchor = Some((anchor().unwrap_or_else(now_ms), f.start));
                }
                let evs = match cutter.as_mut() {
                    Some(c) => c.push(&f),
                    None => return Err(MediaError::FragmentBeforeInit),
                };
                for ev in evs {
                    sess.apply(ev).await?;
                }
            }
        }
    }
    if let Some(c) = cutter.as_mut() {
        for ev in c.finish() {
            sess.apply(ev).await?;
        }
    }
    Ok(sess.parts)
}

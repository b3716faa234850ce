//! The transcoding ladder: ONE ffmpeg process reads a source rendition's fragmented MP4 (init +
//! parts, written to its stdin as they arrive) and writes every rung of the ladder (e.g.
//! 720p/480p/360p H.264 + AAC) as CMAF fragmented MP4 on its own pipe (`pipe:<fd>`, one inherited
//! file descriptor per rung). Keyframes are forced where the source has them
//! (`-force_key_frames source`, no scene-cut or periodic keyframes, no B-frames) and timestamps
//! are kept (`-copyts`), so every rung cuts its segments at the source's segment boundaries:
//! players can switch renditions at any segment, and each rung segment names the source segment
//! it came from (`source` in its signed manifest).
//!
//! Each rung is cut by the [`Cutter`] into parts/segments, stored in the [`ChunkStore`] and
//! pushed into the [`Origin`] as its own rendition (optionally next to the source rendition,
//! mirrored as-is). ffmpeg is supervised: when it dies it is restarted at the next source
//! segment (a keyframe), with a discontinuity in every rung's playlist.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{broadcast, mpsc, watch};

use crate::cutter::{CutEvent, Cutter, CutterConfig};
use crate::error::{MediaError, Result};
use crate::fmp4::{Fmp4Item, Fmp4Splitter, InitSegment, read_top_box};
use crate::ingest::ffmpeg::ffmpeg_bin;
use crate::live::{LiveEvent, ManifestSigner, now_ms, sign_parts_so_far};
use crate::manifest::{ManifestPart, SegmentManifest};
use crate::origin::Origin;
use crate::store::ChunkStore;

/// One rung of the ladder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rung {
    /// Rendition name in playlists (`720p`); no `/`.
    pub name: String,
    /// Output width in pixels (made even; scaled to the source aspect ratio when fitted).
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Target video bit rate, bits per second.
    pub video_bps: u64,
}

impl Rung {
    pub fn new(name: &str, width: u32, height: u32, video_bps: u64) -> Self {
        Self {
            name: name.to_string(),
            width,
            height,
            video_bps,
        }
    }

    /// The usual ladder: 720p 2.8 Mbit/s, 480p 1.2 Mbit/s, 360p 700 kbit/s, 240p 400 kbit/s.
    pub fn standard() -> Vec<Rung> {
        vec![
            Rung::new("720p", 1280, 720, 2_800_000),
            Rung::new("480p", 854, 480, 1_200_000),
            Rung::new("360p", 640, 360, 700_000),
            Rung::new("240p", 426, 240, 400_000),
        ]
    }
}

/// The rungs worth making from a `src_w` x `src_h` source: those strictly smaller than the
/// source (upscaling adds bytes, not picture), width recomputed from the source aspect ratio
/// (even, as H.264 4:2:0 needs), duplicates and bad names dropped.
pub fn fit_to_source(rungs: &[Rung], src_w: u32, src_h: u32) -> Vec<Rung> {
    let mut out: Vec<Rung> = Vec::new();
    for r in rungs {
        if r.height == 0 || r.height >= src_h || src_w == 0 || src_h == 0 {
            continue;
        }
        if r.name.is_empty() || r.name.contains('/') || r.name == "source" {
            continue;
        }
        if out.iter().any(|o| o.name == r.name || o.height == r.height) {
            continue;
        }
        let h = r.height & !1;
        let w = (((src_w as u64 * h as u64) / src_h as u64) as u32 & !1).max(2);
        out.push(Rung {
            name: r.name.clone(),
            width: w,
            height: h.max(2),
            video_bps: r.video_bps,
        });
    }
    out
}

/// Encoder settings of the ladder.
#[derive(Debug, Clone)]
pub struct LadderConfig {
    /// Rungs wanted; [`fit_to_source`] drops those the source cannot feed.
    pub rungs: Vec<Rung>,
    /// Part/segment targets (use the source's: the same keyframes then give the same segments).
    pub cutter: CutterConfig,
    /// x264 preset (`veryfast` for live; tests use `ultrafast`).
    pub preset: String,
    /// AAC bit rate per rung in kbit/s; `None` copies the source audio (already AAC).
    pub audio_kbps: Option<u32>,
    /// Sign a part manifest per rung part and a segment manifest per rung segment (the
    /// transcoder's key, role `transcoder`).
    pub signer: Option<ManifestSigner>,
    /// Also serve the source rendition (as fed, under `source_name`) from the origin.
    pub mirror_source: bool,
    /// Rendition name of the mirrored source.
    pub source_name: String,
    /// ffmpeg `-threads` per encoder (None: ffmpeg's choice).
    pub threads: Option<u32>,
}

impl Default for LadderConfig {
    fn default() -> Self {
        Self {
            rungs: Rung::standard(),
            cutter: CutterConfig::default(),
            preset: "veryfast".into(),
            audio_kbps: None,
            signer: None,
            mirror_source: true,
            source_name: "source".into(),
            threads: None,
        }
    }
}

/// Fragment duration ffmpeg is asked for: one per part target.
fn frag_us(cfg: &CutterConfig) -> u64 {
    ((cfg.part_target * 1_000_000.0) as u64).max(20_000)
}

/// The ffmpeg arguments (after `-hide_banner -loglevel`) reading fMP4 on stdin and writing rung
/// `i` to `pipe:<outputs[i]>`. Public so a benchmark can run the same ladder from a file
/// (`input` = a path) and compare CPU time.
pub fn ffmpeg_args(
    cfg: &LadderConfig,
    rungs: &[Rung],
    input: &str,
    outputs: &[String],
) -> Vec<String> {
    let mut a2: Vec<String> = ["-i", input, "-copyts"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (r, out) in rungs.iter().zip(outputs) {
        let kbps = (r.video_bps / 1000).max(50);
        let mut v: Vec<String> = [
            "-map",
            "0:v:0",
            "-map",
            "0:a:0?",
            "-c:v",
            "libx264",
            "-preset",
            &cfg.preset,
            "-tune",
            "zerolatency",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            // Keyframes exactly where the source has them, and nowhere else.
            "-force_key_frames:v",
            "source",
            "-g",
            "100000",
            "-keyint_min",
            "100000",
            "-sc_threshold",
            "0",
            "-bf",
            "0",
            "-vf",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.push(format!("scale={}:{}", r.width, r.height));
        v.extend([
            "-b:v".into(),
            format!("{kbps}k"),
            "-maxrate".into(),
            format!("{}k", kbps * 3 / 2),
            "-bufsize".into(),
            format!("{}k", kbps * 2),
        ]);
        if let Some(t) = cfg.threads {
            v.extend(["-threads".into(), t.to_string()]);
        }
        match cfg.audio_kbps {
            None => v.extend(["-c:a".into(), "copy".into()]),
            Some(k) => v.extend(["-c:a".into(), "aac".into(), "-b:a".into(), format!("{k}k")]),
        }
        v.extend(
            [
                "-f",
                "mp4",
                "-movflags",
                "+frag_keyframe+empty_moov+default_base_moof+cmaf",
                "-frag_duration",
                &frag_us(&cfg.cutter).to_string(),
                "-flush_packets",
                "1",
                out,
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        a2.extend(v);
    }
    a2
}

/// Split a byte blob holding whole top-level MP4 boxes.
pub fn split_boxes(mut b: &[u8]) -> Result<Vec<([u8; 4], Bytes)>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 8 {
            return Err(MediaError::Fmp4("truncated box header".into()));
        }
        let size32 = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64;
        let kind = [b[4], b[5], b[6], b[7]];
        let size = match size32 {
            1 if b.len() >= 16 => {
                u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
            }
            0 | 1 => return Err(MediaError::Fmp4("unsupported box size field".into())),
            s => s,
        };
        if size < 8 || size > b.len() as u64 {
            return Err(MediaError::Fmp4(format!(
                "box `{}` of {size} bytes does not fit in {} bytes",
                String::from_utf8_lossy(&kind),
                b.len()
            )));
        }
        out.push((kind, Bytes::copy_from_slice(&b[..size as usize])));
        b = &b[size as usize..];
    }
    Ok(out)
}

/// Parse an init segment (ftyp + moov).
pub fn parse_init(bytes: &Bytes) -> Result<InitSegment> {
    let mut sp = Fmp4Splitter::new();
    for (k, b) in split_boxes(bytes)? {
        if let Some(Fmp4Item::Init(i)) = sp.push_box(k, b)? {
            return Ok(i);
        }
    }
    Err(MediaError::Fmp4("no moov in the init segment".into()))
}

/// One verified source segment to transcode: its init, its parts (bytes, in order) and the
/// source producer's manifest (whose hashes the caller has checked).
#[derive(Debug, Clone)]
pub struct SourceSegment {
    pub manifest: SegmentManifest,
    pub init: Bytes,
    pub parts: Vec<Bytes>,
}

impl SourceSegment {
    /// Check the bytes against the manifest's hashes (init, every part, the whole segment).
    pub fn verify(&self) -> Result<()> {
        let m = &self.manifest;
        if self.parts.len() != m.parts.len() {
            return Err(MediaError::Manifest(format!(
                "{} parts given, manifest lists {}",
                self.parts.len(),
                m.parts.len()
            )));
        }
        let init = self.init.clone();
        let mut by_hash = std::collections::HashMap::new();
        by_hash.insert(m.init.clone(), init);
        for (p, b) in m.parts.iter().zip(&self.parts) {
            by_hash.insert(p.hash.clone(), b.clone());
        }
        m.verify_bytes(|h| by_hash.get(h).cloned()).map(|_| ())
    }
}

/// One verified source part, fed as soon as a signed manifest (part or segment) lists it: the
/// ladder transcodes while the source segment is still open. Parts come in order; a part of a
/// later segment closes the open one (as a keyframe does at the origin).
#[derive(Debug, Clone)]
pub struct SourcePart {
    /// Media sequence number of the source segment the part belongs to.
    pub msn: u64,
    /// Position in that segment (0 = the segment's first part, a keyframe).
    pub index: u32,
    /// The source init segment the part needs.
    pub init: Bytes,
    /// Hex SHA-256 of `init`.
    pub init_hash: String,
    pub bytes: Bytes,
    /// Hex SHA-256 of `bytes`.
    pub hash: String,
    /// Seconds.
    pub duration: f64,
    pub independent: bool,
    /// Wall-clock capture time of the segment's first sample (ms since epoch; 0 = unknown).
    pub capture_ms: i64,
}

impl SourceSegment {
    /// The segment as parts, in order (what [`Ladder::push`] feeds).
    pub fn source_parts(&self) -> Vec<SourcePart> {
        let m = &self.manifest;
        m.parts
            .iter()
            .zip(&self.parts)
            .enumerate()
            .map(|(i, (p, b))| SourcePart {
                msn: m.msn,
                index: i as u32,
                init: self.init.clone(),
                init_hash: m.init.clone(),
                bytes: b.clone(),
                hash: p.hash.clone(),
                duration: p.duration,
                independent: p.independent,
                capture_ms: m.capture_ms,
            })
            .collect()
    }
}

/// What the source segments fed so far say about media time `t`.
#[derive(Debug, Clone)]
struct SourceSpan {
    start: f64,
    /// Seconds; infinite while the segment is open.
    duration: f64,
    /// Hash of the whole source segment, once it closed.
    segment: Option<String>,
    capture_ms: i64,
}

#[derive(Default)]
struct Shared {
    /// Source segments fed, by start time (ms), for mapping rung segments back to them.
    spans: BTreeMap<i64, SourceSpan>,
    /// Seconds of media every rung has finished, per rung.
    done: BTreeMap<String, f64>,
    restarts: u64,
}

impl Shared {
    fn span_at(&self, t: f64) -> Option<&SourceSpan> {
        let key = (t * 1000.0).round() as i64;
        self.spans
            .range(..=key + 20)
            .next_back()
            .map(|(_, s)| s)
            .filter(|s| t + 0.02 >= s.start && t < s.start + s.duration + 0.02)
    }
}

/// A running ladder. Feed it with [`Ladder::push_part`] (or whole segments with
/// [`Ladder::push`]); dropping it kills ffmpeg.
pub struct Ladder {
    tx: mpsc::Sender<SourcePart>,
    events: broadcast::Sender<LiveEvent>,
    shared: Arc<Mutex<Shared>>,
    progress: watch::Receiver<f64>,
    rungs: watch::Receiver<Vec<Rung>>,
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl Ladder {
    /// Start the ladder feeding `origin` (ffmpeg starts with the first part, once the source
    /// resolution is known).
    pub fn spawn(cfg: LadderConfig, origin: Origin) -> Ladder {
        let (tx, rx) = mpsc::channel(64);
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (prog_tx, progress) = watch::channel(0.0);
        let (rungs_tx, rungs) = watch::channel(Vec::new());
        let task = tokio::spawn(run(
            cfg,
            origin,
            rx,
            events.clone(),
            shared.clone(),
            prog_tx,
            rungs_tx,
        ));
        Ladder {
            tx,
            events,
            shared,
            progress,
            rungs,
            task: Some(task),
        }
    }

    /// Events: `Init`/`Part`/`PartManifestSigned`/`Segment`/`ManifestSigned` per rung,
    /// `SessionStarted`/`Ended` per ffmpeg run.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Queue one verified source part (in order). Fails if the ladder stopped.
    pub async fn push_part(&self, part: SourcePart) -> Result<()> {
        self.tx
            .send(part)
            .await
            .map_err(|_| MediaError::Ffmpeg("the ladder has stopped".into()))
    }

    /// Queue one verified source segment (in order), part by part. Fails if the ladder stopped.
    pub async fn push(&self, seg: SourceSegment) -> Result<()> {
        for p in seg.source_parts() {
            self.push_part(p).await?;
        }
        Ok(())
    }

    /// Seconds of source media that every rung has finished (segments cut and stored).
    pub fn transcoded_seconds(&self) -> f64 {
        *self.progress.borrow()
    }

    /// A receiver of [`Self::transcoded_seconds`] as it grows.
    pub fn progress(&self) -> watch::Receiver<f64> {
        self.progress.clone()
    }

    /// The rungs being produced (empty until the first part arrived).
    pub fn rungs(&self) -> Vec<Rung> {
        self.rungs.borrow().clone()
    }

    /// How many times ffmpeg was restarted after a failure.
    pub fn restarts(&self) -> u64 {
        self.shared.lock().map(|s| s.restarts).unwrap_or(0)
    }

    /// No more input: close the open segment, let ffmpeg flush, end every rung's playlist and
    /// wait.
    pub async fn finish(mut self) -> Result<()> {
        let (tx, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, tx));
        match self.task.take() {
            Some(t) => t
                .await
                .map_err(|e| MediaError::Ffmpeg(format!("ladder task failed: {e}")))?,
            None => Ok(()),
        }
    }

    /// Stop at once (kills ffmpeg).
    pub fn abort(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Drop for Ladder {
    fn drop(&mut self) {
        self.abort();
    }
}

/// One ffmpeg run: its stdin, the child and the rung reader tasks.
struct Run {
    child: Child,
    stdin: Option<ChildStdin>,
    readers: Vec<tokio::task::JoinHandle<Result<()>>>,
    /// The source init this run decodes.
    init: Bytes,
    init_sent: bool,
}

async fn put(store: &ChunkStore, bytes: Bytes, durable: bool) -> Result<String> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.put_with(bytes, durable))
        .await
        .map_err(|e| MediaError::Store(format!("store task failed: {e}")))?
}

/// The source segment being fed.
struct OpenSegment {
    msn: u64,
    /// Key of its span in [`Shared::spans`].
    span_key: i64,
    init: Bytes,
    /// Parts fed so far: (hash, bytes, duration).
    parts: Vec<(String, Bytes, f64)>,
}

/// The ladder's input loop: per source part, mirror it, note its span and feed ffmpeg.
struct Feeder {
    cfg: Arc<LadderConfig>,
    origin: Origin,
    events: broadcast::Sender<LiveEvent>,
    shared: Arc<Mutex<Shared>>,
    progress: Arc<watch::Sender<f64>>,
    rungs_tx: watch::Sender<Vec<Rung>>,
    current: Option<Run>,
    rungs: Vec<Rung>,
    session: u64,
    mirrored_init: Option<String>,
    backoff: Duration,
    open: Option<OpenSegment>,
    /// Parsed inits by hash (a stream has one, or a few after encoder restarts).
    inits: BTreeMap<String, InitSegment>,
}

impl Feeder {
    /// Close the open source segment: its span gets its duration and hash, the mirror ends it.
    async fn close_open(&mut self) -> Result<()> {
        let Some(open) = self.open.take() else {
            return Ok(());
        };
        let duration: f64 = open.parts.iter().map(|(_, _, d)| d).sum();
        let mut whole = BytesMut::new();
        for (_, b, _) in &open.parts {
            whole.extend_from_slice(b);
        }
        let size = whole.len();
        // Mirrored, the segment is stored (durably, like the origin does); else only named.
        let seg_hash = if self.cfg.mirror_source {
            put(self.origin.store(), whole.freeze(), true).await?
        } else {
            crate::store::sha256_hex(&whole)
        };
        if let Ok(mut sh) = self.shared.lock()
            && let Some(s) = sh.spans.get_mut(&open.span_key)
        {
            s.duration = duration;
            s.segment = Some(seg_hash.clone());
        }
        if self.cfg.mirror_source {
            let r = &self.cfg.source_name;
            self.origin.end_segment(r, &seg_hash, duration);
            if duration > 0.0 {
                self.origin
                    .observe_bandwidth(r, (size as f64 * 8.0 / duration) as u64);
            }
        }
        Ok(())
    }

    /// Take one part: a new segment starts at index 0 (closing the open one); a part out of
    /// order (a gap) is dropped with the rest of its segment, ffmpeg resumes at the next one.
    async fn take(&mut self, p: SourcePart) -> Result<()> {
        if !self.inits.contains_key(&p.init_hash) {
            match parse_init(&p.init) {
                Ok(i) => {
                    self.inits.insert(p.init_hash.clone(), i);
                }
                Err(e) => {
                    tracing::warn!("source part {}.{} skipped: {e}", p.msn, p.index);
                    return Ok(());
                }
            }
        }
        let fits = self
            .open
            .as_ref()
            .is_some_and(|o| o.msn == p.msn && o.parts.len() == p.index as usize);
        if p.index == 0 {
            self.close_open().await?;
            let start = first_start(&self.inits[&p.init_hash], std::slice::from_ref(&p.bytes))
                .unwrap_or(0.0);
            let span_key = (start * 1000.0).round() as i64;
            if let Ok(mut sh) = self.shared.lock() {
                sh.spans.insert(
                    span_key,
                    SourceSpan {
                        start,
                        duration: f64::INFINITY,
                        segment: None,
                        capture_ms: p.capture_ms,
                    },
                );
                while sh.spans.len() > 512 {
                    sh.spans.pop_first();
                }
            }
            self.open = Some(OpenSegment {
                msn: p.msn,
                span_key,
                init: p.init.clone(),
                parts: Vec::new(),
            });
        } else if !fits {
            if self.open.is_some() {
                tracing::warn!(
                    "source part {}.{} out of order: the rest of its segment is skipped",
                    p.msn,
                    p.index
                );
                self.close_open().await?;
            }
            return Ok(());
        }
        if self.cfg.mirror_source {
            self.mirror(&p).await?;
        }
        if let Some(o) = self.open.as_mut() {
            o.parts.push((p.hash.clone(), p.bytes.clone(), p.duration));
        }
        self.feed_ffmpeg(&p).await
    }

    async fn mirror(&mut self, p: &SourcePart) -> Result<()> {
        let store = self.origin.store().clone();
        let r = self.cfg.source_name.clone();
        if p.index == 0 && self.mirrored_init.as_deref() != Some(p.init_hash.as_str()) {
            let ih = put(&store, p.init.clone(), true).await?;
            if self.mirrored_init.is_some() {
                self.origin.mark_discontinuity(&r);
            }
            let init = &self.inits[&p.init_hash];
            self.origin
                .set_init(&r, &ih, &init.codecs(), init.resolution(), 0, p.msn);
            self.mirrored_init = Some(ih);
        }
        put(&store, p.bytes.clone(), false).await?;
        // The segment's capture time dates the parts (EXT-X-PROGRAM-DATE-TIME); 0 = unknown.
        let capture = (p.capture_ms > 0).then(|| {
            let before: f64 = self
                .open
                .as_ref()
                .map_or(0.0, |o| o.parts.iter().map(|(_, _, d)| d).sum());
            p.capture_ms + (before * 1000.0).round() as i64
        });
        self.origin
            .push_part(&r, &p.hash, p.duration, p.independent, capture);
        Ok(())
    }

    /// Write the part to ffmpeg (starting one at a segment start if none runs); when ffmpeg
    /// died, restart it and feed the open segment again from its first part (a keyframe).
    async fn feed_ffmpeg(&mut self, p: &SourcePart) -> Result<()> {
        // A new source init (encoder restarted with other parameters): a fresh ffmpeg.
        if p.index == 0
            && self.current.as_ref().is_some_and(|r| r.init != p.init)
            && let Some(r) = self.current.take()
        {
            stop(r, &self.events, self.session).await;
        }
        if self.current.is_none() && p.index != 0 {
            // Not at a keyframe: wait for the next segment.
            return Ok(());
        }
        for attempt in 0..3 {
            let fresh = self.current.is_none();
            if fresh {
                self.start(p)?;
            }
            let Some(r) = self.current.as_mut() else {
                break;
            };
            // A fresh run starts at the open segment's first part.
            let res = if fresh {
                let parts: Vec<Bytes> = self
                    .open
                    .as_ref()
                    .map(|o| o.parts.iter().map(|(_, b, _)| b.clone()).collect())
                    .unwrap_or_default();
                feed(r, &parts).await
            } else {
                feed(r, std::slice::from_ref(&p.bytes)).await
            };
            match res {
                Ok(()) => {
                    self.backoff = Duration::from_millis(200);
                    break;
                }
                Err(e) => {
                    tracing::warn!(
                        "ladder ffmpeg failed ({e}); restarting at source segment {} in {:?}",
                        p.msn,
                        self.backoff
                    );
                    if let Some(r) = self.current.take() {
                        stop(r, &self.events, self.session).await;
                    }
                    // Each rung marks a discontinuity when the new run's init arrives.
                    if let Ok(mut sh) = self.shared.lock() {
                        sh.restarts += 1;
                    }
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
                    if attempt == 2 {
                        tracing::error!("source segment {} dropped", p.msn);
                    }
                }
            }
        }
        Ok(())
    }

    /// Start an ffmpeg run at the open segment (the rungs are fitted to the source first).
    fn start(&mut self, p: &SourcePart) -> Result<()> {
        let init = &self.inits[&p.init_hash];
        if self.rungs.is_empty() {
            let (w, h) = init
                .resolution()
                .map(|(w, h)| (w as u32, h as u32))
                .unwrap_or((0, 0));
            self.rungs = fit_to_source(&self.cfg.rungs, w, h);
            if self.rungs.is_empty() {
                return Err(MediaError::BadSource(format!(
                    "no rung of the ladder is smaller than the {w}x{h} source"
                )));
            }
            let _ = self.rungs_tx.send(self.rungs.clone());
        }
        self.session += 1;
        let (first_msn, init_bytes) = match &self.open {
            Some(o) => (o.msn, o.init.clone()),
            None => (p.msn, p.init.clone()),
        };
        let r = start_run(
            &self.cfg,
            &self.origin,
            &self.rungs,
            &init_bytes,
            first_msn,
            &self.events,
            &self.shared,
            &self.progress,
            self.session,
        )
        .inspect_err(|e| tracing::error!("ladder ffmpeg: {e}"))?;
        self.current = Some(r);
        let _ = self.events.send(LiveEvent::SessionStarted {
            session: self.session,
            what: format!("ladder ffmpeg ({} rungs)", self.rungs.len()),
        });
        Ok(())
    }
}

#[allow(clippy::too_many_arguments)]
async fn run(
    cfg: LadderConfig,
    origin: Origin,
    mut rx: mpsc::Receiver<SourcePart>,
    events: broadcast::Sender<LiveEvent>,
    shared: Arc<Mutex<Shared>>,
    progress: watch::Sender<f64>,
    rungs_tx: watch::Sender<Vec<Rung>>,
) -> Result<()> {
    let mut f = Feeder {
        cfg: Arc::new(cfg),
        origin,
        events,
        shared,
        progress: Arc::new(progress),
        rungs_tx,
        current: None,
        rungs: Vec::new(),
        session: 0,
        mirrored_init: None,
        backoff: Duration::from_millis(200),
        open: None,
        inits: BTreeMap::new(),
    };
    while let Some(p) = rx.recv().await {
        f.take(p).await?;
    }
    // End of input: close the open segment, flush ffmpeg and close every playlist.
    f.close_open().await?;
    if let Some(mut r) = f.current.take() {
        drop(r.stdin.take());
        let status = r.child.wait().await;
        for h in r.readers.drain(..) {
            match h.await {
                Ok(Err(e)) => tracing::warn!("rung reader: {e}"),
                Err(e) => tracing::warn!("rung reader task: {e}"),
                Ok(Ok(())) => {}
            }
        }
        let _ = f.events.send(LiveEvent::SessionEnded {
            session: f.session,
            reason: format!("input ended; ffmpeg {status:?}"),
        });
    }
    for rung in &f.rungs {
        f.origin.end_stream(&rung.name);
    }
    if f.cfg.mirror_source {
        f.origin.end_stream(&f.cfg.source_name);
    }
    Ok(())
}

/// Media time of the first fragment of a segment.
fn first_start(init: &InitSegment, parts: &[Bytes]) -> Option<f64> {
    let mut sp = Fmp4Splitter::new();
    for (k, b) in split_boxes(&init.bytes).ok()? {
        sp.push_box(k, b).ok()?;
    }
    for p in parts {
        for (k, b) in split_boxes(p).ok()? {
            if let Ok(Some(Fmp4Item::Fragment(f))) = sp.push_box(k, b) {
                return Some(f.start);
            }
        }
    }
    None
}

/// Write parts (init first on a fresh run) to ffmpeg's stdin.
async fn feed(r: &mut Run, parts: &[Bytes]) -> std::io::Result<()> {
    let w = r
        .stdin
        .as_mut()
        .ok_or_else(|| std::io::Error::other("ffmpeg stdin closed"))?;
    if !r.init_sent {
        w.write_all(&r.init).await?;
        r.init_sent = true;
    }
    for p in parts {
        w.write_all(p).await?;
    }
    w.flush().await
}

async fn stop(mut r: Run, events: &broadcast::Sender<LiveEvent>, session: u64) {
    drop(r.stdin.take());
    let _ = r.child.start_kill();
    let status = r.child.wait().await;
    for h in r.readers.drain(..) {
        let _ = h.await;
    }
    let _ = events.send(LiveEvent::SessionEnded {
        session,
        reason: format!("ffmpeg stopped: {status:?}"),
    });
}

/// Clear FD_CLOEXEC so the child inherits `fd` under the same number.
fn inheritable(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on a valid descriptor number, async-signal-safe; called between fork and exec.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn start_run(
    cfg: &Arc<LadderConfig>,
    origin: &Origin,
    rungs: &[Rung],
    init: &Bytes,
    first_msn: u64,
    events: &broadcast::Sender<LiveEvent>,
    shared: &Arc<Mutex<Shared>>,
    progress: &Arc<watch::Sender<f64>>,
    session: u64,
) -> Result<Run> {
    let mut readers_fd: Vec<OwnedFd> = Vec::new();
    let mut writers: Vec<OwnedFd> = Vec::new();
    for _ in rungs {
        let (r, w) = std::io::pipe()?;
        readers_fd.push(r.into());
        writers.push(w.into());
    }
    let child_fds: Vec<i32> = writers.iter().map(|w| w.as_raw_fd()).collect();
    let outputs: Vec<String> = child_fds.iter().map(|fd| format!("pipe:{fd}")).collect();
    let args = ffmpeg_args(cfg, rungs, "pipe:0", &outputs);
    let mut cmd = Command::new(ffmpeg_bin());
    cmd.args(["-hide_banner", "-loglevel", "level+warning"])
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let fds = child_fds.clone();
    // SAFETY: the closure only calls fcntl (async-signal-safe) on descriptors we own.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &fds {
                inheritable(*fd)?;
            }
            Ok(())
        });
    }
    tracing::debug!(target: "ffmpeg", ?args, "spawning the ladder");
    let mut child = cmd.spawn().map_err(|e| {
        MediaError::Ffmpeg(format!(
            "cannot start `{}` ({e}); install it (apt-get install ffmpeg) or set TOLLCAST_FFMPEG",
            ffmpeg_bin()
        ))
    })?;
    // The child holds the write ends now; ours must close so EOF reaches the readers.
    drop(writers);
    let stdin = child.stdin.take();
    if let Some(stderr) = child.stderr.take() {
        let label = format!("ladder#{session}");
        tokio::spawn(async move {
            let last = Mutex::new(None);
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                crate::ingest::ffmpeg::log_line(&label, &line, &last);
            }
        });
    }
    let mut readers = Vec::new();
    for (rung, fd) in rungs.iter().zip(readers_fd) {
        let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(fd)?;
        let out = RungOutput {
            cfg: cfg.clone(),
            rung: rung.clone(),
            origin: origin.clone(),
            store: origin.store().clone(),
            events: events.clone(),
            shared: shared.clone(),
            progress: progress.clone(),
            first_msn,
            all: rungs.iter().map(|r| r.name.clone()).collect(),
        };
        readers.push(tokio::spawn(out.run(rx)));
    }
    Ok(Run {
        child,
        stdin,
        readers,
        init: init.clone(),
        init_sent: false,
    })
}

/// Reads one rung's fMP4 from its pipe, cuts, stores, publishes and signs it.
struct RungOutput {
    cfg: Arc<LadderConfig>,
    rung: Rung,
    origin: Origin,
    store: ChunkStore,
    events: broadcast::Sender<LiveEvent>,
    shared: Arc<Mutex<Shared>>,
    progress: Arc<watch::Sender<f64>>,
    first_msn: u64,
    all: Vec<String>,
}

impl RungOutput {
    async fn run(self, mut rx: tokio::net::unix::pipe::Receiver) -> Result<()> {
        let name = self.rung.name.clone();
        let mut splitter = Fmp4Splitter::new();
        let mut cutter: Option<Cutter> = None;
        let mut init_hash = String::new();
        let mut seg_parts: Vec<(String, Bytes, f64, bool)> = Vec::new();
        let mut seg_capture: Option<i64> = None;
        let mut had_media = self.origin.position(&name).is_some();
        loop {
            let item = match read_top_box(&mut rx).await {
                Ok(Some((kind, bytes))) => splitter.push_box(kind, bytes)?,
                Ok(None) => break,
                Err(e) => return Err(e),
            };
            let evs = match item {
                None => continue,
                Some(Fmp4Item::Init(init)) => {
                    if let Some(c) = cutter.as_mut() {
                        for ev in c.finish() {
                            self.apply(ev, &init_hash, &mut seg_parts, &mut seg_capture)
                                .await?;
                        }
                    }
                    init_hash = put(&self.store, init.bytes.clone(), true).await?;
                    let first = self.origin.next_msn(&name).unwrap_or(self.first_msn);
                    self.origin.set_init(
                        &name,
                        &init_hash,
                        &init.codecs(),
                        init.resolution(),
                        self.rung.video_bps,
                        first,
                    );
                    if had_media {
                        self.origin.mark_discontinuity(&name);
                    }
                    had_media = true;
                    cutter = Some(Cutter::new(
                        self.cfg.cutter,
                        self.origin.next_msn(&name).unwrap_or(first),
                    ));
                    let _ = self.events.send(LiveEvent::Init {
                        rendition: name.clone(),
                        hash: init_hash.clone(),
                        codecs: init.codecs(),
                    });
                    continue;
                }
                Some(Fmp4Item::Fragment(f)) => match cutter.as_mut() {
                    Some(c) => c.push(&f),
                    None => return Err(MediaError::FragmentBeforeInit),
                },
            };
            for ev in evs {
                self.apply(ev, &init_hash, &mut seg_parts, &mut seg_capture)
                    .await?;
            }
        }
        if let Some(c) = cutter.as_mut() {
            for ev in c.finish() {
                self.apply(ev, &init_hash, &mut seg_parts, &mut seg_capture)
                    .await?;
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        ev: CutEvent,
        init_hash: &str,
        seg_parts: &mut Vec<(String, Bytes, f64, bool)>,
        seg_capture: &mut Option<i64>,
    ) -> Result<()> {
        let r = self.rung.name.as_str();
        match ev {
            CutEvent::Part(p) => {
                let capture_ms = self
                    .shared
                    .lock()
                    .ok()
                    .and_then(|sh| {
                        sh.span_at(p.start).map(|s| {
                            s.capture_ms + ((p.start - s.start).max(0.0) * 1000.0).round() as i64
                        })
                    })
                    .unwrap_or_else(now_ms);
                let size = p.bytes.len();
                let hash = put(&self.store, p.bytes.clone(), false).await?;
                if seg_parts.is_empty() {
                    *seg_capture = Some(capture_ms);
                }
                seg_parts.push((hash.clone(), p.bytes, p.duration, p.independent));
                // The rung's parts so far, signed before the playlist lists the part (as the
                // live pipeline does for the source).
                if let Some(signer) = &self.cfg.signer {
                    let capture = seg_capture.unwrap_or(capture_ms);
                    if let Some(ev) =
                        sign_parts_so_far(signer, r, p.msn, init_hash, seg_parts, capture)
                    {
                        let _ = self
                            .events
                            .send(LiveEvent::PartManifestSigned(Box::new(ev)));
                    }
                }
                self.origin
                    .push_part(r, &hash, p.duration, p.independent, Some(capture_ms));
                let available_ms = now_ms();
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
                    // The rung's fragment left ffmpeg just before it was cut.
                    fragment_ms: available_ms,
                });
            }
            CutEvent::SegmentEnd {
                msn,
                duration,
                start,
            } => {
                let mut whole = BytesMut::new();
                for (_, b, _, _) in seg_parts.iter() {
                    whole.extend_from_slice(b);
                }
                let size = whole.len();
                let seg_hash = put(&self.store, whole.freeze(), true).await?;
                let s = self.store.clone();
                let ih = init_hash.to_string();
                let _ = tokio::task::spawn_blocking(move || s.touch(&ih)).await;
                self.origin.end_segment(r, &seg_hash, duration);
                if duration > 0.0 {
                    self.origin
                        .observe_bandwidth(r, ((size as f64 * 8.0) / duration) as u64);
                }
                let source = self
                    .shared
                    .lock()
                    .ok()
                    .and_then(|sh| sh.span_at(start).and_then(|s| s.segment.clone()));
                let manifest = SegmentManifest {
                    rendition: r.to_string(),
                    msn,
                    init: init_hash.to_string(),
                    segment: seg_hash,
                    segment_size: size as u64,
                    parts: seg_parts
                        .drain(..)
                        .map(|(hash, bytes, duration, independent)| ManifestPart {
                            hash,
                            duration,
                            independent,
                            size: bytes.len() as u64,
                        })
                        .collect(),
                    duration,
                    capture_ms: seg_capture.take().unwrap_or_else(now_ms),
                    source,
                };
                if let Some(signer) = &self.cfg.signer {
                    match manifest.sign(&signer.keys, &signer.stream, signer.role) {
                        Ok(ev) => {
                            let _ = self.events.send(LiveEvent::ManifestSigned(Box::new(ev)));
                        }
                        Err(e) => tracing::error!("rung {r} segment {msn}: {e}"),
                    }
                }
                let _ = self.events.send(LiveEvent::Segment(manifest));
                // Progress: media every rung has finished.
                if let Ok(mut sh) = self.shared.lock() {
                    *sh.done.entry(r.to_string()).or_insert(0.0) += duration;
                    let min = self
                        .all
                        .iter()
                        .map(|n| sh.done.get(n).copied().unwrap_or(0.0))
                        .fold(f64::INFINITY, f64::min);
                    if min.is_finite() {
                        self.progress.send_if_modified(|v| {
                            if min > *v {
                                *v = min;
                                true
                            } else {
                                false
                            }
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playlist::PlaylistConfig;
    use crate::store::sha256_hex;
    use tollcast_events::nostr::prelude::Keys;
    use tollcast_events::{Role, StreamAddress};

    #[test]
    fn rungs_fit_the_source() {
        let r = fit_to_source(&Rung::standard(), 640, 360);
        assert_eq!(r, vec![Rung::new("240p", 426, 240, 400_000)]);
        let r = fit_to_source(&Rung::standard(), 1920, 1080);
        assert_eq!(r.len(), 4);
        assert_eq!((r[0].width, r[0].height), (1280, 720));
        // 4:3 source: widths follow its aspect ratio, stay even
        let r = fit_to_source(&Rung::standard(), 1024, 768);
        assert_eq!((r[0].width, r[0].height), (960, 720));
        assert!(fit_to_source(&Rung::standard(), 320, 180).is_empty());
    }

    #[test]
    fn boxes_split_and_refuse_garbage() {
        let mut b = Vec::new();
        b.extend_from_slice(&[0, 0, 0, 8]);
        b.extend_from_slice(b"free");
        b.extend_from_slice(&[0, 0, 0, 9]);
        b.extend_from_slice(b"skip");
        b.push(7);
        let v = split_boxes(&b).unwrap();
        assert_eq!(v.len(), 2);
        assert!(split_boxes(&b[..12]).is_err());
        assert!(split_boxes(&[0, 0, 0, 100, b'm', b'o', b'o', b'f']).is_err());
        assert!(parse_init(&Bytes::from_static(b"\0\0\0\x08free")).is_err());
    }

    /// A source cut the way the streamer cuts it: real ffmpeg (not paced), Cutter, manifests.
    pub(crate) async fn source_segments(secs: f64, w: u32, h: u32) -> Vec<SourceSegment> {
        let args: Vec<String> = [
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            &format!("testsrc2=size={w}x{h}:rate=30"),
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-keyint_min",
            "30",
            "-sc_threshold",
            "0",
            "-b:v",
            "600k",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(crate::ingest::cmaf_output_args(200_000))
        .collect();
        let out = tokio::process::Command::new(ffmpeg_bin())
            .args(&args)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut sp = Fmp4Splitter::new();
        let mut cutter = Cutter::new(
            CutterConfig {
                part_target: 0.2,
                segment_target: 1.0,
            },
            40,
        );
        let mut init = Bytes::new();
        let mut segs = Vec::new();
        let mut parts: Vec<Bytes> = Vec::new();
        let mut evs = Vec::new();
        for (k, b) in split_boxes(&out.stdout).unwrap() {
            match sp.push_box(k, b).unwrap() {
                Some(Fmp4Item::Init(i)) => init = i.bytes,
                Some(Fmp4Item::Fragment(f)) => evs.extend(cutter.push(&f)),
                None => {}
            }
        }
        evs.extend(cutter.finish());
        let t0 = now_ms();
        for ev in evs {
            match ev {
                CutEvent::Part(p) => parts.push(p.bytes),
                CutEvent::SegmentEnd { msn, duration, .. } => {
                    let all: Vec<u8> = parts.iter().flat_map(|p| p.to_vec()).collect();
                    let manifest = SegmentManifest {
                        rendition: "source".into(),
                        msn,
                        init: sha256_hex(&init),
                        segment: sha256_hex(&all),
                        segment_size: all.len() as u64,
                        parts: parts
                            .iter()
                            .map(|p| ManifestPart {
                                hash: sha256_hex(p),
                                duration: 0.0,
                                independent: false,
                                size: p.len() as u64,
                            })
                            .collect(),
                        duration,
                        capture_ms: t0 + (msn as i64 - 40) * 1000,
                        source: None,
                    };
                    let mut manifest = manifest;
                    // Durations of parts: spread evenly is wrong; recompute from the splitter.
                    let n = manifest.parts.len() as f64;
                    for p in manifest.parts.iter_mut() {
                        p.duration = duration / n;
                    }
                    segs.push(SourceSegment {
                        manifest,
                        init: init.clone(),
                        parts: std::mem::take(&mut parts),
                    });
                }
            }
        }
        segs
    }

    /// Decoded video frames of `bytes` (ffprobe -count_frames), 0 if anything went wrong.
    async fn ffprobe_frames(bytes: &[u8]) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.mp4");
        std::fs::write(&p, bytes).unwrap();
        let out = tokio::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(&p)
            .output()
            .await
            .unwrap();
        let n: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        if out.status.success() && out.stderr.is_empty() {
            n
        } else {
            0
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_ffmpeg_makes_an_aligned_signed_ladder() {
        let src = source_segments(4.0, 640, 360).await;
        assert_eq!(src.len(), 4);
        for s in &src {
            s.verify().unwrap();
        }
        // A part whose bytes do not match the manifest is refused.
        let mut bad = src[1].clone();
        let mut b = bad.parts[0].to_vec();
        let last = b.len() - 1;
        b[last] ^= 1;
        bad.parts[0] = Bytes::from(b);
        assert!(matches!(bad.verify(), Err(MediaError::Manifest(_))));
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), 256 << 20).unwrap();
        let origin = Origin::new(
            store.clone(),
            PlaylistConfig {
                part_target: 0.2,
                segment_target: 1.0,
                window: 20,
            },
        );
        let keys = Keys::generate();
        let creator = Keys::generate();
        let stream = StreamAddress::new(creator.public_key(), "ladder-test");
        let cfg = LadderConfig {
            rungs: vec![
                Rung::new("240p", 426, 240, 300_000),
                Rung::new("180p", 320, 180, 150_000),
                Rung::new("720p", 1280, 720, 2_000_000),
            ],
            cutter: CutterConfig {
                part_target: 0.2,
                segment_target: 1.0,
            },
            preset: "ultrafast".into(),
            signer: Some(ManifestSigner {
                keys: keys.clone(),
                stream: stream.clone(),
                role: Role::Transcoder,
            }),
            ..LadderConfig::default()
        };
        let ladder = Ladder::spawn(cfg, origin.clone());
        let mut rx = ladder.subscribe();
        for s in &src {
            ladder.push(s.clone()).await.unwrap();
        }
        let mut rungs_rx = ladder.rungs.clone();
        let rungs = rungs_rx.wait_for(|r| !r.is_empty()).await.unwrap().clone();
        assert_eq!(
            rungs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            vec!["240p", "180p"],
            "720p is larger than the source and dropped"
        );
        tokio::time::timeout(Duration::from_secs(60), ladder.finish())
            .await
            .expect("ladder finishes")
            .unwrap();
        let mut manifests: BTreeMap<String, Vec<SegmentManifest>> = BTreeMap::new();
        let mut signed = 0;
        // (rendition, msn) -> the longest signed part list of that rung segment.
        let mut part_lists: BTreeMap<(String, u64), crate::manifest::PartManifest> =
            BTreeMap::new();
        while let Ok(ev) = rx.try_recv() {
            match ev {
                LiveEvent::PartManifestSigned(ev) => {
                    let (pm, st, role) = crate::manifest::PartManifest::from_event(&ev).unwrap();
                    assert_eq!((st, role), (stream.clone(), Role::Transcoder));
                    assert_eq!(ev.pubkey, keys.public_key());
                    let key = (pm.rendition.clone(), pm.msn);
                    let known = part_lists.get(&key).map_or(0, |p| p.parts.len());
                    assert_eq!(pm.parts.len(), known + 1, "one more part per list");
                    part_lists.insert(key, pm);
                }
                LiveEvent::Segment(m) => {
                    // The rung segment's last part list names exactly its parts.
                    let pm = &part_lists[&(m.rendition.clone(), m.msn)];
                    assert_eq!((&pm.parts, &pm.init), (&m.parts, &m.init));
                    manifests.entry(m.rendition.clone()).or_default().push(m)
                }
                LiveEvent::ManifestSigned(ev) => {
                    let (m, st, role) = SegmentManifest::from_event(&ev).unwrap();
                    assert_eq!(st, stream);
                    assert_eq!(role, Role::Transcoder);
                    assert_eq!(ev.pubkey, keys.public_key());
                    assert!(m.source.is_some());
                    signed += 1;
                }
                _ => {}
            }
        }
        assert_eq!(signed, 8, "4 segments x 2 rungs signed");
        for r in ["240p", "180p"] {
            let ms = &manifests[r];
            assert_eq!(ms.len(), src.len(), "{r}: one segment per source segment");
            for (m, s) in ms.iter().zip(&src) {
                assert_eq!(m.msn, s.manifest.msn, "{r}: same MSN as the source");
                assert!(
                    (m.duration - s.manifest.duration).abs() < 1.0 / 30.0 + 0.001,
                    "{r} msn {}: {} s vs source {} s",
                    m.msn,
                    m.duration,
                    s.manifest.duration
                );
                assert_eq!(m.source.as_deref(), Some(s.manifest.segment.as_str()));
                assert!(m.parts[0].independent);
                let seg = m.verify_bytes(|h| store.get(h).ok().flatten()).unwrap();
                // Every part decodes (after the parts it depends on): frames grow with each.
                let mut b = store.get(&m.init).unwrap().unwrap().to_vec();
                let mut frames = 0;
                for p in &m.parts {
                    b.extend_from_slice(&store.get(&p.hash).unwrap().unwrap());
                    let n = ffprobe_frames(&b).await;
                    assert!(n > frames, "{r} part {} decodes ({n} frames)", p.hash);
                    frames = n;
                }
                assert_eq!(
                    b.len() - store.get(&m.init).unwrap().unwrap().len(),
                    seg.len()
                );
            }
            let pl = origin.playlist(r).unwrap();
            assert!(pl.is_ended());
            assert_eq!(pl.segments().len(), src.len());
        }
        // The source is mirrored as-is: same hashes as the streamer's.
        let pl = origin.playlist("source").unwrap();
        assert_eq!(pl.segments().len(), src.len());
        assert!(origin.store().contains(&src[0].manifest.segment));
        assert!((ladder_seconds(&manifests["240p"]) - 4.0).abs() < 0.1);
    }

    /// Fed part by part, a rung segment is cut and signed as soon as the next source segment's
    /// first part arrives (no source segment manifest needed), naming the source segment it came
    /// from; a part out of order is skipped with the rest of its segment.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_fed_one_by_one_close_rung_segments_at_the_next_keyframe() {
        let src = source_segments(3.0, 320, 240).await;
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), 256 << 20).unwrap();
        let origin = Origin::new(store, PlaylistConfig::default());
        let keys = Keys::generate();
        let cfg = LadderConfig {
            rungs: vec![Rung::new("120p", 160, 120, 100_000)],
            preset: "ultrafast".into(),
            cutter: CutterConfig {
                part_target: 0.2,
                segment_target: 1.0,
            },
            signer: Some(ManifestSigner {
                keys: keys.clone(),
                stream: StreamAddress::new(keys.public_key(), "parts"),
                role: Role::Transcoder,
            }),
            ..LadderConfig::default()
        };
        let ladder = Ladder::spawn(cfg, origin.clone());
        let mut rx = ladder.subscribe();
        for p in src[0].source_parts() {
            ladder.push_part(p).await.unwrap();
        }
        // Segment 1 part by part, until rung segment 0 is cut (the encoder holds a few frames).
        let next = src[1].source_parts();
        let mut fed = 0;
        let m = loop {
            if fed < next.len() - 2 {
                ladder.push_part(next[fed].clone()).await.unwrap();
                fed += 1;
            }
            match tokio::time::timeout(Duration::from_secs(5), async {
                loop {
                    match rx.recv().await {
                        Ok(LiveEvent::Segment(m)) if m.rendition == "120p" => return Some(m),
                        Ok(_) => {}
                        Err(_) => return None,
                    }
                }
            })
            .await
            {
                Ok(Some(m)) => break m,
                Ok(None) => panic!("ladder events ended"),
                Err(_) => assert!(fed < next.len() - 2, "no rung segment cut"),
            }
        };
        assert!(
            fed < next.len() - 1,
            "rung segment 0 cut while source segment 1 is open ({fed} of {} parts fed)",
            next.len()
        );
        println!(
            "LADDER rung segment 0 cut after {fed} of {} parts of source segment 1",
            next.len()
        );
        assert_eq!(m.msn, src[0].manifest.msn);
        assert_eq!(m.source.as_deref(), Some(src[0].manifest.segment.as_str()));
        // The mirrored source segment 0 is closed with the creator's segment hash.
        assert!(origin.store().contains(&src[0].manifest.segment));
        // A part ahead of its turn: skipped with the rest of segment 1.
        ladder.push_part(next[fed + 1].clone()).await.unwrap();
        ladder.push_part(next[fed].clone()).await.unwrap();
        for p in src[2].source_parts() {
            ladder.push_part(p).await.unwrap();
        }
        tokio::time::timeout(Duration::from_secs(60), ladder.finish())
            .await
            .unwrap()
            .unwrap();
        let pl = origin.playlist("source").unwrap();
        let parts: Vec<usize> = pl.segments().iter().map(|s| s.parts.len()).collect();
        assert_eq!(
            parts,
            vec![src[0].parts.len(), fed, src[2].parts.len()],
            "segment 1 stopped at its gap"
        );
        let rung = origin.playlist("120p").unwrap();
        assert!(rung.is_ended() && rung.segments().len() >= 2);
    }

    fn ladder_seconds(ms: &[SegmentManifest]) -> f64 {
        ms.iter().map(|m| m.duration).sum()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_killed_ffmpeg_is_restarted() {
        let src = source_segments(3.0, 320, 240).await;
        let dir = tempfile::tempdir().unwrap();
        let store = ChunkStore::open(dir.path(), 256 << 20).unwrap();
        let origin = Origin::new(store, PlaylistConfig::default());
        let cfg = LadderConfig {
            rungs: vec![Rung::new("120p", 160, 120, 100_000)],
            preset: "ultrafast".into(),
            mirror_source: false,
            cutter: CutterConfig {
                part_target: 0.2,
                segment_target: 1.0,
            },
            ..LadderConfig::default()
        };
        let ladder = Ladder::spawn(cfg, origin.clone());
        let mut rx = ladder.subscribe();
        ladder.push(src[0].clone()).await.unwrap();
        // Kill the running ffmpeg once it made output.
        let pid = loop {
            match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
                Ok(Ok(LiveEvent::Init { .. })) => break find_ladder_pid(),
                Ok(Ok(_)) => {}
                other => panic!("no init: {other:?}"),
            }
        };
        let pid = pid.expect("ladder ffmpeg pid");
        // SAFETY: a plain kill(2) of our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        tokio::time::sleep(Duration::from_millis(200)).await;
        for s in &src[1..] {
            ladder.push(s.clone()).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while ladder.restarts() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no restart seen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::timeout(Duration::from_secs(60), ladder.finish())
            .await
            .unwrap()
            .unwrap();
        let pl = origin.playlist("120p").unwrap();
        assert!(!pl.segments().is_empty());
        assert!(pl.segments().iter().any(|s| s.discontinuity) || pl.segments().len() >= 2);
    }

    /// The newest ffmpeg child of this process making the 160x120 rung (only this test does).
    fn find_ladder_pid() -> Option<i32> {
        let me = std::process::id().to_string();
        let mut best = None;
        for e in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1));
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if ppid == Some(me.as_str()) && String::from_utf8_lossy(&cmd).contains("scale=160:120")
            {
                best = best.max(Some(pid));
            }
        }
        best
    }
}

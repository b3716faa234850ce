//! The transcoding verifier (issue #8 item 3): Livepeer-style spot checks without a chain.
//!
//! A verifier follows a stream's signed segment manifests on Nostr: the creator's `source`
//! rendition and the renditions transcoders sign (each naming the source segment it was made
//! from). For a random sample of rendition segments it fetches the source and the rendition
//! bytes (hash-checked against the manifests), re-transcodes the source segment with the rung's
//! advertised parameters and compares the two with ffmpeg's SSIM and PSNR ([`compare`]). A
//! rendition of the wrong size, one that does not decode or one scoring under the thresholds
//! fails: the verifier signs a report ([`report`], kind 1984 with a tollcast reason tag naming
//! the transcoder, the hashes and the scores) and publishes it; the streamer, trusting this
//! verifier, moves the job to another transcoder (`streamer::transcode`).

pub mod compare;
pub mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::{Mutex, broadcast};
use tollcast_events::StreamAddress;
use tollcast_events::manifest::KIND_SEGMENT_MANIFEST;
use tollcast_events::nostr::prelude::{Event, EventId, Filter, Keys, Kind, PublicKey, Timestamp};
use tollcast_media::manifest::SegmentManifest;
use tollcast_net::nostr_relay::client::{RelayClient, SubItem};

use crate::relay::upstream::Upstream;
use compare::{Scores, Target};
use report::{Failure, TranscodeReport};

/// Verifier failures (not verdicts: a failed check is a [`Verdict`]).
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum VerifyError {
    #[error("{0}")]
    Config(String),
    /// ffmpeg/ffprobe missing or scratch files failing.
    #[error("{0}")]
    Tool(String),
    /// The rendition does not decode (a verdict for the caller, see [`check`]).
    #[error("does not decode: {0}")]
    Undecodable(String),
    /// The creator's source segment does not decode: no judgement possible.
    #[error("the source segment does not decode: {0}")]
    BadSource(String),
    #[error("fetching {0}")]
    Fetch(String),
    #[error("report: {0}")]
    Report(String),
}

/// `[verifier]` settings (also a node TOML section). Thresholds are calibrated on x264:
/// an honest 720p->360p rung scores SSIM ≈ 0.99 / PSNR ≈ 44 dB against the reference, a heavy
/// blur ≈ 0.84 / 25 dB, different content ≈ 0.5 / 8 dB.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierConfig {
    /// Lowest passing SSIM (default 0.92).
    pub ssim_min: f64,
    /// Lowest passing PSNR in dB (default 30).
    pub psnr_min: f64,
    /// Share of rendition segments checked, 0..=1 (default 0.2: one in five at random).
    pub sample_rate: f64,
    /// Scratch directory for the segment files (default: the system temp dir).
    pub work_dir: Option<PathBuf>,
    /// The rungs transcoders were asked for, `name:WIDTHxHEIGHT:kbps`.
    pub ladder: Vec<String>,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        Self {
            ssim_min: 0.92,
            psnr_min: 30.0,
            sample_rate: 0.2,
            work_dir: None,
            ladder: vec![
                "720p:1280x720:2500".into(),
                "480p:854x480:1200".into(),
                "360p:640x360:700".into(),
            ],
        }
    }
}

/// Parse `name:WIDTHxHEIGHT:kbps`.
pub fn parse_rung(s: &str) -> Result<Target, VerifyError> {
    let bad = || {
        VerifyError::Config(format!(
            "rung `{s}` must be name:WIDTHxHEIGHT:kbps, e.g. 360p:640x360:700"
        ))
    };
    let mut it = s.split(':');
    let (Some(name), Some(size), Some(kbps), None) = (it.next(), it.next(), it.next(), it.next())
    else {
        return Err(bad());
    };
    let (w, h) = size.split_once('x').ok_or_else(bad)?;
    let (width, height): (u32, u32) =
        (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    let kbps: u64 = kbps.parse().map_err(|_| bad())?;
    if name.is_empty() || name.contains('/') || width < 16 || height < 16 || kbps == 0 {
        return Err(bad());
    }
    Ok(Target {
        name: name.to_string(),
        width,
        height,
        video_bps: kbps * 1000,
    })
}

impl VerifierConfig {
    pub fn validate(&self) -> Result<(), VerifyError> {
        if !(0.0..=1.0).contains(&self.ssim_min) {
            return Err(VerifyError::Config(
                "ssim_min must be between 0 and 1".into(),
            ));
        }
        if !(0.0..=100.0).contains(&self.psnr_min) {
            return Err(VerifyError::Config(
                "psnr_min must be between 0 and 100 dB".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(VerifyError::Config(
                "sample_rate must be between 0 and 1".into(),
            ));
        }
        self.targets().map(|_| ())
    }

    /// The ladder as targets by rendition name.
    pub fn targets(&self) -> Result<HashMap<String, Target>, VerifyError> {
        self.ladder
            .iter()
            .map(|s| parse_rung(s).map(|t| (t.name.clone(), t)))
            .collect()
    }
}

/// One rendition segment to judge, with the bytes already hash-checked.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub stream: StreamAddress,
    pub transcoder: PublicKey,
    /// The transcoder's signed manifest event.
    pub manifest_event: Option<EventId>,
    pub rendition: SegmentManifest,
    pub target: Target,
    /// init + segment of the source (what the creator signed).
    pub source_file: Bytes,
    pub source_segment: String,
    /// init + segment of the rendition (what the transcoder signed).
    pub rendition_file: Bytes,
}

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub passed: bool,
    pub failure: Option<Failure>,
    pub scores: Option<Scores>,
    /// The signed report when it failed.
    pub report: Option<Event>,
}

/// Judge one rendition segment: measure, compare with the thresholds, sign a report on failure.
pub async fn check(
    cfg: &VerifierConfig,
    keys: &Keys,
    ev: &Evidence,
) -> Result<Verdict, VerifyError> {
    let base = cfg.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = base.join(format!(
        "tollcast-verify-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    tokio::fs::create_dir_all(&work)
        .await
        .map_err(|e| VerifyError::Tool(format!("scratch dir {}: {e}", work.display())))?;
    let measured = compare::measure(&ev.source_file, &ev.rendition_file, &ev.target, &work).await;
    let _ = tokio::fs::remove_dir_all(&work).await;
    let (failure, scores) = match measured {
        Ok(s) if (s.width, s.height) != (ev.target.width, ev.target.height) => {
            (Some(Failure::WrongResolution), Some(s))
        }
        Ok(s) if s.ssim < cfg.ssim_min || s.psnr < cfg.psnr_min => {
            (Some(Failure::LowQuality), Some(s))
        }
        Ok(s) => (None, Some(s)),
        Err(VerifyError::Undecodable(m)) => {
            tracing::info!("rendition {} does not decode: {m}", ev.rendition.segment);
            (Some(Failure::Undecodable), None)
        }
        Err(e) => return Err(e),
    };
    let Some(failure) = failure else {
        return Ok(Verdict {
            passed: true,
            failure: None,
            scores,
            report: None,
        });
    };
    let t = &ev.target;
    let content = match (&failure, &scores) {
        (Failure::WrongResolution, Some(s)) => format!(
            "transcoded segment {} of rendition {} is {}x{}, the job asked for {}x{}",
            ev.rendition.msn, t.name, s.width, s.height, t.width, t.height
        ),
        (_, Some(s)) => format!(
            "transcoded segment {} of rendition {} scores SSIM {:.4} / PSNR {:.2} dB against a \
             re-transcode of its source (thresholds {} / {} dB)",
            ev.rendition.msn, t.name, s.ssim, s.psnr, cfg.ssim_min, cfg.psnr_min
        ),
        _ => format!(
            "transcoded segment {} of rendition {} does not decode",
            ev.rendition.msn, t.name
        ),
    };
    let report = TranscodeReport {
        transcoder: ev.transcoder,
        stream: ev.stream.clone(),
        manifest: ev.manifest_event,
        failure,
        target: t.clone(),
        msn: ev.rendition.msn,
        source_segment: ev.source_segment.clone(),
        rendition_segment: ev.rendition.segment.clone(),
        rendition_init: ev.rendition.init.clone(),
        scores,
        ssim_min: cfg.ssim_min,
        psnr_min: cfg.psnr_min,
        content,
    }
    .sign(keys)?;
    Ok(Verdict {
        passed: false,
        failure: Some(failure),
        scores,
        report: Some(report),
    })
}

/// Fetch a manifest's init + parts from `from` (GET /<hash>.m4s / .mp4) and check every hash;
/// returns init ++ segment.
pub async fn fetch_verified(from: &Upstream, m: &SegmentManifest) -> Result<Bytes, VerifyError> {
    let mut got: HashMap<String, Bytes> = HashMap::new();
    let names = std::iter::once((m.init.clone(), "mp4"))
        .chain(m.parts.iter().map(|p| (p.hash.clone(), "m4s")));
    for (hash, ext) in names {
        let r = from
            .get(&format!("/{hash}.{ext}"))
            .await
            .map_err(|e| VerifyError::Fetch(e.to_string()))?;
        if !r.status.is_success() {
            return Err(VerifyError::Fetch(format!(
                "{}/{hash}.{ext}: HTTP {}",
                from.base_url(),
                r.status
            )));
        }
        got.insert(hash, r.body);
    }
    let segment = m
        .verify_bytes(|h| got.get(h).cloned())
        .map_err(|e| VerifyError::Fetch(format!("hash check: {e}")))?;
    let mut file = got.get(&m.init).cloned().unwrap_or_default().to_vec();
    file.extend_from_slice(&segment);
    Ok(Bytes::from(file))
}

/// Counters of a running verifier.
#[derive(Debug, Default)]
pub struct VerifierStats {
    pub seen: AtomicU64,
    pub checked: AtomicU64,
    pub passed: AtomicU64,
    pub failed: AtomicU64,
    pub errors: AtomicU64,
}

/// Where the verifier looks.
#[derive(Debug, Clone)]
pub struct Watch {
    pub stream: StreamAddress,
    /// Transcoders whose renditions are checked.
    pub transcoders: Vec<PublicKey>,
    /// Where source chunks are fetched (the origin or a relay).
    pub source_url: String,
    /// Where a transcoder's chunks are fetched, by transcoder key (default: `source_url`).
    pub rendition_urls: HashMap<PublicKey, String>,
}

/// A running verifier agent.
pub struct Verifier {
    pub stats: Arc<VerifierStats>,
    verdicts: broadcast::Sender<(PublicKey, Verdict)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Verifier {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Verifier {
    /// Follow `w` on `client`; sampled checks run one at a time; failed checks' reports are
    /// published on `client`.
    pub async fn start(
        cfg: VerifierConfig,
        keys: Keys,
        client: RelayClient,
        w: Watch,
    ) -> Result<Verifier, VerifyError> {
        cfg.validate()?;
        let targets = cfg.targets()?;
        let rate = cfg.sample_rate;
        let mut authors = w.transcoders.clone();
        authors.push(w.stream.pubkey);
        let since = Timestamp::from_secs(Timestamp::now().as_secs().saturating_sub(600));
        let mut sub = client
            .subscribe(vec![
                Filter::new()
                    .kind(Kind::from(KIND_SEGMENT_MANIFEST))
                    .authors(authors)
                    .since(since),
            ])
            .await
            .map_err(|e| VerifyError::Fetch(format!("manifest subscription: {e}")))?;
        let source = Upstream::new(&w.source_url, Duration::from_secs(15))
            .map_err(|e| VerifyError::Config(e.to_string()))?;
        let stats = Arc::new(VerifierStats::default());
        let (verdicts, _) = broadcast::channel(64);
        let (st, vt) = (stats.clone(), verdicts.clone());
        // Source manifests by segment hash; rendition manifests waiting for their source.
        let sources: Arc<Mutex<HashMap<String, SegmentManifest>>> = Default::default();
        let (queue_tx, mut queue_rx) = tokio::sync::mpsc::channel::<(Event, SegmentManifest)>(16);
        let worker = {
            let (st, vt, sources, client) =
                (st.clone(), vt.clone(), sources.clone(), client.clone());
            let w = w.clone();
            tokio::spawn(async move {
                while let Some((ev, m)) = queue_rx.recv().await {
                    let Some(target) = targets.get(&m.rendition).cloned() else {
                        continue;
                    };
                    let Some(src_hash) = m.source.clone() else {
                        continue;
                    };
                    // The source manifest may arrive a moment after the rendition's.
                    let mut src = None;
                    for _ in 0..50 {
                        if let Some(s) = sources.lock().await.get(&src_hash).cloned() {
                            src = Some(s);
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    let Some(src) = src else {
                        tracing::warn!("no source manifest for segment {src_hash}");
                        st.errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    let rend_from = w
                        .rendition_urls
                        .get(&ev.pubkey)
                        .cloned()
                        .unwrap_or_else(|| w.source_url.clone());
                    let r = async {
                        let rend_up = Upstream::new(&rend_from, Duration::from_secs(15))
                            .map_err(|e| VerifyError::Config(e.to_string()))?;
                        let source_file = fetch_verified(&source, &src).await?;
                        let rendition_file = fetch_verified(&rend_up, &m).await?;
                        let evidence = Evidence {
                            stream: w.stream.clone(),
                            transcoder: ev.pubkey,
                            manifest_event: Some(ev.id),
                            rendition: m.clone(),
                            target,
                            source_file,
                            source_segment: src.segment.clone(),
                            rendition_file,
                        };
                        check(&cfg, &keys, &evidence).await
                    }
                    .await;
                    match r {
                        Ok(v) => {
                            st.checked.fetch_add(1, Ordering::Relaxed);
                            if v.passed {
                                st.passed.fetch_add(1, Ordering::Relaxed);
                            } else {
                                st.failed.fetch_add(1, Ordering::Relaxed);
                                if let Some(rep) = &v.report {
                                    match client.publish(rep, Duration::from_secs(5)).await {
                                        Ok(a) if a.accepted => {}
                                        Ok(a) => tracing::warn!("report refused: {}", a.message),
                                        Err(e) => tracing::warn!("report not published: {e}"),
                                    }
                                }
                            }
                            let _ = vt.send((ev.pubkey, v));
                        }
                        Err(e) => {
                            tracing::warn!("check of {} failed to run: {e}", m.segment);
                            st.errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        };
        let task = tokio::spawn(async move {
            let _worker = AbortOnDrop(worker);
            while let Some(item) = sub.recv().await {
                let SubItem::Event(ev) = item else { continue };
                let Ok((m, stream, _role)) = SegmentManifest::from_event(&ev) else {
                    continue;
                };
                if stream != w.stream {
                    continue;
                }
                if ev.pubkey == w.stream.pubkey && m.source.is_none() {
                    sources.lock().await.insert(m.segment.clone(), m);
                    continue;
                }
                if !w.transcoders.contains(&ev.pubkey) || m.source.is_none() {
                    continue;
                }
                st.seen.fetch_add(1, Ordering::Relaxed);
                if rate >= 1.0 || rand::random::<f64>() < rate {
                    let _ = queue_tx.try_send((*ev, m));
                }
            }
        });
        Ok(Verifier {
            stats,
            verdicts,
            task,
        })
    }

    /// Verdicts as they happen (transcoder, verdict).
    pub fn subscribe(&self) -> broadcast::Receiver<(PublicKey, Verdict)> {
        self.verdicts.subscribe()
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

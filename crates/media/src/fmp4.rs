//! Fragmented-MP4 splitting: turns the byte stream ffmpeg writes to a pipe (ftyp, moov, then
//! moof+mdat pairs) into an init segment and self-contained fragments, with the timing facts the
//! cutter needs (decode time, duration, keyframe) read from the boxes by `mp4-atom`.
//!
//! The splitter is sans-io ([`Fmp4Splitter::push_box`]); [`read_top_box`] reads one top-level box
//! from any async reader with a size bound, so hostile input cannot make us buffer without limit.

use bytes::{Bytes, BytesMut};
use mp4_atom::{Codec, Decode, Moof, Moov};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::{MediaError, Result};

/// Largest top-level box accepted from an encoder (a 1080p keyframe fragment is ~1 MB).
pub const MAX_BOX_SIZE: u64 = 64 * 1024 * 1024;

/// What a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video,
    Audio,
    Other,
}

/// One track of the init segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    pub track_id: u32,
    pub kind: TrackKind,
    pub timescale: u32,
    /// RFC 6381 codec string, e.g. `avc1.4d401e` or `mp4a.40.2`.
    pub codec: String,
    pub width: u16,
    pub height: u16,
    /// trex defaults, used when a tfhd/trun leaves a field out.
    pub default_duration: u32,
    pub default_flags: u32,
}

/// The init segment (ftyp + moov) of one rendition.
#[derive(Debug, Clone)]
pub struct InitSegment {
    pub bytes: Bytes,
    pub tracks: Vec<TrackInfo>,
}

impl InitSegment {
    /// The track that drives timing (video if present, else the first).
    pub fn timing_track(&self) -> Option<&TrackInfo> {
        self.tracks
            .iter()
            .find(|t| t.kind == TrackKind::Video)
            .or_else(|| self.tracks.first())
    }

    /// The `CODECS` attribute value for a multivariant playlist.
    pub fn codecs(&self) -> String {
        self.tracks
            .iter()
            .filter(|t| t.kind != TrackKind::Other)
            .map(|t| t.codec.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// (width, height) of the video track, if any.
    pub fn resolution(&self) -> Option<(u16, u16)> {
        self.tracks
            .iter()
            .find(|t| t.kind == TrackKind::Video)
            .map(|t| (t.width, t.height))
    }
}

/// A self-contained media fragment (optional styp/prft/sidx prefix + moof + mdat).
#[derive(Debug, Clone)]
pub struct Fragment {
    pub bytes: Bytes,
    /// Decode time of the timing track's first sample, in seconds.
    pub start: f64,
    /// Duration of the timing track's samples, in seconds.
    pub duration: f64,
    /// The timing track's first sample is a sync sample (keyframe): a segment may start here.
    pub keyframe: bool,
}

/// One item out of the splitter.
#[derive(Debug, Clone)]
pub enum Fmp4Item {
    Init(InitSegment),
    Fragment(Fragment),
}

/// Sans-io splitter: feed it top-level boxes in order, get init segments and fragments out.
#[derive(Debug, Default)]
pub struct Fmp4Splitter {
    ftyp: Option<Bytes>,
    init: Option<InitSegment>,
    prefix: BytesMut,
    moof: Option<(Bytes, Moof)>,
}

const SAMPLE_IS_NON_SYNC: u32 = 0x0001_0000;

impl Fmp4Splitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current init segment, once the moov has been seen.
    pub fn init(&self) -> Option<&InitSegment> {
        self.init.as_ref()
    }

    /// Feed one complete top-level box (header included).
    pub fn push_box(&mut self, kind: [u8; 4], bytes: Bytes) -> Result<Option<Fmp4Item>> {
        match &kind {
            b"ftyp" => {
                self.ftyp = Some(bytes);
                Ok(None)
            }
            b"moov" => {
                let moov = Moov::decode(&mut bytes.as_ref())
                    .map_err(|e| MediaError::Fmp4(format!("moov: {e}")))?;
                let tracks = tracks_of(&moov);
                if tracks.is_empty() {
                    return Err(MediaError::Fmp4("moov has no tracks".into()));
                }
                let mut init = BytesMut::new();
                if let Some(f) = &self.ftyp {
                    init.extend_from_slice(f);
                }
                init.extend_from_slice(&bytes);
                let seg = InitSegment {
                    bytes: init.freeze(),
                    tracks,
                };
                self.init = Some(seg.clone());
                self.prefix.clear();
                self.moof = None;
                Ok(Some(Fmp4Item::Init(seg)))
            }
            b"moof" => {
                if self.init.is_none() {
                    return Err(MediaError::FragmentBeforeInit);
                }
                let moof = Moof::decode(&mut bytes.as_ref())
                    .map_err(|e| MediaError::Fmp4(format!("moof: {e}")))?;
                self.moof = Some((bytes, moof));
                Ok(None)
            }
            b"mdat" => {
                let Some((moof_bytes, moof)) = self.moof.take() else {
                    return Err(MediaError::Fmp4("mdat without a preceding moof".into()));
                };
                let init = self.init.as_ref().ok_or(MediaError::FragmentBeforeInit)?;
                let (start, duration, keyframe) = timing(init, &moof)?;
                let mut out = std::mem::take(&mut self.prefix);
                out.extend_from_slice(&moof_bytes);
                out.extend_from_slice(&bytes);
                Ok(Some(Fmp4Item::Fragment(Fragment {
                    bytes: out.freeze(),
                    start,
                    duration,
                    keyframe,
                })))
            }
            // Boxes that belong in front of the next moof travel with it.
            b"styp" | b"prft" | b"sidx" | b"emsg" => {
                if self.prefix.len() as u64 + bytes.len() as u64 > MAX_BOX_SIZE {
                    return Err(MediaError::Fmp4("too many boxes before a moof".into()));
                }
                self.prefix.extend_from_slice(&bytes);
                Ok(None)
            }
            // mfra (end of stream index), free, skip, udta at top level: not needed for live.
            _ => Ok(None),
        }
    }
}

fn tracks_of(moov: &Moov) -> Vec<TrackInfo> {
    moov.trak
        .iter()
        .map(|trak| {
            let track_id = trak.tkhd.track_id;
            let handler = trak.mdia.hdlr.handler;
            let codec_entry = trak.mdia.minf.stbl.stsd.codecs.first();
            let (codec, width, height) = match codec_entry {
                Some(Codec::Avc1(avc1)) => (
                    format!(
                        "avc1.{:02x}{:02x}{:02x}",
                        avc1.avcc.avc_profile_indication,
                        avc1.avcc.profile_compatibility,
                        avc1.avcc.avc_level_indication
                    ),
                    avc1.visual.width,
                    avc1.visual.height,
                ),
                Some(Codec::Mp4a(mp4a)) => {
                    let ot = mp4a
                        .esds
                        .es_desc
                        .dec_config
                        .dec_specific
                        .as_ref()
                        .map(|d| d.profile)
                        .filter(|p| *p != 0)
                        .unwrap_or(2);
                    (format!("mp4a.40.{ot}"), 0, 0)
                }
                Some(other) => (format!("{:?}", std::mem::discriminant(other)), 0, 0),
                None => (String::new(), 0, 0),
            };
            let kind = if handler == mp4_atom::FourCC::new(b"vide") {
                TrackKind::Video
            } else if handler == mp4_atom::FourCC::new(b"soun") {
                TrackKind::Audio
            } else {
                TrackKind::Other
            };
            let trex = moov
                .mvex
                .as_ref()
                .and_then(|m| m.trex.iter().find(|t| t.track_id == track_id));
            TrackInfo {
                track_id,
                kind,
                timescale: trak.mdia.mdhd.timescale,
                codec,
                width,
                height,
                default_duration: trex.map(|t| t.default_sample_duration).unwrap_or(0),
                default_flags: trex.map(|t| t.default_sample_flags).unwrap_or(0),
            }
        })
        .collect()
}

/// (start seconds, duration seconds, first sample is sync) of the timing track in a moof.
fn timing(init: &InitSegment, moof: &Moof) -> Result<(f64, f64, bool)> {
    let track = init
        .timing_track()
        .ok_or_else(|| MediaError::Fmp4("init has no tracks".into()))?;
    let Some(traf) = moof.traf.iter().find(|t| t.tfhd.track_id == track.track_id) else {
        // A fragment without the timing track (e.g. audio-only moof): no duration, no keyframe.
        return Ok((0.0, 0.0, false));
    };
    if track.timescale == 0 {
        return Err(MediaError::Fmp4("track timescale is 0".into()));
    }
    let ts = track.timescale as f64;
    let base = traf
        .tfdt
        .as_ref()
        .map(|t| t.base_media_decode_time)
        .unwrap_or(0);
    let default_duration = traf
        .tfhd
        .default_sample_duration
        .unwrap_or(track.default_duration);
    let default_flags = traf
        .tfhd
        .default_sample_flags
        .unwrap_or(track.default_flags);
    let mut total: u64 = 0;
    let mut first_flags = None;
    for trun in &traf.trun {
        for entry in trun.samples.iter() {
            if first_flags.is_none() {
                first_flags = Some(entry.flags.unwrap_or(default_flags));
            }
            total = total.saturating_add(entry.duration.unwrap_or(default_duration) as u64);
        }
    }
    let keyframe = match track.kind {
        TrackKind::Video => first_flags.is_some_and(|f| f & SAMPLE_IS_NON_SYNC == 0),
        _ => first_flags.is_some(),
    };
    Ok((base as f64 / ts, total as f64 / ts, keyframe))
}

/// Read one top-level box from `r`: `Ok(None)` at a clean end of stream.
pub async fn read_top_box<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<([u8; 4], Bytes)>> {
    let mut hdr = [0u8; 8];
    match r.read_exact(&mut hdr[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    r.read_exact(&mut hdr[1..]).await?;
    let size32 = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as u64;
    let kind = [hdr[4], hdr[5], hdr[6], hdr[7]];
    let kind_str = String::from_utf8_lossy(&kind).into_owned();
    let (size, header_len) = match size32 {
        0 => {
            return Err(MediaError::Fmp4(format!(
                "box `{kind_str}` extends to end of stream (size 0) on a live pipe"
            )));
        }
        1 => {
            let mut large = [0u8; 8];
            r.read_exact(&mut large).await?;
            (u64::from_be_bytes(large), 16u64)
        }
        s => (s, 8u64),
    };
    if size < header_len {
        return Err(MediaError::Fmp4(format!(
            "box `{kind_str}` has size {size} < header"
        )));
    }
    if size > MAX_BOX_SIZE {
        return Err(MediaError::BoxTooLarge {
            kind: kind_str,
            size,
            limit: MAX_BOX_SIZE,
        });
    }
    // Grow with the data actually received: a lying size field costs nothing up front.
    let mut buf = Vec::with_capacity((size as usize).min(1 << 20));
    buf.extend_from_slice(&hdr);
    if header_len == 16 {
        buf.extend_from_slice(&size.to_be_bytes());
    }
    let body = size - header_len;
    let got = (&mut *r).take(body).read_to_end(&mut buf).await? as u64;
    if got != body {
        return Err(MediaError::Fmp4(format!(
            "stream ended inside box `{kind_str}` ({got} of {body} bytes)"
        )));
    }
    Ok(Some((kind, Bytes::from(buf))))
}

//! Segment manifests: what a producer signs per segment (rendition, sequence, part hashes and
//! durations, capture time, source hash for transcoded renditions), so anyone can verify any byte
//! they receive. This module holds the data and the byte-level verification; the Nostr event kind
//! and its signing live in `tollcast_events` (wired in by [`crate::live`]). [`PartManifest`] is the
//! running list of an open segment's parts (ephemeral kind 21311), signed after every part.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{MediaError, Result};
use crate::store::sha256_hex;

/// One part listed in a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestPart {
    /// Hex SHA-256 of the part's bytes.
    pub hash: String,
    /// Seconds.
    pub duration: f64,
    /// Starts with a keyframe.
    pub independent: bool,
    /// Bytes.
    pub size: u64,
}

/// The facts a producer commits to for one segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentManifest {
    pub rendition: String,
    /// Media sequence number.
    pub msn: u64,
    /// Hex SHA-256 of the init segment the parts need.
    pub init: String,
    /// Hex SHA-256 of the whole segment (its parts concatenated).
    pub segment: String,
    /// Bytes of the whole segment.
    pub segment_size: u64,
    pub parts: Vec<ManifestPart>,
    /// Seconds.
    pub duration: f64,
    /// Wall-clock capture time of the first sample, ms since the Unix epoch.
    pub capture_ms: i64,
    /// For a transcoded rendition: hex SHA-256 of the source segment it was made from.
    pub source: Option<String>,
}

impl SegmentManifest {
    /// Check that `fetch(hash)` returns bytes matching every hash in the manifest, and that the
    /// parts concatenated are the segment. Returns the verified bytes of the segment.
    pub fn verify_bytes(&self, fetch: impl Fn(&str) -> Option<Bytes>) -> Result<Bytes> {
        let check = |hash: &str, what: &str| -> Result<Bytes> {
            let bytes = fetch(hash)
                .ok_or_else(|| MediaError::Manifest(format!("{what} {hash} not available")))?;
            let got = sha256_hex(&bytes);
            if got != hash {
                return Err(MediaError::Manifest(format!(
                    "{what} {hash} has bytes hashing to {got}"
                )));
            }
            Ok(bytes)
        };
        check(&self.init, "init")?;
        let mut whole = Vec::new();
        for p in &self.parts {
            whole.extend_from_slice(&check(&p.hash, "part")?);
        }
        if whole.len() as u64 != self.segment_size {
            return Err(MediaError::Manifest(format!(
                "parts hold {} bytes, manifest says {}",
                whole.len(),
                self.segment_size
            )));
        }
        let got = sha256_hex(&whole);
        if got != self.segment {
            return Err(MediaError::Manifest(format!(
                "parts concatenated hash to {got}, manifest says segment {}",
                self.segment
            )));
        }
        let sum: f64 = self.parts.iter().map(|p| p.duration).sum();
        if (sum - self.duration).abs() > 0.01 {
            return Err(MediaError::Manifest(format!(
                "part durations sum to {sum:.3}s, segment says {:.3}s",
                self.duration
            )));
        }
        Ok(Bytes::from(whole))
    }
}

// ---- Nostr event form (kind 31311, `tollcast_events::manifest`) ----

use tollcast_events::manifest::{PartInfo, SegmentManifest as EventManifest};
use tollcast_events::nostr::prelude::{Event, Keys};
use tollcast_events::{Role, Sha256, StreamAddress};

fn to_sha(hex_str: &str, what: &str) -> Result<Sha256> {
    hex_str
        .parse()
        .map_err(|_| MediaError::Manifest(format!("{what} `{hex_str}` is not a SHA-256 hex name")))
}

/// The event-crate form of `parts` (hashes checked).
fn part_infos(parts: &[ManifestPart]) -> Result<Vec<PartInfo>> {
    parts
        .iter()
        .map(|p| {
            Ok(PartInfo {
                hash: to_sha(&p.hash, "part")?,
                duration_us: secs_to_us(p.duration),
                size: p.size,
                independent: p.independent,
            })
        })
        .collect()
}

fn secs_to_us(s: f64) -> u64 {
    (s.max(0.0) * 1_000_000.0).round() as u64
}

impl SegmentManifest {
    /// The event-crate form of this manifest for `stream`, produced by `role`.
    pub fn to_event_manifest(&self, stream: &StreamAddress, role: Role) -> Result<EventManifest> {
        Ok(EventManifest {
            stream: stream.clone(),
            rendition: self.rendition.clone(),
            msn: self.msn,
            init: to_sha(&self.init, "init")?,
            parts: part_infos(&self.parts)?,
            segment: to_sha(&self.segment, "segment")?,
            segment_size: self.segment_size,
            duration_us: secs_to_us(self.duration),
            captured_ms: self.capture_ms.max(0) as u64,
            sources: self
                .source
                .iter()
                .map(|s| to_sha(s, "source"))
                .collect::<Result<_>>()?,
            role,
        })
    }

    /// Sign as a kind-31311 segment manifest event with the producer's `keys`.
    pub fn sign(&self, keys: &Keys, stream: &StreamAddress, role: Role) -> Result<Event> {
        self.to_event_manifest(stream, role)?
            .sign(keys, None)
            .map_err(|e| MediaError::Manifest(format!("cannot sign: {e}")))
    }

    /// Parse a kind-31311 event, verifying its id and signature; returns the manifest, the
    /// stream it belongs to and the producer's role. Check the bytes with [`Self::verify_bytes`].
    pub fn from_event(event: &Event) -> Result<(Self, StreamAddress, Role)> {
        let m =
            EventManifest::from_event(event).map_err(|e| MediaError::Manifest(e.to_string()))?;
        let manifest = SegmentManifest {
            rendition: m.rendition.clone(),
            msn: m.msn,
            init: m.init.to_string(),
            segment: m.segment.to_string(),
            segment_size: m.segment_size,
            parts: m
                .parts
                .iter()
                .map(|p| ManifestPart {
                    hash: p.hash.to_string(),
                    duration: p.duration_us as f64 / 1e6,
                    independent: p.independent,
                    size: p.size,
                })
                .collect(),
            duration: m.duration_us as f64 / 1e6,
            capture_ms: m.captured_ms.min(i64::MAX as u64) as i64,
            source: m.sources.first().map(|s| s.to_string()),
        };
        Ok((manifest, m.stream, m.role))
    }
}

// ---- Part manifest (kind 21311, `tollcast_events::part_manifest`) ----

use tollcast_events::part_manifest::PartManifest as EventPartManifest;

/// The parts of an open segment signed so far (cumulative: parts 0..=n of segment `msn`).
/// Signed after every part so relays and viewers can pass a part on before its segment closes;
/// the closed segment still gets its [`SegmentManifest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartManifest {
    pub rendition: String,
    /// Media sequence number of the open segment.
    pub msn: u64,
    /// Hex SHA-256 of the init segment the parts need.
    pub init: String,
    pub parts: Vec<ManifestPart>,
    /// Wall-clock capture time of the segment's first sample, ms since the Unix epoch.
    pub capture_ms: i64,
}

impl PartManifest {
    /// The event-crate form of this list for `stream`, produced by `role`.
    pub fn to_event_manifest(
        &self,
        stream: &StreamAddress,
        role: Role,
    ) -> Result<EventPartManifest> {
        Ok(EventPartManifest {
            stream: stream.clone(),
            rendition: self.rendition.clone(),
            msn: self.msn,
            init: to_sha(&self.init, "init")?,
            parts: part_infos(&self.parts)?,
            captured_ms: self.capture_ms.max(0) as u64,
            role,
        })
    }

    /// Sign as a kind-21311 part manifest event with the producer's `keys`.
    pub fn sign(&self, keys: &Keys, stream: &StreamAddress, role: Role) -> Result<Event> {
        self.to_event_manifest(stream, role)?
            .sign(keys, None)
            .map_err(|e| MediaError::Manifest(format!("cannot sign: {e}")))
    }

    /// Parse a kind-21311 event, verifying its id and signature; returns the list, the stream
    /// it belongs to and the producer's role.
    pub fn from_event(event: &Event) -> Result<(Self, StreamAddress, Role)> {
        let m = EventPartManifest::from_event(event)
            .map_err(|e| MediaError::Manifest(e.to_string()))?;
        let list = PartManifest {
            rendition: m.rendition.clone(),
            msn: m.msn,
            init: m.init.to_string(),
            parts: m
                .parts
                .iter()
                .map(|p| ManifestPart {
                    hash: p.hash.to_string(),
                    duration: p.duration_us as f64 / 1e6,
                    independent: p.independent,
                    size: p.size,
                })
                .collect(),
            capture_ms: m.captured_ms.min(i64::MAX as u64) as i64,
        };
        Ok((list, m.stream, m.role))
    }
}

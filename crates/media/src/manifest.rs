//! Segment manifests: what a producer signs per segment (rendition, sequence, part hashes and
//! durations, capture time, source hash for transcoded renditions), so anyone can verify any byte
//! they receive. This module holds the data and the byte-level verification; the Nostr event kind
//! and its signing live in `tollcast_events` (wired in by [`crate::live`]).

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

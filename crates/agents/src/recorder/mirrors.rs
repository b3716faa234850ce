//! Fetching a chunk by its hash from any of several HTTP sources (the origin, relays, other
//! recorders), tried in order: a source that lacks it (any non-200) or sends bytes that do not
//! hash to the name (or have the wrong size) is skipped and counted; the first verified copy
//! wins. Nothing unverified is ever returned.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tollcast_media::store::{is_valid_hash, sha256_hex};

use super::RecorderError;
use crate::relay::upstream::Upstream;

/// Counters of what the sources did.
#[derive(Debug, Default)]
pub struct MirrorStats {
    /// Verified chunks fetched.
    pub fetched: AtomicU64,
    /// Bytes of verified chunks fetched.
    pub bytes: AtomicU64,
    /// A source did not have the chunk (or was unreachable).
    pub misses: AtomicU64,
    /// A source sent bytes that do not match the name or size: refused.
    pub tampered: AtomicU64,
}

/// Sources in the order they are tried.
pub struct Mirrors {
    sources: Vec<Upstream>,
    stats: MirrorStats,
}

impl Mirrors {
    /// `urls`: base URLs (`http://host:port[/prefix]`) serving chunks as `/{sha256}.{ext}`.
    pub fn new(urls: &[String], timeout: Duration) -> Result<Self, RecorderError> {
        if urls.is_empty() {
            return Err(RecorderError::Config(
                "no mirror to fetch chunks from: give the origin or a relay URL".into(),
            ));
        }
        let sources = urls
            .iter()
            .map(|u| Upstream::new(u, timeout).map_err(|e| RecorderError::Config(e.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            sources,
            stats: MirrorStats::default(),
        })
    }

    pub fn stats(&self) -> &MirrorStats {
        &self.stats
    }

    /// Base URLs, in order.
    pub fn urls(&self) -> Vec<String> {
        self.sources.iter().map(Upstream::base_url).collect()
    }

    /// The bytes named `hash` (`ext` is only the file extension asked for), of `size` bytes if
    /// given, from the first source holding a verified copy.
    pub async fn fetch(
        &self,
        hash: &str,
        ext: &str,
        size: Option<u64>,
    ) -> Result<Bytes, RecorderError> {
        if !is_valid_hash(hash) {
            return Err(RecorderError::BadName(hash.to_string()));
        }
        let mut why = Vec::new();
        for src in &self.sources {
            let path = format!("/{hash}.{ext}");
            match src.get(&path).await {
                Ok(r) if r.status == axum::http::StatusCode::OK => {
                    let got = sha256_hex(&r.body);
                    if got != hash {
                        self.stats.tampered.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            "{} sent bytes hashing to {got} for {hash}: refused",
                            src.base_url()
                        );
                        why.push(format!("{}: bytes hash to {got}", src.base_url()));
                        continue;
                    }
                    if let Some(want) = size
                        && want != r.body.len() as u64
                    {
                        self.stats.tampered.fetch_add(1, Ordering::Relaxed);
                        why.push(format!(
                            "{}: {} bytes, manifest says {want}",
                            src.base_url(),
                            r.body.len()
                        ));
                        continue;
                    }
                    self.stats.fetched.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .bytes
                        .fetch_add(r.body.len() as u64, Ordering::Relaxed);
                    return Ok(r.body);
                }
                Ok(r) => {
                    self.stats.misses.fetch_add(1, Ordering::Relaxed);
                    why.push(format!("{}: HTTP {}", src.base_url(), r.status.as_u16()));
                }
                Err(e) => {
                    self.stats.misses.fetch_add(1, Ordering::Relaxed);
                    why.push(e.to_string());
                }
            }
        }
        Err(RecorderError::Unavailable {
            hash: hash.to_string(),
            tried: why.join("; "),
        })
    }
}

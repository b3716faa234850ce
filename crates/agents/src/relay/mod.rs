//! The relay agent (CDN edge): pulls a stream's chunks from its upstream (the origin or a
//! parent relay, so relays form a fan-out tree of any depth), verifies each one against the
//! signed segment manifests of the stream, caches it by hash (a size-bounded in-memory LRU,
//! [`hot::HotCache`], in front of the media crate's disk-backed [`ChunkStore`]) and serves viewers the same LL-HLS routes as the origin.
//!
//! The relay never parses video: chunks are hashed blobs, manifests say which blobs belong to
//! the stream. Playlists are passed through from upstream (blocking reloads included); every
//! chunk a playlist names is served only after (1) its bytes hash to its name and (2) a
//! manifest signed by a trusted producer lists that hash (and size). Concurrent requests for
//! the same chunk or playlist URL cause one upstream fetch ([`upstream::Coalescer`]).
//!
//! Modules: [`upstream`] (HTTP client, coalescing), [`manifests`] (trusted hashes),
//! [`billing`] (credit mode; [`billing_store`] keeps balances durable), [`http`] (the axum
//! routes, 402 gating), [`nostr`] (manifest subscription), [`offer`] (the kind-31312
//! advertisement), [`native`] (ILP-native delivery: chunk bytes inside the FULFILLs that pay
//! for them), [`splits`] (revenue shares forwarded over ILP in batches, durable books),
//! [`agent`] (the whole agent started from one config: `tollcast relay` and `node --role relay`).

pub mod agent;
pub mod billing;
pub mod billing_store;
pub mod hot;
pub mod http;
pub mod manifests;
pub mod moderation;
pub mod native;
pub mod nostr;
pub mod offer;
pub mod splits;
pub mod upstream;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tollcast_media::store::{ChunkStore, is_valid_hash, sha256_hex};

use billing::Billing;
use hot::HotCache;
use manifests::ManifestBook;
use upstream::{Coalescer, Upstream, UpstreamResponse};

/// Relay failures (clonable: coalesced callers share one result).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RelayError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("upstream: {0}")]
    Upstream(String),
    #[error("upstream answered {status} for {what}")]
    UpstreamStatus { status: u16, what: String },
    #[error("upstream sent bytes for {name} that hash to {got}: refused")]
    HashMismatch { name: String, got: String },
    #[error("chunk {hash} is {got} bytes, its manifest says {want}: refused")]
    SizeMismatch { hash: String, got: u64, want: u64 },
    #[error("no signed manifest lists chunk {0} (waited {1:?}): refused")]
    Unsigned(String, Duration),
    #[error("bad manifest: {0}")]
    Manifest(String),
    #[error("chunk names are 64 lowercase hex digits (SHA-256)")]
    BadName,
    #[error("cache: {0}")]
    Cache(String),
}

/// Settings of a relay.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Base URL of the upstream (`http://host:port`).
    pub upstream: String,
    /// Bound of one upstream request (more than the upstream's blocking-reload wait).
    pub upstream_timeout: Duration,
    /// How long a fetched chunk may wait for the manifest that signs it (a live part's part
    /// manifest comes with it; from a producer that signs no part manifests, only when its
    /// segment closes: give it at least one segment duration plus slack).
    pub manifest_wait: Duration,
    /// Viewer id this relay presents to a paid upstream relay (it pays that relay over STREAM
    /// with credentials tagged with this id).
    pub upstream_viewer: Option<String>,
    /// ILP-native only: chunks are not served over HTTP (402 with a pointer to ILP-native
    /// delivery); playlists still are. See [`native`].
    pub ilp_only_chunks: bool,
    /// Bound of the in-memory hot cache of verified chunks, in bytes (0: every hit reads the
    /// store). Live-edge parts are asked for by every viewer at once: served from here they
    /// cost no blocking-thread hop and no disk read.
    pub hot_cache_bytes: u64,
}

impl RelayConfig {
    pub fn new(upstream: impl Into<String>) -> Self {
        Self {
            upstream: upstream.into(),
            upstream_timeout: Duration::from_secs(15),
            manifest_wait: Duration::from_secs(8),
            upstream_viewer: None,
            ilp_only_chunks: false,
            hot_cache_bytes: hot::DEFAULT_HOT_CACHE_BYTES,
        }
    }
}

/// Counters (monotonic) for load reports and tests.
#[derive(Debug, Default)]
pub struct RelayMetrics {
    pub upstream_chunk_fetches: AtomicU64,
    pub upstream_playlist_fetches: AtomicU64,
    pub cache_hits: AtomicU64,
    /// Of `cache_hits`, those answered from the in-memory hot cache.
    pub hot_hits: AtomicU64,
    pub refused_chunks: AtomicU64,
    pub bytes_served: AtomicU64,
    pub payment_required: AtomicU64,
}

struct Inner {
    cfg: RelayConfig,
    upstream: Upstream,
    store: ChunkStore,
    hot: HotCache,
    book: Arc<ManifestBook>,
    billing: Option<Arc<Billing>>,
    chunks: Coalescer<Result<Bytes, RelayError>>,
    playlists: Coalescer<Result<Arc<UpstreamResponse>, RelayError>>,
    metrics: RelayMetrics,
}

/// A relay; cheap to clone.
#[derive(Clone)]
pub struct Relay {
    inner: Arc<Inner>,
}

impl Relay {
    /// A relay of the stream `book` trusts, caching in `store`; `billing` turns on credit mode
    /// (None: free relay).
    pub fn new(
        cfg: RelayConfig,
        store: ChunkStore,
        book: Arc<ManifestBook>,
        billing: Option<Arc<Billing>>,
    ) -> Result<Self, RelayError> {
        let mut upstream = Upstream::new(&cfg.upstream, cfg.upstream_timeout)?;
        if let Some(v) = &cfg.upstream_viewer {
            upstream = upstream.with_bearer(v.clone());
        }
        let hot = HotCache::new(cfg.hot_cache_bytes);
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                upstream,
                hot,
                store,
                book,
                billing,
                chunks: Coalescer::default(),
                playlists: Coalescer::default(),
                metrics: RelayMetrics::default(),
            }),
        })
    }

    pub fn config(&self) -> &RelayConfig {
        &self.inner.cfg
    }

    pub fn manifests(&self) -> &Arc<ManifestBook> {
        &self.inner.book
    }

    pub fn billing(&self) -> Option<&Arc<Billing>> {
        self.inner.billing.as_ref()
    }

    pub fn metrics(&self) -> &RelayMetrics {
        &self.inner.metrics
    }

    pub fn store(&self) -> &ChunkStore {
        &self.inner.store
    }

    /// The in-memory hot cache in front of [`Self::store`].
    pub fn hot_cache(&self) -> &HotCache {
        &self.inner.hot
    }

    /// The verified bytes of chunk `hash`: from the cache, or fetched once from upstream
    /// (whatever the number of concurrent callers), checked and cached.
    pub async fn chunk(&self, hash: &str) -> Result<Bytes, RelayError> {
        if !is_valid_hash(hash) {
            return Err(RelayError::BadName);
        }
        if let Some(b) = self.inner.hot.get(hash) {
            let m = &self.inner.metrics;
            m.cache_hits.fetch_add(1, Ordering::Relaxed);
            m.hot_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(b);
        }
        if let Some(b) = self.cached(hash).await? {
            self.inner
                .metrics
                .cache_hits
                .fetch_add(1, Ordering::Relaxed);
            return Ok(b);
        }
        self.inner
            .chunks
            .run(hash, || async {
                // Another caller may have finished between our cache check and now.
                if let Some(b) = self.cached(hash).await? {
                    return Ok(b);
                }
                self.inner
                    .metrics
                    .upstream_chunk_fetches
                    .fetch_add(1, Ordering::Relaxed);
                let path = format!("/{hash}");
                let (resp, signed) = tokio::join!(
                    self.inner.upstream.get(&path),
                    self.inner.book.wait_for(hash, self.inner.cfg.manifest_wait)
                );
                let resp = resp?;
                if resp.status != axum::http::StatusCode::OK {
                    return Err(RelayError::UpstreamStatus {
                        status: resp.status.as_u16(),
                        what: path,
                    });
                }
                self.admit(hash, resp.body, signed).await
            })
            .await
    }

    /// Check fetched `bytes` claimed to be `name` against their hash and the manifest entry
    /// (`signed`), then cache them.
    async fn admit(
        &self,
        name: &str,
        bytes: Bytes,
        signed: Option<Option<u64>>,
    ) -> Result<Bytes, RelayError> {
        let refuse = |e: RelayError| {
            self.inner
                .metrics
                .refused_chunks
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!("{e}");
            Err(e)
        };
        let got = sha256_hex(&bytes);
        if got != name {
            return refuse(RelayError::HashMismatch {
                name: name.to_string(),
                got,
            });
        }
        match signed {
            None => {
                return refuse(RelayError::Unsigned(
                    name.to_string(),
                    self.inner.cfg.manifest_wait,
                ));
            }
            Some(Some(want)) if want != bytes.len() as u64 => {
                return refuse(RelayError::SizeMismatch {
                    hash: name.to_string(),
                    got: bytes.len() as u64,
                    want,
                });
            }
            Some(_) => {}
        }
        let store = self.inner.store.clone();
        let b = bytes.clone();
        tokio::task::spawn_blocking(move || store.put(b))
            .await
            .map_err(|e| RelayError::Cache(e.to_string()))?
            .map_err(|e| RelayError::Cache(e.to_string()))?;
        self.inner.hot.insert(name, bytes.clone());
        Ok(bytes)
    }

    /// From the hot cache, else from the store (which only holds verified chunks; what it
    /// returns is promoted to the hot cache).
    async fn cached(&self, hash: &str) -> Result<Option<Bytes>, RelayError> {
        if let Some(b) = self.inner.hot.get(hash) {
            return Ok(Some(b));
        }
        let store = self.inner.store.clone();
        let h = hash.to_string();
        let got = tokio::task::spawn_blocking(move || store.get(&h))
            .await
            .map_err(|e| RelayError::Cache(e.to_string()))?
            .map_err(|e| RelayError::Cache(e.to_string()))?;
        if let Some(b) = &got {
            self.inner.hot.insert(hash, b.clone());
        }
        Ok(got)
    }

    /// The part at a preload-hint position (`/live/{rendition}/hint/{file}`): upstream resolves
    /// the position to bytes, we name them by their hash and verify them like any chunk.
    pub async fn hinted_part(&self, rendition: &str, file: &str) -> Result<Bytes, RelayError> {
        let path = format!("/live/{rendition}/hint/{file}");
        self.inner
            .chunks
            .run(&path, || async {
                let resp = self.inner.upstream.get(&path).await?;
                if resp.status != axum::http::StatusCode::OK {
                    return Err(RelayError::UpstreamStatus {
                        status: resp.status.as_u16(),
                        what: path.clone(),
                    });
                }
                let name = sha256_hex(&resp.body);
                if let Some(b) = self.cached(&name).await? {
                    return Ok(b);
                }
                let signed = self
                    .inner
                    .book
                    .wait_for(&name, self.inner.cfg.manifest_wait)
                    .await;
                self.admit(&name, resp.body, signed).await
            })
            .await
    }

    /// A playlist from upstream (`path_and_query` as the viewer asked, e.g.
    /// `/live/source/index.m3u8?_HLS_msn=12&_HLS_part=3`); identical concurrent requests share
    /// one upstream request.
    pub async fn playlist(
        &self,
        path_and_query: &str,
    ) -> Result<Arc<UpstreamResponse>, RelayError> {
        self.inner
            .playlists
            .run(path_and_query, || async {
                self.inner
                    .metrics
                    .upstream_playlist_fetches
                    .fetch_add(1, Ordering::Relaxed);
                self.inner.upstream.get(path_and_query).await.map(Arc::new)
            })
            .await
    }
}

//! The content-addressed chunk store: every init, part and segment is a file named by the
//! lowercase hex SHA-256 of its bytes (Blossom style), indexed in redb with its size and age, and
//! held under a byte bound by evicting the oldest chunks first. Survives restart and kill -9: the
//! index is committed after the file is renamed into place, reads re-check the hash, and files the
//! index does not know are removed on open.
//!
//! Knows nothing about video: relays can use it for opaque blobs.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use sha2::{Digest, Sha256};

use crate::error::{MediaError, Result};

/// hash -> (size, age sequence)
const CHUNKS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("chunks");
/// age sequence -> hash (oldest first)
const ORDER: TableDefinition<u64, &str> = TableDefinition::new("order");

/// Bytes of recently written/read chunks kept in memory so live parts are served without disk I/O.
const HOT_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a well-formed chunk name (64 lowercase hex digits).
pub fn is_valid_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A durable, bounded, content-addressed chunk store. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct ChunkStore {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    db: Database,
    bound: u64,
    state: Mutex<State>,
}

struct State {
    total: u64,
    count: u64,
    next_seq: u64,
    hot: HashMap<String, Bytes>,
    hot_order: VecDeque<String>,
    hot_bytes: usize,
}

impl ChunkStore {
    /// Open (or create) a store in `dir` holding at most `bound` bytes of chunks.
    pub fn open(dir: impl AsRef<Path>, bound: u64) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(dir.join("blobs"))?;
        let db = Database::create(dir.join("index.redb"))?;
        let (mut total, mut count, mut next_seq) = (0u64, 0u64, 0u64);
        let mut known = std::collections::HashSet::new();
        {
            let tx = db.begin_write()?;
            {
                let chunks = tx.open_table(CHUNKS)?;
                tx.open_table(ORDER)?;
                for row in chunks.iter()? {
                    let (k, v) = row?;
                    let (size, seq) = v.value();
                    total += size;
                    count += 1;
                    next_seq = next_seq.max(seq + 1);
                    known.insert(k.value().to_string());
                }
            }
            tx.commit()?;
        }
        // Files without an index row are leftovers of a crash between rename and commit (or
        // temp files): remove them so disk use matches the index.
        for entry in std::fs::read_dir(dir.join("blobs"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let store = Self {
            inner: Arc::new(Inner {
                dir,
                db,
                bound,
                state: Mutex::new(State {
                    total,
                    count,
                    next_seq,
                    hot: HashMap::new(),
                    hot_order: VecDeque::new(),
                    hot_bytes: 0,
                }),
            }),
        };
        store.evict_to_bound(0)?;
        Ok(store)
    }

    fn blob_path(&self, hash: &str) -> PathBuf {
        self.inner.dir.join("blobs").join(hash)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of counters; keep serving.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Total bytes of stored chunks.
    pub fn total_bytes(&self) -> u64 {
        self.state().total
    }

    /// Number of stored chunks.
    pub fn len(&self) -> u64 {
        self.state().count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured byte bound.
    pub fn bound(&self) -> u64 {
        self.inner.bound
    }

    /// Store `bytes` durably (the index is on disk when this returns), returning their hex
    /// SHA-256. Storing existing bytes again marks them newest.
    pub fn put(&self, bytes: Bytes) -> Result<String> {
        self.put_with(bytes, true)
    }

    /// Store `bytes`; with `durable = false` the index entry reaches disk with the next durable
    /// write (a kill -9 before it forgets the chunk, and the next open deletes its file). Live
    /// parts use this so no fsync sits between the encoder and the playlist; each segment's
    /// durable put then persists its parts too.
    pub fn put_with(&self, bytes: Bytes, durable: bool) -> Result<String> {
        let size = bytes.len() as u64;
        if size > self.inner.bound {
            return Err(MediaError::ChunkTooLarge {
                size,
                bound: self.inner.bound,
            });
        }
        let hash = sha256_hex(&bytes);
        if self.contains(&hash) && self.touch(&hash)? {
            self.hot_insert(&hash, bytes);
            return Ok(hash);
        }
        self.evict_to_bound(size)?;
        let path = self.blob_path(&hash);
        let tmp = self.inner.dir.join(format!("blobs/.tmp-{hash}"));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
        let seq = {
            let mut st = self.state();
            let s = st.next_seq;
            st.next_seq += 1;
            s
        };
        let mut tx = self.inner.db.begin_write()?;
        if !durable {
            tx.set_durability(redb::Durability::None)
                .map_err(|e| MediaError::Store(e.to_string()))?;
        }
        {
            let mut chunks = tx.open_table(CHUNKS)?;
            let mut order = tx.open_table(ORDER)?;
            chunks.insert(hash.as_str(), (size, seq))?;
            order.insert(seq, hash.as_str())?;
        }
        tx.commit()?;
        {
            let mut st = self.state();
            st.total += size;
            st.count += 1;
        }
        self.hot_insert(&hash, bytes);
        Ok(hash)
    }

    /// Mark a stored chunk as newest (so eviction spares it). Returns false if it is not stored.
    pub fn touch(&self, hash: &str) -> Result<bool> {
        if !is_valid_hash(hash) {
            return Err(MediaError::BadHash(hash.to_string()));
        }
        let seq = {
            let mut st = self.state();
            let s = st.next_seq;
            st.next_seq += 1;
            s
        };
        let mut tx = self.inner.db.begin_write()?;
        // Age order is advisory: it reaches disk with the next durable write.
        tx.set_durability(redb::Durability::None)
            .map_err(|e| MediaError::Store(e.to_string()))?;
        let found = {
            let mut chunks = tx.open_table(CHUNKS)?;
            let mut order = tx.open_table(ORDER)?;
            let old = chunks.get(hash)?.map(|v| v.value());
            match old {
                Some((size, old_seq)) => {
                    order.remove(old_seq)?;
                    order.insert(seq, hash)?;
                    chunks.insert(hash, (size, seq))?;
                    true
                }
                None => false,
            }
        };
        if found {
            tx.commit()?;
        } else {
            tx.abort()?;
        }
        Ok(found)
    }

    /// Whether a chunk is stored.
    pub fn contains(&self, hash: &str) -> bool {
        if !is_valid_hash(hash) {
            return false;
        }
        if self.state().hot.contains_key(hash) {
            return true;
        }
        self.inner
            .db
            .begin_read()
            .ok()
            .and_then(|tx| tx.open_table(CHUNKS).ok())
            .and_then(|t| t.get(hash).ok().flatten())
            .is_some()
    }

    /// The bytes of a chunk, verified against its name; `None` if absent (or found corrupt,
    /// in which case it is dropped).
    pub fn get(&self, hash: &str) -> Result<Option<Bytes>> {
        if !is_valid_hash(hash) {
            return Err(MediaError::BadHash(hash.to_string()));
        }
        if let Some(b) = self.state().hot.get(hash) {
            return Ok(Some(b.clone()));
        }
        if !self.contains(hash) {
            return Ok(None);
        }
        let bytes = match std::fs::read(self.blob_path(hash)) {
            Ok(b) => Bytes::from(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.remove(hash)?;
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        if sha256_hex(&bytes) != hash {
            tracing::warn!(%hash, "chunk on disk does not match its hash; dropping it");
            self.remove(hash)?;
            return Ok(None);
        }
        self.hot_insert(hash, bytes.clone());
        Ok(Some(bytes))
    }

    /// Remove a chunk (no-op if absent).
    pub fn remove(&self, hash: &str) -> Result<()> {
        if !is_valid_hash(hash) {
            return Err(MediaError::BadHash(hash.to_string()));
        }
        let tx = self.inner.db.begin_write()?;
        let removed = {
            let mut chunks = tx.open_table(CHUNKS)?;
            let mut order = tx.open_table(ORDER)?;
            let old = chunks.remove(hash)?.map(|v| v.value());
            if let Some((_, seq)) = old {
                order.remove(seq)?;
            }
            old
        };
        tx.commit()?;
        let _ = std::fs::remove_file(self.blob_path(hash));
        let mut st = self.state();
        if let Some((size, _)) = removed {
            st.total = st.total.saturating_sub(size);
            st.count = st.count.saturating_sub(1);
        }
        if let Some(b) = st.hot.remove(hash) {
            st.hot_bytes -= b.len();
            st.hot_order.retain(|h| h != hash);
        }
        Ok(())
    }

    /// Evict oldest chunks until `incoming` more bytes fit under the bound.
    fn evict_to_bound(&self, incoming: u64) -> Result<()> {
        loop {
            let total = self.state().total;
            if total + incoming <= self.inner.bound {
                return Ok(());
            }
            let oldest = {
                let tx = self.inner.db.begin_read()?;
                let order = tx.open_table(ORDER)?;
                let first = order.first()?;
                first.map(|(_, h)| h.value().to_string())
            };
            let Some(hash) = oldest else {
                return Ok(());
            };
            tracing::debug!(%hash, "evicting chunk to stay under the store bound");
            self.remove(&hash)?;
        }
    }

    fn hot_insert(&self, hash: &str, bytes: Bytes) {
        let mut st = self.state();
        if st.hot.contains_key(hash) || bytes.len() > HOT_CACHE_BYTES {
            return;
        }
        st.hot_bytes += bytes.len();
        st.hot.insert(hash.to_string(), bytes);
        st.hot_order.push_back(hash.to_string());
        while st.hot_bytes > HOT_CACHE_BYTES {
            let Some(old) = st.hot_order.pop_front() else {
                break;
            };
            if let Some(b) = st.hot.remove(&old) {
                st.hot_bytes -= b.len();
            }
        }
    }
}

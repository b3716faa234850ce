//! The relay's in-memory hot cache: the most recently used verified chunks, bounded by their
//! total size (least recently used out first). It sits in front of the disk-backed
//! [`ChunkStore`](tollcast_media::store::ChunkStore) so a live-edge part asked for by every
//! viewer is answered from memory on the async task itself, without a blocking-thread hop or
//! a disk read. Only chunks the relay has verified (hash and signed manifest) or read back
//! from its verified store are put here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use bytes::Bytes;

/// Default bound of the hot cache: 64 MiB.
pub const DEFAULT_HOT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// A size-bounded LRU of chunk bytes by hash. Cheap to share (`&self` methods, one mutex held
/// for a few map operations, never across I/O).
pub struct HotCache {
    bound: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// hash -> (bytes, last-use stamp).
    map: HashMap<String, (Bytes, u64)>,
    /// last-use stamp -> hash, oldest first.
    order: BTreeMap<u64, String>,
    bytes: u64,
    next: u64,
}

impl HotCache {
    /// A cache holding at most `bound` bytes of chunks (0: disabled, nothing is kept).
    pub fn new(bound: u64) -> Self {
        Self {
            bound,
            state: Mutex::default(),
        }
    }

    /// The chunk `hash` if held (and mark it most recently used).
    pub fn get(&self, hash: &str) -> Option<Bytes> {
        let mut st = self.lock();
        let st = &mut *st;
        let stamp = st.next;
        let (bytes, used) = st.map.get_mut(hash)?;
        let old = std::mem::replace(used, stamp);
        let bytes = bytes.clone();
        st.next += 1;
        if let Some(h) = st.order.remove(&old) {
            st.order.insert(stamp, h);
        }
        Some(bytes)
    }

    /// Keep verified chunk `hash`; evicts the least recently used chunks past the bound. A
    /// chunk larger than the whole bound is not kept.
    pub fn insert(&self, hash: &str, bytes: Bytes) {
        let len = bytes.len() as u64;
        if len > self.bound {
            return;
        }
        let mut st = self.lock();
        let st = &mut *st;
        let stamp = st.next;
        st.next += 1;
        if let Some((_, used)) = st.map.get_mut(hash) {
            // Same hash, same bytes: just refresh its use.
            let old = std::mem::replace(used, stamp);
            if let Some(h) = st.order.remove(&old) {
                st.order.insert(stamp, h);
            }
            return;
        }
        st.map.insert(hash.to_string(), (bytes, stamp));
        st.order.insert(stamp, hash.to_string());
        st.bytes += len;
        while st.bytes > self.bound {
            let Some((_, oldest)) = st.order.pop_first() else {
                break;
            };
            if let Some((b, _)) = st.map.remove(&oldest) {
                st.bytes -= b.len() as u64;
            }
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// Chunks held now.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The size bound.
    pub fn bound(&self) -> u64 {
        self.bound
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(n: usize, fill: u8) -> Bytes {
        Bytes::from(vec![fill; n])
    }

    #[test]
    fn stays_within_its_bound_evicting_least_recently_used() {
        let c = HotCache::new(100);
        c.insert("a", chunk(40, 1));
        c.insert("b", chunk(40, 2));
        assert_eq!((c.len(), c.bytes()), (2, 80));
        // Use "a": "b" is now the least recently used.
        assert_eq!(c.get("a").unwrap(), chunk(40, 1));
        c.insert("c", chunk(40, 3));
        assert_eq!(c.bytes(), 80);
        assert!(c.get("b").is_none(), "least recently used went first");
        assert!(c.get("a").is_some() && c.get("c").is_some());
        // One big chunk pushes out as many as needed.
        c.insert("d", chunk(90, 4));
        assert_eq!((c.len(), c.bytes()), (1, 90));
        assert_eq!(c.get("d").unwrap(), chunk(90, 4));
        // Larger than the whole bound: not kept, nothing evicted.
        c.insert("e", chunk(101, 5));
        assert!(c.get("e").is_none());
        assert_eq!((c.len(), c.bytes()), (1, 90));
        // Re-inserting a held chunk does not count it twice.
        c.insert("d", chunk(90, 4));
        assert_eq!((c.len(), c.bytes()), (1, 90));
    }

    #[test]
    fn many_inserts_never_exceed_the_bound_and_order_stays_consistent() {
        let c = HotCache::new(10_000);
        for i in 0..2_000u32 {
            let h = format!("{:064x}", i % 300);
            if i % 3 == 0 {
                let _ = c.get(&format!("{:064x}", (i / 2) % 300));
            }
            c.insert(&h, chunk(1 + (i as usize * 37) % 700, i as u8));
            assert!(c.bytes() <= 10_000);
        }
        let st = c.lock();
        assert_eq!(st.map.len(), st.order.len());
        assert_eq!(
            st.bytes,
            st.map.values().map(|(b, _)| b.len() as u64).sum::<u64>()
        );
    }

    #[test]
    fn zero_bound_keeps_nothing() {
        let c = HotCache::new(0);
        c.insert("a", chunk(1, 1));
        assert!(c.is_empty());
        // An empty chunk fits any bound.
        c.insert("e", Bytes::new());
        assert_eq!(c.get("e").unwrap().len(), 0);
    }
}

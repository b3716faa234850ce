//! Durable per-GB VOD accounts: each viewer's money received and bytes served, in a redb file,
//! so a restarted recorder neither forgets what viewers paid nor serves it twice. Writes are
//! group-committed by [`DurableMap`]; a crash loses at most the batch in flight (milliseconds
//! of updates).

use std::collections::HashMap;
use std::path::Path;

use super::RecorderError;
use crate::durable_map::{DurableMap, Record, join_u128, split_u128};

/// One viewer's saved account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SavedAccount {
    pub received: u128,
    pub bytes_served: u128,
}

/// Row: (received hi, received lo, bytes served hi, bytes served lo).
impl Record for SavedAccount {
    type Row = (u64, u64, u64, u64);
    fn to_row(&self) -> (u64, u64, u64, u64) {
        let (rh, rl) = split_u128(self.received);
        let (bh, bl) = split_u128(self.bytes_served);
        (rh, rl, bh, bl)
    }
    fn from_row((rh, rl, bh, bl): (u64, u64, u64, u64)) -> Self {
        SavedAccount {
            received: join_u128(rh, rl),
            bytes_served: join_u128(bh, bl),
        }
    }
}

/// Handle to the writer thread; dropping it commits what is queued.
pub struct GbStore(DurableMap<SavedAccount>);

impl GbStore {
    /// Open (or create) the store at `path`; returns it with every saved account.
    pub fn open(path: &Path) -> Result<(Self, HashMap<String, SavedAccount>), RecorderError> {
        let (map, saved) = DurableMap::open(path, "vod_accounts", "VOD billing store")
            .map_err(RecorderError::Store)?;
        Ok((Self(map), saved))
    }

    /// Queue `viewer`'s account for the next commit.
    pub fn save(&self, viewer: &str, a: SavedAccount) {
        self.0.save(viewer, a)
    }

    /// Wait until everything saved so far is committed.
    pub fn flush(&self) {
        self.0.flush()
    }
}

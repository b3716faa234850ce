//! Durable viewer balances for credit mode: each viewer's money received and paid-until time
//! (unix ms) in a redb file, so a restarted relay keeps honouring time viewers paid for.
//! Writes are group-committed by [`DurableMap`]: payments never wait on the disk, and a crash
//! loses at most the last batch in flight (milliseconds of credit, never more than was received).

use std::collections::HashMap;
use std::path::Path;

use super::RelayError;
use crate::durable_map::{DurableMap, Record, join_u128, split_u128};

/// One viewer's saved standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    pub received: u128,
    pub paid_until_ms: i64,
}

/// Row: (received high 64 bits, received low 64 bits, paid until, unix ms).
impl Record for Saved {
    type Row = (u64, u64, i64);
    fn to_row(&self) -> (u64, u64, i64) {
        let (hi, lo) = split_u128(self.received);
        (hi, lo, self.paid_until_ms)
    }
    fn from_row((hi, lo, until): (u64, u64, i64)) -> Self {
        Saved {
            received: join_u128(hi, lo),
            paid_until_ms: until,
        }
    }
}

/// Handle to the writer thread; dropping it commits what is queued and closes the file.
pub struct BillingStore(DurableMap<Saved>);

impl BillingStore {
    /// Open (or create) the store at `path`; returns it with every saved viewer.
    pub fn open(path: &Path) -> Result<(Self, HashMap<String, Saved>), RelayError> {
        let (map, saved) =
            DurableMap::open(path, "viewers", "billing store").map_err(RelayError::Cache)?;
        Ok((Self(map), saved))
    }

    /// Queue `viewer`'s new standing for the next commit.
    pub fn save(&self, viewer: &str, s: Saved) {
        self.0.save(viewer, s)
    }

    /// Wait until everything saved so far is committed (blocking).
    pub fn flush(&self) {
        self.0.flush()
    }
}

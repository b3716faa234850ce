//! Which source part a transcoding job feeds next, from the creator's signed manifests as they
//! arrive (no I/O here): part manifests (kind 21311) let a part be fed as soon as it exists, the
//! segment manifest (kind 31311) closes its segment and lists any part whose part manifest was
//! missed (they are ephemeral). Segments go in MSN order; the next segment's parts wait until
//! the open one is closed by its segment manifest (the origin signs it just before the next
//! segment's first part), so a lost part list never drops a part. A segment whose manifest
//! never comes is given up once later segments are signed.

use std::collections::BTreeMap;

use tollcast_media::manifest::{ManifestPart, PartManifest, SegmentManifest};

/// Manifests remembered ahead of the open segment; past this the open one is given up.
const MAX_AHEAD: usize = 64;

/// A verified manifest of the source rendition.
#[derive(Debug, Clone)]
pub enum Signed {
    Parts(PartManifest),
    Segment(SegmentManifest),
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Fetch, verify and feed this part (then call [`SourceFeed::fed`]).
    Feed {
        msn: u64,
        index: u32,
        part: ManifestPart,
        init: String,
        capture_ms: i64,
    },
    /// Every part of this segment was fed and its segment manifest is here.
    Closed(SegmentManifest),
    /// This segment is given up (a part failed, or its manifest never came).
    Skipped(u64),
}

/// The feeding position in the source stream.
#[derive(Debug, Default)]
pub struct SourceFeed {
    /// The segment being fed.
    cur: Option<u64>,
    /// Hashes of its parts fed so far, in order.
    fed: Vec<String>,
    /// A part of it failed verification: feed nothing more of it.
    failed: bool,
    /// Longest part list per segment, from `cur` on.
    lists: BTreeMap<u64, PartManifest>,
    /// Segment manifests, from `cur` on.
    closed: BTreeMap<u64, SegmentManifest>,
}

impl SourceFeed {
    /// Take a verified manifest (older than the open segment: ignored).
    pub fn note(&mut self, s: Signed) {
        let msn = match &s {
            Signed::Parts(p) => p.msn,
            Signed::Segment(m) => m.msn,
        };
        if self.cur.is_some_and(|c| msn < c) {
            return;
        }
        match s {
            Signed::Parts(p) => {
                if self
                    .lists
                    .get(&msn)
                    .is_none_or(|known| p.parts.len() > known.parts.len())
                {
                    self.lists.insert(msn, p);
                }
            }
            Signed::Segment(m) => {
                self.closed.insert(msn, m);
            }
        }
    }

    /// The part just handed out by [`Self::next_step`] was fed (`ok`) or failed verification.
    pub fn fed(&mut self, hash: &str, ok: bool) {
        if ok {
            self.fed.push(hash.to_string());
        } else {
            self.failed = true;
        }
    }

    fn advance(&mut self, to: Option<u64>) {
        self.cur = to;
        self.fed.clear();
        self.failed = false;
        if let Some(c) = to {
            self.lists = self.lists.split_off(&c);
            self.closed = self.closed.split_off(&c);
        }
    }

    /// The smallest segment known after `after`.
    fn next_known(&self, after: u64) -> Option<u64> {
        let a = self.lists.range(after + 1..).next().map(|(k, _)| *k);
        let b = self.closed.range(after + 1..).next().map(|(k, _)| *k);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next step, or None to wait for more manifests.
    pub fn next_step(&mut self) -> Option<Step> {
        let cur = match self.cur {
            Some(c) => c,
            None => {
                let first = self
                    .lists
                    .keys()
                    .next()
                    .into_iter()
                    .chain(self.closed.keys().next())
                    .min()
                    .copied()?;
                self.advance(Some(first));
                first
            }
        };
        // A later segment's manifest, or too much waiting: the open one will not complete.
        let later_closed = self.closed.range(cur + 1..).next().is_some();
        let far_list = self.lists.range(cur + 2..).next().is_some();
        let give_up = self.lists.len() + self.closed.len() > MAX_AHEAD;
        let listed: Option<(Vec<ManifestPart>, String, i64)> =
            match (self.closed.get(&cur), self.lists.get(&cur)) {
                (Some(m), _) => Some((m.parts.clone(), m.init.clone(), m.capture_ms)),
                (None, Some(p)) => Some((p.parts.clone(), p.init.clone(), p.capture_ms)),
                (None, None) => None,
            };
        if !self.failed
            && let Some((parts, init, capture_ms)) = listed
        {
            // What was fed must be what this list starts with (one producer, one stream).
            let agrees = parts.len() >= self.fed.len()
                && parts.iter().zip(&self.fed).all(|(p, h)| &p.hash == h);
            if !agrees {
                self.failed = true;
            } else if let Some(part) = parts.get(self.fed.len()) {
                return Some(Step::Feed {
                    msn: cur,
                    index: self.fed.len() as u32,
                    part: part.clone(),
                    init,
                    capture_ms,
                });
            } else if let Some(m) = self.closed.remove(&cur) {
                let next = self.next_known(cur).or(Some(cur + 1));
                self.advance(next);
                return Some(Step::Closed(m));
            }
        }
        let done_failing = self.failed && self.closed.contains_key(&cur);
        if done_failing || later_closed || far_list || give_up {
            let next = self.next_known(cur).or(Some(cur + 1));
            self.advance(next);
            return Some(Step::Skipped(cur));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u8) -> ManifestPart {
        ManifestPart {
            hash: format!("{n:02x}").repeat(32),
            duration: 0.2,
            independent: n.is_multiple_of(10),
            size: 100 + n as u64,
        }
    }

    fn list(msn: u64, parts: std::ops::Range<u8>) -> Signed {
        Signed::Parts(PartManifest {
            rendition: "source".into(),
            msn,
            init: "aa".repeat(32),
            parts: parts.map(part).collect(),
            capture_ms: 1000 * msn as i64,
        })
    }

    fn seg(msn: u64, parts: std::ops::Range<u8>) -> Signed {
        let parts: Vec<ManifestPart> = parts.map(part).collect();
        Signed::Segment(SegmentManifest {
            rendition: "source".into(),
            msn,
            init: "aa".repeat(32),
            segment: "bb".repeat(32),
            segment_size: parts.iter().map(|p| p.size).sum(),
            duration: 0.2 * parts.len() as f64,
            parts,
            capture_ms: 1000 * msn as i64,
            source: None,
        })
    }

    /// Run every ready step, feeding successfully; returns what happened.
    fn drain(f: &mut SourceFeed) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(s) = f.next_step() {
            out.push(match s {
                Step::Feed {
                    msn, index, part, ..
                } => {
                    f.fed(&part.hash, true);
                    format!("feed {msn}.{index}")
                }
                Step::Closed(m) => format!("close {}", m.msn),
                Step::Skipped(m) => format!("skip {m}"),
            });
        }
        out
    }

    #[test]
    fn parts_are_fed_as_listed_and_segments_close_in_order() {
        let mut f = SourceFeed::default();
        f.note(list(5, 0..1));
        assert_eq!(drain(&mut f), ["feed 5.0"]);
        f.note(list(5, 0..3));
        assert_eq!(drain(&mut f), ["feed 5.1", "feed 5.2"]);
        // An older, shorter list arriving late changes nothing.
        f.note(list(5, 0..2));
        assert!(drain(&mut f).is_empty());
        // The next segment's first part waits for segment 5's manifest, which also brings
        // the part whose list was lost.
        f.note(list(6, 10..11));
        assert!(drain(&mut f).is_empty());
        f.note(seg(5, 0..4));
        assert_eq!(drain(&mut f), ["feed 5.3", "close 5", "feed 6.0"]);
        // Segment manifests alone (a producer without part manifests) work as before.
        f.note(seg(6, 10..12));
        f.note(seg(7, 20..22));
        assert_eq!(
            drain(&mut f),
            ["feed 6.1", "close 6", "feed 7.0", "feed 7.1", "close 7"]
        );
        // Manifests of segments already done are ignored.
        f.note(seg(6, 10..12));
        f.note(list(7, 20..21));
        assert!(drain(&mut f).is_empty());
    }

    #[test]
    fn a_failed_part_skips_its_segment_and_a_lost_manifest_is_given_up() {
        let mut f = SourceFeed::default();
        f.note(list(1, 0..2));
        let Some(Step::Feed { part, .. }) = f.next_step() else {
            panic!("a part to feed")
        };
        f.fed(&part.hash, false);
        f.note(list(1, 0..3));
        assert!(drain(&mut f).is_empty(), "nothing more of a failed segment");
        f.note(seg(1, 0..3));
        assert_eq!(drain(&mut f), ["skip 1"]);
        f.note(list(2, 10..11));
        f.note(list(3, 20..22));
        assert_eq!(drain(&mut f), ["feed 2.0"]);
        // Segment 2's manifest never comes; segment 3's does: 2 is given up.
        f.note(seg(3, 20..22));
        assert_eq!(drain(&mut f), ["skip 2", "feed 3.0", "feed 3.1", "close 3"]);
        // A list that contradicts what was fed stops that segment.
        f.note(list(4, 30..31));
        assert_eq!(drain(&mut f), ["feed 4.0"]);
        f.note(list(4, 31..33));
        assert!(drain(&mut f).is_empty());
        f.note(seg(4, 30..32));
        assert_eq!(drain(&mut f), ["skip 4"]);
    }
}

//! CMAF part and segment cutting: groups fMP4 fragments into LL-HLS parts (≈200–500 ms) and
//! parts into segments that always start at a keyframe (≈1–2 s). Sans-io: feed fragments, get
//! [`CutEvent`]s; the caller stores the bytes and updates playlists.

use bytes::{Bytes, BytesMut};

use crate::fmp4::Fragment;

/// Cutting targets, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct CutterConfig {
    /// Target part duration (LL-HLS PART-TARGET); parts never exceed it unless one fragment does.
    pub part_target: f64,
    /// Target segment duration; a segment ends at the first keyframe at or after it.
    pub segment_target: f64,
}

impl Default for CutterConfig {
    fn default() -> Self {
        Self {
            part_target: 0.2,
            segment_target: 1.0,
        }
    }
}

/// A finished part.
#[derive(Debug, Clone)]
pub struct CutPart {
    /// Media sequence number of the segment this part belongs to.
    pub msn: u64,
    /// Index of the part within its segment (0-based).
    pub index: u32,
    pub bytes: Bytes,
    /// Media time of the first sample, seconds.
    pub start: f64,
    pub duration: f64,
    /// Starts with a keyframe (EXT-X-PART INDEPENDENT=YES).
    pub independent: bool,
}

/// Something the cutter decided.
#[derive(Debug, Clone)]
pub enum CutEvent {
    Part(CutPart),
    /// Segment `msn` is complete; its bytes are its parts concatenated.
    SegmentEnd {
        msn: u64,
        duration: f64,
        start: f64,
    },
}

/// The part/segment cutter for one rendition.
#[derive(Debug)]
pub struct Cutter {
    cfg: CutterConfig,
    msn: u64,
    part_index: u32,
    seg_start: Option<f64>,
    seg_duration: f64,
    pending: BytesMut,
    pending_start: f64,
    pending_duration: f64,
    pending_independent: bool,
    pending_fragments: usize,
    started: bool,
}

/// Timing slack: fragment durations are rationals rounded to floats.
const EPS: f64 = 0.002;

impl Cutter {
    /// A cutter whose first segment gets media sequence number `first_msn`.
    pub fn new(cfg: CutterConfig, first_msn: u64) -> Self {
        Self {
            cfg,
            msn: first_msn,
            part_index: 0,
            seg_start: None,
            seg_duration: 0.0,
            pending: BytesMut::new(),
            pending_start: 0.0,
            pending_duration: 0.0,
            pending_independent: false,
            pending_fragments: 0,
            started: false,
        }
    }

    /// The media sequence number of the segment now being built.
    pub fn current_msn(&self) -> u64 {
        self.msn
    }

    /// Feed one fragment; returns the parts/segment ends it completes, in order.
    pub fn push(&mut self, frag: &Fragment) -> Vec<CutEvent> {
        let mut out = Vec::new();
        if !self.started {
            // A segment must start at a keyframe: drop leading non-sync fragments.
            if !frag.keyframe {
                return out;
            }
            self.started = true;
        }
        if frag.keyframe
            && self.seg_start.is_some()
            && self.seg_duration + self.pending_duration + EPS >= self.cfg.segment_target
        {
            self.flush_part(&mut out);
            self.end_segment(&mut out);
        }
        if self.pending_fragments > 0
            && self.pending_duration + frag.duration > self.cfg.part_target + EPS
        {
            self.flush_part(&mut out);
        }
        if self.pending_fragments == 0 {
            self.pending_start = frag.start;
            self.pending_independent = frag.keyframe;
        }
        if self.seg_start.is_none() {
            self.seg_start = Some(frag.start);
        }
        self.pending.extend_from_slice(&frag.bytes);
        self.pending_duration += frag.duration;
        self.pending_fragments += 1;
        if self.pending_duration + EPS >= self.cfg.part_target {
            self.flush_part(&mut out);
        }
        out
    }

    /// End of stream: flush what is pending and close the segment.
    pub fn finish(&mut self) -> Vec<CutEvent> {
        let mut out = Vec::new();
        self.flush_part(&mut out);
        if self.seg_start.is_some() {
            self.end_segment(&mut out);
        }
        self.started = false;
        out
    }

    fn flush_part(&mut self, out: &mut Vec<CutEvent>) {
        if self.pending_fragments == 0 {
            return;
        }
        out.push(CutEvent::Part(CutPart {
            msn: self.msn,
            index: self.part_index,
            bytes: std::mem::take(&mut self.pending).freeze(),
            start: self.pending_start,
            duration: self.pending_duration,
            independent: self.pending_independent,
        }));
        self.part_index += 1;
        self.seg_duration += self.pending_duration;
        self.pending_duration = 0.0;
        self.pending_fragments = 0;
    }

    fn end_segment(&mut self, out: &mut Vec<CutEvent>) {
        let start = self.seg_start.take().unwrap_or(0.0);
        out.push(CutEvent::SegmentEnd {
            msn: self.msn,
            duration: self.seg_duration,
            start,
        });
        self.msn += 1;
        self.part_index = 0;
        self.seg_duration = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(start: f64, dur: f64, key: bool) -> Fragment {
        Fragment {
            bytes: Bytes::from(vec![key as u8; 4]),
            start,
            duration: dur,
            keyframe: key,
        }
    }

    #[test]
    fn parts_and_segments_follow_targets_and_keyframes() {
        let mut c = Cutter::new(
            CutterConfig {
                part_target: 0.4,
                segment_target: 1.0,
            },
            10,
        );
        let mut ev = Vec::new();
        // leading non-key fragment is dropped
        ev.extend(c.push(&frag(0.0, 0.2, false)));
        assert!(ev.is_empty());
        for i in 0..10 {
            ev.extend(c.push(&frag(0.2 + i as f64 * 0.2, 0.2, i % 5 == 0)));
        }
        ev.extend(c.finish());
        let parts: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                CutEvent::Part(p) => Some((
                    p.msn,
                    p.index,
                    (p.duration * 10.0).round() as u32,
                    p.independent,
                )),
                _ => None,
            })
            .collect();
        // keyframes every 1.0 s: each segment = 0.4 + 0.4 + 0.2
        assert_eq!(
            parts,
            vec![
                (10, 0, 4, true),
                (10, 1, 4, false),
                (10, 2, 2, false),
                (11, 0, 4, true),
                (11, 1, 4, false),
                (11, 2, 2, false)
            ]
        );
        let ends: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                CutEvent::SegmentEnd { msn, duration, .. } => {
                    Some((*msn, (*duration * 10.0).round() as u32))
                }
                _ => None,
            })
            .collect();
        assert_eq!(ends, vec![(10, 10), (11, 10)]);
    }
}

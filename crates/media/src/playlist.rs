//! LL-HLS playlist model and writer (RFC 8216bis): media playlists with EXT-X-PART, PART-INF,
//! SERVER-CONTROL, PRELOAD-HINT, RENDITION-REPORT and delta updates (EXT-X-SKIP), and the
//! multivariant playlist. The model is built from part/segment records (URIs + durations), so a
//! relay can build it from signed manifests without ever running ffmpeg or parsing video.

use std::collections::VecDeque;
use std::fmt::Write as _;

/// One part of a segment.
#[derive(Debug, Clone, PartialEq)]
pub struct PartRecord {
    pub uri: String,
    pub duration: f64,
    pub independent: bool,
}

/// A completed segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRecord {
    pub msn: u64,
    pub uri: String,
    pub duration: f64,
    /// Parts of this segment (dropped once the segment is far from the live edge).
    pub parts: Vec<PartRecord>,
    /// Wall-clock capture time of the first sample, ms since the Unix epoch.
    pub program_date_time_ms: Option<i64>,
    /// The init segment (EXT-X-MAP) this segment needs.
    pub init_uri: String,
    /// Starts after an encoder restart (EXT-X-DISCONTINUITY).
    pub discontinuity: bool,
}

/// Another rendition's position, for EXT-X-RENDITION-REPORT.
#[derive(Debug, Clone, PartialEq)]
pub struct RenditionReport {
    pub uri: String,
    pub last_msn: u64,
    pub last_part: Option<u32>,
}

/// Playlist-wide settings.
#[derive(Debug, Clone, Copy)]
pub struct PlaylistConfig {
    /// PART-TARGET, seconds.
    pub part_target: f64,
    /// Segment target duration, seconds (EXT-X-TARGETDURATION is its ceiling, or more if a
    /// segment ran longer because the encoder's keyframes are sparse).
    pub segment_target: f64,
    /// Completed segments kept in the playlist.
    pub window: usize,
}

impl Default for PlaylistConfig {
    fn default() -> Self {
        Self {
            part_target: 0.2,
            segment_target: 1.0,
            window: 12,
        }
    }
}

/// The live media playlist of one rendition.
#[derive(Debug, Clone)]
pub struct MediaPlaylist {
    cfg: PlaylistConfig,
    segments: VecDeque<SegmentRecord>,
    open_msn: u64,
    open_parts: Vec<PartRecord>,
    open_pdt_ms: Option<i64>,
    open_discontinuity: bool,
    init_uri: Option<String>,
    discontinuity_sequence: u64,
    max_segment: f64,
    preload_hint: Option<String>,
    ended: bool,
}

/// Where a rendition's live edge is: the last part or segment published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// MSN of the segment holding the newest part (or the newest complete segment).
    pub msn: u64,
    /// Index of the newest part within `msn`, `None` if `msn` is complete and no part of the
    /// next segment exists yet.
    pub part: Option<u32>,
    /// Segments with MSN < `complete_below` are complete.
    pub complete_below: u64,
}

fn fmt_dur(d: f64) -> String {
    let s = format!("{d:.5}");
    let s = s.trim_end_matches('0');
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

impl MediaPlaylist {
    /// An empty playlist whose first segment will have `first_msn`.
    pub fn new(cfg: PlaylistConfig, first_msn: u64) -> Self {
        Self {
            cfg,
            segments: VecDeque::new(),
            open_msn: first_msn,
            open_parts: Vec::new(),
            open_pdt_ms: None,
            open_discontinuity: false,
            init_uri: None,
            discontinuity_sequence: 0,
            max_segment: 0.0,
            preload_hint: None,
            ended: false,
        }
    }

    pub fn config(&self) -> &PlaylistConfig {
        &self.cfg
    }

    /// Set the init segment for the segments that follow. A change after media was published
    /// marks the next segment as a discontinuity (encoder restart, new parameters).
    pub fn set_init(&mut self, uri: String) {
        let had_media = !self.segments.is_empty() || !self.open_parts.is_empty();
        if self.init_uri.as_deref() != Some(uri.as_str()) && had_media {
            self.open_discontinuity = true;
        }
        self.init_uri = Some(uri);
        self.ended = false;
    }

    /// Mark the next segment as a discontinuity (timestamps restart after an encoder reconnect).
    pub fn mark_discontinuity(&mut self) {
        if !self.segments.is_empty() || !self.open_parts.is_empty() {
            self.open_discontinuity = true;
        }
        self.ended = false;
    }

    /// MSN the next part will belong to.
    pub fn open_msn(&self) -> u64 {
        self.open_msn
    }

    /// Number of parts already in the open segment.
    pub fn open_part_count(&self) -> u32 {
        self.open_parts.len() as u32
    }

    /// Append a part to the open segment (`pdt_ms` is used for the segment's first part).
    pub fn push_part(&mut self, part: PartRecord, pdt_ms: Option<i64>) {
        if self.open_parts.is_empty() {
            self.open_pdt_ms = pdt_ms;
        }
        self.open_parts.push(part);
    }

    /// Set (or clear) the EXT-X-PRELOAD-HINT URI for the next part.
    pub fn set_preload_hint(&mut self, uri: Option<String>) {
        self.preload_hint = uri;
    }

    /// Close the open segment as `uri` with `duration` seconds.
    pub fn end_segment(&mut self, uri: String, duration: f64) {
        let seg = SegmentRecord {
            msn: self.open_msn,
            uri,
            duration,
            parts: std::mem::take(&mut self.open_parts),
            program_date_time_ms: self.open_pdt_ms.take(),
            init_uri: self.init_uri.clone().unwrap_or_default(),
            discontinuity: std::mem::take(&mut self.open_discontinuity),
        };
        self.push_segment(seg);
    }

    /// Append a complete segment record (e.g. rebuilt from a manifest).
    pub fn push_segment(&mut self, seg: SegmentRecord) {
        self.max_segment = self.max_segment.max(seg.duration);
        self.open_msn = seg.msn + 1;
        self.segments.push_back(seg);
        while self.segments.len() > self.cfg.window.max(1) {
            // A discontinuity tag leaving the window is counted in EXT-X-DISCONTINUITY-SEQUENCE.
            if self
                .segments
                .pop_front()
                .is_some_and(|old| old.discontinuity)
            {
                self.discontinuity_sequence += 1;
            }
        }
        // Parts are only listed close to the live edge (spec: at least the last 3 target
        // durations); dropping older ones keeps playlists small.
        let keep = 3.0 * self.target_duration() as f64;
        let mut acc = 0.0;
        for seg in self.segments.iter_mut().rev() {
            if acc > keep {
                seg.parts.clear();
            }
            acc += seg.duration;
        }
    }

    /// The stream has ended: EXT-X-ENDLIST, no more preload hints.
    pub fn end_stream(&mut self) {
        self.ended = true;
        self.preload_hint = None;
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Completed segments in the window.
    pub fn segments(&self) -> &VecDeque<SegmentRecord> {
        &self.segments
    }

    /// Parts of the open segment.
    pub fn open_parts(&self) -> &[PartRecord] {
        &self.open_parts
    }

    /// EXT-X-TARGETDURATION.
    pub fn target_duration(&self) -> u64 {
        (self.cfg.segment_target.max(self.max_segment) - 0.001)
            .ceil()
            .max(1.0) as u64
    }

    /// Seconds before the end within which segments may not be skipped in a delta update.
    pub fn skip_until(&self) -> f64 {
        6.0 * self.target_duration() as f64
    }

    /// The live edge.
    pub fn position(&self) -> Option<Position> {
        if let Some(last) = self.open_parts.len().checked_sub(1) {
            return Some(Position {
                msn: self.open_msn,
                part: Some(last as u32),
                complete_below: self.open_msn,
            });
        }
        self.segments.back().map(|s| Position {
            msn: s.msn,
            part: s.parts.len().checked_sub(1).map(|p| p as u32),
            complete_below: s.msn + 1,
        })
    }

    /// Is part `part` of segment `msn` (or the whole segment if `part` is None) published?
    pub fn has(&self, msn: u64, part: Option<u32>) -> bool {
        let Some(pos) = self.position() else {
            return false;
        };
        if msn < pos.complete_below {
            return true;
        }
        match part {
            None => false,
            Some(p) => msn == self.open_msn && (p as usize) < self.open_parts.len(),
        }
    }

    /// The part at (`msn`, `index`), if still listed.
    pub fn part(&self, msn: u64, index: u32) -> Option<&PartRecord> {
        if msn == self.open_msn {
            return self.open_parts.get(index as usize);
        }
        self.segments
            .iter()
            .find(|s| s.msn == msn)
            .and_then(|s| s.parts.get(index as usize))
    }

    /// First MSN listed.
    pub fn media_sequence(&self) -> u64 {
        self.segments
            .front()
            .map(|s| s.msn)
            .unwrap_or(self.open_msn)
    }

    /// Render the playlist; `skip` asks for a delta update (EXT-X-SKIP).
    pub fn render(&self, skip: bool, reports: &[RenditionReport]) -> String {
        let mut o = String::with_capacity(4096);
        let td = self.target_duration();
        let part_hold_back = 3.0 * self.cfg.part_target;
        let hold_back = 3.0 * td as f64;
        o.push_str("#EXTM3U\n#EXT-X-VERSION:9\n");
        let _ = writeln!(o, "#EXT-X-TARGETDURATION:{td}");
        let _ = writeln!(
            o,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={},PART-HOLD-BACK={},HOLD-BACK={}",
            fmt_dur(self.skip_until()),
            fmt_dur(part_hold_back),
            fmt_dur(hold_back)
        );
        let _ = writeln!(
            o,
            "#EXT-X-PART-INF:PART-TARGET={}",
            fmt_dur(self.cfg.part_target)
        );
        let _ = writeln!(o, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence());
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                o,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        // Delta update: skip segments that end more than CAN-SKIP-UNTIL before the live edge.
        let mut skipped = 0usize;
        if skip {
            let total: f64 = self.segments.iter().map(|s| s.duration).sum::<f64>()
                + self.open_parts.iter().map(|p| p.duration).sum::<f64>();
            let mut start = 0.0;
            for s in &self.segments {
                let end = start + s.duration;
                if total - end > self.skip_until() {
                    skipped += 1;
                    start = end;
                } else {
                    break;
                }
            }
            if skipped > 0 {
                let _ = writeln!(o, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
            }
        }
        let mut current_map: Option<&str> = None;
        for seg in self.segments.iter().skip(skipped) {
            if seg.discontinuity {
                o.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if current_map != Some(seg.init_uri.as_str()) {
                let _ = writeln!(o, "#EXT-X-MAP:URI=\"{}\"", seg.init_uri);
                current_map = Some(seg.init_uri.as_str());
            }
            if let Some(ms) = seg.program_date_time_ms {
                let _ = writeln!(o, "#EXT-X-PROGRAM-DATE-TIME:{}", format_pdt(ms));
            }
            write_parts(&mut o, &seg.parts);
            let _ = writeln!(o, "#EXTINF:{},\n{}", fmt_dur(seg.duration), seg.uri);
        }
        if !self.open_parts.is_empty() || self.preload_hint.is_some() {
            let init = self.init_uri.as_deref().unwrap_or_default();
            if self.open_discontinuity && !self.open_parts.is_empty() {
                o.push_str("#EXT-X-DISCONTINUITY\n");
            }
            if current_map != Some(init) && !init.is_empty() {
                let _ = writeln!(o, "#EXT-X-MAP:URI=\"{init}\"");
            }
            if let Some(ms) = self.open_pdt_ms
                && !self.open_parts.is_empty()
            {
                let _ = writeln!(o, "#EXT-X-PROGRAM-DATE-TIME:{}", format_pdt(ms));
            }
            write_parts(&mut o, &self.open_parts);
        }
        if self.ended {
            o.push_str("#EXT-X-ENDLIST\n");
        } else if let Some(hint) = &self.preload_hint {
            let _ = writeln!(o, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{hint}\"");
        }
        for r in reports {
            let _ = write!(
                o,
                "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={}",
                r.uri, r.last_msn
            );
            if let Some(p) = r.last_part {
                let _ = write!(o, ",LAST-PART={p}");
            }
            o.push('\n');
        }
        o
    }
}

fn write_parts(o: &mut String, parts: &[PartRecord]) {
    for p in parts {
        let _ = write!(
            o,
            "#EXT-X-PART:DURATION={},URI=\"{}\"",
            fmt_dur(p.duration),
            p.uri
        );
        if p.independent {
            o.push_str(",INDEPENDENT=YES");
        }
        o.push('\n');
    }
}

/// ISO 8601 with milliseconds, UTC (`2019-02-14T02:13:36.106Z`).
pub fn format_pdt(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60
    )
}

// Howard Hinnant's days-to-civil algorithm (public domain).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// One variant of the multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub uri: String,
    pub bandwidth: u64,
    pub codecs: String,
    pub resolution: Option<(u16, u16)>,
    pub frame_rate: Option<f64>,
}

/// Render the multivariant (master) playlist.
pub fn render_multivariant(variants: &[Variant]) -> String {
    let mut o = String::from("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = write!(o, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth.max(1));
        if !v.codecs.is_empty() {
            let _ = write!(o, ",CODECS=\"{}\"", v.codecs);
        }
        if let Some((w, h)) = v.resolution
            && w > 0
            && h > 0
        {
            let _ = write!(o, ",RESOLUTION={w}x{h}");
        }
        if let Some(fr) = v.frame_rate {
            let _ = write!(o, ",FRAME-RATE={fr:.3}");
        }
        let _ = writeln!(o, "\n{}", v.uri);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdt_format() {
        assert_eq!(format_pdt(1_550_110_416_106), "2019-02-14T02:13:36.106Z");
        assert_eq!(format_pdt(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn durations_trimmed() {
        assert_eq!(fmt_dur(0.2), "0.2");
        assert_eq!(fmt_dur(1.0), "1");
        assert_eq!(fmt_dur(0.33334), "0.33334");
    }
}

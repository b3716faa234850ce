//! Just enough LL-HLS media-playlist reading for a simulated player: the parts (segment
//! sequence number, part index, chunk hash, capture time from EXT-X-PROGRAM-DATE-TIME), where
//! the open segment stands, and PART-HOLD-BACK.

#[derive(Debug, Clone, PartialEq)]
pub struct ListedPart {
    pub msn: u64,
    pub index: u32,
    pub hash: String,
    pub duration: f64,
    /// Capture time of the part's first sample (ms since the epoch): its segment's
    /// EXT-X-PROGRAM-DATE-TIME plus the durations of the parts before it.
    pub capture_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Listing {
    pub parts: Vec<ListedPart>,
    /// The segment being built and how many of its parts are listed: the next blocking
    /// reload asks for `(open_msn, open_parts)`.
    pub open_msn: u64,
    pub open_parts: u32,
    /// PART-HOLD-BACK in seconds (the player's distance to the live edge).
    pub part_hold_back: Option<f64>,
    pub ended: bool,
}

/// The hash in a chunk URI like `../../<64 hex>.m4s`.
fn hash_of(uri: &str) -> String {
    let file = uri.rsplit('/').next().unwrap_or(uri);
    file.split('.').next().unwrap_or(file).to_string()
}

fn attr<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let i = line.find(&format!("{key}="))? + key.len() + 1;
    let rest = &line[i..];
    if let Some(r) = rest.strip_prefix('"') {
        return r.split('"').next();
    }
    rest.split(',').next()
}

pub fn parse(text: &str) -> Listing {
    let mut l = Listing::default();
    let mut msn = 0u64;
    let mut idx = 0u32;
    // Capture time of the next part: set by a PROGRAM-DATE-TIME, advanced by each part.
    let mut at: Option<f64> = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            at = crate::demo::hls::parse_pdt(v).map(|ms| ms as f64);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            msn = v.trim().parse().unwrap_or(0);
        } else if line.starts_with("#EXT-X-SERVER-CONTROL:") {
            l.part_hold_back = attr(line, "PART-HOLD-BACK").and_then(|v| v.parse().ok());
        } else if line.starts_with("#EXT-X-PART:") {
            let duration = attr(line, "DURATION")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            if let Some(uri) = attr(line, "URI") {
                l.parts.push(ListedPart {
                    msn,
                    index: idx,
                    hash: hash_of(uri),
                    duration,
                    capture_ms: at,
                });
            }
            at = at.map(|t| t + duration * 1000.0);
            idx += 1;
        } else if line == "#EXT-X-ENDLIST" {
            l.ended = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            // A segment URI closes segment `msn`; the next one dates itself.
            msn += 1;
            idx = 0;
            at = None;
        }
    }
    l.open_msn = msn;
    l.open_parts = idx;
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_open_segment() {
        let h = |c: char| c.to_string().repeat(64);
        let text = format!(
            "#EXTM3U\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6,HOLD-BACK=3\n\
             #EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-MAP:URI=\"../../{i}.mp4\"\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-11-27T07:00:00.100Z\n\
             #EXT-X-PART:DURATION=0.2,URI=\"../../{a}.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.2,URI=\"../../{b}.m4s\"\n#EXTINF:0.4,\n../../{s}.m4s\n\
             #EXT-X-PART:DURATION=0.2,URI=\"../../{c}.m4s\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"hint/8.1.m4s\"\n",
            i = h('0'),
            a = h('a'),
            b = h('b'),
            s = h('5'),
            c = h('c')
        );
        let l = parse(&text);
        assert_eq!(l.part_hold_back, Some(0.6));
        assert_eq!(l.parts.len(), 3);
        assert_eq!(
            (l.parts[1].msn, l.parts[1].index, l.parts[1].hash.clone()),
            (7, 1, h('b'))
        );
        assert_eq!((l.parts[2].msn, l.parts[2].index), (8, 0));
        assert_eq!((l.open_msn, l.open_parts), (8, 1));
        assert!((l.parts[0].duration - 0.2).abs() < 1e-9);
        // Dated by the segment's PROGRAM-DATE-TIME plus the parts before; the open segment
        // has no date of its own here.
        let t0 = crate::demo::hls::parse_pdt("2026-11-27T07:00:00.100Z").unwrap() as f64;
        assert_eq!(l.parts[0].capture_ms, Some(t0));
        assert!((l.parts[1].capture_ms.unwrap() - (t0 + 200.0)).abs() < 1e-6);
        assert_eq!(l.parts[2].capture_ms, None);
    }
}

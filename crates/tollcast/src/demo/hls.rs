//! Just enough LL-HLS reading for the simulated viewers: the parts of a media playlist with
//! their positions and capture times (from EXT-X-PROGRAM-DATE-TIME), so a viewer can fetch
//! each new part once and measure how late it arrived.

/// One `EXT-X-PART` of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub msn: u64,
    pub index: u32,
    pub uri: String,
    pub duration: f64,
    /// Capture time of the part's first frame (ms since the epoch), when the playlist says.
    pub capture_ms: Option<i64>,
}

/// What a media playlist lists.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MediaPlaylist {
    pub init: Option<String>,
    pub parts: Vec<Part>,
    pub ended: bool,
}

fn attr<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}=");
    let mut rest = line;
    while let Some(i) = rest.find(&key) {
        let before = rest[..i].chars().last();
        let v = &rest[i + key.len()..];
        if matches!(before, None | Some(':') | Some(',')) {
            return Some(match v.strip_prefix('"') {
                Some(q) => q.split('"').next().unwrap_or(""),
                None => v.split(',').next().unwrap_or(""),
            });
        }
        rest = v;
    }
    None
}

/// Parses `2026-11-27T07:18:51.123Z` into ms since the epoch.
pub fn parse_pdt(s: &str) -> Option<i64> {
    let s = s.trim().strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min, sec) = (t.next()?, t.next()?, t.next()?);
    let (h, min) = (h.parse::<i64>().ok()?, min.parse::<i64>().ok()?);
    let (secs, millis) = match sec.split_once('.') {
        Some((a, b)) => {
            let frac = format!("{b:0<3}");
            (a.parse::<i64>().ok()?, frac[..3].parse::<i64>().ok()?)
        }
        None => (sec.parse::<i64>().ok()?, 0),
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + h * 3600 + min * 60 + secs) * 1000) + millis)
}

/// Reads the parts of a media playlist (segments without parts are skipped: the demo's
/// origin always lists parts).
pub fn parse_media(text: &str) -> MediaPlaylist {
    let mut out = MediaPlaylist::default();
    let mut msn = 0u64;
    let mut index = 0u32;
    let mut pdt: Option<i64> = None;
    let mut offset_ms = 0.0f64;
    for line in text.lines() {
        let line = line.trim();
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            msn = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            out.init = attr(v, "URI").map(str::to_string);
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = parse_pdt(v);
            offset_ms = 0.0;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
            let duration: f64 = attr(v, "DURATION")
                .and_then(|d| d.parse().ok())
                .unwrap_or(0.0);
            if let Some(uri) = attr(v, "URI") {
                out.parts.push(Part {
                    msn,
                    index,
                    uri: uri.to_string(),
                    duration,
                    capture_ms: pdt.map(|p| p + offset_ms as i64),
                });
            }
            index += 1;
            offset_ms += duration * 1000.0;
        } else if line.starts_with("#EXTINF:") {
            // The segment's URI follows; the next segment starts a new count.
        } else if line == "#EXT-X-ENDLIST" {
            out.ended = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            msn += 1;
            index = 0;
            pdt = pdt.map(|p| p + offset_ms as i64);
            offset_ms = 0.0;
        }
    }
    out
}

/// One variant of a multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub uri: String,
    pub bandwidth: Option<u64>,
    pub resolution: Option<String>,
}

/// The variants of a multivariant playlist with their EXT-X-STREAM-INF attributes.
pub fn parse_variants(text: &str) -> Vec<Variant> {
    let mut out = Vec::new();
    let mut inf: Option<&str> = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            inf = Some(v);
        } else if !line.is_empty() && !line.starts_with('#') {
            out.push(Variant {
                uri: line.to_string(),
                bandwidth: inf.and_then(|i| attr(i, "BANDWIDTH")?.parse().ok()),
                resolution: inf.and_then(|i| attr(i, "RESOLUTION")).map(str::to_string),
            });
            inf = None;
        }
    }
    out
}

/// The variant playlist URIs of a multivariant playlist, in order.
pub fn parse_master(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdt_round_trips_with_the_writer() {
        let ms = 1_795_000_000_123;
        let s = tollcast_media::playlist::format_pdt(ms);
        assert_eq!(parse_pdt(&s), Some(ms));
        assert_eq!(parse_pdt("2026-13-01"), None);
    }

    #[test]
    fn parts_get_positions_and_capture_times() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-MAP:URI=\"../../i.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2026-11-27T07:00:00.000Z\n\
#EXT-X-PART:DURATION=0.2,URI=\"../../a.m4s\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.2,URI=\"../../b.m4s\"\n#EXTINF:0.4,\n../../s.m4s\n\
#EXT-X-PART:DURATION=0.2,URI=\"../../c.m4s\"\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"hint/8.1.m4s\"\n";
        let p = parse_media(text);
        assert_eq!(p.init.as_deref(), Some("../../i.mp4"));
        assert_eq!(p.parts.len(), 3);
        assert_eq!((p.parts[1].msn, p.parts[1].index), (7, 1));
        assert_eq!((p.parts[2].msn, p.parts[2].index), (8, 0));
        let t0 = parse_pdt("2026-11-27T07:00:00.000Z").unwrap();
        assert_eq!(p.parts[1].capture_ms, Some(t0 + 200));
        assert_eq!(p.parts[2].capture_ms, Some(t0 + 400));
        assert!(!p.ended);
        assert_eq!(
            parse_master("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nsource/index.m3u8\n"),
            vec!["source/index.m3u8"]
        );
        let v = parse_variants(
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=993336,CODECS=\"avc1.4d401e,mp4a.40.2\",RESOLUTION=640x360\nsource/index.m3u8\n",
        );
        assert_eq!(v[0].bandwidth, Some(993_336));
        assert_eq!(v[0].resolution.as_deref(), Some("640x360"));
    }
}

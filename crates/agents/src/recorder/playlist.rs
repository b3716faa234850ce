//! HLS VOD playlists of a recording (RFC 8216 `EXT-X-PLAYLIST-TYPE:VOD`, `EXT-X-ENDLIST`),
//! naming every chunk by its SHA-256 (`<hash>.mp4` init, `<hash>.m4s` segments) relative to the
//! playlist, itself served as `<hash>.m3u8`: one hash (the multivariant playlist's) pins every
//! byte of the recording.

use std::fmt::Write as _;

use tollcast_media::manifest::SegmentManifest;

/// One rendition's VOD media playlist. `segments` in MSN order; a gap in MSNs or a new init
/// starts an `EXT-X-DISCONTINUITY`.
pub fn render_media(segments: &[&SegmentManifest]) -> String {
    let mut o = String::from("#EXTM3U\n#EXT-X-VERSION:7\n");
    let td = segments
        .iter()
        .map(|s| s.duration)
        .fold(1.0f64, f64::max)
        .ceil() as u64;
    let _ = writeln!(o, "#EXT-X-TARGETDURATION:{td}");
    o.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
    let first = segments.first().map_or(0, |s| s.msn);
    let _ = writeln!(o, "#EXT-X-MEDIA-SEQUENCE:{first}");
    o.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    let mut prev: Option<&SegmentManifest> = None;
    for s in segments {
        let new_init = prev.is_none_or(|p| p.init != s.init);
        if let Some(p) = prev
            && (new_init || s.msn != p.msn + 1)
        {
            o.push_str("#EXT-X-DISCONTINUITY\n");
        }
        if new_init {
            let _ = writeln!(o, "#EXT-X-MAP:URI=\"{}.mp4\"", s.init);
        }
        let _ = writeln!(o, "#EXTINF:{:.5},\n{}.m4s", s.duration, s.segment);
        prev = Some(s);
    }
    o.push_str("#EXT-X-ENDLIST\n");
    o
}

/// A rendition in the multivariant playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct VodVariant {
    /// Hash of the rendition's media playlist.
    pub playlist: String,
    /// Peak segment bitrate, bits/s.
    pub bandwidth: u64,
    /// RFC 6381 codecs from the init segment (may be empty).
    pub codecs: String,
    pub resolution: Option<(u16, u16)>,
}

/// The multivariant playlist over the renditions' media playlists.
pub fn render_master(variants: &[VodVariant]) -> String {
    let mut o = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
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
        let _ = writeln!(o, "\n{}.m3u8", v.playlist);
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(msn: u64, init: char, d: f64) -> SegmentManifest {
        SegmentManifest {
            rendition: "source".into(),
            msn,
            init: init.to_string().repeat(64),
            segment: format!("{msn:064}"),
            segment_size: 10,
            parts: vec![],
            duration: d,
            capture_ms: 0,
            source: None,
        }
    }

    #[test]
    fn vod_playlist_with_gap_and_new_init() {
        let s = [
            seg(3, 'a', 1.0),
            seg(4, 'a', 1.2),
            seg(6, 'a', 1.0),
            seg(7, 'b', 0.5),
        ];
        let refs: Vec<&SegmentManifest> = s.iter().collect();
        let p = render_media(&refs);
        assert!(p.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"));
        assert!(p.contains("#EXT-X-TARGETDURATION:2\n"));
        assert!(p.contains("#EXT-X-MEDIA-SEQUENCE:3\n"));
        assert!(p.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(p.matches("#EXT-X-DISCONTINUITY").count(), 2, "{p}");
        assert_eq!(p.matches("#EXT-X-MAP").count(), 2, "{p}");
        assert!(p.contains(&format!("#EXTINF:1.20000,\n{:064}.m4s\n", 4)));
        let m = render_master(&[VodVariant {
            playlist: "f".repeat(64),
            bandwidth: 0,
            codecs: "avc1.64001e".into(),
            resolution: Some((640, 360)),
        }]);
        assert!(m.contains("BANDWIDTH=1,CODECS=\"avc1.64001e\",RESOLUTION=640x360\n"));
        assert!(m.contains(&format!("{}.m3u8\n", "f".repeat(64))));
    }
}

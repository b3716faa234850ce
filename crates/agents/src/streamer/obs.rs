//! The encoder settings a creator types into OBS (or any RTMP/SRT encoder) for this streamer:
//! where to send, with which key, and the encode settings the LL-HLS cutter needs (keyframe
//! interval = segment target, CBR, x264 zerolatency, AAC 48 kHz).

use super::config::{ObsSection, SourceKind};

/// Where the encoder connects.
#[derive(Debug, Clone)]
pub enum IngestPoint {
    /// `server` is OBS's "Server" (`rtmp://host:port/app`), `key` its "Stream Key".
    Rtmp { server: String, key: String },
    /// `url` is OBS's "Server" (`srt://host:port[?passphrase=..]`), no stream key.
    Srt { url: String },
    /// No encoder: the built-in test pattern.
    Synthetic,
}

impl IngestPoint {
    pub fn kind(&self) -> SourceKind {
        match self {
            IngestPoint::Rtmp { .. } => SourceKind::Rtmp,
            IngestPoint::Srt { .. } => SourceKind::Srt,
            IngestPoint::Synthetic => SourceKind::Synthetic,
        }
    }

    /// The full URL an encoder such as ffmpeg pushes to (`rtmp://host:port/app/key`).
    pub fn push_url(&self) -> Option<String> {
        match self {
            IngestPoint::Rtmp { server, key } => Some(format!("{server}/{key}")),
            IngestPoint::Srt { url } => Some(url.clone()),
            IngestPoint::Synthetic => None,
        }
    }
}

/// The OBS settings as printable lines (no trailing newline on the last one).
pub fn obs_settings(p: &IngestPoint, obs: &ObsSection, segment_target: f64) -> String {
    let keyint = segment_target.round().max(1.0) as u32;
    let mut s = String::new();
    match p {
        IngestPoint::Synthetic => {
            s.push_str(
                "OBS settings: none needed, the built-in test pattern is streaming \
                 (set [ingest] source = \"rtmp\" to stream from OBS)\n",
            );
            return s;
        }
        IngestPoint::Rtmp { server, key } => {
            s.push_str("OBS settings (Settings > Stream):\n");
            s.push_str("  Service:    Custom...\n");
            s.push_str(&format!("  Server:     {server}\n"));
            s.push_str(&format!("  Stream Key: {key}\n"));
        }
        IngestPoint::Srt { url } => {
            s.push_str("OBS settings (Settings > Stream):\n");
            s.push_str("  Service:    Custom...\n");
            s.push_str(&format!("  Server:     {url}\n"));
            s.push_str("  Stream Key: (leave empty)\n");
        }
    }
    s.push_str("OBS settings (Settings > Output, Output Mode: Advanced > Streaming):\n");
    s.push_str("  Encoder:            x264 (or a hardware H.264 encoder)\n");
    s.push_str(&format!(
        "  Rate Control:       CBR, Bitrate {} Kbps\n",
        obs.video_kbps
    ));
    s.push_str(&format!(
        "  Keyframe Interval:  {keyint} s (equals the segment target; 2 s also works, +1 s latency)\n"
    ));
    s.push_str("  CPU Usage Preset:   veryfast, Profile: main, Tune: zerolatency\n");
    s.push_str(&format!(
        "  Audio:              AAC {} Kbps, Sample Rate 48 kHz (Settings > Audio)\n",
        obs.audio_kbps
    ));
    s.push_str(&format!(
        "OBS settings (Settings > Video): Output Resolution {}, FPS {}\n",
        obs.resolution, obs.fps
    ));
    s.push_str(
        "ffmpeg instead of OBS: ffmpeg -re -i INPUT -c:v libx264 -preset veryfast -tune zerolatency \
         -g <fps*keyint> -c:a aac -ar 48000 -f flv ",
    );
    s.push_str(&p.push_url().unwrap_or_default());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_settings_name_server_key_and_encode() {
        let p = IngestPoint::Rtmp {
            server: "rtmp://127.0.0.1:1935/live".into(),
            key: "k3y".into(),
        };
        let s = obs_settings(&p, &ObsSection::default(), 1.0);
        for want in [
            "Server:     rtmp://127.0.0.1:1935/live",
            "Stream Key: k3y",
            "Keyframe Interval:  1 s",
            "CBR, Bitrate 2500 Kbps",
            "zerolatency",
            "48 kHz",
            "-f flv rtmp://127.0.0.1:1935/live/k3y",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        assert_eq!(p.push_url().unwrap(), "rtmp://127.0.0.1:1935/live/k3y");
    }
}

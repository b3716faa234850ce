//! The synthetic source: ffmpeg's `testsrc2` pattern and a 440 Hz tone, paced in real time
//! (`-re`), with the wall-clock time burned into the picture so glass-to-glass latency can be
//! read off a screenshot. Used by `tollcast demo` and the tests.

/// Picture and encode settings of the synthetic source.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticOptions {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Video bitrate, kbit/s.
    pub video_kbps: u32,
    /// Stop after this many seconds (None: run until stopped).
    pub duration: Option<f64>,
}

impl Default for SyntheticOptions {
    fn default() -> Self {
        Self {
            width: 640,
            height: 360,
            fps: 30,
            video_kbps: 800,
            duration: None,
        }
    }
}

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf";

impl SyntheticOptions {
    /// ffmpeg arguments up to (not including) the output options: inputs, burn-in, x264
    /// veryfast/zerolatency with a keyframe every `gop_seconds`, AAC.
    pub fn ffmpeg_args(&self, gop_seconds: f64) -> Vec<String> {
        let gop = ((self.fps as f64 * gop_seconds).round() as u32).max(1);
        let mut a: Vec<String> = vec!["-re".into(), "-f".into(), "lavfi".into(), "-i".into()];
        a.push(format!(
            "testsrc2=size={}x{}:rate={}",
            self.width, self.height, self.fps
        ));
        a.extend(
            [
                "-re",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
            ]
            .map(String::from),
        );
        if let Some(d) = self.duration {
            a.extend(["-t".into(), format!("{d}")]);
        }
        // Burn in the wall clock (the "glass" time) when a font is available.
        if std::path::Path::new(FONT).exists() {
            let size = (self.height / 12).max(12);
            a.extend([
                "-vf".into(),
                // drawtext's localtime has no sub-second field in ffmpeg 5.1: seconds only.
                format!(
                    "drawtext=fontfile={FONT}:text='%{{localtime\\:%H\\\\\\:%M\\\\\\:%S}}':x=8:y=8:fontsize={size}:fontcolor=white:box=1:boxcolor=black@0.6"
                ),
            ]);
        }
        a.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-tune",
                "zerolatency",
                "-profile:v",
                "main",
                "-pix_fmt",
                "yuv420p",
                "-sc_threshold",
                "0",
            ]
            .map(String::from),
        );
        a.extend([
            "-g".into(),
            gop.to_string(),
            "-keyint_min".into(),
            gop.to_string(),
            "-b:v".into(),
            format!("{}k", self.video_kbps),
            "-maxrate".into(),
            format!("{}k", self.video_kbps),
            "-bufsize".into(),
            format!("{}k", self.video_kbps),
        ]);
        a.extend(["-c:a", "aac", "-b:a", "64k", "-ar", "48000"].map(String::from));
        a
    }
}

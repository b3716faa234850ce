//! The measurement: re-transcode a source segment with the advertised rung parameters
//! (ffmpeg, x264), then compare the transcoder's rendition segment with that reference using
//! ffmpeg's `ssim` and `psnr` filters. The rendition is scaled to the rung size for the
//! comparison, so a wrong-resolution rendition still gets scores (and fails on its size).

use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use super::VerifyError;

/// What the transcoder promised for one rung (from its job / ladder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    /// Rendition name (`720p`).
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Video bit rate, bits per second.
    pub video_bps: u64,
}

/// Measured quality of a rendition segment against the reference.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scores {
    /// SSIM "All" (0..1, 1 = identical).
    pub ssim: f64,
    /// PSNR average over Y/U/V, dB (capped at 100 for identical pictures).
    pub psnr: f64,
    /// The rendition's picture size as decoded.
    pub width: u32,
    pub height: u32,
}

fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-nostats"])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

async fn run(mut c: Command, what: &str) -> Result<String, VerifyError> {
    let out = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| {
            VerifyError::Tool(format!(
                "{what}: cannot run ffmpeg/ffprobe ({e}); is ffmpeg installed?"
            ))
        })?;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let last = err.lines().rev().take(3).collect::<Vec<_>>().join(" | ");
        return Err(VerifyError::Undecodable(format!("{what}: {last}")));
    }
    Ok(err)
}

/// Picture size of the first video stream of `file`.
pub async fn probe_size(file: &Path) -> Result<(u32, u32), VerifyError> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
        ])
        .args(["-of", "csv=p=0:s=x"])
        .arg(file)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| {
            VerifyError::Tool(format!("cannot run ffprobe ({e}); is ffmpeg installed?"))
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed = text
        .lines()
        .next()
        .and_then(|l| l.trim().split_once('x'))
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
    match (out.status.success(), parsed) {
        (true, Some(wh)) => Ok(wh),
        _ => Err(VerifyError::Undecodable(format!(
            "no video stream decodes in {}",
            file.display()
        ))),
    }
}

/// Re-transcode `source` (an MP4: init + segment) to `t` into `reference`.
pub async fn reference(source: &Path, t: &Target, reference: &Path) -> Result<(), VerifyError> {
    let bps = t.video_bps.to_string();
    let mut c = ffmpeg();
    c.args(["-v", "error", "-i"])
        .arg(source)
        .args(["-map", "0:v:0", "-vf"])
        .arg(format!("scale={}:{}", t.width, t.height))
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-b:v",
        ])
        .arg(&bps)
        .args(["-maxrate", &bps, "-bufsize", &bps, "-f", "mp4", "-y"])
        .arg(reference);
    run(c, "re-transcoding the source segment")
        .await
        .map_err(|e| match e {
            // The source is signed by the creator: if it does not decode the verifier cannot
            // judge the transcoder.
            VerifyError::Undecodable(m) => VerifyError::BadSource(m),
            o => o,
        })?;
    Ok(())
}

/// SSIM and PSNR of `rendition` against `reference`, both at the target size.
pub async fn compare(
    rendition: &Path,
    reference: &Path,
    t: &Target,
) -> Result<(f64, f64), VerifyError> {
    let graph = format!(
        "[0:v]scale={w}:{h},setpts=PTS-STARTPTS,format=yuv420p,split[a1][a2];\
         [1:v]setpts=PTS-STARTPTS,format=yuv420p,split[b1][b2];[a1][b1]ssim;[a2][b2]psnr",
        w = t.width,
        h = t.height
    );
    let mut c = ffmpeg();
    c.args(["-v", "info", "-i"])
        .arg(rendition)
        .arg("-i")
        .arg(reference)
        .args(["-filter_complex", &graph, "-f", "null", "-"]);
    let log = run(c, "comparing the rendition with the reference").await?;
    let ssim = parse_after(&log, "SSIM ", "All:").ok_or_else(|| {
        VerifyError::Undecodable("the ssim filter printed no score (no frames decoded?)".into())
    })?;
    let psnr = parse_after(&log, "PSNR ", "average:").ok_or_else(|| {
        VerifyError::Undecodable("the psnr filter printed no score (no frames decoded?)".into())
    })?;
    Ok((ssim, psnr.min(100.0)))
}

/// The number after `key` on the last log line containing `marker`.
fn parse_after(log: &str, marker: &str, key: &str) -> Option<f64> {
    let line = log.lines().rev().find(|l| l.contains(marker))?;
    let rest = &line[line.find(key)? + key.len()..];
    let v = rest.split_whitespace().next()?;
    if v == "inf" {
        return Some(f64::INFINITY);
    }
    v.parse().ok()
}

/// Measure `rendition` (bytes of init + segment) against `source` (bytes of init + segment)
/// re-transcoded to `t`; files live in `work` (a scratch directory).
pub async fn measure(
    source: &[u8],
    rendition: &[u8],
    t: &Target,
    work: &Path,
) -> Result<Scores, VerifyError> {
    let io =
        |e: std::io::Error| VerifyError::Tool(format!("scratch files in {}: {e}", work.display()));
    let (src, rend, reff) = (
        work.join("source.mp4"),
        work.join("rendition.mp4"),
        work.join("reference.mp4"),
    );
    tokio::fs::write(&src, source).await.map_err(io)?;
    tokio::fs::write(&rend, rendition).await.map_err(io)?;
    let (width, height) = probe_size(&rend).await?;
    reference(&src, t, &reff).await?;
    let (ssim, psnr) = compare(&rend, &reff, t).await?;
    Ok(Scores {
        ssim,
        psnr,
        width,
        height,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_after;

    #[test]
    fn parses_ffmpeg_score_lines() {
        let log = "[Parsed_ssim_7 @ 0x1] SSIM Y:0.99 (22.1) U:0.99 (21.6) V:0.99 (22.5) All:0.993873 (22.127406)\n\
                   [Parsed_psnr_8 @ 0x2] PSNR y:44.9 u:43.4 v:42.7 average:44.226092 min:43.58 max:45.54\n";
        assert_eq!(parse_after(log, "SSIM ", "All:"), Some(0.993873));
        assert_eq!(parse_after(log, "PSNR ", "average:"), Some(44.226092));
        assert_eq!(
            parse_after("PSNR y:inf average:inf min:inf", "PSNR ", "average:"),
            Some(f64::INFINITY)
        );
        assert_eq!(parse_after("nothing", "SSIM ", "All:"), None);
    }
}

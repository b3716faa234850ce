//! The SRT listener: ffmpeg (libsrt) listens, the encoder calls in with MPEG-TS; the stream key is
//! the SRT passphrase, so a caller without it cannot connect. The media is remuxed, not
//! re-encoded.

use std::net::SocketAddr;

/// ffmpeg input arguments for an SRT listener on `listen`.
pub fn ffmpeg_args(listen: SocketAddr, passphrase: Option<&str>) -> Vec<String> {
    let mut url = format!("srt://{listen}?mode=listener");
    if let Some(p) = passphrase {
        url.push_str("&passphrase=");
        url.push_str(p);
        url.push_str("&pbkeylen=16");
    }
    // MPEG-TS carries AAC with ADTS headers; MP4 wants raw AAC.
    [
        "-f",
        "mpegts",
        "-i",
        &url,
        "-c",
        "copy",
        "-bsf:a",
        "aac_adtstoasc",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

//! Ingest: where the encoder's bytes come from. Every source ends up as ffmpeg writing CMAF
//! fragmented MP4 to a pipe; this module builds the ffmpeg command per source
//! ([`synthetic`], [`srt`], RTMP via our own listener in [`rtmp`]) and supervises the child
//! ([`ffmpeg`]).

pub mod ffmpeg;
pub mod rtmp;
pub mod srt;
pub mod synthetic;

use std::net::SocketAddr;

use crate::error::{MediaError, Result};

/// Where the live stream comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// ffmpeg's lavfi test pattern + tone with the wall-clock time burned in.
    Synthetic(synthetic::SyntheticOptions),
    /// RTMP listener (OBS default): encoders push to `rtmp://{listen}/{app}/{key}`.
    Rtmp {
        listen: SocketAddr,
        app: String,
        key: String,
    },
    /// SRT listener (ffmpeg/libsrt); the key is the SRT passphrase (10–79 characters).
    Srt {
        listen: SocketAddr,
        passphrase: Option<String>,
    },
}

impl Source {
    /// Parse `synthetic`, `rtmp://host:port/app/key` or `srt://host:port[?passphrase=...]`.
    pub fn parse(s: &str) -> Result<Self> {
        if s == "synthetic" {
            return Ok(Source::Synthetic(synthetic::SyntheticOptions::default()));
        }
        if let Some(rest) = s.strip_prefix("rtmp://") {
            let (hostport, path) = rest.split_once('/').ok_or_else(|| {
                MediaError::BadSource(format!("`{s}`: want rtmp://host:port/app/<stream key>"))
            })?;
            let listen = parse_addr(hostport, 1935, s)?;
            let (app, key) = path.split_once('/').ok_or_else(|| {
                MediaError::BadSource(format!("`{s}`: want rtmp://host:port/app/<stream key>"))
            })?;
            if app.is_empty() || key.is_empty() || key.contains('/') {
                return Err(MediaError::BadSource(format!(
                    "`{s}`: app and stream key must be non-empty single path parts"
                )));
            }
            return Ok(Source::Rtmp {
                listen,
                app: app.to_string(),
                key: key.to_string(),
            });
        }
        if let Some(rest) = s.strip_prefix("srt://") {
            let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
            let listen = parse_addr(hostport.trim_end_matches('/'), 9000, s)?;
            let mut passphrase = None;
            for kv in query.split('&').filter(|kv| !kv.is_empty()) {
                match kv.split_once('=') {
                    Some(("passphrase", v)) => {
                        if !(10..=79).contains(&v.len()) {
                            return Err(MediaError::BadSource(
                                "SRT passphrase must be 10 to 79 characters".into(),
                            ));
                        }
                        passphrase = Some(v.to_string());
                    }
                    _ => {
                        return Err(MediaError::BadSource(format!(
                            "`{s}`: only the `passphrase` option is understood"
                        )));
                    }
                }
            }
            return Ok(Source::Srt { listen, passphrase });
        }
        Err(MediaError::BadSource(format!(
            "`{s}`: use `synthetic`, `rtmp://127.0.0.1:1935/live/<key>` or `srt://127.0.0.1:9000`"
        )))
    }
}

fn parse_addr(hostport: &str, default_port: u16, whole: &str) -> Result<SocketAddr> {
    let with_port = if hostport.contains(':') {
        hostport.to_string()
    } else {
        format!("{hostport}:{default_port}")
    };
    let with_port = with_port.replacen("localhost:", "127.0.0.1:", 1);
    with_port.parse().map_err(|_| {
        MediaError::BadSource(format!(
            "`{whole}`: `{hostport}` is not an IP:port to listen on"
        ))
    })
}

/// The ffmpeg output options shared by every source: CMAF fragmented MP4 on stdout, one
/// fragment per `frag_us` microseconds (and at every keyframe).
pub fn cmaf_output_args(frag_us: u64) -> Vec<String> {
    [
        "-f",
        "mp4",
        "-movflags",
        "+frag_keyframe+empty_moov+default_base_moof+cmaf",
        "-frag_duration",
        &frag_us.to_string(),
        "-flush_packets",
        "1",
        "pipe:1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(
            Source::parse("rtmp://127.0.0.1:1935/live/abc").unwrap(),
            Source::Rtmp {
                listen: "127.0.0.1:1935".parse().unwrap(),
                app: "live".into(),
                key: "abc".into()
            }
        );
        assert!(matches!(
            Source::parse("synthetic").unwrap(),
            Source::Synthetic(_)
        ));
        assert!(matches!(
            Source::parse("srt://127.0.0.1:9000?passphrase=0123456789").unwrap(),
            Source::Srt { .. }
        ));
        assert!(Source::parse("rtmp://127.0.0.1:1935/live").is_err());
        assert!(Source::parse("srt://127.0.0.1:9000?passphrase=short").is_err());
        assert!(Source::parse("http://x").is_err());
    }
}

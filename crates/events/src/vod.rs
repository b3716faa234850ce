//! NIP-71 video event as a tollcast recorder publishes it: the addressable *normal video*
//! (kind 34235, so a corrected or re-hosted recording replaces the old one) pointing at a
//! content-addressed HLS VOD playlist.
//!
//! Tags written, in order: `d` (the recorded stream's address, so one recording per stream and
//! recorder), `title`, `published_at`, `alt`, one `imeta` per playlist (`url`, `m`
//! `application/x-mpegURL`, `x` SHA-256 of the playlist bytes, `dim`?, `duration`, `bitrate`?,
//! `fallback`* mirrors, `service tollcast`), `duration` (s), `t`*, `p` host, `a` the live event
//! (`30311:<pubkey>:<d>`). Content: the stream's summary.
//!
//! The playlist and every chunk it names are content-addressed (`<sha256>.<ext>`), so a viewer
//! can fetch them from any mirror and check each byte against the hash chain rooted in `x`.

use nostr::prelude::{Event, EventBuilder, Keys, Kind, PublicKey};

use crate::error::{BuildError, EventError};
use crate::tags::{
    Sha256, StreamAddress, all, check, opt_val, parse_hash, parse_pubkey, parse_u64, single,
    single_value, tag, val,
};

/// NIP-71 addressable normal video.
pub const KIND_VIDEO_ADDRESSABLE: u16 = 34235;
/// NIP-71 regular normal video (parsed too; tollcast publishes the addressable kind).
pub const KIND_VIDEO: u16 = 21;
/// MIME type of HLS playlists in `imeta`.
pub const HLS_MIME: &str = "application/x-mpegURL";

/// One `imeta` variant.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoVariant {
    /// Primary URL.
    pub url: String,
    /// `m` MIME type.
    pub mime: String,
    /// `x` SHA-256 of the file at `url`.
    pub hash: Sha256,
    /// `dim` width x height.
    pub dim: Option<(u32, u32)>,
    /// `duration` seconds.
    pub duration: Option<f64>,
    /// `bitrate` bits/s.
    pub bitrate: Option<u64>,
    /// `fallback` URLs hosting the same bytes.
    pub fallbacks: Vec<String>,
}

/// A recorded stream published as a NIP-71 video.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoEvent {
    /// `d` identifier (tollcast: the recorded stream's address).
    pub identifier: String,
    /// `title` (required by NIP-71).
    pub title: String,
    /// Content: summary / description.
    pub summary: String,
    /// `published_at` unix seconds.
    pub published_at: Option<u64>,
    /// `alt` text.
    pub alt: Option<String>,
    /// `imeta` variants, the multivariant playlist first.
    pub variants: Vec<VideoVariant>,
    /// `duration` seconds (whole recording).
    pub duration: Option<f64>,
    /// `t` hashtags.
    pub hashtags: Vec<String>,
    /// `p` participants (the host first).
    pub participants: Vec<PublicKey>,
    /// `a`: the live event this is a recording of.
    pub live: Option<StreamAddress>,
}

fn fmt_secs(s: f64) -> String {
    let t = format!("{s:.3}");
    let t = t.trim_end_matches('0');
    t.strip_suffix('.').unwrap_or(t).to_string()
}

impl VideoVariant {
    fn to_tag_values(&self) -> Vec<String> {
        let mut v = vec![
            "imeta".to_string(),
            format!("url {}", self.url),
            format!("m {}", self.mime),
            format!("x {}", self.hash),
        ];
        if let Some((w, h)) = self.dim {
            v.push(format!("dim {w}x{h}"));
        }
        if let Some(d) = self.duration {
            v.push(format!("duration {}", fmt_secs(d)));
        }
        if let Some(b) = self.bitrate {
            v.push(format!("bitrate {b}"));
        }
        for f in &self.fallbacks {
            v.push(format!("fallback {f}"));
        }
        v.push("service tollcast".into());
        v
    }

    fn parse(t: &[String]) -> Result<Self, EventError> {
        let (mut url, mut mime, mut hash, mut dim, mut duration, mut bitrate) =
            (None, None, None, None, None, None);
        let mut fallbacks = Vec::new();
        for entry in &t[1..] {
            let Some((k, v)) = entry.split_once(' ') else {
                continue;
            };
            let v = v.trim();
            match k {
                "url" => url = Some(v.to_string()),
                "m" => mime = Some(v.to_string()),
                "x" => hash = Some(parse_hash(v, "imeta")?),
                "dim" => {
                    dim = v
                        .split_once('x')
                        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)));
                    if dim.is_none() {
                        return Err(EventError::bad("imeta", format!("dim `{v}` is not WxH")));
                    }
                }
                "duration" => {
                    let d: f64 = v.parse().map_err(|_| {
                        EventError::bad("imeta", format!("duration `{v}` is not a number"))
                    })?;
                    if !d.is_finite() || d < 0.0 {
                        return Err(EventError::bad("imeta", "duration must be >= 0"));
                    }
                    duration = Some(d);
                }
                "bitrate" => bitrate = Some(parse_u64(v, "imeta")?),
                "fallback" => fallbacks.push(v.to_string()),
                _ => {}
            }
        }
        Ok(VideoVariant {
            url: url.ok_or_else(|| EventError::bad("imeta", "no `url` entry"))?,
            mime: mime.ok_or_else(|| EventError::bad("imeta", "no `m` entry"))?,
            hash: hash.ok_or_else(|| EventError::bad("imeta", "no `x` entry"))?,
            dim,
            duration,
            bitrate,
            fallbacks,
        })
    }
}

impl VideoEvent {
    /// The unsigned kind-34235 event.
    pub fn to_builder(&self) -> Result<EventBuilder, BuildError> {
        if self.identifier.is_empty() {
            return Err(BuildError::Invalid(
                "a video event needs a `d` identifier".into(),
            ));
        }
        if self.title.is_empty() {
            return Err(BuildError::Invalid("NIP-71 requires a title".into()));
        }
        if self.variants.is_empty() {
            return Err(BuildError::Invalid(
                "a video event needs an imeta variant".into(),
            ));
        }
        let mut b = EventBuilder::new(Kind::from(KIND_VIDEO_ADDRESSABLE), self.summary.clone())
            .tag(tag(&["d", &self.identifier]))
            .tag(tag(&["title", &self.title]));
        if let Some(p) = self.published_at {
            b = b.tag(tag(&["published_at", &p.to_string()]));
        }
        if let Some(a) = &self.alt {
            b = b.tag(tag(&["alt", a]));
        }
        for v in &self.variants {
            b = b.tag(tag(&v.to_tag_values()));
        }
        if let Some(d) = self.duration {
            b = b.tag(tag(&["duration", &fmt_secs(d)]));
        }
        for t in &self.hashtags {
            b = b.tag(tag(&["t", t]));
        }
        for p in &self.participants {
            b = b.tag(tag(&["p", &p.to_hex()]));
        }
        if let Some(a) = &self.live {
            b = b.tag(tag(&["a", &a.to_string()]));
        }
        Ok(b)
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder()?, keys, created_at)
    }

    /// Parse and verify a NIP-71 video event (kinds 34235 or 21).
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        let kind = ev.kind.as_u16();
        if kind == KIND_VIDEO {
            check(ev, KIND_VIDEO, "21")?;
        } else {
            check(ev, KIND_VIDEO_ADDRESSABLE, "34235")?;
        }
        let identifier = single_value(ev, "d")?.unwrap_or_default();
        if kind == KIND_VIDEO_ADDRESSABLE && identifier.is_empty() {
            return Err(EventError::MissingTag("d"));
        }
        let variants = all(ev, "imeta")
            .map(VideoVariant::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if variants.is_empty() {
            return Err(EventError::MissingTag("imeta"));
        }
        let duration = match single_value(ev, "duration")? {
            Some(v) => Some(
                v.parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .ok_or_else(|| EventError::bad("duration", format!("`{v}` is not seconds")))?,
            ),
            None => None,
        };
        let live = match single(ev, "a")? {
            Some(t) => Some(val(t, 1, "a")?.parse::<StreamAddress>()?),
            None => None,
        };
        Ok(VideoEvent {
            identifier,
            title: single_value(ev, "title")?.ok_or(EventError::MissingTag("title"))?,
            summary: ev.content.clone(),
            published_at: single_value(ev, "published_at")?
                .map(|v| parse_u64(&v, "published_at"))
                .transpose()?,
            alt: single(ev, "alt")?.and_then(|t| opt_val(t, 1)),
            variants,
            duration,
            hashtags: all(ev, "t")
                .map(|t| val(t, 1, "t").map(str::to_string))
                .collect::<Result<_, _>>()?,
            participants: all(ev, "p")
                .map(|t| parse_pubkey(val(t, 1, "p")?, "p"))
                .collect::<Result<_, _>>()?,
            live,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(keys: &Keys) -> VideoEvent {
        let host = Keys::generate().public_key();
        VideoEvent {
            identifier: format!("30311:{}:live", host.to_hex()),
            title: "Recorded show".into(),
            summary: "what happened".into(),
            published_at: Some(1_700_000_000),
            alt: Some("a recording".into()),
            variants: vec![VideoVariant {
                url: "http://127.0.0.1:9/aa.m3u8".into(),
                mime: HLS_MIME.into(),
                hash: Sha256([7; 32]),
                dim: Some((640, 360)),
                duration: Some(12.5),
                bitrate: Some(800_000),
                fallbacks: vec!["http://127.0.0.1:10/aa.m3u8".into()],
            }],
            duration: Some(12.5),
            hashtags: vec!["music".into()],
            participants: vec![host, keys.public_key()],
            live: Some(StreamAddress::new(host, "live")),
        }
    }

    #[test]
    fn round_trip() {
        let k = Keys::generate();
        let v = sample(&k);
        let ev = v.sign(&k, Some(1_700_000_001)).unwrap();
        assert_eq!(ev.kind.as_u16(), KIND_VIDEO_ADDRESSABLE);
        assert_eq!(VideoEvent::from_event(&ev).unwrap(), v);
        let imeta = ev
            .tags
            .iter()
            .find(|t| t.as_slice()[0] == "imeta")
            .unwrap()
            .as_slice()
            .to_vec();
        assert!(imeta.contains(&format!("x {}", Sha256([7; 32]))));
        assert!(imeta.contains(&"m application/x-mpegURL".to_string()));
    }

    #[test]
    fn refuses_bad_events() {
        let k = Keys::generate();
        let mut v = sample(&k);
        v.title.clear();
        assert!(v.sign(&k, None).is_err());
        let mut v = sample(&k);
        v.variants.clear();
        assert!(v.sign(&k, None).is_err());
        // Tampered content: the signature no longer matches.
        let mut ev = sample(&k).sign(&k, None).unwrap();
        ev.content = "changed".into();
        assert!(VideoEvent::from_event(&ev).is_err());
        // A bad x hash in imeta.
        let bad = EventBuilder::new(Kind::from(KIND_VIDEO_ADDRESSABLE), "")
            .tag(tag(&["d", "x"]))
            .tag(tag(&["title", "t"]))
            .tag(tag(&["imeta", "url http://a/b.m3u8", "m x", "x nothex"]));
        let ev = crate::finish(bad, &k, None).unwrap();
        assert!(VideoEvent::from_event(&ev).is_err());
    }
}

//! The signed evidence of a failed check: a NIP-56 report (kind 1984) naming the transcoder
//! (`p`, type `other`), the transcoder's manifest (`e`), the stream (`a`), plus tollcast tags
//! any client can check: the reason tag `["tollcast", "transcode-mismatch", <failure>]`,
//! the rung promised (`rendition`), the segment hashes (`x` source / rendition / init), the
//! scores with their thresholds (`ssim`, `psnr`) and the decoded size (`resolution`). A NIP-32
//! label (`L`/`l` `tollcast.verify`) makes it filterable by ordinary relays.
//!
//! ```text
//! kind 1984, content: human-readable summary
//! ["p", <transcoder hex>, "other"]  ["e", <manifest event id>, "other"]?  ["a", <stream address>]
//! ["tollcast", "transcode-mismatch", "low_quality"|"wrong_resolution"|"undecodable"]
//! ["rendition", <name>, "<w>x<h>", <bps>, <msn>]
//! ["x", <source segment hash>, "source"] ["x", <rendition segment hash>, "rendition"] ["x", <init hash>, "init"]
//! ["ssim", <score>, <min>]? ["psnr", <score dB>, <min>]? ["resolution", "<w>x<h>"]?
//! ["L", "tollcast.verify"] ["l", "transcode-mismatch", "tollcast.verify"]
//! ```

use tollcast_events::StreamAddress;
use tollcast_events::nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, Keys, Kind, PublicKey, Tag,
};

use super::VerifyError;
use super::compare::{Scores, Target};

/// NIP-56 report kind.
pub const KIND_REPORT: u16 = 1984;
/// Value of the tollcast reason tag.
pub const REASON: &str = "transcode-mismatch";
/// NIP-32 namespace of the label.
pub const LABEL_NAMESPACE: &str = "tollcast.verify";

/// Why the check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// Scores under the thresholds.
    LowQuality,
    /// Decoded size differs from the rung's.
    WrongResolution,
    /// The rendition segment does not decode.
    Undecodable,
}

impl Failure {
    pub fn as_str(&self) -> &'static str {
        match self {
            Failure::LowQuality => "low_quality",
            Failure::WrongResolution => "wrong_resolution",
            Failure::Undecodable => "undecodable",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "low_quality" => Failure::LowQuality,
            "wrong_resolution" => Failure::WrongResolution,
            "undecodable" => Failure::Undecodable,
            _ => return None,
        })
    }
}

/// A report about one rendition segment.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeReport {
    pub transcoder: PublicKey,
    pub stream: StreamAddress,
    /// The transcoder's signed manifest of the segment (the evidence it signed).
    pub manifest: Option<EventId>,
    pub failure: Failure,
    pub target: Target,
    pub msn: u64,
    pub source_segment: String,
    pub rendition_segment: String,
    pub rendition_init: String,
    /// Scores (None when the rendition did not decode).
    pub scores: Option<Scores>,
    pub ssim_min: f64,
    pub psnr_min: f64,
    /// Human-readable summary.
    pub content: String,
}

/// Value `i` of a tag, or "" when missing.
fn at(t: &[String], i: usize) -> &str {
    t.get(i).map(String::as_str).unwrap_or("")
}

fn tag(v: &[&str]) -> Result<Tag, VerifyError> {
    Tag::parse(v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .map_err(|e| VerifyError::Report(e.to_string()))
}

impl TranscodeReport {
    /// Sign as kind 1984 with the verifier's keys.
    pub fn sign(&self, keys: &Keys) -> Result<Event, VerifyError> {
        let t = &self.target;
        let mut b = EventBuilder::new(Kind::from(KIND_REPORT), self.content.clone()).tag(tag(&[
            "p",
            &self.transcoder.to_hex(),
            "other",
        ])?);
        if let Some(e) = &self.manifest {
            b = b.tag(tag(&["e", &e.to_hex(), "other"])?);
        }
        b = b
            .tag(tag(&["a", &self.stream.to_string()])?)
            .tag(tag(&["tollcast", REASON, self.failure.as_str()])?)
            .tag(tag(&[
                "rendition",
                &t.name,
                &format!("{}x{}", t.width, t.height),
                &t.video_bps.to_string(),
                &self.msn.to_string(),
            ])?)
            .tag(tag(&["x", &self.source_segment, "source"])?)
            .tag(tag(&["x", &self.rendition_segment, "rendition"])?)
            .tag(tag(&["x", &self.rendition_init, "init"])?);
        if let Some(s) = &self.scores {
            b = b
                .tag(tag(&[
                    "ssim",
                    &format!("{:.6}", s.ssim),
                    &self.ssim_min.to_string(),
                ])?)
                .tag(tag(&[
                    "psnr",
                    &format!("{:.3}", s.psnr),
                    &self.psnr_min.to_string(),
                ])?)
                .tag(tag(&["resolution", &format!("{}x{}", s.width, s.height)])?);
        }
        b = b
            .tag(tag(&["L", LABEL_NAMESPACE])?)
            .tag(tag(&["l", REASON, LABEL_NAMESPACE])?);
        b.finalize(keys)
            .map_err(|e| VerifyError::Report(e.to_string()))
    }

    /// Verify (id, signature, kind) and parse a report; `Err` for anything else, including
    /// ordinary NIP-56 reports without the tollcast reason tag.
    pub fn from_event(ev: &Event) -> Result<Self, VerifyError> {
        let bad = |m: &str| VerifyError::Report(m.to_string());
        ev.verify().map_err(|e| bad(&format!("signature: {e}")))?;
        if ev.kind.as_u16() != KIND_REPORT {
            return Err(bad("not a kind-1984 report"));
        }
        let tags: Vec<&[String]> = ev.tags.iter().map(|t| t.as_slice()).collect();
        let find = |name: &str| {
            tags.iter()
                .find(|t| t.first().map(String::as_str) == Some(name))
        };
        let get = at;
        let reason = find("tollcast").ok_or_else(|| bad("no tollcast reason tag"))?;
        if get(reason, 1) != REASON {
            return Err(bad("tollcast reason is not transcode-mismatch"));
        }
        let failure = Failure::parse(get(reason, 2)).ok_or_else(|| bad("unknown failure kind"))?;
        let p = find("p").ok_or_else(|| bad("no p tag"))?;
        let transcoder = PublicKey::from_hex(get(p, 1)).map_err(|_| bad("p is not a pubkey"))?;
        let manifest = match find("e") {
            Some(e) => Some(EventId::from_hex(get(e, 1)).map_err(|_| bad("e is not an event id"))?),
            None => None,
        };
        let stream: StreamAddress = get(find("a").ok_or_else(|| bad("no a tag"))?, 1)
            .parse()
            .map_err(|_| bad("a is not a stream address"))?;
        let r = find("rendition").ok_or_else(|| bad("no rendition tag"))?;
        let (w, h) = get(r, 2)
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
            .ok_or_else(|| bad("rendition size is not WxH"))?;
        let target = Target {
            name: get(r, 1).to_string(),
            width: w,
            height: h,
            video_bps: get(r, 3).parse().map_err(|_| bad("rendition bit rate"))?,
        };
        let msn = get(r, 4).parse().map_err(|_| bad("rendition msn"))?;
        let x = |role: &str| -> Result<String, VerifyError> {
            let t = tags
                .iter()
                .copied()
                .find(|t| get(t, 0) == "x" && get(t, 2) == role)
                .ok_or_else(|| bad(&format!("no x tag for the {role}")))?;
            let h = get(t, 1);
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad("x is not a SHA-256 hex hash"));
            }
            Ok(h.to_string())
        };
        let num = |name: &str, i: usize| -> Option<f64> {
            find(name).and_then(|t| get(t, i).parse().ok())
        };
        let scores = match (num("ssim", 1), num("psnr", 1), find("resolution")) {
            (Some(ssim), Some(psnr), Some(r)) => {
                let (width, height) = get(r, 1)
                    .split_once('x')
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                    .ok_or_else(|| bad("resolution is not WxH"))?;
                Some(Scores {
                    ssim,
                    psnr,
                    width,
                    height,
                })
            }
            _ => None,
        };
        Ok(TranscodeReport {
            transcoder,
            stream,
            manifest,
            failure,
            target,
            msn,
            source_segment: x("source")?,
            rendition_segment: x("rendition")?,
            rendition_init: x("init")?,
            scores,
            ssim_min: num("ssim", 2).unwrap_or(0.0),
            psnr_min: num("psnr", 2).unwrap_or(0.0),
            content: ev.content.clone(),
        })
    }
}

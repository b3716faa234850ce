//! Segment manifest (tollcast kind 31311, addressable): the signed list of hashes and timings
//! of one media segment of one rendition, so anyone can verify every byte they receive.

use nostr::prelude::{Event, EventBuilder, Keys, Kind};

use crate::error::{BuildError, EventError};
use crate::tags::{
    Role, Sha256, StreamAddress, all, check, parse_hash, parse_u64, required, single_value, tag,
    val,
};

/// tollcast segment manifest (addressable; `d` = `<stream address>/<rendition>/<msn>`).
pub const KIND_SEGMENT_MANIFEST: u16 = 31311;

/// Most parts one manifest may list (a 2 s segment of 200 ms parts has 10).
pub const MAX_PARTS: usize = 1024;

/// One CMAF part: `["part", sha256, duration_us, size_bytes, independent "1"|"0"]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartInfo {
    /// SHA-256 of the part's bytes.
    pub hash: Sha256,
    /// Duration in microseconds.
    pub duration_us: u64,
    /// Size in bytes.
    pub size: u64,
    /// Starts with a keyframe (LL-HLS `INDEPENDENT=YES`).
    pub independent: bool,
}

impl PartInfo {
    /// The `part` tag (same form in kinds 31311 and 21311).
    pub(crate) fn to_tag(&self) -> nostr::prelude::Tag {
        tag(&[
            "part",
            &self.hash.to_string(),
            &self.duration_us.to_string(),
            &self.size.to_string(),
            if self.independent { "1" } else { "0" },
        ])
    }

    /// Parse one `part` tag.
    pub(crate) fn from_tag(t: &[String]) -> Result<Self, EventError> {
        Ok(PartInfo {
            hash: parse_hash(val(t, 1, "part")?, "part")?,
            duration_us: parse_u64(val(t, 2, "part")?, "part")?,
            size: parse_u64(val(t, 3, "part")?, "part")?,
            independent: match val(t, 4, "part")? {
                "1" => true,
                "0" => false,
                o => {
                    return Err(EventError::bad(
                        "part",
                        format!("independent flag `{o}` is not 0 or 1"),
                    ));
                }
            },
        })
    }

    /// Every `part` tag of `ev` in order; more than [`MAX_PARTS`] is an error (checked before
    /// parsing the excess, so a huge event costs no more than the limit).
    pub(crate) fn all_from_event(ev: &Event) -> Result<Vec<Self>, EventError> {
        let mut parts = Vec::new();
        for t in all(ev, "part") {
            if parts.len() == MAX_PARTS {
                return Err(EventError::bad(
                    "part",
                    format!("more than {MAX_PARTS} parts"),
                ));
            }
            parts.push(PartInfo::from_tag(t)?);
        }
        Ok(parts)
    }
}

/// Manifest of one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentManifest {
    /// `a`: the stream.
    pub stream: StreamAddress,
    /// `rendition`: e.g. `source`, `720p`.
    pub rendition: String,
    /// `msn`: media sequence number of the segment.
    pub msn: u64,
    /// `init`: SHA-256 of the rendition's init segment.
    pub init: Sha256,
    /// `part` tags in order.
    pub parts: Vec<PartInfo>,
    /// `segment`: SHA-256 and size of the whole segment (the parts concatenated).
    pub segment: Sha256,
    /// Segment size in bytes (2nd value of `segment`).
    pub segment_size: u64,
    /// `duration`: segment duration in microseconds.
    pub duration_us: u64,
    /// `captured`: wall-clock capture time of the segment's first frame, unix milliseconds.
    pub captured_ms: u64,
    /// `source`: hashes of the source segments a transcoded rendition was made from.
    pub sources: Vec<Sha256>,
    /// `role`: who produced it (streamer for the source, transcoder for renditions).
    pub role: Role,
}

impl SegmentManifest {
    /// The `d` identifier this manifest must carry.
    pub fn identifier(&self) -> String {
        format!("{}/{}/{}", self.stream, self.rendition, self.msn)
    }

    /// The unsigned event.
    pub fn to_builder(&self) -> Result<EventBuilder, BuildError> {
        if self.rendition.is_empty() || self.rendition.contains('/') {
            return Err(BuildError::Invalid(
                "rendition must be non-empty and contain no `/`".into(),
            ));
        }
        if self.parts.len() > MAX_PARTS {
            return Err(BuildError::Invalid(format!("more than {MAX_PARTS} parts")));
        }
        let mut b = EventBuilder::new(Kind::from(KIND_SEGMENT_MANIFEST), "")
            .tag(tag(&["d", &self.identifier()]))
            .tag(tag(&["a", &self.stream.to_string()]))
            .tag(tag(&["rendition", &self.rendition]))
            .tag(tag(&["msn", &self.msn.to_string()]))
            .tag(tag(&["init", &self.init.to_string()]));
        for p in &self.parts {
            b = b.tag(p.to_tag());
        }
        b = b
            .tag(tag(&[
                "segment",
                &self.segment.to_string(),
                &self.segment_size.to_string(),
            ]))
            .tag(tag(&["duration", &self.duration_us.to_string()]))
            .tag(tag(&["captured", &self.captured_ms.to_string()]));
        for s in &self.sources {
            b = b.tag(tag(&["source", &s.to_string()]));
        }
        Ok(b.tag(tag(&["role", self.role.as_str()])))
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder()?, keys, created_at)
    }

    /// Parse and verify a kind-31311 event; the parts' sizes must add up to the segment size
    /// and the `d` tag must match the stream, rendition and msn.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_SEGMENT_MANIFEST, "31311")?;
        let num = |name: &'static str| -> Result<u64, EventError> {
            parse_u64(
                &single_value(ev, name)?.ok_or(EventError::MissingTag(name))?,
                name,
            )
        };
        let parts = PartInfo::all_from_event(ev)?;
        let seg = required(ev, "segment")?;
        let segment_size = parse_u64(val(seg, 2, "segment")?, "segment")?;
        if !parts.is_empty() {
            let sum = parts
                .iter()
                .try_fold(0u64, |acc, p| acc.checked_add(p.size));
            if sum != Some(segment_size) {
                return Err(EventError::bad(
                    "segment",
                    "part sizes do not add up to the segment size",
                ));
            }
        }
        let m = SegmentManifest {
            stream: val(required(ev, "a")?, 1, "a")?.parse()?,
            rendition: single_value(ev, "rendition")?.ok_or(EventError::MissingTag("rendition"))?,
            msn: num("msn")?,
            init: parse_hash(val(required(ev, "init")?, 1, "init")?, "init")?,
            parts,
            segment: parse_hash(val(seg, 1, "segment")?, "segment")?,
            segment_size,
            duration_us: num("duration")?,
            captured_ms: num("captured")?,
            sources: all(ev, "source")
                .map(|t| parse_hash(val(t, 1, "source")?, "source"))
                .collect::<Result<_, _>>()?,
            role: single_value(ev, "role")?
                .ok_or(EventError::MissingTag("role"))?
                .parse()?,
        };
        let d = single_value(ev, "d")?.ok_or(EventError::MissingTag("d"))?;
        if d != m.identifier() {
            return Err(EventError::bad(
                "d",
                format!("`{d}` is not `{}`", m.identifier()),
            ));
        }
        Ok(m)
    }
}

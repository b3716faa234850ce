//! Part manifest (tollcast kind 21311, ephemeral): the producer's signed list of the parts of
//! the segment it is cutting, so far. Signed right after each part is stored, it lets relays and
//! viewers verify and pass on a part at once instead of waiting for the segment to close and its
//! kind-31311 [`crate::manifest::SegmentManifest`]. The list is cumulative (every part of the
//! open segment up to the newest), so a subscriber that joins mid-segment catches up with the
//! next one. Ephemeral (NIP-01 range 20000-29999): Nostr relays fan it out live and never store
//! it; the stored record of a segment stays its 31311 manifest.

use nostr::prelude::{Event, EventBuilder, Keys, Kind};

use crate::error::{BuildError, EventError};
use crate::manifest::{MAX_PARTS, PartInfo};
use crate::tags::{
    Role, Sha256, StreamAddress, check, parse_hash, parse_u64, required, single_value, tag, val,
};

/// tollcast part manifest (ephemeral).
pub const KIND_PART_MANIFEST: u16 = 21311;

/// The parts of one open segment signed so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartManifest {
    /// `a`: the stream.
    pub stream: StreamAddress,
    /// `rendition`: e.g. `source`, `720p` (non-empty, no `/`).
    pub rendition: String,
    /// `msn`: media sequence number of the open segment.
    pub msn: u64,
    /// `init`: SHA-256 of the rendition's init segment.
    pub init: Sha256,
    /// `part` tags in order: the segment's parts 0..=n (at least one, at most [`MAX_PARTS`]).
    pub parts: Vec<PartInfo>,
    /// `captured`: wall-clock capture time of the segment's first frame, unix milliseconds.
    pub captured_ms: u64,
    /// `role`: who produced it (streamer for the source, transcoder for renditions).
    pub role: Role,
}

impl PartManifest {
    fn check_shape(rendition: &str, parts: usize) -> Result<(), String> {
        if rendition.is_empty() || rendition.contains('/') {
            return Err("rendition must be non-empty and contain no `/`".into());
        }
        if parts == 0 {
            return Err("a part manifest lists at least one part".into());
        }
        if parts > MAX_PARTS {
            return Err(format!("more than {MAX_PARTS} parts"));
        }
        Ok(())
    }

    /// The unsigned event.
    pub fn to_builder(&self) -> Result<EventBuilder, BuildError> {
        Self::check_shape(&self.rendition, self.parts.len()).map_err(BuildError::Invalid)?;
        let mut b = EventBuilder::new(Kind::from(KIND_PART_MANIFEST), "")
            .tag(tag(&["a", &self.stream.to_string()]))
            .tag(tag(&["rendition", &self.rendition]))
            .tag(tag(&["msn", &self.msn.to_string()]))
            .tag(tag(&["init", &self.init.to_string()]));
        for p in &self.parts {
            b = b.tag(p.to_tag());
        }
        Ok(b.tag(tag(&["captured", &self.captured_ms.to_string()]))
            .tag(tag(&["role", self.role.as_str()])))
    }

    /// Sign with `keys`, at `created_at` (unix seconds) or now.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder()?, keys, created_at)
    }

    /// Parse and verify a kind-21311 event (id, signature, kind, tags). Whether its signer may
    /// speak for the stream is the caller's decision.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_PART_MANIFEST, "21311")?;
        let num = |name: &'static str| -> Result<u64, EventError> {
            parse_u64(
                &single_value(ev, name)?.ok_or(EventError::MissingTag(name))?,
                name,
            )
        };
        let parts = PartInfo::all_from_event(ev)?;
        let rendition =
            single_value(ev, "rendition")?.ok_or(EventError::MissingTag("rendition"))?;
        if parts.is_empty() {
            return Err(EventError::MissingTag("part"));
        }
        Self::check_shape(&rendition, parts.len()).map_err(|e| EventError::bad("rendition", e))?;
        // The sizes of one segment's parts must not overflow when a reader adds them up.
        if parts
            .iter()
            .try_fold(0u64, |acc, p| acc.checked_add(p.size))
            .is_none()
        {
            return Err(EventError::bad("part", "part sizes overflow"));
        }
        Ok(PartManifest {
            stream: val(required(ev, "a")?, 1, "a")?.parse()?,
            rendition,
            msn: num("msn")?,
            init: parse_hash(val(required(ev, "init")?, 1, "init")?, "init")?,
            parts,
            captured_ms: num("captured")?,
            role: single_value(ev, "role")?
                .ok_or(EventError::MissingTag("role"))?
                .parse()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{KIND_SEGMENT_MANIFEST, SegmentManifest};
    use nostr::prelude::{FinalizeEvent, SecretKey, Tag};

    fn keys(n: u8) -> Keys {
        let mut b = [0u8; 32];
        b[31] = n;
        Keys::new(SecretKey::from_slice(&b).unwrap())
    }

    fn part(n: u8, size: u64, independent: bool) -> PartInfo {
        PartInfo {
            hash: Sha256([n; 32]),
            duration_us: 200_000,
            size,
            independent,
        }
    }

    fn sample() -> PartManifest {
        PartManifest {
            stream: StreamAddress::new(keys(1).public_key(), "show"),
            rendition: "720p".into(),
            msn: 42,
            init: Sha256([9; 32]),
            parts: vec![part(1, 1000, true), part(2, 1500, false)],
            captured_ms: 1_760_000_000_123,
            role: Role::Transcoder,
        }
    }

    /// Re-sign `ev`'s tags edited by `f` (validly signed, malformed).
    fn edit(ev: &Event, f: impl FnOnce(&mut Vec<Vec<String>>)) -> Event {
        let mut tags: Vec<Vec<String>> = ev.tags.iter().map(|t| t.as_slice().to_vec()).collect();
        f(&mut tags);
        EventBuilder::new(ev.kind, ev.content.clone())
            .tags(tags.into_iter().map(|t| Tag::parse(t).unwrap()))
            .custom_created_at(ev.created_at)
            .finalize(&keys(1))
            .unwrap()
    }

    #[test]
    fn round_trip_exact_tags_and_toon() {
        let m = sample();
        let ev = m.sign(&keys(1), Some(1_760_000_000)).unwrap();
        assert_eq!(ev.kind.as_u16(), KIND_PART_MANIFEST);
        assert!(
            ev.kind.is_ephemeral(),
            "21311 is in the NIP-01 ephemeral range"
        );
        let names: Vec<&str> = ev.tags.iter().map(|t| t.as_slice()[0].as_str()).collect();
        assert_eq!(
            names,
            [
                "a",
                "rendition",
                "msn",
                "init",
                "part",
                "part",
                "captured",
                "role"
            ]
        );
        let p0 = ev.tags.iter().find(|t| t.as_slice()[0] == "part").unwrap();
        assert_eq!(
            p0.as_slice()[1..],
            [
                "01".repeat(32),
                "200000".to_string(),
                "1000".to_string(),
                "1".to_string()
            ]
        );
        assert_eq!(PartManifest::from_event(&ev).unwrap(), m);
        let back = crate::from_toon(&crate::to_toon(&ev)).unwrap();
        assert_eq!(back, ev);
        assert_eq!(PartManifest::from_event(&back).unwrap(), m);
        // The same `part` tags parse in a segment manifest: one format for both kinds.
        assert!(SegmentManifest::from_event(&ev).is_err());
    }

    #[test]
    fn forged_and_wrong_kind_are_refused() {
        let ev = sample().sign(&keys(1), Some(1_760_000_000)).unwrap();
        // Tampered tag, old signature.
        let mut forged = ev.clone();
        forged.tags = edit(&ev, |t| {
            t.iter_mut()
                .filter(|x| x[0] == "part")
                .for_each(|x| x[3] = "999".into())
        })
        .tags;
        assert!(matches!(
            PartManifest::from_event(&forged),
            Err(EventError::Verify(_))
        ));
        // A validly signed segment manifest is not a part manifest.
        let seg = EventBuilder::new(Kind::from(KIND_SEGMENT_MANIFEST), "")
            .tags(ev.tags.iter().cloned())
            .finalize(&keys(1))
            .unwrap();
        assert!(matches!(
            PartManifest::from_event(&seg),
            Err(EventError::WrongKind { got: 31311, .. })
        ));
    }

    type Edit = dyn FnOnce(&mut Vec<Vec<String>>);

    #[test]
    fn malformed_tags_are_typed_errors() {
        let ev = sample().sign(&keys(1), Some(1_760_000_000)).unwrap();
        let cases: Vec<(&str, Box<Edit>)> = vec![
            ("no parts", Box::new(|t| t.retain(|x| x[0] != "part"))),
            ("no a", Box::new(|t| t.retain(|x| x[0] != "a"))),
            ("no init", Box::new(|t| t.retain(|x| x[0] != "init"))),
            ("no role", Box::new(|t| t.retain(|x| x[0] != "role"))),
            (
                "no captured",
                Box::new(|t| t.retain(|x| x[0] != "captured")),
            ),
            (
                "two msn",
                Box::new(|t| t.push(vec!["msn".into(), "1".into()])),
            ),
            (
                "slash rendition",
                Box::new(|t| {
                    t.iter_mut()
                        .filter(|x| x[0] == "rendition")
                        .for_each(|x| x[1] = "a/b".into())
                }),
            ),
            (
                "short part",
                Box::new(|t| {
                    t.iter_mut()
                        .filter(|x| x[0] == "part")
                        .for_each(|x| x.truncate(3))
                }),
            ),
            (
                "flag 2",
                Box::new(|t| {
                    t.iter_mut()
                        .filter(|x| x[0] == "part")
                        .for_each(|x| x[4] = "2".into())
                }),
            ),
            (
                "upper-case hash",
                Box::new(|t| {
                    t.iter_mut()
                        .filter(|x| x[0] == "init")
                        .for_each(|x| x[1] = "AB".repeat(32))
                }),
            ),
            (
                "size overflow",
                Box::new(|t| {
                    t.iter_mut()
                        .filter(|x| x[0] == "part")
                        .for_each(|x| x[3] = u64::MAX.to_string())
                }),
            ),
            (
                "msn not a number",
                Box::new(|t| {
                    t.iter_mut()
                        .filter(|x| x[0] == "msn")
                        .for_each(|x| x[1] = "+1".into())
                }),
            ),
        ];
        for (what, f) in cases {
            let bad = edit(&ev, f);
            assert!(
                PartManifest::from_event(&bad).is_err(),
                "{what} should be refused"
            );
        }
    }

    #[test]
    fn oversized_part_lists_are_refused_both_ways() {
        let mut m = sample();
        m.parts = (0..=MAX_PARTS).map(|i| part(i as u8, 10, i == 0)).collect();
        assert!(matches!(
            m.sign(&keys(1), None),
            Err(BuildError::Invalid(_))
        ));
        m.parts.pop();
        let ev = m.sign(&keys(1), None).unwrap();
        assert_eq!(
            PartManifest::from_event(&ev).unwrap().parts.len(),
            MAX_PARTS
        );
        let over = edit(&ev, |t| {
            t.push(vec![
                "part".into(),
                "07".repeat(32),
                "1".into(),
                "1".into(),
                "0".into(),
            ])
        });
        assert!(matches!(
            PartManifest::from_event(&over),
            Err(EventError::BadTag { tag: "part", .. })
        ));
        let mut empty = sample();
        empty.parts.clear();
        assert!(empty.sign(&keys(1), None).is_err());
    }
}

//! The relay's book of signed manifests: which chunk hashes (init, parts, segment) a trusted
//! producer signed for the relayed stream, with their sizes. A chunk is served only once its hash
//! is in the book and its bytes hash to it, so a relay never passes on bytes the producer did not
//! sign, whoever sent them. Two kinds fill it: the part manifest (21311, ephemeral, signed after
//! every part: a part is servable as soon as it exists) and the segment manifest (31311, signed
//! when the segment closes: adds the whole segment, and covers anyone who missed part manifests).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tollcast_events::StreamAddress;
use tollcast_events::manifest::KIND_SEGMENT_MANIFEST;
use tollcast_events::nostr::prelude::{Event, PublicKey};
use tollcast_events::part_manifest::KIND_PART_MANIFEST;
use tollcast_media::manifest::{PartManifest, SegmentManifest};

use super::RelayError;

/// Hashes remembered (oldest forgotten first); a stream of 1 s segments of 5 parts adds ~7/s.
pub const DEFAULT_CAPACITY: usize = 200_000;

struct Book {
    /// hash -> expected size (None for the init, whose size manifests do not carry).
    sizes: HashMap<String, Option<u64>>,
    order: VecDeque<String>,
    /// Manifest event ids seen (duplicates from several Nostr relays are ignored).
    seen: HashSet<String>,
    seen_order: VecDeque<String>,
}

/// Trusted manifests of one stream.
pub struct ManifestBook {
    stream: StreamAddress,
    signers: HashSet<PublicKey>,
    capacity: usize,
    book: Mutex<Book>,
    changed: watch::Sender<u64>,
}

/// A verified, trusted manifest of either kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    /// Kind 31311: a closed segment.
    Segment(SegmentManifest),
    /// Kind 21311: the parts of an open segment so far.
    Parts(PartManifest),
}

impl Listed {
    pub fn rendition(&self) -> &str {
        match self {
            Listed::Segment(m) => &m.rendition,
            Listed::Parts(m) => &m.rendition,
        }
    }

    pub fn msn(&self) -> u64 {
        match self {
            Listed::Segment(m) => m.msn,
            Listed::Parts(m) => m.msn,
        }
    }
}

/// What [`ManifestBook::accept`] did with a valid manifest.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// New: its hashes are now servable.
    New(Listed),
    /// Seen before (same event id).
    Duplicate,
}

impl ManifestBook {
    /// A book for `stream`, trusting manifests signed by the stream's author and by `extra`
    /// signers (e.g. the transcoder chosen for the renditions).
    pub fn new(stream: StreamAddress, extra: impl IntoIterator<Item = PublicKey>) -> Self {
        let mut signers: HashSet<PublicKey> = extra.into_iter().collect();
        signers.insert(stream.pubkey);
        let (changed, _) = watch::channel(0);
        Self {
            stream,
            signers,
            capacity: DEFAULT_CAPACITY,
            book: Mutex::new(Book {
                sizes: HashMap::new(),
                order: VecDeque::new(),
                seen: HashSet::new(),
                seen_order: VecDeque::new(),
            }),
            changed,
        }
    }

    pub fn stream(&self) -> &StreamAddress {
        &self.stream
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take a kind-31311 (segment) or kind-21311 (part) manifest event: check its id and
    /// signature, that it is for our stream and signed by a trusted key; then its hashes become
    /// servable. Bad input changes nothing.
    pub fn accept(&self, event: &Event) -> Result<Accepted, RelayError> {
        let id = event.id.to_hex();
        if self.lock().seen.contains(&id) {
            return Ok(Accepted::Duplicate);
        }
        let bad = |e: tollcast_media::error::MediaError| RelayError::Manifest(e.to_string());
        let (listed, stream): (Listed, StreamAddress) = match event.kind.as_u16() {
            KIND_SEGMENT_MANIFEST => {
                let (m, stream, _role) = SegmentManifest::from_event(event).map_err(bad)?;
                (Listed::Segment(m), stream)
            }
            KIND_PART_MANIFEST => {
                let (m, stream, _role) = PartManifest::from_event(event).map_err(bad)?;
                (Listed::Parts(m), stream)
            }
            k => {
                return Err(RelayError::Manifest(format!(
                    "kind {k} is not a manifest ({KIND_SEGMENT_MANIFEST} or {KIND_PART_MANIFEST})"
                )));
            }
        };
        if stream != self.stream {
            return Err(RelayError::Manifest(format!(
                "manifest is for stream {stream}, this relay carries {}",
                self.stream
            )));
        }
        if !self.signers.contains(&event.pubkey) {
            return Err(RelayError::Manifest(format!(
                "manifest signed by {}, who is not a trusted producer of {}",
                event.pubkey.to_hex(),
                self.stream
            )));
        }
        let mut b = self.lock();
        let mut add = |hash: &str, size: Option<u64>| {
            if b.sizes.insert(hash.to_string(), size).is_none() {
                b.order.push_back(hash.to_string());
            }
        };
        match &listed {
            Listed::Segment(m) => {
                add(&m.init, None);
                for p in &m.parts {
                    add(&p.hash, Some(p.size));
                }
                add(&m.segment, Some(m.segment_size));
            }
            Listed::Parts(m) => {
                add(&m.init, None);
                for p in &m.parts {
                    add(&p.hash, Some(p.size));
                }
            }
        }
        while b.order.len() > self.capacity {
            if let Some(old) = b.order.pop_front() {
                b.sizes.remove(&old);
            }
        }
        b.seen.insert(id.clone());
        b.seen_order.push_back(id);
        while b.seen_order.len() > self.capacity / 8 {
            if let Some(old) = b.seen_order.pop_front() {
                b.seen.remove(&old);
            }
        }
        drop(b);
        self.changed.send_modify(|v| *v += 1);
        Ok(Accepted::New(listed))
    }

    /// `Some(expected size)` if a trusted manifest lists `hash` (`Some(None)`: size unknown).
    pub fn lookup(&self, hash: &str) -> Option<Option<u64>> {
        self.lock().sizes.get(hash).copied()
    }

    /// Wait up to `timeout` for a manifest listing `hash`: a part's bytes can reach us a little
    /// before its part manifest does (or, from a producer that signs no part manifests, up to a
    /// segment before its segment manifest).
    pub async fn wait_for(&self, hash: &str, timeout: Duration) -> Option<Option<u64>> {
        let mut rx = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.lookup(hash) {
                return Some(s);
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.lookup(hash),
            }
        }
    }

    /// Hashes known.
    pub fn len(&self) -> usize {
        self.lock().sizes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollcast_events::Role;
    use tollcast_events::nostr::prelude::{EventBuilder, FinalizeEvent, Keys};
    use tollcast_media::manifest::ManifestPart;

    fn part(n: u8, size: u64) -> ManifestPart {
        ManifestPart {
            hash: format!("{n:02x}").repeat(32),
            duration: 0.2,
            independent: n == 1,
            size,
        }
    }

    fn list(parts: Vec<ManifestPart>) -> PartManifest {
        PartManifest {
            rendition: "source".into(),
            msn: 7,
            init: "aa".repeat(32),
            parts,
            capture_ms: 1,
        }
    }

    #[test]
    fn part_and_segment_manifests_fill_the_book_with_sizes() {
        let creator = Keys::generate();
        let stream = StreamAddress::new(creator.public_key(), "s");
        let book = ManifestBook::new(stream.clone(), []);
        let changes = book.changed.subscribe();
        let ev = list(vec![part(1, 100)])
            .sign(&creator, &stream, Role::Streamer)
            .unwrap();
        match book.accept(&ev).unwrap() {
            Accepted::New(Listed::Parts(p)) => assert_eq!((p.msn, p.parts.len()), (7, 1)),
            other => panic!("{other:?}"),
        }
        assert!(changes.has_changed().unwrap(), "waiters are woken");
        assert_eq!(book.lookup(&"01".repeat(32)), Some(Some(100)));
        assert_eq!(
            book.lookup(&"aa".repeat(32)),
            Some(None),
            "init, size unknown"
        );
        assert_eq!(book.lookup(&"02".repeat(32)), None);
        // The next cumulative list adds part 2; the first part stays with its size.
        let ev2 = list(vec![part(1, 100), part(2, 50)])
            .sign(&creator, &stream, Role::Streamer)
            .unwrap();
        assert!(matches!(book.accept(&ev2), Ok(Accepted::New(_))));
        assert_eq!(book.lookup(&"02".repeat(32)), Some(Some(50)));
        assert_eq!(book.accept(&ev2).unwrap(), Accepted::Duplicate);
        // The segment manifest adds the whole segment.
        let seg = SegmentManifest {
            rendition: "source".into(),
            msn: 7,
            init: "aa".repeat(32),
            segment: "bb".repeat(32),
            segment_size: 150,
            parts: vec![part(1, 100), part(2, 50)],
            duration: 0.4,
            capture_ms: 1,
            source: None,
        };
        let ev3 = seg.sign(&creator, &stream, Role::Streamer).unwrap();
        assert!(matches!(
            book.accept(&ev3),
            Ok(Accepted::New(Listed::Segment(_)))
        ));
        assert_eq!(book.lookup(&"bb".repeat(32)), Some(Some(150)));
    }

    #[test]
    fn foreign_untrusted_and_other_kinds_change_nothing() {
        let creator = Keys::generate();
        let stream = StreamAddress::new(creator.public_key(), "s");
        let book = ManifestBook::new(stream.clone(), []);
        let other_stream = StreamAddress::new(creator.public_key(), "other");
        let l = list(vec![part(3, 10)]);
        let foreign = l.sign(&creator, &other_stream, Role::Streamer).unwrap();
        let e = book.accept(&foreign).unwrap_err().to_string();
        assert!(e.contains("is for stream"), "{e}");
        let stranger = l.sign(&Keys::generate(), &stream, Role::Streamer).unwrap();
        let e = book.accept(&stranger).unwrap_err().to_string();
        assert!(e.contains("not a trusted producer"), "{e}");
        let chat = EventBuilder::new(tollcast_events::nostr::prelude::Kind::from(1311), "hi")
            .finalize(&creator)
            .unwrap();
        let e = book.accept(&chat).unwrap_err().to_string();
        assert!(e.contains("not a manifest"), "{e}");
        let mut forged = l.sign(&creator, &stream, Role::Streamer).unwrap();
        forged.content = "changed".into();
        assert!(book.accept(&forged).is_err());
        assert!(book.is_empty(), "nothing listed");
        // A trusted transcoder's part list is accepted.
        let tx = Keys::generate();
        let book = ManifestBook::new(stream.clone(), [tx.public_key()]);
        let ev = l.sign(&tx, &stream, Role::Transcoder).unwrap();
        assert!(matches!(book.accept(&ev), Ok(Accepted::New(_))));
        assert_eq!(book.lookup(&"03".repeat(32)), Some(Some(10)));
    }
}

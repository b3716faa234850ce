//! Finding what to watch and who sells it: the viewer names a stream (`naddr1...`, an npub /
//! hex key = that author's newest live kind-30311 event, or `30311:<hex>:<d>`); we fetch its
//! live event and the kind-31312 relay offers for it from the Nostr relays given plus the
//! relay hints (naddr, the event's `relays` tag), and the viewer's follow graph (kind 3, two
//! degrees) for social distance.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tollcast_events::StreamAddress;
use tollcast_events::live::{KIND_LIVE_EVENT, LiveEvent, LiveStatus};
use tollcast_events::nostr::prelude::{Event, Filter, Kind, PublicKey};
use tollcast_events::offer::{KIND_RELAY_OFFER, RelayOffer};
use tollcast_net::nostr_relay::client::ClientOptions;
use tollcast_net::nostr_relay::pool::RelayPool;

use super::ViewerError;

/// What the user asked to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A known stream address (from `naddr` or `30311:<hex>:<d>`), with relay hints.
    Address(StreamAddress, Vec<String>),
    /// The newest live stream of this author.
    Author(PublicKey),
}

impl Target {
    /// Parse `naddr1...`, `npub1...`/64-hex, or `30311:<hex>:<d>`.
    pub fn parse(s: &str) -> Result<Self, ViewerError> {
        let s = s.trim();
        let bad = |why: String| ViewerError::Target(format!("`{s}`: {why}"));
        if s.starts_with("naddr1") {
            use tollcast_events::nostr::nips::nip19::{FromBech32, Nip19Coordinate};
            let c = Nip19Coordinate::from_bech32(s).map_err(|e| bad(e.to_string()))?;
            if c.coordinate.kind.as_u16() != KIND_LIVE_EVENT {
                return Err(bad("naddr does not point at a kind-30311 live event".into()));
            }
            let addr = StreamAddress::new(c.coordinate.public_key, c.coordinate.identifier);
            let hints = c.relays.iter().map(|r| r.to_string()).collect();
            return Ok(Target::Address(addr, hints));
        }
        if s.starts_with("30311:") {
            let addr: StreamAddress = s.parse().map_err(|e| bad(format!("{e}")))?;
            return Ok(Target::Address(addr, Vec::new()));
        }
        if s.starts_with("npub1") || (s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())) {
            let pk = PublicKey::parse(s).map_err(|e| bad(e.to_string()))?;
            return Ok(Target::Author(pk));
        }
        Err(bad(
            "give an naddr1..., an npub1... (or hex key), or 30311:<hex pubkey>:<d>".into(),
        ))
    }
}

/// A stream found on Nostr.
#[derive(Debug, Clone)]
pub struct Found {
    pub address: StreamAddress,
    pub live: LiveEvent,
    /// The signed kind-30311 event (extra tollcast tags such as `price` live there).
    pub event: Event,
    /// Nostr relays in use: the ones given, hints, the event's `relays` tag (deduplicated).
    pub nostr_relays: Vec<String>,
}

/// An offer with the key that signed it.
#[derive(Debug, Clone)]
pub struct SignedOffer {
    pub relay: PublicKey,
    pub offer: RelayOffer,
    pub created_at: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn dedup(urls: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    urls.into_iter()
        .map(|u| u.trim_end_matches('/').to_string())
        .filter(|u| (u.starts_with("ws://") || u.starts_with("wss://")) && seen.insert(u.clone()))
        .collect()
}

/// A pool over `urls` (at least one).
pub fn pool(urls: &[String]) -> Result<RelayPool, ViewerError> {
    if urls.is_empty() {
        return Err(ViewerError::Discovery(
            "no Nostr relay to look on: give --nostr ws://...".into(),
        ));
    }
    RelayPool::new(urls.iter().cloned(), ClientOptions::default())
        .map_err(|e| ViewerError::Discovery(format!("Nostr relays {urls:?}: {e}")))
}

/// Resolve `target` to its live event (the newest version by `created_at`).
pub async fn find_stream(
    target: &Target,
    nostr: &[String],
    timeout: Duration,
) -> Result<Found, ViewerError> {
    let (filter, hints) = match target {
        Target::Address(a, hints) => (
            Filter::new()
                .kind(Kind::from(KIND_LIVE_EVENT))
                .author(a.pubkey)
                .identifier(a.identifier.clone()),
            hints.clone(),
        ),
        Target::Author(pk) => (
            Filter::new().kind(Kind::from(KIND_LIVE_EVENT)).author(*pk),
            Vec::new(),
        ),
    };
    let relays = dedup(nostr.iter().cloned().chain(hints));
    let events = pool(&relays)?.fetch(vec![filter], timeout).await;
    let mut best: Option<(Event, LiveEvent)> = None;
    for ev in events {
        let Ok(live) = LiveEvent::from_event(&ev) else {
            continue;
        };
        // An author's newest *live* stream; an address's newest version whatever its status.
        if matches!(target, Target::Author(_)) && live.status != Some(LiveStatus::Live) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|(b, _)| ev.created_at > b.created_at)
        {
            best = Some((ev, live));
        }
    }
    let Some((event, live)) = best else {
        return Err(ViewerError::Discovery(match target {
            Target::Address(a, _) => format!("no live event {a} on {relays:?}"),
            Target::Author(pk) => format!(
                "{} has no live stream (kind 30311, status live) on {relays:?}",
                pk.to_hex()
            ),
        }));
    };
    let address = live.address(event.pubkey);
    let nostr_relays = dedup(relays.into_iter().chain(live.relays.iter().cloned()));
    Ok(Found {
        address,
        live,
        event,
        nostr_relays,
    })
}

/// Current relay offers for `stream` (newest per relay key; expired and foreign ones dropped).
pub async fn find_offers(
    pool: &RelayPool,
    stream: &StreamAddress,
    timeout: Duration,
) -> Vec<SignedOffer> {
    let filter = Filter::new()
        .kind(Kind::from(KIND_RELAY_OFFER))
        .identifier(stream.to_string());
    let now = unix_now();
    let mut newest: HashMap<PublicKey, SignedOffer> = HashMap::new();
    for ev in pool.fetch(vec![filter], timeout).await {
        let Ok(offer) = RelayOffer::from_event(&ev) else {
            continue;
        };
        if offer.stream.as_ref() != Some(stream) || offer.is_expired_at(now) {
            continue;
        }
        let created_at = ev.created_at.as_secs();
        if newest
            .get(&ev.pubkey)
            .is_none_or(|o| created_at > o.created_at)
        {
            newest.insert(
                ev.pubkey,
                SignedOffer {
                    relay: ev.pubkey,
                    offer,
                    created_at,
                },
            );
        }
    }
    let mut v: Vec<_> = newest.into_values().collect();
    v.sort_by_key(|o| o.relay.to_hex());
    v
}

/// Whom `me` follows (kind 3 `p` tags of the newest contact list) and whom they follow.
#[derive(Debug, Clone, Default)]
pub struct FollowGraph {
    pub direct: HashSet<PublicKey>,
    pub second: HashSet<PublicKey>,
}

fn contacts(ev: &Event) -> impl Iterator<Item = PublicKey> + '_ {
    ev.tags.iter().filter_map(|t| {
        let s = t.as_slice();
        if s.first().map(String::as_str) == Some("p") {
            s.get(1).and_then(|k| PublicKey::from_hex(k).ok())
        } else {
            None
        }
    })
}

fn newest_per_author(events: Vec<Event>) -> HashMap<PublicKey, Event> {
    let mut m: HashMap<PublicKey, Event> = HashMap::new();
    for ev in events {
        if ev.verify().is_err() {
            continue;
        }
        if m.get(&ev.pubkey)
            .is_none_or(|o| ev.created_at > o.created_at)
        {
            m.insert(ev.pubkey, ev);
        }
    }
    m
}

/// Most follows asked about for the second degree (one REQ).
const SECOND_DEGREE_AUTHORS: usize = 200;

/// `me`'s follow graph, two degrees deep.
pub async fn follow_graph(pool: &RelayPool, me: PublicKey, timeout: Duration) -> FollowGraph {
    let first = pool
        .fetch(
            vec![Filter::new().kind(Kind::ContactList).author(me)],
            timeout,
        )
        .await;
    let direct: HashSet<PublicKey> = newest_per_author(first)
        .get(&me)
        .map(|ev| contacts(ev).filter(|k| *k != me).collect())
        .unwrap_or_default();
    if direct.is_empty() {
        return FollowGraph::default();
    }
    let authors: Vec<PublicKey> = direct.iter().take(SECOND_DEGREE_AUTHORS).copied().collect();
    let lists = pool
        .fetch(
            vec![Filter::new().kind(Kind::ContactList).authors(authors)],
            timeout,
        )
        .await;
    let mut second = HashSet::new();
    for (author, ev) in newest_per_author(lists) {
        if !direct.contains(&author) {
            continue;
        }
        second.extend(contacts(&ev).filter(|k| *k != me && !direct.contains(k)));
    }
    FollowGraph { direct, second }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollcast_events::nostr::prelude::Keys;

    #[test]
    fn targets_parse() {
        let k = Keys::generate().public_key();
        let addr = StreamAddress::new(k, "show");
        let naddr = addr.to_naddr(&["ws://127.0.0.1:7777"]).unwrap();
        match Target::parse(&naddr).unwrap() {
            Target::Address(a, hints) => {
                assert_eq!(a, addr);
                assert_eq!(hints.len(), 1);
                assert!(hints[0].starts_with("ws://127.0.0.1:7777"));
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            Target::parse(&addr.to_string()).unwrap(),
            Target::Address(addr.clone(), vec![])
        );
        assert_eq!(Target::parse(&k.to_hex()).unwrap(), Target::Author(k));
        use tollcast_events::nostr::nips::nip19::ToBech32;
        assert_eq!(
            Target::parse(&k.to_bech32().unwrap()).unwrap(),
            Target::Author(k)
        );
        for bad in ["", "hello", "30311:zz:d", "naddr1xyz", "31312:abc:d"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relay_lists_dedup_and_drop_non_websocket() {
        let v = dedup(vec![
            "ws://a/".into(),
            "ws://a".into(),
            "http://b".into(),
            "wss://c".into(),
        ]);
        assert_eq!(v, vec!["ws://a".to_string(), "wss://c".to_string()]);
    }
}

//! The user's social graph as Nostr follow lists (NIP-02 kind 3) describe it: who is at
//! distance 0 (the user), 1 (followed) and 2 (followed by someone followed).
//!
//! Only the newest follow list of each author counts (kind 3 is replaceable); `p` tags whose
//! value is not a valid public key are skipped, so a malformed list changes nothing else.

use std::collections::HashMap;
use std::time::Duration;

use tollcast_events::nostr::prelude::{Event, Filter, Kind, PublicKey};
use tollcast_net::nostr_relay::pool::RelayPool;

/// NIP-02 follow list.
pub const KIND_FOLLOW_LIST: u16 = 3;

/// Authors per REQ filter when crawling (relays bound filter sizes).
const AUTHORS_PER_FILTER: usize = 256;

/// Social distances from one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocialGraph {
    user: PublicKey,
    distance: HashMap<PublicKey, u32>,
}

impl SocialGraph {
    /// A graph holding only `user` (distance 0).
    pub fn new(user: PublicKey) -> Self {
        let mut distance = HashMap::new();
        distance.insert(user, 0);
        Self { user, distance }
    }

    /// The user the distances are measured from.
    pub fn user(&self) -> PublicKey {
        self.user
    }

    /// Distance of `pk` (0 = the user, 1 = followed, 2 = followed by a follow), or `None` when
    /// `pk` is outside the graph.
    pub fn distance(&self, pk: &PublicKey) -> Option<u32> {
        self.distance.get(pk).copied()
    }

    /// Everyone in the graph with their distance.
    pub fn members(&self) -> impl Iterator<Item = (&PublicKey, u32)> {
        self.distance.iter().map(|(k, d)| (k, *d))
    }

    /// Keys at exactly distance `d`.
    pub fn at(&self, d: u32) -> Vec<PublicKey> {
        let mut v: Vec<PublicKey> = self
            .distance
            .iter()
            .filter(|(_, x)| **x == d)
            .map(|(k, _)| *k)
            .collect();
        v.sort();
        v
    }

    pub fn len(&self) -> usize {
        self.distance.len()
    }

    pub fn is_empty(&self) -> bool {
        self.distance.is_empty()
    }

    /// Add the follows of the newest of `lists` (kind-3 events by authors at distance `d - 1`)
    /// at distance `d`, keeping shorter distances already known.
    pub fn add_follow_lists(&mut self, lists: &[Event], d: u32) {
        for ev in newest_per_author(lists, KIND_FOLLOW_LIST) {
            if self.distance.get(&ev.pubkey) != Some(&(d.saturating_sub(1))) {
                continue; // not a list of someone at the previous level
            }
            for pk in follows_of(ev) {
                self.distance.entry(pk).or_insert(d);
            }
        }
    }

    /// Crawl the graph to `depth` (1 or 2; larger values are allowed but cost one round of
    /// queries each) from the follow lists found on `pool`.
    pub async fn crawl(
        pool: &RelayPool,
        user: PublicKey,
        depth: u32,
        timeout: Duration,
    ) -> SocialGraph {
        let mut g = SocialGraph::new(user);
        for d in 1..=depth {
            let frontier = g.at(d - 1);
            if frontier.is_empty() {
                break;
            }
            let filters: Vec<Filter> = frontier
                .chunks(AUTHORS_PER_FILTER)
                .map(|c| {
                    Filter::new()
                        .kind(Kind::from(KIND_FOLLOW_LIST))
                        .authors(c.iter().copied())
                })
                .collect();
            let lists = pool.fetch(filters, timeout).await;
            g.add_follow_lists(&lists, d);
        }
        g
    }
}

/// The valid `p` keys of a follow list, in order, without duplicates.
pub fn follows_of(ev: &Event) -> Vec<PublicKey> {
    let mut out: Vec<PublicKey> = Vec::new();
    for t in ev.tags.iter() {
        let t = t.as_slice();
        if t.first().map(String::as_str) != Some("p") {
            continue;
        }
        let Some(v) = t.get(1).filter(|v| v.len() == 64) else {
            continue;
        };
        if let Ok(pk) = PublicKey::from_hex(v)
            && !out.contains(&pk)
        {
            out.push(pk);
        }
    }
    out
}

/// For replaceable kinds: the newest event of `kind` per author (same timestamp: the lowest id
/// wins, as NIP-01 tells relays to keep).
pub fn newest_per_author(events: &[Event], kind: u16) -> Vec<&Event> {
    let mut best: HashMap<PublicKey, &Event> = HashMap::new();
    for ev in events.iter().filter(|e| e.kind == Kind::from(kind)) {
        match best.get(&ev.pubkey) {
            Some(b)
                if b.created_at > ev.created_at
                    || (b.created_at == ev.created_at && b.id <= ev.id) => {}
            _ => {
                best.insert(ev.pubkey, ev);
            }
        }
    }
    best.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollcast_events::nostr::prelude::{EventBuilder, FinalizeEvent, Keys, Tag, Timestamp};

    fn follow_list(k: &Keys, follows: &[PublicKey], at: u64) -> Event {
        let mut b = EventBuilder::new(Kind::from(KIND_FOLLOW_LIST), "");
        for f in follows {
            b = b.tag(Tag::parse(["p", &f.to_hex(), "", ""]).unwrap());
        }
        b.tag(Tag::parse(["p", "not-a-key"]).unwrap())
            .custom_created_at(Timestamp::from_secs(at))
            .finalize(k)
            .unwrap()
    }

    #[test]
    fn distances_from_two_levels_of_follow_lists() {
        let (me, alice, bob, carol, dave) = (
            Keys::generate(),
            Keys::generate(),
            Keys::generate(),
            Keys::generate(),
            Keys::generate(),
        );
        let mut g = SocialGraph::new(me.public_key());
        // An older list of mine followed dave: the newest one wins.
        let lists = vec![
            follow_list(&me, &[dave.public_key()], 100),
            follow_list(&me, &[alice.public_key()], 200),
        ];
        g.add_follow_lists(&lists, 1);
        assert_eq!(g.distance(&alice.public_key()), Some(1));
        assert_eq!(g.distance(&dave.public_key()), None);
        // alice follows bob and me; carol (not in the graph) follows dave: ignored.
        let lists2 = vec![
            follow_list(&alice, &[bob.public_key(), me.public_key()], 300),
            follow_list(&carol, &[dave.public_key()], 300),
        ];
        g.add_follow_lists(&lists2, 2);
        assert_eq!(g.distance(&me.public_key()), Some(0));
        assert_eq!(g.distance(&bob.public_key()), Some(2));
        assert_eq!(g.distance(&dave.public_key()), None);
        assert_eq!(g.at(2), vec![bob.public_key()]);
        assert_eq!(g.len(), 3);
    }

    #[test]
    fn bad_p_tags_are_skipped() {
        let k = Keys::generate();
        let other = Keys::generate().public_key();
        let ev = follow_list(&k, &[other, other], 1);
        assert_eq!(follows_of(&ev), vec![other]);
    }
}

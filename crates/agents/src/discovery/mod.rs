//! Discovery without a central indexer: which live streams (NIP-53 kind 30311, status `live`)
//! are worth watching, seen from one user's follow graph, computed locally from events anyone
//! can fetch and verify.
//!
//! [`discover`] crawls the user's follow lists ([`graph`], NIP-02 kind 3, 1st and 2nd degree),
//! fetches the live events authored or hosted (`p` role `Host`) by people in the graph
//! (optionally everyone's, with [`Options::everyone`]), keeps those with the wanted `t` tags,
//! gathers each stream's signals (relay offers' viewer counts, paid chat volume, tip receipts)
//! and ranks them with [`rank::stream_score`]. [`discover_recordings`] does the same for
//! recordings (NIP-71 video events, e.g. a recorder's VOD naming the host in `p`).
//! [`rank::relay_cost`] ranks relays and ILP peers by social distance, price and RTT (the
//! viewer's choice uses it).
//!
//! Every event comes through the Nostr client, which verifies ids and signatures; events that
//! do not parse as their kind are skipped.

pub mod graph;
pub mod rank;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde::Serialize;
use tollcast_events::StreamAddress;
use tollcast_events::chat::KIND_LIVE_CHAT;
use tollcast_events::live::{KIND_LIVE_EVENT, LiveEvent, LiveStatus};
use tollcast_events::nostr::prelude::{
    Event, Filter, Kind, PublicKey, SingleLetterTag, Timestamp, ToBech32,
};
use tollcast_events::offer::{KIND_RELAY_OFFER, RelayOffer};
use tollcast_events::tip::{TipReceipt, tip_endpoints};
use tollcast_net::nostr_relay::pool::RelayPool;

pub use graph::SocialGraph;
pub use rank::{Signals, relay_cost, stream_score};

/// NIP-57 zap receipt (not counted by default: tollcast cannot check it).
pub const KIND_ZAP_RECEIPT: u16 = 9735;
pub use tollcast_events::tip::KIND_TIP_RECEIPT;

/// Stream addresses per `#a` filter when gathering signals.
const ADDRESSES_PER_FILTER: usize = 64;

/// What to discover.
#[derive(Debug, Clone)]
pub struct Options {
    /// Whose follow graph ranks the streams.
    pub user: PublicKey,
    /// Follow-graph depth: 1 = people the user follows, 2 = and whom they follow.
    pub depth: u32,
    /// Keep only streams with at least one of these `t` tags (case-insensitive); empty = all.
    pub tags: Vec<String>,
    /// Also list streams from outside the graph (ranked by activity only).
    pub everyone: bool,
    /// A `live` announcement older than this is considered stale (creators refresh it while
    /// on air; NIP-53 suggests treating an hour-old `live` as ended).
    pub max_age: Duration,
    /// Kinds of tip receipt events to count (each must carry the stream's `a` tag). Tollcast
    /// tip receipts (kind 9737) count only when they verify (signature, embedded request
    /// signed by the payer, same creator and stream) and are signed by the creator or a
    /// receiving agent the live event declares (`tip` tags); other kinds count as they come.
    pub tip_kinds: Vec<u16>,
    /// Bound for each round of relay queries.
    pub timeout: Duration,
    /// Most streams returned.
    pub limit: usize,
    /// "Now" in unix seconds (tests pin it); None = the clock.
    pub now: Option<u64>,
}

impl Options {
    /// Defaults: depth 2, all tags, graph only, 1 h freshness, tollcast tip receipts, 5 s
    /// per query round, 50 streams.
    pub fn new(user: PublicKey) -> Self {
        Self {
            user,
            depth: 2,
            tags: Vec::new(),
            everyone: false,
            max_age: Duration::from_secs(3600),
            tip_kinds: vec![KIND_TIP_RECEIPT],
            timeout: Duration::from_secs(5),
            limit: 50,
            now: None,
        }
    }
}

/// One discovered stream.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub title: Option<String>,
    pub summary: Option<String>,
    /// The host's key (`p` tag with role Host, else the author), hex.
    pub host: String,
    /// The host's npub.
    pub host_npub: String,
    /// Social distance of the host or author from the user (None: outside the graph).
    pub distance: Option<u32>,
    /// `viewers` in [`Signals`] and where the number came from: `relays`, `announced`, `none`.
    pub viewers_source: &'static str,
    #[serde(flatten)]
    pub signals: Signals,
    /// `t` tags.
    pub tags: Vec<String>,
    /// `30311:<pubkey>:<d>`.
    pub address: String,
    /// NIP-19 naddr with the announcement's relays as hints.
    pub naddr: String,
    /// Playback URLs announced.
    pub streaming: Vec<String>,
    pub starts: Option<u64>,
    /// [`stream_score`].
    pub score: f64,
}

/// Failures of discovery (the query side; bad events are skipped, not errors).
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("no relays to ask: give at least one ws:// relay")]
    NoRelays,
}

fn unix_now() -> u64 {
    Timestamp::now().as_secs()
}

/// Live streams for `opts.user`, best first (see the module doc).
pub async fn discover(pool: &RelayPool, opts: &Options) -> Result<Vec<Listing>, DiscoverError> {
    if pool.urls().is_empty() {
        return Err(DiscoverError::NoRelays);
    }
    let now = opts.now.unwrap_or_else(unix_now);
    let g = SocialGraph::crawl(pool, opts.user, opts.depth, opts.timeout).await;

    // 1. Live events: authored by or naming graph members, or everyone's when asked.
    let live = Kind::from(KIND_LIVE_EVENT);
    let since = Timestamp::from_secs(now.saturating_sub(opts.max_age.as_secs()));
    let tags: Vec<String> = opts.tags.iter().map(|t| t.to_lowercase()).collect();
    let with_tags = |f: Filter| {
        if tags.is_empty() {
            f
        } else {
            f.hashtags(tags.iter().cloned())
        }
    };
    let mut filters = Vec::new();
    if opts.everyone {
        filters.push(with_tags(Filter::new().kind(live).since(since).limit(5000)));
    } else {
        let mut members: Vec<PublicKey> = g.members().map(|(k, _)| *k).collect();
        members.sort();
        for c in members.chunks(256) {
            filters.push(with_tags(
                Filter::new()
                    .kind(live)
                    .since(since)
                    .authors(c.iter().copied()),
            ));
            filters.push(with_tags(
                Filter::new()
                    .kind(live)
                    .since(since)
                    .pubkeys(c.iter().copied()),
            ));
        }
    }
    let events = pool.fetch(filters, opts.timeout).await;
    let mut newest: HashMap<String, (Event, LiveEvent)> = HashMap::new();
    for ev in events {
        let Ok(le) = LiveEvent::from_event(&ev) else {
            continue;
        };
        let addr = le.address(ev.pubkey).to_string();
        match newest.get(&addr) {
            Some((old, _)) if old.created_at >= ev.created_at => {}
            _ => {
                newest.insert(addr, (ev, le));
            }
        }
    }
    let mut streams: Vec<(Event, LiveEvent, Option<u32>, PublicKey)> = Vec::new();
    for (_, (ev, le)) in newest {
        if le.status != Some(LiveStatus::Live)
            || ev.created_at.as_secs() + opts.max_age.as_secs() < now
        {
            continue;
        }
        if !tags.is_empty() && !le.hashtags.iter().any(|t| tags.contains(&t.to_lowercase())) {
            continue;
        }
        let host = le
            .participants
            .iter()
            .find(|p| {
                p.role
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case("host"))
            })
            .map(|p| p.pubkey)
            .unwrap_or(ev.pubkey);
        let distance = match (g.distance(&ev.pubkey), g.distance(&host)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if distance.is_none() && !opts.everyone {
            continue;
        }
        streams.push((ev, le, distance, host));
    }

    // 2. Signals for all of them at once.
    let addrs: Vec<String> = streams
        .iter()
        .map(|(ev, le, _, _)| le.address(ev.pubkey).to_string())
        .collect();
    // Who may sign a stream's tip receipts: the creator and the agents its live event declares.
    let issuers: HashMap<String, Vec<PublicKey>> = streams
        .iter()
        .map(|(ev, le, _, _)| {
            let mut v: Vec<PublicKey> = tip_endpoints(ev)
                .into_iter()
                .filter_map(|(_, a)| a)
                .collect();
            v.push(ev.pubkey);
            (le.address(ev.pubkey).to_string(), v)
        })
        .collect();
    let signals = gather_signals(pool, &addrs, &issuers, opts, now).await;

    // 3. Rank.
    let mut out: Vec<Listing> = streams
        .into_iter()
        .map(|(ev, le, distance, host)| {
            let addr: StreamAddress = le.address(ev.pubkey);
            let key = addr.to_string();
            let (mut s, relay_viewers) = signals.get(&key).copied().unwrap_or_default();
            let viewers_source = if relay_viewers {
                "relays"
            } else if let Some(n) = le.current_participants {
                s.viewers = n;
                "announced"
            } else {
                "none"
            };
            let hints: Vec<&str> = le.relays.iter().map(String::as_str).take(3).collect();
            Listing {
                title: le.title.clone(),
                summary: le.summary.clone(),
                host: host.to_hex(),
                host_npub: host.to_bech32().unwrap_or_default(),
                distance,
                viewers_source,
                signals: s,
                tags: le.hashtags.clone(),
                naddr: addr.to_naddr(&hints).unwrap_or_default(),
                address: key,
                streaming: le.streaming.clone(),
                starts: le.starts,
                score: stream_score(distance, &s),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.title.cmp(&b.title))
            .then_with(|| a.address.cmp(&b.address))
    });
    out.truncate(opts.limit);
    Ok(out)
}

/// A recording (NIP-71 video event, e.g. a tollcast recorder's VOD of a live stream).
#[derive(Debug, Clone, Serialize)]
pub struct Recording {
    pub title: String,
    pub summary: String,
    /// The first `p` of the video event (a recorder names the stream's host), hex.
    pub host: String,
    pub host_npub: String,
    /// Social distance of the host or the event's author.
    pub distance: Option<u32>,
    /// Seconds.
    pub duration: Option<f64>,
    pub tags: Vec<String>,
    /// Playlist URL of the first `imeta` and its SHA-256 (`x`).
    pub url: String,
    pub hash: String,
    /// Other URLs with the same bytes.
    pub fallbacks: Vec<String>,
    /// The live event recorded (`a`), if any.
    pub live: Option<String>,
    /// Who signed the video event (the recorder), npub.
    pub recorder: String,
    pub event_id: String,
    pub published_at: Option<u64>,
    /// 2 x social(distance) (see [`rank`]).
    pub score: f64,
}

/// Recordings (NIP-71 kinds 34235 and 21) by or naming people in `opts.user`'s follow graph
/// (or everyone's with [`Options::everyone`]), filtered by `opts.tags`, closest first, newest
/// first within a distance.
pub async fn discover_recordings(
    pool: &RelayPool,
    opts: &Options,
) -> Result<Vec<Recording>, DiscoverError> {
    use tollcast_events::vod::{KIND_VIDEO, KIND_VIDEO_ADDRESSABLE, VideoEvent};
    if pool.urls().is_empty() {
        return Err(DiscoverError::NoRelays);
    }
    let g = SocialGraph::crawl(pool, opts.user, opts.depth, opts.timeout).await;
    let kinds = [Kind::from(KIND_VIDEO_ADDRESSABLE), Kind::from(KIND_VIDEO)];
    let tags: Vec<String> = opts.tags.iter().map(|t| t.to_lowercase()).collect();
    let with_tags = |f: Filter| {
        if tags.is_empty() {
            f
        } else {
            f.hashtags(tags.iter().cloned())
        }
    };
    let mut filters = Vec::new();
    if opts.everyone {
        filters.push(with_tags(Filter::new().kinds(kinds).limit(5000)));
    } else {
        let mut members: Vec<PublicKey> = g.members().map(|(k, _)| *k).collect();
        members.sort();
        for c in members.chunks(256) {
            filters.push(with_tags(
                Filter::new().kinds(kinds).authors(c.iter().copied()),
            ));
            filters.push(with_tags(
                Filter::new().kinds(kinds).pubkeys(c.iter().copied()),
            ));
        }
    }
    let events = pool.fetch(filters, opts.timeout).await;
    // Addressable: newest per (author, d).
    let mut newest: HashMap<(PublicKey, String), (Event, VideoEvent)> = HashMap::new();
    for ev in events {
        let Ok(v) = VideoEvent::from_event(&ev) else {
            continue;
        };
        let key = (
            ev.pubkey,
            if v.identifier.is_empty() {
                ev.id.to_hex()
            } else {
                v.identifier.clone()
            },
        );
        match newest.get(&key) {
            Some((old, _)) if old.created_at >= ev.created_at => {}
            _ => {
                newest.insert(key, (ev, v));
            }
        }
    }
    let mut out: Vec<Recording> = Vec::new();
    for (_, (ev, v)) in newest {
        if !tags.is_empty() && !v.hashtags.iter().any(|t| tags.contains(&t.to_lowercase())) {
            continue;
        }
        let host = v.participants.first().copied().unwrap_or(ev.pubkey);
        let distance = match (g.distance(&ev.pubkey), g.distance(&host)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if distance.is_none() && !opts.everyone {
            continue;
        }
        let Some(first) = v.variants.first() else {
            continue;
        };
        out.push(Recording {
            title: v.title.clone(),
            summary: v.summary.clone(),
            host: host.to_hex(),
            host_npub: host.to_bech32().unwrap_or_default(),
            distance,
            duration: v.duration.or(first.duration),
            tags: v.hashtags.clone(),
            url: first.url.clone(),
            hash: first.hash.to_string(),
            fallbacks: first.fallbacks.clone(),
            live: v.live.as_ref().map(|a| a.to_string()),
            recorder: ev.pubkey.to_bech32().unwrap_or_default(),
            event_id: ev.id.to_hex(),
            published_at: v.published_at,
            score: 2.0 * rank::social_weight(distance),
        });
    }
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.published_at.cmp(&a.published_at))
            .then_with(|| a.event_id.cmp(&b.event_id))
    });
    out.truncate(opts.limit);
    Ok(out)
}

/// Per stream address: the signals and whether relays reported viewers.
async fn gather_signals(
    pool: &RelayPool,
    addrs: &[String],
    issuers: &HashMap<String, Vec<PublicKey>>,
    opts: &Options,
    now: u64,
) -> HashMap<String, (Signals, bool)> {
    let mut out: HashMap<String, (Signals, bool)> = HashMap::new();
    if addrs.is_empty() {
        return out;
    }
    let a_tag = SingleLetterTag::from_char('a').expect("a is a single-letter tag");
    let mut kinds = vec![Kind::from(KIND_LIVE_CHAT), Kind::from(KIND_RELAY_OFFER)];
    kinds.extend(opts.tip_kinds.iter().map(|k| Kind::from(*k)));
    let filters: Vec<Filter> = addrs
        .chunks(ADDRESSES_PER_FILTER)
        .flat_map(|c| {
            kinds.iter().map(move |k| {
                Filter::new()
                    .kind(*k)
                    .custom_tags(a_tag, c.iter().cloned())
                    .limit(5000)
            })
        })
        .collect();
    let events = pool.fetch(filters, opts.timeout).await;
    let wanted: HashSet<&str> = addrs.iter().map(String::as_str).collect();
    // chat authors per stream -> messages counted
    let mut chat: HashMap<&str, HashMap<PublicKey, u64>> = HashMap::new();
    // newest offer per (stream, relay key)
    let mut offers: HashMap<(&str, PublicKey), (Timestamp, u64)> = HashMap::new();
    let mut tips: HashMap<&str, HashSet<tollcast_events::nostr::prelude::EventId>> = HashMap::new();
    for ev in &events {
        let k = ev.kind.as_u16();
        let Some(addr) = a_values(ev).find(|a| wanted.contains(a)) else {
            continue;
        };
        if k == KIND_LIVE_CHAT {
            *chat.entry(addr).or_default().entry(ev.pubkey).or_default() += 1;
        } else if k == KIND_RELAY_OFFER {
            let Ok(o) = RelayOffer::from_event(ev) else {
                continue;
            };
            if o.is_expired_at(now)
                || o.stream.as_ref().map(|s| s.to_string()).as_deref() != Some(addr)
            {
                continue;
            }
            let viewers = o.load.map_or(0, |l| l.viewers);
            let slot = offers
                .entry((addr, ev.pubkey))
                .or_insert((ev.created_at, viewers));
            if ev.created_at > slot.0 {
                *slot = (ev.created_at, viewers);
            }
        } else if opts.tip_kinds.contains(&k) {
            if k == KIND_TIP_RECEIPT {
                let Ok(r) = TipReceipt::from_event(ev) else {
                    continue;
                };
                let declared = issuers.get(addr).map(Vec::as_slice).unwrap_or(&[]);
                if r.stream.to_string() != addr || r.check_issuer(&ev.pubkey, declared).is_err() {
                    continue;
                }
            }
            tips.entry(addr).or_default().insert(ev.id);
        }
    }
    for a in addrs {
        let a = a.as_str();
        let mut s = Signals::default();
        if let Some(c) = chat.get(a) {
            s.chatters = c.len() as u64;
            s.paid_chat = c
                .values()
                .map(|n| (*n).min(rank::CHAT_CAP_PER_AUTHOR))
                .sum();
        }
        s.tips = tips.get(a).map_or(0, |t| t.len() as u64);
        let mut relay_viewers = false;
        for ((sa, _), (_, v)) in &offers {
            if *sa == a {
                relay_viewers = true;
                s.viewers = s.viewers.saturating_add(*v);
            }
        }
        out.insert(a.to_string(), (s, relay_viewers));
    }
    out
}

/// Values of an event's `a` tags.
fn a_values(ev: &Event) -> impl Iterator<Item = &str> {
    ev.tags.iter().filter_map(|t| {
        let t = t.as_slice();
        (t.first().map(String::as_str) == Some("a"))
            .then(|| t.get(1).map(String::as_str))
            .flatten()
    })
}

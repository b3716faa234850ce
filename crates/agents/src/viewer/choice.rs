//! Choosing a relay: every offer becomes a [`Candidate`]; the healthy ones are ranked by the
//! one relay ranking, [`relay_cost`] (lower is better; the weights and why are documented
//! there):
//!
//! ```text
//! cost = (price per second + 1) × (1 + rtt_ms / 50) × social
//! social = 0.5 (we follow the relay's operator), 0.75 (someone we follow does), 1 (stranger)
//! ```
//!
//! So 50 ms of extra round trip costs as much as doubling the price, and a relay run by a
//! friend may be up to twice as expensive (a friend of a friend 1.33×) and still win.
//! Candidates without a measured RTT (unreachable: the probe failed), above the viewer's
//! price ceiling or marked unhealthy are not chosen.

use std::time::Duration;

use serde::Serialize;
use tollcast_events::nostr::prelude::PublicKey;
use tollcast_events::offer::SpspNostr;

use super::discovery::{FollowGraph, SignedOffer};
use crate::discovery::rank::{relay_cost, social_weight};

/// How close the relay's operator is to the viewer in the follow graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Social {
    Followed,
    SecondDegree,
    Stranger,
}

impl Social {
    pub fn of(graph: &FollowGraph, operator: &PublicKey) -> Self {
        if graph.direct.contains(operator) {
            Social::Followed
        } else if graph.second.contains(operator) {
            Social::SecondDegree
        } else {
            Social::Stranger
        }
    }

    /// The social distance [`relay_cost`] weighs (1: followed, 2: followed by a followee).
    pub fn distance(self) -> Option<u32> {
        match self {
            Social::Followed => Some(1),
            Social::SecondDegree => Some(2),
            Social::Stranger => None,
        }
    }

    /// The multiplier [`relay_cost`] applies: 0.5, 0.75, 1.
    pub fn factor(self) -> f64 {
        1.0 - social_weight(self.distance()) / 2.0
    }
}

/// One relay the viewer may use.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub pubkey: PublicKey,
    /// Base URL of its LL-HLS routes (`http://host:port`).
    pub url: String,
    /// SPSP endpoint (HTTP); the viewer's id is appended (`.../{viewer}`).
    pub spsp: Option<String>,
    /// The key answering SPSP over Nostr for this relay (the offer's `nostr:` SPSP value),
    /// and the Nostr relays to ask it on.
    pub spsp_nostr: Option<SpspNostr>,
    pub ilp_address: String,
    /// Base units per second (the offer's per-minute price / 60, rounded up).
    pub price_per_second: u64,
    pub price_per_gb: Option<u64>,
    pub asset_code: String,
    pub asset_scale: u8,
    pub rtt: Option<Duration>,
    pub social: Social,
    pub healthy: bool,
    pub reason: Option<String>,
}

impl Candidate {
    /// The candidate an offer describes (None if it has no usable URL).
    pub fn from_offer(o: &SignedOffer, graph: &FollowGraph) -> Option<Self> {
        let url = base_url(o.offer.url.as_deref()?)?;
        let (price_per_second, asset_code, asset_scale) = match &o.offer.price_per_minute {
            Some(p) => (p.amount.div_ceil(60), p.asset_code.clone(), p.asset_scale),
            None => {
                let p = o.offer.price_per_gb.as_ref()?;
                (0, p.asset_code.clone(), p.asset_scale)
            }
        };
        Some(Self {
            pubkey: o.relay,
            url,
            spsp: o.offer.spsp_http().next().map(str::to_string),
            spsp_nostr: o.offer.spsp_nostr(),
            ilp_address: o.offer.ilp_address.clone(),
            price_per_second,
            price_per_gb: o.offer.price_per_gb.as_ref().map(|p| p.amount),
            asset_code,
            asset_scale,
            rtt: None,
            social: Social::of(graph, &o.relay),
            healthy: true,
            reason: None,
        })
    }

    /// Its score, or None when it cannot be chosen.
    pub fn score(&self, max_price_per_second: Option<u64>) -> Option<f64> {
        if !self.healthy || max_price_per_second.is_some_and(|m| self.price_per_second > m) {
            return None;
        }
        let rtt_ms = self.rtt?.as_secs_f64() * 1000.0;
        Some(relay_cost(
            self.social.distance(),
            self.price_per_second as f64,
            Some(rtt_ms),
        ))
    }
}

/// `http://host:port` from an offer's `url` (a base URL or a playlist URL under `/live/`).
pub fn base_url(u: &str) -> Option<String> {
    let parsed = url::Url::parse(u).ok()?;
    if parsed.scheme() != "http" {
        return None;
    }
    let path = parsed.path();
    let prefix = match path.find("/live/") {
        Some(i) => &path[..i],
        None => path.trim_end_matches('/'),
    };
    Some(format!(
        "http://{}:{}{}",
        parsed.host_str()?,
        parsed.port_or_known_default()?,
        prefix
    ))
}

/// Index of the best candidate (lowest score; ties: first).
pub fn best(cands: &[Candidate], max_price_per_second: Option<u64>) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in cands.iter().enumerate() {
        if let Some(s) = c.score(max_price_per_second)
            && best.is_none_or(|(_, b)| s < b)
        {
            best = Some((i, s));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollcast_events::nostr::prelude::Keys;

    fn cand(price: u64, rtt_ms: u64, social: Social) -> Candidate {
        Candidate {
            pubkey: Keys::generate().public_key(),
            url: "http://127.0.0.1:1".into(),
            spsp: None,
            spsp_nostr: None,
            ilp_address: "test.r".into(),
            price_per_second: price,
            price_per_gb: None,
            asset_code: "USD".into(),
            asset_scale: 6,
            rtt: Some(Duration::from_millis(rtt_ms)),
            social,
            healthy: true,
            reason: None,
        }
    }

    #[test]
    fn cheaper_wins_at_equal_rtt_and_trust() {
        let c = [
            cand(100, 10, Social::Stranger),
            cand(50, 10, Social::Stranger),
        ];
        assert_eq!(best(&c, None), Some(1));
    }

    #[test]
    fn candidate_score_is_relay_cost_by_hand() {
        // (99 + 1) × (1 + 50/50) × 1 = 200; followed: × 0.5 = 100; friend of a friend: 150
        assert_eq!(cand(99, 50, Social::Stranger).score(None), Some(200.0));
        assert_eq!(cand(99, 50, Social::Followed).score(None), Some(100.0));
        assert_eq!(cand(99, 50, Social::SecondDegree).score(None), Some(150.0));
        assert_eq!(Social::Followed.factor(), 0.5);
        assert_eq!(Social::SecondDegree.factor(), 0.75);
        assert_eq!(Social::Stranger.factor(), 1.0);
    }

    #[test]
    fn fifty_ms_costs_as_much_as_double_price() {
        let a = cand(99, 0, Social::Stranger).score(None).unwrap();
        let b = cand(199, 0, Social::Stranger).score(None).unwrap();
        let c = cand(99, 50, Social::Stranger).score(None).unwrap();
        assert_eq!(b, c);
        assert!(a < b);
        // A far relay loses to a slightly dearer near one.
        let c = [
            cand(100, 200, Social::Stranger),
            cand(150, 5, Social::Stranger),
        ];
        assert_eq!(best(&c, None), Some(1));
    }

    #[test]
    fn friends_may_charge_more() {
        let c = [
            cand(100, 10, Social::Stranger),
            cand(180, 10, Social::Followed),
        ];
        assert_eq!(best(&c, None), Some(1), "followed operator, <2x price");
        let c = [
            cand(100, 10, Social::Stranger),
            cand(250, 10, Social::Followed),
        ];
        assert_eq!(
            best(&c, None),
            Some(0),
            "2.5x is too much even for a friend"
        );
        let c = [
            cand(100, 10, Social::Stranger),
            cand(120, 10, Social::SecondDegree),
        ];
        assert_eq!(best(&c, None), Some(1));
    }

    #[test]
    fn unhealthy_unreachable_and_too_dear_are_skipped() {
        let mut c = vec![
            cand(10, 1, Social::Followed),
            cand(20, 1, Social::Stranger),
            cand(500, 1, Social::Stranger),
        ];
        c[0].healthy = false;
        assert_eq!(best(&c, None), Some(1));
        c[1].rtt = None;
        assert_eq!(best(&c, None), Some(2));
        assert_eq!(best(&c, Some(100)), None, "over the price ceiling");
    }

    #[test]
    fn social_distance_from_graph() {
        let (a, b, c) = (
            Keys::generate().public_key(),
            Keys::generate().public_key(),
            Keys::generate().public_key(),
        );
        let g = FollowGraph {
            direct: [a].into(),
            second: [b].into(),
        };
        assert_eq!(Social::of(&g, &a), Social::Followed);
        assert_eq!(Social::of(&g, &b), Social::SecondDegree);
        assert_eq!(Social::of(&g, &c), Social::Stranger);
    }

    #[test]
    fn offer_urls_become_base_urls() {
        assert_eq!(
            base_url("http://127.0.0.1:8081/live/master.m3u8").as_deref(),
            Some("http://127.0.0.1:8081")
        );
        assert_eq!(
            base_url("http://127.0.0.1:8081/").as_deref(),
            Some("http://127.0.0.1:8081")
        );
        assert_eq!(
            base_url("http://h/edge/live/master.m3u8").as_deref(),
            Some("http://h:80/edge")
        );
        assert_eq!(base_url("https://h/"), None);
        assert_eq!(base_url("nonsense"), None);
    }
}

//! Ranking, computed locally from signals anyone can check (no central indexer):
//!
//! - **viewers**: the sum of `load` viewers in the signed relay offers (kind 31312) for the
//!   stream, one per relay key; if no relay reports, the creator's `current_participants`.
//! - **paid chat**: kind-1311 messages for the stream found on the relays asked. tollcast
//!   relays only store a chat message once its write was paid (pay-to-write), so each one cost
//!   its author money. At most [`CHAT_CAP_PER_AUTHOR`] messages count per author, so one rich
//!   account cannot buy the top spot alone.
//! - **tips**: signed tip receipts for the stream (each is a STREAM payment to the creator).
//! - **social distance** from the follow graph.
//!
//! ```text
//! social(d)  = 1.0 if d <= 1, 0.5 if d == 2, 0 otherwise (outside the graph)
//! trending   = ln(1 + viewers) + 0.5 ln(1 + paid_chat) + ln(1 + tips)
//! score      = 2 social(d) + trending
//! ```
//!
//! So a followed creator's stream starts 2 points ahead (≈ 6 more viewers' worth), a friend
//! of a friend's 1 point, and activity orders streams within and across those levels.
//!
//! [`score_relay`] applies the same social weighting to choosing relays and ILP peers
//! (credit from trust), together with price and round-trip time.

use serde::Serialize;

/// Most chat messages counted per author per stream.
pub const CHAT_CAP_PER_AUTHOR: u64 = 10;

/// The verifiable activity around one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Signals {
    /// Viewers reported by relays (or announced by the creator when no relay reports).
    pub viewers: u64,
    /// Paid chat messages counted (capped per author).
    pub paid_chat: u64,
    /// Distinct chat authors.
    pub chatters: u64,
    /// Tip receipts.
    pub tips: u64,
}

/// Weight of a social distance: 1 for the user and people they follow, 0.5 for the 2nd
/// degree, 0 outside the graph.
pub fn social_weight(distance: Option<u32>) -> f64 {
    match distance {
        Some(0 | 1) => 1.0,
        Some(2) => 0.5,
        _ => 0.0,
    }
}

/// Activity alone (see the module doc).
pub fn trending(s: &Signals) -> f64 {
    (s.viewers as f64).ln_1p() + 0.5 * (s.paid_chat as f64).ln_1p() + (s.tips as f64).ln_1p()
}

/// Rank of a stream: social closeness plus activity (see the module doc). Higher is better.
pub fn stream_score(distance: Option<u32>, s: &Signals) -> f64 {
    2.0 * social_weight(distance) + trending(s)
}

/// Score of a relay (or ILP peer) offer in `[0, 1]`, higher is better, for a viewer choosing
/// among relays of the same stream (prices in the same asset):
///
/// ```text
/// 0.4 social(distance)                                 trust: the relay's key in my graph
/// + 0.35 min(1, cheapest / price)                      price relative to the cheapest offer
/// + 0.25 (100 / (100 + rtt_ms))  (0.5 if unmeasured)   responsiveness
/// ```
///
/// `distance`: social distance of the relay operator's key ([`SocialGraph::distance`](super::graph::SocialGraph::distance));
/// `price_per_minute` and `cheapest_per_minute`: base units of the same asset (a free relay,
/// price 0, gets the full price share); `rtt_ms`: measured round-trip time, if any.
pub fn score_relay(
    distance: Option<u32>,
    price_per_minute: u64,
    cheapest_per_minute: u64,
    rtt_ms: Option<f64>,
) -> f64 {
    let price = if price_per_minute == 0 {
        1.0
    } else {
        (cheapest_per_minute as f64 / price_per_minute as f64).min(1.0)
    };
    let rtt = match rtt_ms {
        Some(r) if r.is_finite() && r >= 0.0 => 100.0 / (100.0 + r),
        _ => 0.5,
    };
    0.4 * social_weight(distance) + 0.35 * price + 0.25 * rtt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn social_distance_outweighs_small_audiences() {
        let quiet = Signals::default();
        let busy = Signals {
            viewers: 3,
            paid_chat: 2,
            chatters: 2,
            tips: 0,
        };
        assert!(stream_score(Some(1), &quiet) > stream_score(None, &busy));
        assert!(stream_score(Some(1), &quiet) > stream_score(Some(2), &quiet));
        assert!(stream_score(Some(2), &quiet) > stream_score(None, &quiet));
        // Within one level, activity decides.
        assert!(stream_score(Some(2), &busy) > stream_score(Some(2), &quiet));
        assert_eq!(stream_score(None, &quiet), 0.0);
    }

    #[test]
    fn a_big_audience_beats_a_friend_of_a_friend() {
        let huge = Signals {
            viewers: 1000,
            ..Default::default()
        };
        assert!(stream_score(None, &huge) > stream_score(Some(2), &Signals::default()));
    }

    #[test]
    fn each_signal_raises_the_score() {
        let base = Signals::default();
        for s in [
            Signals { viewers: 1, ..base },
            Signals {
                paid_chat: 1,
                ..base
            },
            Signals { tips: 1, ..base },
        ] {
            assert!(trending(&s) > trending(&base), "{s:?}");
        }
        assert_eq!(trending(&base), 0.0);
    }

    #[test]
    fn relay_score_prefers_trusted_cheap_and_close() {
        let best = score_relay(Some(1), 100, 100, Some(0.0));
        assert!((best - 1.0).abs() < 1e-9);
        assert!(
            score_relay(Some(1), 100, 100, Some(20.0)) > score_relay(None, 100, 100, Some(20.0))
        );
        assert!(score_relay(None, 100, 100, Some(20.0)) > score_relay(None, 200, 100, Some(20.0)));
        assert!(score_relay(None, 100, 100, Some(20.0)) > score_relay(None, 100, 100, Some(200.0)));
        // Free relay: full price share; unmeasured RTT: half the RTT share; bad RTT too.
        assert!((score_relay(None, 0, 0, None) - (0.35 + 0.125)).abs() < 1e-9);
        assert_eq!(
            score_relay(None, 0, 0, Some(f64::NAN)),
            score_relay(None, 0, 0, None)
        );
        // A trusted relay at 2x price with low RTT beats a stranger at the cheapest price.
        assert!(
            score_relay(Some(1), 200, 100, Some(10.0)) > score_relay(None, 100, 100, Some(10.0))
        );
        for d in [None, Some(0), Some(2), Some(7)] {
            let s = score_relay(d, 5, 1, Some(1e9));
            assert!((0.0..=1.0).contains(&s));
        }
    }
}

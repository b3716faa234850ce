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
//! [`relay_cost`] applies the same social weighting to choosing relays and ILP peers
//! (credit from trust), together with price and round-trip time: the one relay ranking, used
//! by the viewer's choice too.

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

/// Round trip that costs as much as doubling a relay's price (see [`relay_cost`]).
pub const RELAY_RTT_UNIT_MS: f64 = 50.0;
/// Round trip assumed for a relay nobody has measured: two units, so a measured relay at
/// up to 100 ms wins over an unmeasured one at the same price and trust.
pub const UNMEASURED_RTT_MS: f64 = 100.0;

/// Cost of watching a stream through a relay (or paying through an ILP peer); **lower is
/// better**. The one relay ranking: `tollcast watch` (the viewer's choice,
/// [`viewer::choice`](crate::viewer::choice)) and any relay list shown to a user use it, so
/// what is recommended is what the viewer would pick.
///
/// ```text
/// cost = (price_per_second + 1) × (1 + rtt_ms / 50) × (1 − social(d) / 2)
/// ```
///
/// Why this shape and these weights:
/// - **A product of ratios**, not a weighted sum over the offers at hand: a relay's cost
///   depends on its own offer only (no "cheapest offer" reference), so adding or losing an
///   offer never reorders the others, and two callers that saw different offer sets still
///   agree on every pair. Each factor reads as a price multiplier.
/// - **`+ 1` base unit per second**: free relays still compare by round trip and trust,
///   and a 1-unit price difference between near-free relays does not outweigh everything.
/// - **50 ms of round trip ([`RELAY_RTT_UNIT_MS`]) = double the price**: a viewer fetches a
///   part (~0.2–0.5 s of media) per round trip, so every 50 ms delays each part and eats
///   into the live-edge margin; a relay across town (5 ms) loses only 10 %, one across an
///   ocean (+150 ms) must be 4× cheaper to win. Unmeasured: [`UNMEASURED_RTT_MS`].
/// - **Trust halves the cost at most**: `social` is the same [`social_weight`] that ranks
///   streams (1 for operators the user follows, 0.5 for the 2nd degree, 0 for strangers),
///   so a followed operator may charge up to 2× (a friend of a friend 1.33×) and still win —
///   trust buys a premium, never an unbounded one.
///
/// `distance`: social distance of the relay operator's key; `price_per_second`: base units
/// (negative or NaN count as free); `rtt_ms`: measured round trip (None, negative or NaN:
/// unmeasured).
pub fn relay_cost(distance: Option<u32>, price_per_second: f64, rtt_ms: Option<f64>) -> f64 {
    let price = if price_per_second > 0.0 {
        price_per_second
    } else {
        0.0
    };
    let rtt = match rtt_ms {
        Some(r) if r >= 0.0 && r.is_finite() => r,
        _ => UNMEASURED_RTT_MS,
    };
    (price + 1.0) * (1.0 + rtt / RELAY_RTT_UNIT_MS) * (1.0 - social_weight(distance) / 2.0)
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

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn relay_cost_by_hand() {
        // (99 + 1) × (1 + 0/50) × 1
        assert!(close(relay_cost(None, 99.0, Some(0.0)), 100.0));
        // (99 + 1) × (1 + 50/50) × 1: 50 ms costs as much as doubling the price
        assert!(close(relay_cost(None, 99.0, Some(50.0)), 200.0));
        assert!(close(relay_cost(None, 199.0, Some(0.0)), 200.0));
        // (3 + 1) × (1 + 25/50) × (1 − 1/2) = 3
        assert!(close(relay_cost(Some(1), 3.0, Some(25.0)), 3.0));
        // (3 + 1) × 1.5 × (1 − 0.5/2) = 4.5
        assert!(close(relay_cost(Some(2), 3.0, Some(25.0)), 4.5));
        // You (distance 0) count as followed; distance 3+ as a stranger.
        assert!(close(relay_cost(Some(0), 3.0, Some(25.0)), 3.0));
        assert!(close(relay_cost(Some(3), 3.0, Some(25.0)), 6.0));
        // Free and unmeasured: 1 × (1 + 100/50) = 3; NaN / negative are the same.
        assert!(close(relay_cost(None, 0.0, None), 3.0));
        assert_eq!(relay_cost(None, 0.0, Some(f64::NAN)), 3.0);
        assert_eq!(relay_cost(None, 0.0, Some(-1.0)), 3.0);
        assert_eq!(relay_cost(None, -5.0, None), 3.0);
        assert_eq!(relay_cost(None, f64::NAN, None), 3.0);
    }

    #[test]
    fn cheaper_closer_and_followed_win_all_else_equal() {
        let dists = [None, Some(1), Some(2)];
        let prices = [0.0, 1.0, 10.0, 1e6];
        let rtts = [Some(0.0), Some(5.0), Some(120.0), None];
        for d in dists {
            for p in prices {
                for r in rtts {
                    let c = relay_cost(d, p, r);
                    assert!(c > 0.0 && c.is_finite());
                    assert!(
                        relay_cost(d, p + 1.0, r) > c,
                        "cheaper wins {d:?} {p} {r:?}"
                    );
                    if let Some(ms) = r {
                        assert!(relay_cost(d, p, Some(ms + 1.0)) > c, "closer wins");
                    }
                    assert!(relay_cost(Some(1), p, r) <= c, "followed never loses");
                    assert!(relay_cost(Some(2), p, r) <= relay_cost(None, p, r));
                    assert!(relay_cost(Some(1), p, r) < relay_cost(Some(2), p, r));
                }
            }
        }
        // A measured relay up to 100 ms beats an unmeasured one, further ones do not.
        assert!(relay_cost(None, 5.0, Some(99.0)) < relay_cost(None, 5.0, None));
        assert!(relay_cost(None, 5.0, Some(101.0)) > relay_cost(None, 5.0, None));
    }

    #[test]
    fn trust_buys_a_bounded_premium() {
        // (p + 1) in base units: a followed operator at just under 2x wins, at 2.5x loses.
        assert!(relay_cost(Some(1), 199.0, Some(10.0)) < relay_cost(None, 100.0, Some(10.0)));
        assert!(relay_cost(Some(1), 251.0, Some(10.0)) > relay_cost(None, 100.0, Some(10.0)));
        // Friend of a friend: up to 1.33x.
        assert!(relay_cost(Some(2), 131.0, Some(10.0)) < relay_cost(None, 100.0, Some(10.0)));
        assert!(relay_cost(Some(2), 140.0, Some(10.0)) > relay_cost(None, 100.0, Some(10.0)));
    }

    #[test]
    fn one_offer_does_not_move_another() {
        // No reference to the other offers: a pair's order is the same whatever else is seen.
        let a = relay_cost(None, 10.0, Some(20.0));
        let b = relay_cost(Some(2), 12.0, Some(20.0));
        assert!(b < a);
    }
}

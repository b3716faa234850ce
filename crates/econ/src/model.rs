//! The model: one stream of `viewers` viewers for `stream_hours` hours. Viewers pay per hour;
//! the money flows viewer -> ILP connectors (fee per hop on what they forward) -> relay (keeps
//! its margin, pays transcoder per stream-minute and moderator per stream-hour) -> creator
//! (the remainder). Costs come from measured CPU and bytes priced per core-hour and per GB,
//! plus fixed node-hours. Every amount is an exact `Dec`; role revenues sum to the gross.

use serde::Serialize;

use crate::{Assumptions, Dec, EconError, Measured};

/// Bytes in the GB that egress is priced by.
const BYTES_PER_GB: i64 = 1_000_000_000;
const SECONDS_PER_HOUR: i64 = 3600;
const BPS: i64 = 10_000;

/// One role's economics over the modelled period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RoleLine {
    pub role: &'static str,
    pub revenue: Dec,
    pub cost: Dec,
    /// revenue - cost
    pub margin: Dec,
    /// margin / revenue x 100; `None` when there is no revenue.
    pub margin_pct: Option<Dec>,
    /// How many nodes play the role.
    pub nodes: Dec,
}

/// Where each role breaks even (revenue = cost).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BreakEven {
    /// Relay revenue per viewer-hour (its margin on what reaches it).
    pub relay_revenue_per_viewer_hour: Dec,
    /// Relay variable cost per viewer-hour (media + payment CPU and bytes).
    pub relay_cost_per_viewer_hour: Dec,
    /// Concurrent viewers one relay needs to cover its fixed node-hour cost;
    /// `None` when a viewer costs at least what it brings (never breaks even).
    pub viewers_per_relay: Option<Dec>,
    /// Relay margin (basis points) at which a relay serving `viewers_per_relay` viewers
    /// (its capacity) covers its variable and fixed cost; `None` when nothing reaches the relay.
    pub relay_margin_bps_needed_at_capacity: Option<Dec>,
    /// Transcoder variable cost per transcoded minute (CPU only).
    pub transcoder_cost_per_minute: Dec,
    /// Transcoded minutes per transcoder node-hour needed to cover its fixed cost
    /// (60 = one ladder running all hour); `None` when the fee does not cover the CPU.
    pub minutes_per_transcoder_hour: Option<Dec>,
}

/// The creator's share next to the platforms it is compared with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// creator revenue / gross x 100; `None` when the gross is zero.
    pub creator_share_pct: Option<Dec>,
    pub twitch_pct: Dec,
    pub youtube_low_pct: Dec,
    pub youtube_high_pct: Dec,
    /// What the creator would get from the same gross at Twitch's share.
    pub creator_at_twitch: Dec,
    pub transcoder_fee_per_minute: Dec,
    pub livepeer_price_per_minute: Dec,
}

/// The full result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub currency: String,
    pub viewer_hours: Dec,
    pub stream_minutes: Dec,
    /// What viewers pay in total.
    pub gross: Dec,
    /// What reaches the relay after connector fees.
    pub at_relay: Dec,
    /// The relay margin assumed (basis points), next to the break-even one.
    pub relay_margin_bps: Dec,
    /// creator, relay, transcoder, moderator, connectors (in that order).
    pub roles: Vec<RoleLine>,
    pub break_even: BreakEven,
    pub comparison: Comparison,
}

impl Report {
    /// The line of `role` ("creator", "relay", "transcoder", "moderator", "connectors").
    pub fn role(&self, role: &str) -> Option<&RoleLine> {
        self.roles.iter().find(|r| r.role == role)
    }
}

fn pct(part: Dec, whole: Dec) -> Result<Option<Dec>, EconError> {
    part.times(Dec::int(100))?.over(whole)
}

fn line(role: &'static str, revenue: Dec, cost: Dec, nodes: Dec) -> Result<RoleLine, EconError> {
    let margin = revenue.minus(cost)?;
    Ok(RoleLine {
        role,
        revenue,
        cost,
        margin,
        margin_pct: pct(margin, revenue)?,
        nodes,
    })
}

/// `x / n` for a non-zero integer constant.
fn per(x: Dec, n: i64) -> Result<Dec, EconError> {
    Ok(x.over(Dec::int(n))?.expect("non-zero constant"))
}

/// CPU core-seconds and bytes priced per core-hour and per GB.
fn resource_cost(a: &Assumptions, core_seconds: Dec, bytes: Dec) -> Result<Dec, EconError> {
    per(
        core_seconds.times(a.cpu_cost_per_core_hour)?,
        SECONDS_PER_HOUR,
    )?
    .plus(per(bytes.times(a.egress_cost_per_gb)?, BYTES_PER_GB)?)
}

/// Compute the report.
pub fn compute(a: &Assumptions, m: &Measured) -> Result<Report, EconError> {
    let viewer_hours = a.viewers.times(a.stream_hours)?;
    let stream_minutes = a.stream_hours.times(Dec::int(60))?;
    let gross = viewer_hours.times(a.price_per_viewer_hour)?;

    // Each connector keeps bps of what it forwards; the rest moves on.
    let hop_rate = per(a.connector_fee_bps_per_hop, BPS)?;
    let hops = a.ilp_hops.raw() / Dec::ONE.raw();
    let mut at_relay = gross;
    for _ in 0..hops {
        at_relay = at_relay.minus(at_relay.times(hop_rate)?)?;
    }
    let connectors_rev = gross.minus(at_relay)?;
    let relay_rev = at_relay.times(per(a.relay_margin_bps, BPS)?)?;
    let transcoder_rev = stream_minutes.times(a.transcoder_fee_per_minute)?;
    let moderator_rev = a.stream_hours.times(a.moderator_fee_per_stream_hour)?;
    let creator_rev = at_relay
        .minus(relay_rev)?
        .minus(transcoder_rev)?
        .minus(moderator_rev)?;

    // Costs: multiply quantities by prices first, divide by 3600 s or 10^9 bytes last, so
    // tiny per-byte prices do not round away.
    let m_relay_cs = m.relay_core_seconds_per_viewer_hour.value;
    let m_relay_b = m.relay_bytes_per_viewer_hour.value;
    let m_pay_cs = m.payment_core_seconds_per_viewer_hour.value;
    let m_pay_b = m.payment_bytes_per_viewer_hour.value;
    let relay_cs_per_vh = m_relay_cs.plus(m_pay_cs)?;
    let relay_b_per_vh = m_relay_b.plus(m_pay_b)?;

    let relays = a
        .viewers
        .over(a.viewers_per_relay)?
        .ok_or(EconError::Overflow)?
        .ceil();
    let relay_cost = resource_cost(
        a,
        viewer_hours.times(relay_cs_per_vh)?,
        viewer_hours.times(relay_b_per_vh)?,
    )?
    .plus(
        relays
            .times(a.stream_hours)?
            .times(a.relay_fixed_cost_per_hour)?,
    )?;
    let transcoder_cs = stream_minutes.times(m.transcoder_core_seconds_per_ladder_minute.value)?;
    let transcoder_cost = resource_cost(a, transcoder_cs, Dec::ZERO)?
        .plus(a.stream_hours.times(a.transcoder_fixed_cost_per_hour)?)?;
    let moderator_cost = a.stream_hours.times(a.moderator_cost_per_stream_hour)?;
    let connectors_cost = resource_cost(
        a,
        viewer_hours.times(m_pay_cs)?.times(a.ilp_hops)?,
        viewer_hours.times(m_pay_b)?.times(a.ilp_hops)?,
    )?;
    let relay_cost_per_vh = resource_cost(a, relay_cs_per_vh, relay_b_per_vh)?;
    let transcoder_cost_per_minute = resource_cost(
        a,
        m.transcoder_core_seconds_per_ladder_minute.value,
        Dec::ZERO,
    )?;

    let roles = vec![
        line("creator", creator_rev, Dec::ZERO, Dec::ONE)?,
        line("relay", relay_rev, relay_cost, relays)?,
        line("transcoder", transcoder_rev, transcoder_cost, Dec::ONE)?,
        line("moderator", moderator_rev, moderator_cost, Dec::ONE)?,
        line("connectors", connectors_rev, connectors_cost, a.ilp_hops)?,
    ];

    let relay_revenue_per_viewer_hour = relay_rev.over(viewer_hours)?.unwrap_or(Dec::ZERO);
    let relay_gain = relay_revenue_per_viewer_hour.minus(relay_cost_per_vh)?;
    let viewers_per_relay = if relay_gain > Dec::ZERO {
        a.relay_fixed_cost_per_hour.over(relay_gain)?
    } else {
        None
    };
    // At capacity a relay must earn, per viewer-hour, its variable cost plus its fixed cost
    // spread over its viewers; as a share of what reaches it per viewer-hour, in bps.
    let needed_per_vh = relay_cost_per_vh.plus(
        a.relay_fixed_cost_per_hour
            .over(a.viewers_per_relay)?
            .ok_or(EconError::Overflow)?,
    )?;
    let at_relay_per_vh = at_relay.over(viewer_hours)?.unwrap_or(Dec::ZERO);
    let relay_margin_bps_needed_at_capacity =
        needed_per_vh.times(Dec::int(BPS))?.over(at_relay_per_vh)?;
    let transcoder_gain = a
        .transcoder_fee_per_minute
        .minus(transcoder_cost_per_minute)?;
    let minutes_per_transcoder_hour = if transcoder_gain > Dec::ZERO {
        a.transcoder_fixed_cost_per_hour.over(transcoder_gain)?
    } else {
        None
    };

    Ok(Report {
        currency: a.currency.clone(),
        viewer_hours,
        stream_minutes,
        gross,
        at_relay,
        relay_margin_bps: a.relay_margin_bps,
        roles,
        break_even: BreakEven {
            relay_revenue_per_viewer_hour,
            relay_cost_per_viewer_hour: relay_cost_per_vh,
            viewers_per_relay,
            relay_margin_bps_needed_at_capacity,
            transcoder_cost_per_minute,
            minutes_per_transcoder_hour,
        },
        comparison: Comparison {
            creator_share_pct: pct(creator_rev, gross)?,
            twitch_pct: a.twitch_creator_share_pct,
            youtube_low_pct: a.youtube_creator_share_pct_low,
            youtube_high_pct: a.youtube_creator_share_pct_high,
            creator_at_twitch: gross.times(per(a.twitch_creator_share_pct, 100)?)?,
            transcoder_fee_per_minute: a.transcoder_fee_per_minute,
            livepeer_price_per_minute: a.livepeer_price_per_transcoded_minute,
        },
    })
}

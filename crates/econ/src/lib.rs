//! tollcast-econ: the economic model of a tollcast stream. It owns the assumptions file
//! (audience, prices, fees per role, unit costs, comparison platforms), the measured-inputs file
//! (CPU and bytes per unit of work with provenance, written by agents' metrics), the exact
//! arithmetic of per-role revenue, cost, margin and break-even, creator share against Twitch
//! and YouTube, one-at-a-time sensitivity, and the table/CSV/SVG renderings. It depends on no
//! other tollcast crate.
//!
//! The model, for one stream (all money exact to 9 decimals, rounded half away from zero):
//! - viewer-hours `VH = viewers x stream_hours`; gross `G = VH x price_per_viewer_hour`
//! - each of `ilp_hops` connectors keeps `bps/10^4` of what it forwards; `R` reaches the relay
//! - relay `= R x relay_margin_bps/10^4`; transcoder `= 60 x stream_hours x fee/min`;
//!   moderator `= stream_hours x fee/h`; creator `= R -` those three (may be negative);
//!   the five revenues sum to `G` exactly
//! - costs: CPU core-seconds x price per core-hour / 3600 and bytes x price per GB / 10^9, from
//!   the measured figures, plus fixed node-hours (`ceil(viewers / viewers_per_relay)` relays);
//!   payment overhead is paid by the relay and by every connector hop
//! - break-even: viewers per relay `= fixed/h / (revenue - variable cost per viewer-hour)`,
//!   transcoded minutes per transcoder-hour `= fixed/h / (fee - CPU cost per minute)`, and the
//!   relay margin (bps) needed at capacity
//! - sensitivity: every varied input -/+20 % (whole numbers -/+1), ranked by the largest move
//!   of the creator share
//!
//! Measured inputs: [`Measured::parse`] reads them (TOML or JSON), [`Measured::to_toml`] writes
//! the same form; examples/econ/measured.toml documents each figure's provenance.

mod dec;
mod error;
pub mod inputs;
mod model;
pub mod render;
mod sensitivity;

pub use dec::Dec;
pub use error::EconError;
pub use inputs::{Assumptions, Figure, Measured, Status};
pub use model::{BreakEven, Comparison, Report, RoleLine, compute};
pub use sensitivity::{Sensitivity, Swing, sensitivity};

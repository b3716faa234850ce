//! tollcast-econ: the economic model of a tollcast stream. It owns the assumptions file
//! (audience, prices, fees per role, unit costs, comparison platforms), the measured-inputs file
//! (CPU and bytes per unit of work with provenance, written by agents' metrics), the exact
//! arithmetic of per-role revenue, cost, margin and break-even, creator share against Twitch
//! and YouTube, one-at-a-time sensitivity, and the table/CSV/SVG renderings. It depends on no
//! other tollcast crate.

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

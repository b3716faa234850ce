//! Moderator agents: independent, paid per stream-hour, they watch a stream's chat and the
//! NIP-56 reports about it, mute rule breakers through NIP-51 lists (kind 10000, and a kind
//! 30000 `block:<stream>` set) that chat relays honour ([`crate::chat::gate`]), and vote on
//! takedowns (NIP-32 labels, kind 1985) that relay agents count
//! ([`crate::relay::moderation`]). Appeals make them re-review.
//!
//! - [`config`]: [`ModeratorConfig`] (serde, defaults; `[moderator]` in a node TOML).
//! - [`rules`]: keyword / rate / new-account rules.
//! - [`takedown`]: report tallies and the vote count relays keep.
//! - [`agent`]: the running agent ([`ModeratorAgent`]).

pub mod agent;
pub mod config;
pub mod rules;
pub mod takedown;

pub use agent::{ModeratorAgent, ModeratorError};
pub use config::ModeratorConfig;

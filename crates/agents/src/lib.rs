//! tollcast-agents: the roles of the network (streamer, transcoder, relay, viewer, moderator,
//! recorder), their pricing and revenue splits, built on net, media and ledger.
//!
//! - [`relay`]: the CDN edge (verified, cached, coalesced LL-HLS fan-out; credit-mode billing).

pub mod chat;
pub mod discovery;
pub mod durable_map;
pub mod moderator;
pub mod recorder;
pub mod relay;
pub mod streamer;
pub mod tips;
pub mod transcoder;
pub mod verifier;
pub mod viewer;

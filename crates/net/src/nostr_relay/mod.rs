//! The Nostr relay every tollcast node runs, and the Nostr client its agents use.
//!
//! - [`relay`]: NIP-01 over WebSocket (EVENT/REQ/CLOSE/COUNT/AUTH; OK/EOSE/CLOSED/NOTICE),
//!   NIP-11 on the same route, NIP-42 AUTH for paid WebSocket writes. Mount [`router`].
//! - [`core`]: one judgement for every write, whatever the transport: id and signature
//!   first, then limits, block list, NIP-40 expiry, then the store.
//! - [`store`]: durable redb store (group commit, fsync before OK), replaceable/addressable
//!   replacement, NIP-09 deletion with tombstones, NIP-40 purge, prepaid accounts.
//! - [`filter`]: NIP-01 filter matching, ordering and index choice.
//! - [`pay_to_write`]: ILP PREPARE carrying a TOON-encoded event → stored and fulfilled when
//!   paid for (see that module for the condition/fulfillment scheme).
//! - [`client`] and [`pool`]: WebSocket client with reconnect, and a pool over many relays
//!   with per-relay publish results and deduplicated subscriptions.

pub mod client;
pub mod config;
pub mod core;
pub mod filter;
pub mod metrics;
pub mod pay_to_write;
pub mod pool;
pub mod relay;
pub mod store;
pub mod toon;

pub use config::{Pricing, RelayConfig, RelayInfo, RelayLimits, WritePolicy};
pub use core::{Ingested, Prefix, Refusal, RelayCore, WebSocketWriteGuard};
pub use metrics::RelayMetrics;
pub use relay::{NostrRelay, info_document, router};
pub use store::{Charge, EventStore, SaveOutcome, StoreError};

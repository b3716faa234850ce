//! tollcast-net: the I/O side of the protocols.
//!
//! Owns the ILP connector (BTP peers, routing, fees, exchange rates), STREAM sender and
//! receiver, SPSP (HTTP and over Nostr), and the Nostr relay (NIP-01, pay-to-write over ILP)
//! and client.

pub mod connector;
pub mod http_serve;
pub mod node_services;
pub mod nostr_relay;
pub mod stream;

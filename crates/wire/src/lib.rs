//! tollcast-wire: sans-io codecs for every byte tollcast puts on the wire.
//!
//! Owns ILPv4 packets (RFC 0027) with their OER encoding (RFC 0030), ILP addresses and error
//! codes, BTP frames (RFC 0023), IL-DCP (RFC 0031), STREAM packets, frames and crypto
//! (RFC 0029) and SPSP response types (RFC 0009). No I/O, no async: bytes in, typed values out.

/// Re-exported so users of the codecs need no direct `bytes` dependency.
pub use bytes::{Bytes, BytesMut};

pub mod address;
pub mod btp;
pub mod error_code;
pub mod ildcp;
pub mod ilp;
pub mod oer;
pub mod spsp;
pub mod stream;

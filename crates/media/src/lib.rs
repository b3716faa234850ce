//! tollcast-media: from an encoder's bytes to verifiable low-latency chunks.
//!
//! Owns ingest (RTMP, SRT, synthetic source via ffmpeg), fragmented-MP4 parsing, CMAF part and
//! segment cutting, the content-addressed chunk store, LL-HLS playlists and the origin.
//!
//! Layers, each usable alone: [`fmp4`] (boxes -> init + fragments) -> [`cutter`] (fragments ->
//! parts/segments) -> [`store`] (SHA-256 named chunks) -> [`playlist`] + [`origin`] (LL-HLS over
//! HTTP, fed by records, no ffmpeg needed) ; [`ingest`] runs ffmpeg and [`live`] wires it all.

pub mod cutter;
pub mod error;
pub mod fmp4;
pub mod ingest;
pub mod ladder;
pub mod live;
pub mod manifest;
pub mod origin;
pub mod playlist;
pub mod store;

pub use error::{MediaError, Result};

//! tollcast-media: from an encoder's bytes to verifiable low-latency chunks.
//!
//! Owns ingest (RTMP, SRT, synthetic source via ffmpeg), fragmented-MP4 parsing, CMAF part and
//! segment cutting, the content-addressed chunk store, LL-HLS playlists and the ffmpeg ladder.

//! ILP-native delivery: a viewer fetches chunks over one STREAM connection, and each chunk's
//! bytes travel back as `StreamData` inside the FULFILLs of the very packets that pay for them.
//! Payment and delivery are atomic per packet: a packet that does not pay for its bytes is
//! rejected carrying nothing, so a relay never gives away a byte and a viewer never pays for
//! one it did not get.
//!
//! Wire format (inside `StreamData` on the request stream, [`REQUEST_STREAM`]):
//! - request, [`REQUEST_LEN`] = 45 bytes: `version (1) = 1 | sha256 of the chunk (32) |
//!   offset (u64 BE) | max_len (u32 BE)`;
//! - answer, in the FULFILL: `chunk size (u64 BE) | bytes [offset, offset + n)` with
//!   `n = min(max_len, size - offset, MAX_RESPONSE_BYTES - 8)`; `max_len = 0` asks for the size
//!   only (free).
//!
//! Price ([`NativePricing`]): cumulative over a chunk, so the slices of one chunk add up to
//! exactly the chunk's price whatever the packet boundaries:
//! `C(x) = ceil(price_per_gb * x / 10^9) + ceil(price_per_part * x / size)` and a slice
//! `[s, e)` costs `C(e) - C(s)`. An unpaid or underpaid packet is refused (F99) with the
//! price it needed in the message.
//!
//! [`NativeServer`] is the relay's [`Responder`] (it serves any chunk the relay can verify);
//! [`NativeFetcher`] (in `fetch.rs`) is the viewer side: fetch chunks by hash with several
//! slices in flight, verify their SHA-256.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tollcast_net::stream::{
    MAX_RESPONSE_BYTES, Responder, ResponderReply, ResponderRequest, StreamSendError,
};

use super::Relay;

mod fetch;
pub use fetch::{DEFAULT_WINDOW, FetchStats, NativeFetcher};

/// Request format version.
pub const REQUEST_VERSION: u8 = 1;
/// Bytes of one request.
pub const REQUEST_LEN: usize = 1 + 32 + 8 + 4;
/// Bytes of the answer header (the chunk size).
pub const ANSWER_HEADER: usize = 8;
/// Most chunk bytes one packet carries.
pub const MAX_SLICE: usize = MAX_RESPONSE_BYTES - ANSWER_HEADER;
/// The STREAM stream requests go on (client streams are odd).
pub const REQUEST_STREAM: u64 = 1;

/// ILP-native failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NativeError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("chunk names are 64 lowercase hex digits (SHA-256)")]
    BadName,
    #[error("STREAM: {0}")]
    Stream(#[from] StreamSendError),
    #[error("relay answered with a malformed reply: {0}")]
    BadAnswer(String),
    #[error("chunk {hash}: the relay says {got} bytes, the signed manifest says {want}")]
    SizeMismatch { hash: String, got: u64, want: u64 },
    #[error("chunk {hash}: the relay's bytes hash to {got}: refused")]
    HashMismatch { hash: String, got: String },
}

/// One request: which chunk, from where, how much at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRequest {
    pub hash: [u8; 32],
    pub offset: u64,
    pub max_len: u32,
}

impl PartRequest {
    /// For chunk `hash` (64 lowercase hex digits).
    pub fn new(hash: &str, offset: u64, max_len: u32) -> Result<Self, NativeError> {
        Ok(Self {
            hash: parse_hash(hash)?,
            offset,
            max_len,
        })
    }

    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut out = [0u8; REQUEST_LEN];
        out[0] = REQUEST_VERSION;
        out[1..33].copy_from_slice(&self.hash);
        out[33..41].copy_from_slice(&self.offset.to_be_bytes());
        out[41..45].copy_from_slice(&self.max_len.to_be_bytes());
        out
    }

    pub fn decode(b: &[u8]) -> Result<Self, NativeError> {
        if b.len() != REQUEST_LEN {
            return Err(NativeError::BadRequest(format!(
                "a request is {REQUEST_LEN} bytes, got {}",
                b.len()
            )));
        }
        if b[0] != REQUEST_VERSION {
            return Err(NativeError::BadRequest(format!(
                "request version {} (this relay speaks {REQUEST_VERSION})",
                b[0]
            )));
        }
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&b[1..33]);
        let mut o = [0u8; 8];
        o.copy_from_slice(&b[33..41]);
        let mut m = [0u8; 4];
        m.copy_from_slice(&b[41..45]);
        Ok(Self {
            hash,
            offset: u64::from_be_bytes(o),
            max_len: u32::from_be_bytes(m),
        })
    }

    pub fn hash_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn parse_hash(s: &str) -> Result<[u8; 32], NativeError> {
    if !tollcast_media::store::is_valid_hash(s) {
        return Err(NativeError::BadName);
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| NativeError::BadName)?;
    }
    Ok(out)
}

/// Prices of ILP-native delivery, in the relay's base units. Both zero: free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NativePricing {
    /// Per 10^9 bytes delivered.
    #[serde(default)]
    pub price_per_gb: u64,
    /// Per chunk (part, segment or init) delivered, spread over its bytes.
    #[serde(default)]
    pub price_per_part: u64,
}

impl NativePricing {
    fn cumulative(&self, x: u64, size: u64) -> u128 {
        let by_volume = (self.price_per_gb as u128 * x as u128).div_ceil(1_000_000_000);
        let by_part = if size == 0 {
            0
        } else {
            (self.price_per_part as u128 * x.min(size) as u128).div_ceil(size as u128)
        };
        by_volume + by_part
    }

    /// Price of bytes `[start, end)` of a chunk of `size` bytes.
    pub fn price(&self, start: u64, end: u64, size: u64) -> u64 {
        let p = self
            .cumulative(end, size)
            .saturating_sub(self.cumulative(start.min(end), size));
        p.min(u64::MAX as u128) as u64
    }

    /// Price of a whole chunk of `size` bytes.
    pub fn chunk_price(&self, size: u64) -> u64 {
        self.price(0, size, size)
    }

    pub fn is_free(&self) -> bool {
        self.price_per_gb == 0 && self.price_per_part == 0
    }
}

/// Counters of a [`NativeServer`].
#[derive(Debug, Default)]
pub struct NativeStats {
    /// Packets answered with chunk bytes (or a size).
    pub answered: AtomicU64,
    /// Packets refused (underpaid, unknown chunk, bad request).
    pub refused: AtomicU64,
    /// Chunk bytes put into FULFILLs.
    pub bytes: AtomicU64,
}

/// The relay's [`Responder`]: serves any chunk the relay can verify, priced by [`NativePricing`].
/// Set it on the STREAM receiver viewers pay (`receiver.set_responder(Some(server))`).
pub struct NativeServer {
    relay: Relay,
    pricing: NativePricing,
    stats: Arc<NativeStats>,
}

impl NativeServer {
    pub fn new(relay: Relay, pricing: NativePricing) -> Arc<Self> {
        Arc::new(Self {
            relay,
            pricing,
            stats: Arc::default(),
        })
    }

    pub fn stats(&self) -> &Arc<NativeStats> {
        &self.stats
    }

    pub fn pricing(&self) -> NativePricing {
        self.pricing
    }

    async fn answer(
        relay: Relay,
        pricing: NativePricing,
        req: ResponderRequest,
    ) -> Result<(u64, Bytes), String> {
        let Some((stream_id, _, data)) = req.data.into_iter().find(|d| d.0 == REQUEST_STREAM)
        else {
            return Err(format!("ILP-native requests go on stream {REQUEST_STREAM}"));
        };
        let r = PartRequest::decode(&data).map_err(|e| e.to_string())?;
        // No "amount == 0 means unpaid" shortcut here: with cumulative pricing a slice may
        // legitimately cost 0 (e.g. the tail of a chunk just over one packet, once the first
        // slice's rounded-up share reached the whole part price). Only the slice's own price
        // decides, and it needs the chunk's size.
        let hash = r.hash_hex();
        let chunk = relay.chunk(&hash).await.map_err(|e| e.to_string())?;
        let size = chunk.len() as u64;
        if r.offset > size {
            return Err(format!(
                "offset {} is past the chunk's {size} bytes",
                r.offset
            ));
        }
        let room = (req.max_reply.saturating_sub(ANSWER_HEADER)) as u64;
        let n = (r.max_len as u64).min(size - r.offset).min(room);
        let end = r.offset + n;
        let price = pricing.price(r.offset, end, size);
        if req.amount < price {
            // Fixed form, parsed by the fetcher ([`parse_shortfall`]) to top up what the path
            // (fees, rate rounding) took.
            let what = if req.amount == 0 {
                "unpaid"
            } else {
                "underpaid"
            };
            return Err(format!(
                "{what}: need {price} for bytes {}..{end} of {size}, got {}",
                r.offset, req.amount
            ));
        }
        let mut out = BytesMut::with_capacity(ANSWER_HEADER + n as usize);
        out.put_u64(size);
        out.extend_from_slice(&chunk[r.offset as usize..end as usize]);
        Ok((stream_id, out.freeze()))
    }
}

impl Responder for NativeServer {
    fn respond(
        &self,
        req: ResponderRequest,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ResponderReply> + Send + 'static>> {
        let (relay, pricing, stats) = (self.relay.clone(), self.pricing, self.stats.clone());
        Box::pin(async move {
            match Self::answer(relay.clone(), pricing, req).await {
                Ok((stream_id, data)) => {
                    let n = (data.len() - ANSWER_HEADER) as u64;
                    stats.answered.fetch_add(1, Ordering::Relaxed);
                    stats.bytes.fetch_add(n, Ordering::Relaxed);
                    relay.metrics().bytes_served.fetch_add(n, Ordering::Relaxed);
                    ResponderReply::Reply { stream_id, data }
                }
                Err(m) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    ResponderReply::Refuse(m)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip_and_bad_input() {
        let h = "ab".repeat(32);
        let r = PartRequest::new(&h, 70_000, 32_000).unwrap();
        let b = r.encode();
        assert_eq!(PartRequest::decode(&b).unwrap(), r);
        assert_eq!(r.hash_hex(), h);
        assert!(PartRequest::decode(&b[..44]).is_err());
        let mut v = b;
        v[0] = 2;
        assert!(PartRequest::decode(&v).is_err());
        assert!(PartRequest::new("AB", 0, 0).is_err());
        assert!(
            PartRequest::new(&"AB".repeat(32), 0, 0).is_err(),
            "lowercase only"
        );
    }

    #[test]
    fn a_tail_slice_can_cost_nothing() {
        // Why the server may not treat "amount 0" as unpaid: 20 per part, a chunk just over
        // one packet; the first slice's rounded-up share is the whole part price.
        let p = NativePricing {
            price_per_gb: 0,
            price_per_part: 20,
        };
        let size = MAX_SLICE as u64 + 100;
        assert_eq!(p.price(0, MAX_SLICE as u64, size), 20);
        assert_eq!(p.price(MAX_SLICE as u64, size, size), 0);
    }

    #[test]
    fn slices_of_a_chunk_add_up_to_its_price() {
        let p = NativePricing {
            price_per_gb: 1_000_003,
            price_per_part: 997,
        };
        for size in [0u64, 1, 999, 32_000, 100_001, 3_000_000] {
            for step in [1_000u64, 7_777, MAX_SLICE as u64] {
                let mut sum = 0;
                let mut o = 0;
                while o < size {
                    let e = (o + step).min(size);
                    sum += p.price(o, e, size);
                    o = e;
                }
                assert_eq!(sum, p.chunk_price(size), "size {size} step {step}");
            }
        }
        assert_eq!(p.chunk_price(0), 0);
        // 1 GB at 1,000,003 per GB + 997 per part.
        assert_eq!(p.chunk_price(1_000_000_000), 1_000_003 + 997);
        assert!(NativePricing::default().is_free());
        assert_eq!(NativePricing::default().price(0, 1 << 40, 1 << 40), 0);
    }
}

//! STREAM receipts (RFC 0039): a receiver's signed statement "stream N of connection
//! <nonce> has received at least X", carried in `StreamReceipt` frames and checkable by a
//! third party (e.g. a streamer's verifier) that knows the receipt secret.
//!
//! Layout (58 bytes): `version (1) || nonce (16) || stream id (u8) || total received (u64 BE)
//! || HMAC-SHA256(receipt secret, first 26 bytes)`, as ilp-protocol-stream writes it.

use super::crypto::hmac_sha256;
use super::error::StreamError;

/// Encoded receipt length.
pub const RECEIPT_LEN: usize = 58;
/// The receipt version this module reads and writes.
pub const RECEIPT_VERSION: u8 = 1;
const SIGNED_LEN: usize = 26;

/// The signed content of a receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// Receipt nonce, chosen by the verifier and sealed into the connection's token.
    pub nonce: [u8; 16],
    /// Stream the money arrived on (receipts only cover stream ids 0..=255).
    pub stream_id: u8,
    /// Total the receiver had received on that stream, in its units.
    pub total_received: u64,
}

impl Receipt {
    /// Encodes and signs the receipt with the 32-byte receipt secret.
    pub fn sign(&self, secret: &[u8; 32]) -> [u8; RECEIPT_LEN] {
        let mut out = [0u8; RECEIPT_LEN];
        out[0] = RECEIPT_VERSION;
        out[1..17].copy_from_slice(&self.nonce);
        out[17] = self.stream_id;
        out[18..SIGNED_LEN].copy_from_slice(&self.total_received.to_be_bytes());
        let mac = hmac_sha256(secret, &out[..SIGNED_LEN]);
        out[SIGNED_LEN..].copy_from_slice(&mac);
        out
    }

    /// Reads a receipt without checking its HMAC (e.g. to pick the secret by nonce first).
    pub fn decode_unverified(bytes: &[u8]) -> Result<Self, StreamError> {
        if bytes.len() != RECEIPT_LEN {
            return Err(StreamError::InvalidReceipt("length is not 58 bytes"));
        }
        if bytes[0] != RECEIPT_VERSION {
            return Err(StreamError::InvalidReceipt("unsupported receipt version"));
        }
        Ok(Self {
            nonce: bytes[1..17].try_into().expect("16 bytes"),
            stream_id: bytes[17],
            total_received: u64::from_be_bytes(bytes[18..SIGNED_LEN].try_into().expect("8 bytes")),
        })
    }

    /// Decodes a receipt and checks its HMAC against `secret` (constant-time compare).
    pub fn verify(bytes: &[u8], secret: &[u8; 32]) -> Result<Self, StreamError> {
        let receipt = Self::decode_unverified(bytes)?;
        let want = hmac_sha256(secret, &bytes[..SIGNED_LEN]);
        let diff = want
            .iter()
            .zip(&bytes[SIGNED_LEN..])
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Err(StreamError::InvalidReceipt(
                "HMAC does not match the receipt secret",
            ));
        }
        Ok(receipt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_tamper() {
        let r = Receipt {
            nonce: [5; 16],
            stream_id: 1,
            total_received: 500,
        };
        let bytes = r.sign(&[9; 32]);
        assert_eq!(Receipt::verify(&bytes, &[9; 32]), Ok(r));
        assert!(Receipt::verify(&bytes, &[8; 32]).is_err());
        for i in 0..RECEIPT_LEN {
            let mut t = bytes;
            t[i] ^= 1;
            assert!(Receipt::verify(&t, &[9; 32]).is_err(), "byte {i}");
        }
        assert!(Receipt::verify(&bytes[..57], &[9; 32]).is_err());
    }
}

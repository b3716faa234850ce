//! Typed errors for STREAM decoding, decryption and connection tokens.

use thiserror::Error;

/// Everything that can go wrong when turning untrusted bytes into STREAM values.
///
/// Decoding never panics: any malformed, truncated or forged input ends in one of these.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamError {
    /// The encrypted envelope is shorter than its 12-byte nonce plus 16-byte tag.
    #[error(
        "STREAM ciphertext too short: {len} bytes, need at least 28 (12-byte nonce + 16-byte tag)"
    )]
    CiphertextTooShort {
        /// Length of the input.
        len: usize,
    },
    /// AES-256-GCM authentication failed: wrong shared secret, or the data was altered.
    #[error(
        "unable to decrypt STREAM packet: wrong shared secret or the data was corrupted (AES-GCM tag mismatch)"
    )]
    Decryption,
    /// The input ended before a field was complete.
    #[error("STREAM packet truncated while reading {field}: need {needed} bytes, {available} left")]
    Truncated {
        /// Which field was being read.
        field: &'static str,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A length prefix was not in canonical OER form.
    #[error("non-canonical OER length prefix while reading {field}")]
    NonCanonicalLength {
        /// Which field was being read.
        field: &'static str,
    },
    /// Any other OER-level problem in a field.
    #[error("malformed OER in {field}: {source}")]
    Oer {
        /// Which field was being read.
        field: &'static str,
        /// The OER error.
        source: crate::oer::OerError,
    },
    /// A variable-length unsigned integer had zero length.
    #[error("zero-length VarUInt in {field}")]
    EmptyVarUint {
        /// Which field was being read.
        field: &'static str,
    },
    /// A variable-length unsigned integer does not fit 64 bits (and the field does not saturate).
    #[error("VarUInt in {field} is {len} bytes long, more than the 8 bytes of a u64")]
    VarUintTooLarge {
        /// Which field was being read.
        field: &'static str,
        /// Encoded length in bytes.
        len: usize,
    },
    /// The packet's version byte is not 1.
    #[error("unsupported STREAM version {0} (only version 1 exists)")]
    UnsupportedVersion(u8),
    /// The packet names an ILP packet type other than 12, 13 or 14.
    #[error(
        "invalid ILP packet type {0} in STREAM packet (expected 12 prepare, 13 fulfill or 14 reject)"
    )]
    InvalidIlpPacketType(u8),
    /// A JSON value did not describe a valid STREAM packet (see [`crate::stream::StreamPacket::from_json`]).
    #[error("invalid STREAM packet JSON: {0}")]
    Json(String),
    /// A STREAM receipt is malformed or its HMAC does not verify.
    #[error("invalid STREAM receipt: {0}")]
    InvalidReceipt(&'static str),
    /// A connection token in an ILP address could not be opened with this server secret.
    #[error("invalid STREAM connection token: {0}")]
    InvalidToken(&'static str),
}

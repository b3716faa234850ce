//! Typed errors for TOON event decoding and for tollcast event parsing.
//!
//! Every untrusted input path returns one of these; nothing in this crate panics on input.

use thiserror::Error;

/// Why a TOON document is not a valid signed Nostr event.
#[derive(Debug, Error)]
pub enum ToonEventError {
    /// Larger than [`crate::toon::MAX_TOON_EVENT_BYTES`]; refused before parsing.
    #[error("TOON event is {len} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// Input length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// ILP data that is not UTF-8 text.
    #[error("ILP data is not UTF-8 TOON text: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// The TOON text does not parse (strict TOON v4), or lacks/duplicates/adds a field or has a wrong type.
    #[error("invalid TOON event: {0}")]
    Toon(#[from] serde_toon::Error),
    /// `id`, `pubkey` or `sig` is not lower-case hex of the right length (NIP-01).
    #[error("field `{field}` must be {len} lower-case hex characters")]
    BadHex {
        /// Field name.
        field: &'static str,
        /// Expected number of hex characters.
        len: usize,
    },
    /// A tag with no elements (`[]`); NIP-01 tags have at least a name.
    #[error("tag #{index} is empty")]
    EmptyTag {
        /// Position in `tags`.
        index: usize,
    },
    /// The public key is not a valid x-only secp256k1 point.
    #[error("invalid public key: {0}")]
    BadPubkey(String),
    /// The id does not hash the event, or the signature does not verify.
    #[error("event does not verify: {0}")]
    Verify(String),
}

/// Why a signed event is not a valid tollcast event of the expected kind.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EventError {
    /// The event id or signature does not verify (NIP-01 / BIP-340).
    #[error("event does not verify: {0}")]
    Verify(String),
    /// The event has another kind than the parser handles.
    #[error("expected kind {expected}, got kind {got}")]
    WrongKind {
        /// What the parser wanted (a number or a range).
        expected: &'static str,
        /// What the event has.
        got: u16,
    },
    /// A required tag is absent.
    #[error("missing required tag `{0}`")]
    MissingTag(&'static str),
    /// A tag that must occur at most once occurs more often.
    #[error("tag `{0}` occurs more than once")]
    DuplicateTag(&'static str),
    /// A tag is present but one of its values is malformed.
    #[error("tag `{tag}`: {reason}")]
    BadTag {
        /// Tag name.
        tag: &'static str,
        /// What is wrong, for a human.
        reason: String,
    },
    /// The content is malformed for this kind.
    #[error("content: {0}")]
    BadContent(String),
}

impl EventError {
    pub(crate) fn bad(tag: &'static str, reason: impl Into<String>) -> Self {
        EventError::BadTag {
            tag,
            reason: reason.into(),
        }
    }
}

/// Errors from building (signing) an event.
#[derive(Debug, Error)]
pub enum BuildError {
    /// A builder argument is out of range.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Signing failed (nostr).
    #[error("signing failed: {0}")]
    Sign(String),
}

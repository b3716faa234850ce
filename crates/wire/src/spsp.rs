//! SPSP (RFC 0009) response bodies: what `GET /.well-known/pay` returns.
//!
//! The JSON field names are RFC 0009's (`destination_account`, `shared_secret`). The shared
//! secret is written as standard base64 with padding (recommended by the RFC) and read as
//! standard or URL-safe base64, padded or not (clients SHOULD accept base64url). Unknown fields
//! are ignored, as the RFC requires.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::address::Address;

/// Content type of an SPSP response (and the preferred `Accept` value).
pub const CONTENT_TYPE: &str = "application/spsp4+json";
/// `Accept` header a client sends.
pub const ACCEPT: &str = "application/spsp4+json, application/spsp+json";

/// Body of a successful SPSP query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpspResponse {
    /// STREAM destination address of the receiver.
    pub destination_account: Address,
    /// 32-byte STREAM shared secret.
    #[serde(with = "secret_b64")]
    pub shared_secret: [u8; 32],
    /// Whether the receiver issues STREAM receipts (an extension field; omitted when `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipts_enabled: Option<bool>,
}

/// Body of an SPSP error response (e.g. 404 with `InvalidReceiverError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpspErrorBody {
    /// Error identifier, e.g. `InvalidReceiverError`.
    pub id: String,
    /// Human-readable message.
    pub message: String,
}

/// Decodes a base64 (standard or URL-safe, padding optional) 32-byte secret.
pub fn decode_secret(s: &str) -> Result<[u8; 32], String> {
    let trimmed = s.trim_end_matches('=');
    let normalized: String = trimmed
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let bytes = URL_SAFE_NO_PAD
        .decode(normalized.as_bytes())
        .map_err(|e| format!("shared_secret is not base64: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("shared_secret must be 32 bytes, got {}", b.len()))
}

/// Encodes a secret as standard padded base64.
pub fn encode_secret(secret: &[u8; 32]) -> String {
    STANDARD.encode(secret)
}

mod secret_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::encode_secret(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::decode_secret(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example() {
        let body = r#"{"destination_account":"example.ilpdemo.red.bob","shared_secret":"6jR5iNIVRvqeasJeCty6C+YB5X9FhSOUPCL/5nha5Vs=","extra":1}"#;
        let r: SpspResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.destination_account.as_str(), "example.ilpdemo.red.bob");
        assert_eq!(r.receipts_enabled, None);
        let out = serde_json::to_string(&r).unwrap();
        assert_eq!(
            out,
            r#"{"destination_account":"example.ilpdemo.red.bob","shared_secret":"6jR5iNIVRvqeasJeCty6C+YB5X9FhSOUPCL/5nha5Vs="}"#
        );
        let url = r#"{"destination_account":"g.x","shared_secret":"6jR5iNIVRvqeasJeCty6C-YB5X9FhSOUPCL_5nha5Vs"}"#;
        let u: SpspResponse = serde_json::from_str(url).unwrap();
        assert_eq!(u.shared_secret, r.shared_secret);
        assert!(
            serde_json::from_str::<SpspResponse>(
                r#"{"destination_account":"g.x","shared_secret":"AAAA"}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<SpspResponse>(r#"{"destination_account":"bad","shared_secret":"6jR5iNIVRvqeasJeCty6C+YB5X9FhSOUPCL/5nha5Vs="}"#).is_err());
    }
}

//! ILP error codes (RFC 0027 "Error Codes") and the F08 Amount Too Large error data.
//!
//! An [`ErrorCode`] is 3 ASCII bytes: a class letter (`F` final, `T` temporary, `R` relative)
//! and two digits. Every RFC code has an associated constant and a name; any other code of the
//! form `[FTR][0-9][0-9]` is accepted as unknown-but-valid (RFC 0027 lets applications and newer
//! versions define more), anything else is rejected.

use std::fmt;
use std::str::FromStr;

/// Class of an error code, given by its first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ErrorClass {
    /// `F`: the packet must not be retried unchanged.
    Final,
    /// `T`: the packet may be retried later.
    Temporary,
    /// `R`: the packet failed relative to the path it took (amount, timeout).
    Relative,
}

/// A three-character ILP error code, e.g. `F02`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode([u8; 3]);

/// Why bytes are not an ILP error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ILP error code {0:?}: expected F, T or R followed by two digits (e.g. F02)")]
pub struct ErrorCodeError(pub String);

macro_rules! codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl ErrorCode {
            $(
                #[doc = concat!("`", $code, "` ", $text, ".")]
                pub const $name: ErrorCode = {
                    let b = $code.as_bytes();
                    ErrorCode([b[0], b[1], b[2]])
                };
            )*

            /// Every code RFC 0027 defines.
            pub const KNOWN: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The RFC 0027 name (e.g. "Unreachable"), `None` for a code the RFC does not define.
            pub fn name(&self) -> Option<&'static str> {
                match self.as_str() {
                    $($code => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    F00_BAD_REQUEST = "F00", "Bad Request";
    F01_INVALID_PACKET = "F01", "Invalid Packet";
    F02_UNREACHABLE = "F02", "Unreachable";
    F03_INVALID_AMOUNT = "F03", "Invalid Amount";
    F04_INSUFFICIENT_DESTINATION_AMOUNT = "F04", "Insufficient Destination Amount";
    F05_WRONG_CONDITION = "F05", "Wrong Condition";
    F06_UNEXPECTED_PAYMENT = "F06", "Unexpected Payment";
    F07_CANNOT_RECEIVE = "F07", "Cannot Receive";
    F08_AMOUNT_TOO_LARGE = "F08", "Amount Too Large";
    F99_APPLICATION_ERROR = "F99", "Application Error";
    T00_INTERNAL_ERROR = "T00", "Internal Error";
    T01_PEER_UNREACHABLE = "T01", "Peer Unreachable";
    T02_PEER_BUSY = "T02", "Peer Busy";
    T03_CONNECTOR_BUSY = "T03", "Connector Busy";
    T04_INSUFFICIENT_LIQUIDITY = "T04", "Insufficient Liquidity";
    T05_RATE_LIMITED = "T05", "Rate Limited";
    T99_APPLICATION_ERROR = "T99", "Application Error";
    R00_TRANSFER_TIMED_OUT = "R00", "Transfer Timed Out";
    R01_INSUFFICIENT_SOURCE_AMOUNT = "R01", "Insufficient Source Amount";
    R02_INSUFFICIENT_TIMEOUT = "R02", "Insufficient Timeout";
    R99_APPLICATION_ERROR = "R99", "Application Error";
}

impl ErrorCode {
    /// Validates 3 bytes as an error code.
    pub fn new(b: [u8; 3]) -> Result<ErrorCode, ErrorCodeError> {
        if matches!(b[0], b'F' | b'T' | b'R') && b[1].is_ascii_digit() && b[2].is_ascii_digit() {
            Ok(ErrorCode(b))
        } else {
            Err(ErrorCodeError(String::from_utf8_lossy(&b).into_owned()))
        }
    }

    /// The raw 3 bytes.
    pub fn as_bytes(&self) -> [u8; 3] {
        self.0
    }

    /// The code as text, e.g. `"F02"`.
    pub fn as_str(&self) -> &str {
        // Validated as ASCII on construction.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Final, temporary or relative.
    pub fn class(&self) -> ErrorClass {
        match self.0[0] {
            b'T' => ErrorClass::Temporary,
            b'R' => ErrorClass::Relative,
            _ => ErrorClass::Final,
        }
    }

    /// True for codes RFC 0027 defines.
    pub fn is_known(&self) -> bool {
        self.name().is_some()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{} ({n})", self.as_str()),
            None => write!(f, "{}", self.as_str()),
        }
    }
}

impl FromStr for ErrorCode {
    type Err = ErrorCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b: [u8; 3] = s
            .as_bytes()
            .try_into()
            .map_err(|_| ErrorCodeError(s.to_string()))?;
        ErrorCode::new(b)
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Data of an F08 Amount Too Large reject (RFC 0027, `InterledgerErrorData.asn`): two UInt64
/// big-endian, 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AmountTooLarge {
    /// Amount the rejecting connector received.
    pub received_amount: u64,
    /// Largest amount it would have accepted.
    pub maximum_amount: u64,
}

/// Why F08 data could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("F08 error data must be 16 bytes (receivedAmount, maximumAmount as u64), got {0}")]
pub struct AmountTooLargeError(pub usize);

impl AmountTooLarge {
    /// The 16-byte encoding.
    pub fn encode(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.received_amount.to_be_bytes());
        out[8..].copy_from_slice(&self.maximum_amount.to_be_bytes());
        out
    }

    /// Reads the 16-byte encoding (exactly 16 bytes).
    pub fn decode(data: &[u8]) -> Result<AmountTooLarge, AmountTooLargeError> {
        let b: &[u8; 16] = data
            .try_into()
            .map_err(|_| AmountTooLargeError(data.len()))?;
        let mut r = [0u8; 8];
        r.copy_from_slice(&b[..8]);
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[8..]);
        Ok(AmountTooLarge {
            received_amount: u64::from_be_bytes(r),
            maximum_amount: u64::from_be_bytes(m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes() {
        assert_eq!(ErrorCode::KNOWN.len(), 21);
        assert_eq!(ErrorCode::F02_UNREACHABLE.as_str(), "F02");
        assert_eq!(ErrorCode::F02_UNREACHABLE.name(), Some("Unreachable"));
        assert_eq!(
            ErrorCode::T04_INSUFFICIENT_LIQUIDITY.class(),
            ErrorClass::Temporary
        );
        assert_eq!(
            ErrorCode::R00_TRANSFER_TIMED_OUT.class(),
            ErrorClass::Relative
        );
        assert_eq!(ErrorCode::F99_APPLICATION_ERROR.class(), ErrorClass::Final);
        for c in ErrorCode::KNOWN {
            assert_eq!(c.as_str().parse::<ErrorCode>().unwrap(), *c);
        }
    }

    #[test]
    fn unknown_and_invalid() {
        let c: ErrorCode = "F42".parse().unwrap();
        assert_eq!(c.name(), None);
        assert!(!c.is_known());
        for bad in ["X00", "F0", "F000", "f00", "F0A", ""] {
            assert!(bad.parse::<ErrorCode>().is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"F42\"");
    }

    #[test]
    fn f08_data() {
        let d = AmountTooLarge {
            received_amount: 1000,
            maximum_amount: 999,
        };
        let b = d.encode();
        assert_eq!(&b[..8], &1000u64.to_be_bytes());
        assert_eq!(AmountTooLarge::decode(&b), Ok(d));
        assert_eq!(
            AmountTooLarge::decode(&b[..15]),
            Err(AmountTooLargeError(15))
        );
    }
}

//! ILPv4 packets (RFC 0027): PREPARE (type 12), FULFILL (13), REJECT (14), OER-encoded.
//!
//! Each packet is a type byte followed by a var-octet-string envelope holding the fields.
//! Decoding is zero-copy: `data` fields are [`Bytes`] views of the input. The decoder rejects
//! bytes after the envelope and inside it, non-canonical lengths, invalid addresses, invalid
//! timestamps and `data` over 32,767 bytes, each with a typed [`IlpError`].
//!
//! Choices where RFC 0027 leaves room:
//! - `expiresAt` is the fixed 17-character `YYYYMMDDHHMMSSfff` UTC form. Decode accepts second
//!   `60` (a leap second, as RFC 0030 allows) and maps it onto the next second, like JS `Date`.
//!   Encode truncates below the millisecond and clamps to years 0000..=9999.
//! - A REJECT `message` is decoded lossily (invalid UTF-8 becomes U+FFFD), matching ilp-packet's
//!   `toString('utf8')`, so a reject from a sloppy peer still reaches the sender. Its 8,191-byte
//!   limit is not enforced on decode.
//! - A REJECT with an empty `triggeredBy` decodes to `None`; a non-empty one must be a valid
//!   address.
//! - Encoding is infallible; it does not enforce the `data` limit (callers constructing packets
//!   should stay within [`MAX_DATA_LEN`]; peers will reject bigger ones).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::address::{Address, AddressError};
use crate::error_code::{AmountTooLarge, ErrorCode, ErrorCodeError};
use crate::oer::{self, OerError, Reader, Writer};

/// Largest `data` field RFC 0027 allows.
pub const MAX_DATA_LEN: usize = 32767;
/// Length of the fixed `expiresAt` timestamp.
pub const TIMESTAMP_LEN: usize = 17;

/// The ILPv4 packet type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// 12
    Prepare = 12,
    /// 13
    Fulfill = 13,
    /// 14
    Reject = 14,
}

impl PacketType {
    /// Maps a type byte.
    pub fn from_u8(b: u8) -> Option<PacketType> {
        match b {
            12 => Some(PacketType::Prepare),
            13 => Some(PacketType::Fulfill),
            14 => Some(PacketType::Reject),
            _ => None,
        }
    }

    /// The type of an encoded packet (its first byte), without decoding it.
    pub fn of(packet: &[u8]) -> Option<PacketType> {
        packet.first().and_then(|b| PacketType::from_u8(*b))
    }
}

/// Why bytes are not a valid ILP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IlpError {
    /// Malformed OER (truncation, bad lengths, trailing bytes).
    #[error("malformed ILP packet: {0}")]
    Oer(#[from] OerError),
    /// Empty input.
    #[error("empty ILP packet")]
    Empty,
    /// First byte is not 12, 13 or 14.
    #[error("unknown ILP packet type {0} (expected 12 prepare, 13 fulfill or 14 reject)")]
    UnknownType(u8),
    /// A specific type was expected.
    #[error("expected an ILP {expected:?} packet, got type {found}")]
    WrongType {
        /// What the caller asked for.
        expected: PacketType,
        /// The type byte found.
        found: u8,
    },
    /// `expiresAt` is not `YYYYMMDDHHMMSSfff`.
    #[error("invalid expiresAt timestamp {0:?}: expected 17 digits YYYYMMDDHHMMSSfff (UTC)")]
    InvalidTimestamp(String),
    /// Destination or triggeredBy is not a valid ILP address.
    #[error("invalid ILP address in {field}: {source}")]
    InvalidAddress {
        /// `destination` or `triggeredBy`.
        field: &'static str,
        /// What is wrong with it.
        source: AddressError,
    },
    /// The reject code is not `[FTR][0-9][0-9]`.
    #[error(transparent)]
    InvalidErrorCode(#[from] ErrorCodeError),
    /// `data` longer than 32,767 bytes.
    #[error("ILP data field is {0} bytes, the maximum is 32767")]
    DataTooLong(usize),
}

/// SHA-256 of a fulfillment: the execution condition it satisfies.
pub fn condition_of(fulfillment: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(fulfillment).into()
}

/// An ILP PREPARE: a conditional transfer offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// Amount in the sender's asset, base units.
    pub amount: u64,
    /// When the offer expires (millisecond precision on the wire).
    pub expires_at: SystemTime,
    /// SHA-256 hash whose preimage fulfills the packet.
    pub execution_condition: [u8; 32],
    /// Receiver's ILP address.
    pub destination: Address,
    /// End-to-end payload (at most 32,767 bytes).
    pub data: Bytes,
}

/// An ILP FULFILL: the preimage of the condition, accepting the transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfill {
    /// Preimage of the prepare's execution condition.
    pub fulfillment: [u8; 32],
    /// End-to-end payload.
    pub data: Bytes,
}

/// An ILP REJECT: the transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Error code.
    pub code: ErrorCode,
    /// Address of the node that produced the reject (`None` = empty on the wire).
    pub triggered_by: Option<Address>,
    /// Human-readable message.
    pub message: String,
    /// Machine-readable error data.
    pub data: Bytes,
}

/// Any ILPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Type 12.
    Prepare(Prepare),
    /// Type 13.
    Fulfill(Fulfill),
    /// Type 14.
    Reject(Reject),
}

fn envelope(input: &[u8], expected: Option<PacketType>) -> Result<(PacketType, &[u8]), IlpError> {
    let first = *input.first().ok_or(IlpError::Empty)?;
    let ty = PacketType::from_u8(first).ok_or(IlpError::UnknownType(first))?;
    if let Some(e) = expected
        && e != ty
    {
        return Err(IlpError::WrongType {
            expected: e,
            found: first,
        });
    }
    let mut r = Reader::new(&input[1..]);
    let content = r.read_var_octet_string()?;
    r.expect_end("ILP packet envelope")?;
    Ok((ty, content))
}

fn read_data(r: &mut Reader<'_>, src: &Bytes) -> Result<Bytes, IlpError> {
    let s = r.read_var_octet_string()?;
    if s.len() > MAX_DATA_LEN {
        return Err(IlpError::DataTooLong(s.len()));
    }
    Ok(oer::slice_of(src, s))
}

fn write_envelope(ty: PacketType, content_len: usize, f: impl FnOnce(&mut Writer)) -> Bytes {
    let mut w = Writer::with_capacity(1 + oer::var_octet_string_len(content_len));
    w.write_u8(ty as u8);
    w.write_length_prefix(content_len);
    f(&mut w);
    debug_assert_eq!(w.len(), 1 + oer::var_octet_string_len(content_len));
    w.into_bytes()
}

impl Prepare {
    fn decode_content(content: &[u8], src: &Bytes) -> Result<Prepare, IlpError> {
        let mut r = Reader::new(content);
        let amount = r.read_u64()?;
        let ts = r.read_array::<TIMESTAMP_LEN>("expiresAt")?;
        let expires_at = parse_timestamp(&ts)?;
        let execution_condition = r.read_array::<32>("executionCondition")?;
        let dest = r.read_var_octet_string()?;
        let destination = Address::from_bytes(dest).map_err(|source| IlpError::InvalidAddress {
            field: "destination",
            source,
        })?;
        let data = read_data(&mut r, src)?;
        r.expect_end("ILP prepare")?;
        Ok(Prepare {
            amount,
            expires_at,
            execution_condition,
            destination,
            data,
        })
    }

    /// Decodes a PREPARE; `data` is a view of `input`.
    pub fn decode(input: Bytes) -> Result<Prepare, IlpError> {
        let (_, content) = envelope(&input, Some(PacketType::Prepare))?;
        Prepare::decode_content(content, &input)
    }

    fn content_len(&self) -> usize {
        8 + TIMESTAMP_LEN
            + 32
            + oer::var_octet_string_len(self.destination.len())
            + oer::var_octet_string_len(self.data.len())
    }

    /// Encodes to OER.
    pub fn encode(&self) -> Bytes {
        write_envelope(PacketType::Prepare, self.content_len(), |w| {
            w.write_u64(self.amount);
            w.write_bytes(&format_timestamp(self.expires_at));
            w.write_bytes(&self.execution_condition);
            w.write_var_octet_string(self.destination.as_str().as_bytes());
            w.write_var_octet_string(&self.data);
        })
    }

    /// True if `fulfill`'s preimage hashes to this prepare's condition.
    pub fn matches(&self, fulfill: &Fulfill) -> bool {
        condition_of(&fulfill.fulfillment) == self.execution_condition
    }
}

impl Fulfill {
    /// Decodes a FULFILL; `data` is a view of `input`.
    pub fn decode(input: Bytes) -> Result<Fulfill, IlpError> {
        let (_, content) = envelope(&input, Some(PacketType::Fulfill))?;
        Fulfill::decode_content(content, &input)
    }

    fn decode_content(content: &[u8], src: &Bytes) -> Result<Fulfill, IlpError> {
        let mut r = Reader::new(content);
        let fulfillment = r.read_array::<32>("fulfillment")?;
        let data = read_data(&mut r, src)?;
        r.expect_end("ILP fulfill")?;
        Ok(Fulfill { fulfillment, data })
    }

    /// Encodes to OER.
    pub fn encode(&self) -> Bytes {
        let len = 32 + oer::var_octet_string_len(self.data.len());
        write_envelope(PacketType::Fulfill, len, |w| {
            w.write_bytes(&self.fulfillment);
            w.write_var_octet_string(&self.data);
        })
    }

    /// The execution condition this fulfillment satisfies (SHA-256 of it).
    pub fn condition(&self) -> [u8; 32] {
        condition_of(&self.fulfillment)
    }
}

impl Reject {
    /// A reject with empty data.
    pub fn new(
        code: ErrorCode,
        triggered_by: Option<Address>,
        message: impl Into<String>,
    ) -> Reject {
        Reject {
            code,
            triggered_by,
            message: message.into(),
            data: Bytes::new(),
        }
    }

    /// An F08 Amount Too Large reject carrying the received and maximum amounts.
    pub fn amount_too_large(
        triggered_by: Option<Address>,
        received_amount: u64,
        maximum_amount: u64,
    ) -> Reject {
        let d = AmountTooLarge {
            received_amount,
            maximum_amount,
        };
        Reject {
            code: ErrorCode::F08_AMOUNT_TOO_LARGE,
            triggered_by,
            message: format!(
                "amount too large: received {received_amount}, maximum {maximum_amount}"
            ),
            data: Bytes::copy_from_slice(&d.encode()),
        }
    }

    /// For an F08 reject whose data is the 16-byte amounts structure, those amounts.
    pub fn amount_too_large_data(&self) -> Option<AmountTooLarge> {
        if self.code != ErrorCode::F08_AMOUNT_TOO_LARGE {
            return None;
        }
        AmountTooLarge::decode(&self.data).ok()
    }

    /// Decodes a REJECT; `data` is a view of `input`.
    pub fn decode(input: Bytes) -> Result<Reject, IlpError> {
        let (_, content) = envelope(&input, Some(PacketType::Reject))?;
        Reject::decode_content(content, &input)
    }

    fn decode_content(content: &[u8], src: &Bytes) -> Result<Reject, IlpError> {
        let mut r = Reader::new(content);
        let code = ErrorCode::new(r.read_array::<3>("code")?)?;
        let tb = r.read_var_octet_string()?;
        let triggered_by = if tb.is_empty() {
            None
        } else {
            Some(
                Address::from_bytes(tb).map_err(|source| IlpError::InvalidAddress {
                    field: "triggeredBy",
                    source,
                })?,
            )
        };
        let message = String::from_utf8_lossy(r.read_var_octet_string()?).into_owned();
        let data = read_data(&mut r, src)?;
        r.expect_end("ILP reject")?;
        Ok(Reject {
            code,
            triggered_by,
            message,
            data,
        })
    }

    /// Encodes to OER.
    pub fn encode(&self) -> Bytes {
        let tb = self.triggered_by.as_ref().map(|a| a.as_str()).unwrap_or("");
        let len = 3
            + oer::var_octet_string_len(tb.len())
            + oer::var_octet_string_len(self.message.len())
            + oer::var_octet_string_len(self.data.len());
        write_envelope(PacketType::Reject, len, |w| {
            w.write_bytes(&self.code.as_bytes());
            w.write_var_octet_string(tb.as_bytes());
            w.write_var_octet_string(self.message.as_bytes());
            w.write_var_octet_string(&self.data);
        })
    }
}

impl Packet {
    /// Decodes any ILP packet; `data` fields are views of `input`.
    pub fn decode(input: Bytes) -> Result<Packet, IlpError> {
        let (ty, content) = envelope(&input, None)?;
        Ok(match ty {
            PacketType::Prepare => Packet::Prepare(Prepare::decode_content(content, &input)?),
            PacketType::Fulfill => Packet::Fulfill(Fulfill::decode_content(content, &input)?),
            PacketType::Reject => Packet::Reject(Reject::decode_content(content, &input)?),
        })
    }

    /// Encodes to OER.
    pub fn encode(&self) -> Bytes {
        match self {
            Packet::Prepare(p) => p.encode(),
            Packet::Fulfill(p) => p.encode(),
            Packet::Reject(p) => p.encode(),
        }
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Prepare(_) => PacketType::Prepare,
            Packet::Fulfill(_) => PacketType::Fulfill,
            Packet::Reject(_) => PacketType::Reject,
        }
    }
}

impl From<Prepare> for Packet {
    fn from(p: Prepare) -> Self {
        Packet::Prepare(p)
    }
}

impl From<Fulfill> for Packet {
    fn from(p: Fulfill) -> Self {
        Packet::Fulfill(p)
    }
}

impl From<Reject> for Packet {
    fn from(p: Reject) -> Self {
        Packet::Reject(p)
    }
}

// ---- timestamps -------------------------------------------------------------------------

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn system_time_to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        // Round toward negative infinity so sub-millisecond parts truncate consistently.
        Err(e) => {
            let d = e.duration();
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            if d.subsec_nanos() % 1_000_000 != 0 {
                -ms - 1
            } else {
                -ms
            }
        }
    }
}

fn ms_to_system_time(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// Smallest and largest instants the 17-character form can express.
fn timestamp_bounds() -> (i64, i64) {
    (
        days_from_civil(0, 1, 1) * MS_PER_DAY,
        days_from_civil(10_000, 1, 1) * MS_PER_DAY - 1,
    )
}

/// Formats `t` as `YYYYMMDDHHMMSSfff` (UTC), truncating to the millisecond and clamping to
/// years 0000..=9999.
pub fn format_timestamp(t: SystemTime) -> [u8; TIMESTAMP_LEN] {
    let (lo, hi) = timestamp_bounds();
    let ms = system_time_to_ms(t).clamp(lo, hi);
    let days = ms.div_euclid(MS_PER_DAY);
    let in_day = ms.rem_euclid(MS_PER_DAY);
    let (y, mo, d) = civil_from_days(days);
    let fields = [
        (y as u64, 4),
        (u64::from(mo), 2),
        (u64::from(d), 2),
        ((in_day / 3_600_000) as u64, 2),
        ((in_day / 60_000 % 60) as u64, 2),
        ((in_day / 1000 % 60) as u64, 2),
        ((in_day % 1000) as u64, 3),
    ];
    let mut out = [b'0'; TIMESTAMP_LEN];
    let mut pos = 0;
    for (mut v, width) in fields {
        for i in (0..width).rev() {
            out[pos + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        pos += width;
    }
    out
}

/// Formats `t` as ISO 8601 `YYYY-MM-DDTHH:MM:SS.fffZ` (what ilp-packet's JSON uses).
pub fn to_iso8601(t: SystemTime) -> String {
    let b = format_timestamp(t);
    let s = |r: std::ops::Range<usize>| std::str::from_utf8(&b[r]).unwrap_or("");
    format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        s(0..4),
        s(4..6),
        s(6..8),
        s(8..10),
        s(10..12),
        s(12..14),
        s(14..17)
    )
}

/// Parses ISO 8601 `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only, 0 to 3 fraction digits).
pub fn parse_iso8601(s: &str) -> Result<SystemTime, IlpError> {
    let bad = || IlpError::InvalidTimestamp(s.to_string());
    let b = s.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return Err(bad());
    }
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|(i, c)| b[*i] != *c) {
        return Err(bad());
    }
    let frac = &b[19..b.len() - 1];
    let frac = match frac {
        [] => &b""[..],
        [b'.', rest @ ..] if (1..=3).contains(&rest.len()) => rest,
        _ => return Err(bad()),
    };
    let mut compact = [b'0'; TIMESTAMP_LEN];
    let mut pos = 0;
    for r in [0..4, 5..7, 8..10, 11..13, 14..16, 17..19] {
        compact[pos..pos + r.len()].copy_from_slice(&b[r.clone()]);
        pos += r.len();
    }
    compact[14..14 + frac.len()].copy_from_slice(frac);
    parse_timestamp(&compact).map_err(|_| bad())
}

/// Parses `YYYYMMDDHHMMSSfff` (UTC).
pub fn parse_timestamp(b: &[u8]) -> Result<SystemTime, IlpError> {
    let bad = || IlpError::InvalidTimestamp(String::from_utf8_lossy(b).into_owned());
    if b.len() != TIMESTAMP_LEN || !b.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, c| acc * 10 + u32::from(c - b'0'))
    };
    let (y, mo, d) = (i64::from(num(0..4)), num(4..6), num(6..8));
    let (h, mi, s, ms) = (num(8..10), num(10..12), num(12..14), num(14..17));
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return Err(bad());
    }
    let total = days_from_civil(y, mo, d) * MS_PER_DAY
        + i64::from(h) * 3_600_000
        + i64::from(mi) * 60_000
        + i64::from(s) * 1000
        + i64::from(ms);
    Ok(ms_to_system_time(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in (-800_000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp(b"20171223012140549").unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_millis(),
            1_513_992_100_549
        );
        assert_eq!(&format_timestamp(t), b"20171223012140549");
        for bad in [
            &b"2017122301214054"[..],
            b"201712230121405490",
            b"20171323012140549",
            b"20170230012140549",
            b"20171200012140549",
            b"20171223242140549",
            b"20171223016040549",
            b"2017122301214054a",
        ] {
            assert!(
                parse_timestamp(bad).is_err(),
                "{:?}",
                std::str::from_utf8(bad)
            );
        }
        assert!(parse_timestamp(b"20000229000000000").is_ok());
        assert!(parse_timestamp(b"19000229000000000").is_err());
        // Leap second rolls onto the next minute.
        assert_eq!(
            format_timestamp(parse_timestamp(b"20161231235960000").unwrap()),
            *b"20170101000000000"
        );
        assert_eq!(
            format_timestamp(parse_timestamp(b"00000101000000000").unwrap()),
            *b"00000101000000000"
        );
        assert_eq!(
            format_timestamp(parse_timestamp(b"99991231235959999").unwrap()),
            *b"99991231235959999"
        );
        assert_eq!(
            format_timestamp(parse_timestamp(b"19691231235959999").unwrap()),
            *b"19691231235959999"
        );
        // Clamping and truncation.
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(&format_timestamp(far), b"99991231235959999");
        let before = UNIX_EPOCH - Duration::from_nanos(1);
        assert_eq!(&format_timestamp(before), b"19691231235959999");
        let iso = parse_iso8601("2017-12-23T01:21:40.549Z").unwrap();
        assert_eq!(iso, t);
        assert_eq!(to_iso8601(t), "2017-12-23T01:21:40.549Z");
        assert_eq!(
            parse_iso8601("2017-12-23T01:21:40.5Z").unwrap(),
            parse_timestamp(b"20171223012140500").unwrap()
        );
        assert_eq!(
            parse_iso8601("2017-12-23T01:21:40Z").unwrap(),
            parse_timestamp(b"20171223012140000").unwrap()
        );
        for bad in [
            "2017-12-23T01:21:40.5490Z",
            "2017-12-23 01:21:40Z",
            "2017-12-23T01:21:40",
            "2017-12-23T01:21:40.Z",
        ] {
            assert!(parse_iso8601(bad).is_err(), "{bad}");
        }
        let after = UNIX_EPOCH + Duration::from_nanos(999_999);
        assert_eq!(&format_timestamp(after), b"19700101000000000");
    }
}

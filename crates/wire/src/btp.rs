//! BTP frames (RFC 0023, Bilateral Transfer Protocol 2.0) and the `auth` sub-protocol.
//!
//! A frame on the WebSocket is: type (u8), request id (u32), then a var-octet-string holding
//! the type-specific fields followed by `protocolData`: a var-uint count and that many
//! `{name: var-octet-string (ASCII), content type: u8, data: var-octet-string}` entries.
//! The first entry is the "primary" sub-protocol. ILP packets travel as the `ilp` entry
//! (content type octet-stream) of a MESSAGE (request) or RESPONSE (reply).
//!
//! All seven call types of `BilateralTransferProtocol.asn` are supported. RFC 0023 marks
//! PREPARE (3), FULFILL (4) and REJECT (5) as "not used" in BTP 2.0 and btp-packet 2.2.1 no
//! longer encodes them; they are kept for completeness and round-trip per the ASN.1.
//!
//! Decode choices: `protocolName`, an ERROR's `name` and `data` are decoded lossily as UTF-8
//! (btp-packet reads them as ASCII/UTF-8 strings without validation); an ERROR `code` is any 3
//! bytes (btp-packet's own test uses `L13`). Timestamps (`triggeredAt`, `expiresAt`) are
//! var-length GeneralizedTime `YYYYMMDDHHMMSS[.f{1,3}]Z`; the encoder always writes 3 fraction
//! digits, as btp-packet does. Trailing bytes inside or after the envelope are errors.

use std::time::SystemTime;

use bytes::Bytes;

use crate::ilp;
use crate::oer::{self, OerError, Reader, Writer};

/// Name of the sub-protocol carrying an ILP packet.
pub const PROTOCOL_ILP: &str = "ilp";
/// Primary sub-protocol of the authentication MESSAGE.
pub const PROTOCOL_AUTH: &str = "auth";
/// Secondary sub-protocol carrying the account name (optional).
pub const PROTOCOL_AUTH_USERNAME: &str = "auth_username";
/// Secondary sub-protocol carrying the shared secret (required, may be empty).
pub const PROTOCOL_AUTH_TOKEN: &str = "auth_token";

/// The content type byte of a protocolData entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentType(pub u8);

impl ContentType {
    /// 0: `application/octet-stream`.
    pub const OCTET_STREAM: ContentType = ContentType(0);
    /// 1: `text/plain; charset=utf-8`.
    pub const TEXT_PLAIN_UTF8: ContentType = ContentType(1);
    /// 2: `application/json`.
    pub const APPLICATION_JSON: ContentType = ContentType(2);
}

/// One sub-protocol entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolData {
    /// Sub-protocol name, e.g. `ilp`.
    pub name: String,
    /// How `data` is encoded.
    pub content_type: ContentType,
    /// Payload (a view of the decoded frame).
    pub data: Bytes,
}

impl ProtocolData {
    /// An entry from parts.
    pub fn new(name: impl Into<String>, content_type: ContentType, data: impl Into<Bytes>) -> Self {
        ProtocolData {
            name: name.into(),
            content_type,
            data: data.into(),
        }
    }

    /// The `ilp` entry carrying an encoded ILP packet.
    pub fn ilp(packet: Bytes) -> Self {
        ProtocolData::new(PROTOCOL_ILP, ContentType::OCTET_STREAM, packet)
    }

    /// An `application/octet-stream` entry.
    pub fn octets(name: impl Into<String>, data: impl Into<Bytes>) -> Self {
        ProtocolData::new(name, ContentType::OCTET_STREAM, data)
    }

    /// A `text/plain` entry.
    pub fn text(name: impl Into<String>, text: &str) -> Self {
        ProtocolData::new(
            name,
            ContentType::TEXT_PLAIN_UTF8,
            Bytes::copy_from_slice(text.as_bytes()),
        )
    }
}

/// The BTP call type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// 1
    Response = 1,
    /// 2
    Error = 2,
    /// 3 (not used in BTP 2.0)
    Prepare = 3,
    /// 4 (not used in BTP 2.0)
    Fulfill = 4,
    /// 5 (not used in BTP 2.0)
    Reject = 5,
    /// 6
    Message = 6,
    /// 7
    Transfer = 7,
}

impl FrameType {
    /// Maps a type byte.
    pub fn from_u8(b: u8) -> Option<FrameType> {
        Some(match b {
            1 => FrameType::Response,
            2 => FrameType::Error,
            3 => FrameType::Prepare,
            4 => FrameType::Fulfill,
            5 => FrameType::Reject,
            6 => FrameType::Message,
            7 => FrameType::Transfer,
            _ => return None,
        })
    }

    /// True for MESSAGE and TRANSFER (and the legacy PREPARE/FULFILL/REJECT), which expect a
    /// RESPONSE or ERROR with the same request id.
    pub fn is_request(self) -> bool {
        !matches!(self, FrameType::Response | FrameType::Error)
    }
}

/// Why bytes are not a valid BTP frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtpError {
    /// Malformed OER (truncation, bad lengths, trailing bytes).
    #[error("malformed BTP frame: {0}")]
    Oer(#[from] OerError),
    /// Unknown type byte.
    #[error("unknown BTP frame type {0} (expected 1..=7)")]
    UnknownType(u8),
    /// A timestamp is not GeneralizedTime.
    #[error("invalid BTP timestamp {0:?}: expected YYYYMMDDHHMMSS.fffZ")]
    InvalidTimestamp(String),
    /// The authentication MESSAGE is malformed.
    #[error("invalid BTP auth message: {0}")]
    InvalidAuth(&'static str),
}

/// RESPONSE (1): a successful reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// Sub-protocol entries.
    pub protocol_data: Vec<ProtocolData>,
}

/// ERROR (2): a failed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorFrame {
    /// 3-character code (RFC 0023 table: T00, F00..F08).
    pub code: [u8; 3],
    /// Error name, e.g. `NotAcceptedError`.
    pub name: String,
    /// When the error happened (millisecond precision on the wire).
    pub triggered_at: SystemTime,
    /// Additional data (at most 8192 bytes per the ASN.1; not enforced).
    pub data: Bytes,
    /// Sub-protocol entries.
    pub protocol_data: Vec<ProtocolData>,
}

/// PREPARE (3, legacy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    /// 128-bit transfer id.
    pub transfer_id: [u8; 16],
    /// Amount.
    pub amount: u64,
    /// Condition.
    pub execution_condition: [u8; 32],
    /// Expiry.
    pub expires_at: SystemTime,
    /// Sub-protocol entries.
    pub protocol_data: Vec<ProtocolData>,
}

/// FULFILL (4, legacy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfill {
    /// 128-bit transfer id.
    pub transfer_id: [u8; 16],
    /// Preimage of the condition.
    pub fulfillment: [u8; 32],
    /// Sub-protocol entries.
    pub protocol_data: Vec<ProtocolData>,
}

/// REJECT (5, legacy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// 128-bit transfer id.
    pub transfer_id: [u8; 16],
    /// Sub-protocol entries.
    pub protocol_data: Vec<ProtocolData>,
}

/// MESSAGE (6): a request carrying sub-protocol data (ILP packets, auth).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Sub-protocol entries.
    pub protocol_data: Vec<ProtocolData>,
}

/// TRANSFER (7): settlement between the peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// Amount, in units agreed out of band.
    pub amount: u64,
    /// Sub-protocol entries.
    pub protocol_data: Vec<ProtocolData>,
}

/// The type-specific part of a BTP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// 1
    Response(Response),
    /// 2
    Error(ErrorFrame),
    /// 3
    Prepare(Prepare),
    /// 4
    Fulfill(Fulfill),
    /// 5
    Reject(Reject),
    /// 6
    Message(Message),
    /// 7
    Transfer(Transfer),
}

/// A whole BTP frame: request id plus call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtpPacket {
    /// Correlates requests and replies.
    pub request_id: u32,
    /// The call.
    pub frame: Frame,
}

/// The credentials in an authentication MESSAGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    /// `auth_username`, if sent.
    pub username: Option<String>,
    /// `auth_token` (may be empty).
    pub token: String,
}

// ---- protocol data ------------------------------------------------------------------------

fn protocol_data_len(pd: &[ProtocolData]) -> usize {
    oer::var_uint_len(pd.len() as u64)
        + pd.iter()
            .map(|p| {
                oer::var_octet_string_len(p.name.len())
                    + 1
                    + oer::var_octet_string_len(p.data.len())
            })
            .sum::<usize>()
}

fn write_protocol_data(w: &mut Writer, pd: &[ProtocolData]) {
    w.write_var_uint(pd.len() as u64);
    for p in pd {
        w.write_var_octet_string(p.name.as_bytes());
        w.write_u8(p.content_type.0);
        w.write_var_octet_string(&p.data);
    }
}

fn read_protocol_data(r: &mut Reader<'_>, src: &Bytes) -> Result<Vec<ProtocolData>, BtpError> {
    let count = r.read_var_uint()?;
    // Each entry takes at least 3 bytes: never trust `count` for the allocation.
    let mut out = Vec::with_capacity((count as usize).min(r.remaining() / 3));
    for _ in 0..count {
        let name = String::from_utf8_lossy(r.read_var_octet_string()?).into_owned();
        let content_type = ContentType(r.read_u8()?);
        let data = r.read_var_octet_bytes(src)?;
        out.push(ProtocolData {
            name,
            content_type,
            data,
        });
    }
    Ok(out)
}

/// The first entry named `name`.
pub fn find<'a>(pd: &'a [ProtocolData], name: &str) -> Option<&'a ProtocolData> {
    pd.iter().find(|p| p.name == name)
}

// ---- timestamps ---------------------------------------------------------------------------

/// Length of the GeneralizedTime the encoder writes: `YYYYMMDDHHMMSS.fffZ`.
const GENERALIZED_TIME_LEN: usize = 19;

fn format_generalized_time(t: SystemTime) -> [u8; GENERALIZED_TIME_LEN] {
    let c = ilp::format_timestamp(t);
    let mut out = [0u8; GENERALIZED_TIME_LEN];
    out[..14].copy_from_slice(&c[..14]);
    out[14] = b'.';
    out[15..18].copy_from_slice(&c[14..]);
    out[18] = b'Z';
    out
}

fn parse_generalized_time(b: &[u8]) -> Result<SystemTime, BtpError> {
    let bad = || BtpError::InvalidTimestamp(String::from_utf8_lossy(b).into_owned());
    if b.len() < 15 || b[b.len() - 1] != b'Z' {
        return Err(bad());
    }
    let frac = match &b[14..b.len() - 1] {
        [] => &[][..],
        [b'.', rest @ ..] if (1..=3).contains(&rest.len()) => rest,
        _ => return Err(bad()),
    };
    let mut compact = [b'0'; ilp::TIMESTAMP_LEN];
    compact[..14].copy_from_slice(&b[..14]);
    compact[14..14 + frac.len()].copy_from_slice(frac);
    ilp::parse_timestamp(&compact).map_err(|_| bad())
}

// ---- frames -------------------------------------------------------------------------------

impl Frame {
    /// The call type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Response(_) => FrameType::Response,
            Frame::Error(_) => FrameType::Error,
            Frame::Prepare(_) => FrameType::Prepare,
            Frame::Fulfill(_) => FrameType::Fulfill,
            Frame::Reject(_) => FrameType::Reject,
            Frame::Message(_) => FrameType::Message,
            Frame::Transfer(_) => FrameType::Transfer,
        }
    }

    /// The sub-protocol entries of any call.
    pub fn protocol_data(&self) -> &[ProtocolData] {
        match self {
            Frame::Response(f) => &f.protocol_data,
            Frame::Error(f) => &f.protocol_data,
            Frame::Prepare(f) => &f.protocol_data,
            Frame::Fulfill(f) => &f.protocol_data,
            Frame::Reject(f) => &f.protocol_data,
            Frame::Message(f) => &f.protocol_data,
            Frame::Transfer(f) => &f.protocol_data,
        }
    }

    /// The data of the `ilp` entry, if there is one.
    pub fn ilp_packet(&self) -> Option<&Bytes> {
        find(self.protocol_data(), PROTOCOL_ILP).map(|p| &p.data)
    }

    fn content_len(&self) -> usize {
        let pd = protocol_data_len(self.protocol_data());
        pd + match self {
            Frame::Response(_) | Frame::Message(_) => 0,
            Frame::Error(e) => {
                3 + oer::var_octet_string_len(e.name.len())
                    + oer::var_octet_string_len(GENERALIZED_TIME_LEN)
                    + oer::var_octet_string_len(e.data.len())
            }
            Frame::Prepare(_) => 16 + 8 + 32 + oer::var_octet_string_len(GENERALIZED_TIME_LEN),
            Frame::Fulfill(_) => 16 + 32,
            Frame::Reject(_) => 16,
            Frame::Transfer(_) => 8,
        }
    }

    fn write_content(&self, w: &mut Writer) {
        match self {
            Frame::Response(_) | Frame::Message(_) => {}
            Frame::Error(e) => {
                w.write_bytes(&e.code);
                w.write_var_octet_string(e.name.as_bytes());
                w.write_var_octet_string(&format_generalized_time(e.triggered_at));
                w.write_var_octet_string(&e.data);
            }
            Frame::Prepare(p) => {
                w.write_bytes(&p.transfer_id);
                w.write_u64(p.amount);
                w.write_bytes(&p.execution_condition);
                w.write_var_octet_string(&format_generalized_time(p.expires_at));
            }
            Frame::Fulfill(f) => {
                w.write_bytes(&f.transfer_id);
                w.write_bytes(&f.fulfillment);
            }
            Frame::Reject(r) => w.write_bytes(&r.transfer_id),
            Frame::Transfer(t) => w.write_u64(t.amount),
        }
        write_protocol_data(w, self.protocol_data());
    }

    fn read_content(ty: FrameType, r: &mut Reader<'_>, src: &Bytes) -> Result<Frame, BtpError> {
        Ok(match ty {
            FrameType::Response => Frame::Response(Response {
                protocol_data: read_protocol_data(r, src)?,
            }),
            FrameType::Message => Frame::Message(Message {
                protocol_data: read_protocol_data(r, src)?,
            }),
            FrameType::Error => {
                let code = r.read_array::<3>("error code")?;
                let name = String::from_utf8_lossy(r.read_var_octet_string()?).into_owned();
                let triggered_at = parse_generalized_time(r.read_var_octet_string()?)?;
                let data = r.read_var_octet_bytes(src)?;
                Frame::Error(ErrorFrame {
                    code,
                    name,
                    triggered_at,
                    data,
                    protocol_data: read_protocol_data(r, src)?,
                })
            }
            FrameType::Prepare => {
                let transfer_id = r.read_array::<16>("transferId")?;
                let amount = r.read_u64()?;
                let execution_condition = r.read_array::<32>("executionCondition")?;
                let expires_at = parse_generalized_time(r.read_var_octet_string()?)?;
                Frame::Prepare(Prepare {
                    transfer_id,
                    amount,
                    execution_condition,
                    expires_at,
                    protocol_data: read_protocol_data(r, src)?,
                })
            }
            FrameType::Fulfill => {
                let transfer_id = r.read_array::<16>("transferId")?;
                let fulfillment = r.read_array::<32>("fulfillment")?;
                Frame::Fulfill(Fulfill {
                    transfer_id,
                    fulfillment,
                    protocol_data: read_protocol_data(r, src)?,
                })
            }
            FrameType::Reject => Frame::Reject(Reject {
                transfer_id: r.read_array::<16>("transferId")?,
                protocol_data: read_protocol_data(r, src)?,
            }),
            FrameType::Transfer => Frame::Transfer(Transfer {
                amount: r.read_u64()?,
                protocol_data: read_protocol_data(r, src)?,
            }),
        })
    }
}

impl BtpPacket {
    /// Decodes a frame; byte fields are views of `input`.
    pub fn decode(input: Bytes) -> Result<BtpPacket, BtpError> {
        let mut r = Reader::new(&input);
        let ty = r.read_u8()?;
        let ty = FrameType::from_u8(ty).ok_or(BtpError::UnknownType(ty))?;
        let request_id = r.read_u32()?;
        let content = r.read_var_octet_string()?;
        r.expect_end("BTP frame envelope")?;
        let mut cr = Reader::new(content);
        let frame = Frame::read_content(ty, &mut cr, &input)?;
        cr.expect_end("BTP frame contents")?;
        Ok(BtpPacket { request_id, frame })
    }

    /// Encodes to bytes.
    pub fn encode(&self) -> Bytes {
        let len = self.frame.content_len();
        let mut w = Writer::with_capacity(5 + oer::var_octet_string_len(len));
        w.write_u8(self.frame.frame_type() as u8);
        w.write_u32(self.request_id);
        w.write_length_prefix(len);
        self.frame.write_content(&mut w);
        debug_assert_eq!(w.len(), 5 + oer::var_octet_string_len(len));
        w.into_bytes()
    }

    /// A MESSAGE carrying an ILP packet (how a PREPARE is sent to the peer).
    pub fn ilp_message(request_id: u32, ilp_packet: Bytes) -> BtpPacket {
        BtpPacket {
            request_id,
            frame: Frame::Message(Message {
                protocol_data: vec![ProtocolData::ilp(ilp_packet)],
            }),
        }
    }

    /// A RESPONSE carrying an ILP packet (how a FULFILL/REJECT comes back).
    pub fn ilp_response(request_id: u32, ilp_packet: Bytes) -> BtpPacket {
        BtpPacket {
            request_id,
            frame: Frame::Response(Response {
                protocol_data: vec![ProtocolData::ilp(ilp_packet)],
            }),
        }
    }

    /// An empty RESPONSE (e.g. to acknowledge auth).
    pub fn empty_response(request_id: u32) -> BtpPacket {
        BtpPacket {
            request_id,
            frame: Frame::Response(Response::default()),
        }
    }

    /// An ERROR reply.
    pub fn error(
        request_id: u32,
        code: [u8; 3],
        name: &str,
        triggered_at: SystemTime,
        data: &[u8],
    ) -> BtpPacket {
        BtpPacket {
            request_id,
            frame: Frame::Error(ErrorFrame {
                code,
                name: name.to_string(),
                triggered_at,
                data: Bytes::copy_from_slice(data),
                protocol_data: Vec::new(),
            }),
        }
    }

    /// The authentication MESSAGE a client sends first: primary `auth` (octet-stream, empty),
    /// then `auth_username` (if given) and `auth_token`, both text, as ilp-plugin-btp sends them.
    pub fn auth(request_id: u32, username: Option<&str>, token: &str) -> BtpPacket {
        let mut pd = vec![ProtocolData::new(
            PROTOCOL_AUTH,
            ContentType::OCTET_STREAM,
            Bytes::new(),
        )];
        if let Some(u) = username {
            pd.push(ProtocolData::text(PROTOCOL_AUTH_USERNAME, u));
        }
        pd.push(ProtocolData::text(PROTOCOL_AUTH_TOKEN, token));
        BtpPacket {
            request_id,
            frame: Frame::Message(Message { protocol_data: pd }),
        }
    }

    /// Reads the credentials of an authentication MESSAGE: it must be a MESSAGE whose primary
    /// entry is `auth` and which has an `auth_token` entry; username and token must be UTF-8.
    pub fn parse_auth(&self) -> Result<Auth, BtpError> {
        let Frame::Message(m) = &self.frame else {
            return Err(BtpError::InvalidAuth("first frame must be a MESSAGE"));
        };
        match m.protocol_data.first() {
            Some(p) if p.name == PROTOCOL_AUTH => {}
            _ => {
                return Err(BtpError::InvalidAuth(
                    "primary protocol data must be `auth`",
                ));
            }
        }
        let text = |p: &ProtocolData| {
            std::str::from_utf8(&p.data)
                .map(str::to_string)
                .map_err(|_| BtpError::InvalidAuth("auth_username/auth_token must be UTF-8"))
        };
        let token = find(&m.protocol_data, PROTOCOL_AUTH_TOKEN)
            .ok_or(BtpError::InvalidAuth("missing `auth_token` entry"))
            .and_then(text)?;
        let username = find(&m.protocol_data, PROTOCOL_AUTH_USERNAME)
            .map(text)
            .transpose()?;
        Ok(Auth { username, token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time() {
        let t = parse_generalized_time(b"20170828183200.000Z").unwrap();
        assert_eq!(&format_generalized_time(t), b"20170828183200.000Z");
        assert_eq!(
            parse_generalized_time(b"20170828183200.5Z").unwrap(),
            parse_generalized_time(b"20170828183200.500Z").unwrap()
        );
        assert_eq!(parse_generalized_time(b"20170828183200Z").unwrap(), t);
        for bad in [
            &b"20170828183200.0000Z"[..],
            b"20170828183200.000",
            b"2017082818320Z",
            b"20170828183200.Z",
            b"",
        ] {
            assert!(parse_generalized_time(bad).is_err());
        }
    }

    #[test]
    fn auth_round_trip() {
        let p = BtpPacket::auth(7, Some("alice"), "s3cret");
        let d = BtpPacket::decode(p.encode()).unwrap();
        assert_eq!(d, p);
        assert_eq!(
            d.parse_auth().unwrap(),
            Auth {
                username: Some("alice".into()),
                token: "s3cret".into()
            }
        );
        let no_token = BtpPacket {
            request_id: 1,
            frame: Frame::Message(Message {
                protocol_data: vec![ProtocolData::new(
                    PROTOCOL_AUTH,
                    ContentType::OCTET_STREAM,
                    Bytes::new(),
                )],
            }),
        };
        assert!(matches!(
            no_token.parse_auth(),
            Err(BtpError::InvalidAuth(_))
        ));
        let ilp = BtpPacket::ilp_message(1, Bytes::from_static(b"x"));
        assert!(matches!(ilp.parse_auth(), Err(BtpError::InvalidAuth(_))));
        assert_eq!(ilp.frame.ilp_packet().unwrap().as_ref(), b"x");
        assert!(BtpPacket::empty_response(1).parse_auth().is_err());
    }
}

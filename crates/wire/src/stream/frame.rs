//! STREAM frames (RFC 0029 §5.3): the 14 frame types of the RFC plus `StreamReceipt`
//! (0x17, RFC 0039), and the close error codes (§5.4).
//!
//! Each frame is `type (u8) || var-octet-string contents`. Unknown types are skipped by
//! the packet decoder; bytes after the known fields inside a frame's contents are ignored,
//! as in ilp-protocol-stream.

use bytes::Bytes;

use super::error::StreamError;
use super::oer_io::{self, Reader};

/// Why a stream or connection was closed (RFC 0029 §5.4). Codes outside the table are kept
/// as [`ErrorCode::Unknown`] so a frame with them still decodes and re-encodes unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0x01: closed normally.
    NoError,
    /// 0x02: the endpoint hit an unexpected error.
    InternalError,
    /// 0x03: the endpoint is temporarily overloaded.
    EndpointBusy,
    /// 0x04: the other endpoint exceeded advertised flow-control limits.
    FlowControlError,
    /// 0x05: the other endpoint opened more streams than allowed.
    StreamIdError,
    /// 0x06: frames for a stream that is already closed.
    StreamStateError,
    /// 0x07: a frame with invalid syntax.
    FrameFormatError,
    /// 0x08: invalid data or another protocol violation.
    ProtocolViolation,
    /// 0x09: the application closed with an error.
    ApplicationError,
    /// Any other byte value.
    Unknown(u8),
}

impl ErrorCode {
    /// The code's byte on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::NoError => 1,
            Self::InternalError => 2,
            Self::EndpointBusy => 3,
            Self::FlowControlError => 4,
            Self::StreamIdError => 5,
            Self::StreamStateError => 6,
            Self::FrameFormatError => 7,
            Self::ProtocolViolation => 8,
            Self::ApplicationError => 9,
            Self::Unknown(b) => b,
        }
    }

    /// The RFC name (`"NoError"`, ...), or `None` for an unknown code.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NoError => "NoError",
            Self::InternalError => "InternalError",
            Self::EndpointBusy => "EndpointBusy",
            Self::FlowControlError => "FlowControlError",
            Self::StreamIdError => "StreamIdError",
            Self::StreamStateError => "StreamStateError",
            Self::FrameFormatError => "FrameFormatError",
            Self::ProtocolViolation => "ProtocolViolation",
            Self::ApplicationError => "ApplicationError",
            Self::Unknown(_) => return None,
        })
    }
}

impl From<u8> for ErrorCode {
    fn from(b: u8) -> Self {
        match b {
            1 => Self::NoError,
            2 => Self::InternalError,
            3 => Self::EndpointBusy,
            4 => Self::FlowControlError,
            5 => Self::StreamIdError,
            6 => Self::StreamStateError,
            7 => Self::FrameFormatError,
            8 => Self::ProtocolViolation,
            9 => Self::ApplicationError,
            other => Self::Unknown(other),
        }
    }
}

/// Frame type bytes (RFC 0029 §5.3, `StreamReceipt` from RFC 0039).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// 0x01
    ConnectionClose = 0x01,
    /// 0x02
    ConnectionNewAddress = 0x02,
    /// 0x03
    ConnectionMaxData = 0x03,
    /// 0x04
    ConnectionDataBlocked = 0x04,
    /// 0x05
    ConnectionMaxStreamId = 0x05,
    /// 0x06
    ConnectionStreamIdBlocked = 0x06,
    /// 0x07
    ConnectionAssetDetails = 0x07,
    /// 0x10
    StreamClose = 0x10,
    /// 0x11
    StreamMoney = 0x11,
    /// 0x12
    StreamMaxMoney = 0x12,
    /// 0x13
    StreamMoneyBlocked = 0x13,
    /// 0x14
    StreamData = 0x14,
    /// 0x15
    StreamMaxData = 0x15,
    /// 0x16
    StreamDataBlocked = 0x16,
    /// 0x17
    StreamReceipt = 0x17,
}

impl FrameType {
    /// Every known frame type, in type-byte order.
    pub const ALL: [FrameType; 15] = [
        Self::ConnectionClose,
        Self::ConnectionNewAddress,
        Self::ConnectionMaxData,
        Self::ConnectionDataBlocked,
        Self::ConnectionMaxStreamId,
        Self::ConnectionStreamIdBlocked,
        Self::ConnectionAssetDetails,
        Self::StreamClose,
        Self::StreamMoney,
        Self::StreamMaxMoney,
        Self::StreamMoneyBlocked,
        Self::StreamData,
        Self::StreamMaxData,
        Self::StreamDataBlocked,
        Self::StreamReceipt,
    ];

    /// The type for a byte, `None` for a type this implementation does not know.
    pub fn from_u8(b: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| *t as u8 == b)
    }

    /// The frame's name as ilp-protocol-stream and the RFC fixtures spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ConnectionClose => "ConnectionClose",
            Self::ConnectionNewAddress => "ConnectionNewAddress",
            Self::ConnectionMaxData => "ConnectionMaxData",
            Self::ConnectionDataBlocked => "ConnectionDataBlocked",
            Self::ConnectionMaxStreamId => "ConnectionMaxStreamId",
            Self::ConnectionStreamIdBlocked => "ConnectionStreamIdBlocked",
            Self::ConnectionAssetDetails => "ConnectionAssetDetails",
            Self::StreamClose => "StreamClose",
            Self::StreamMoney => "StreamMoney",
            Self::StreamMaxMoney => "StreamMaxMoney",
            Self::StreamMoneyBlocked => "StreamMoneyBlocked",
            Self::StreamData => "StreamData",
            Self::StreamMaxData => "StreamMaxData",
            Self::StreamDataBlocked => "StreamDataBlocked",
            Self::StreamReceipt => "StreamReceipt",
        }
    }

    /// Inverse of [`Self::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.name() == name)
    }
}

/// 0x01: the sender closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionCloseFrame {
    /// Why.
    pub code: ErrorCode,
    /// Human-readable detail (invalid UTF-8 on the wire is decoded lossily, as in JS).
    pub message: String,
}

/// 0x02: the sender's (new) ILP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionNewAddressFrame {
    /// ILP address, unvalidated here (validate with `crate::address` before use).
    pub source_account: String,
}

/// 0x03: total bytes the sender is willing to receive on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionMaxDataFrame {
    /// Byte limit.
    pub max_offset: u64,
}

/// 0x04: the sender wants to send more data than the connection limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionDataBlockedFrame {
    /// Total bytes the sender wants to send.
    pub max_offset: u64,
}

/// 0x05: highest stream id the sender accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionMaxStreamIdFrame {
    /// Stream id limit.
    pub max_stream_id: u64,
}

/// 0x06: the sender wants to open streams beyond the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionStreamIdBlockedFrame {
    /// Highest stream id the sender wants to open.
    pub max_stream_id: u64,
}

/// 0x07: the sender's asset (must not change during a connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionAssetDetailsFrame {
    /// Asset code, e.g. `"USD"`.
    pub source_asset_code: String,
    /// Asset scale (decimal places of the base unit).
    pub source_asset_scale: u8,
}

/// 0x10: the sender closes one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCloseFrame {
    /// Stream.
    pub stream_id: u64,
    /// Why.
    pub code: ErrorCode,
    /// Human-readable detail.
    pub message: String,
}

/// 0x11: this stream's share of the Prepare amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMoneyFrame {
    /// Stream.
    pub stream_id: u64,
    /// Shares; the stream gets `amount * shares / total shares in the packet`.
    pub shares: u64,
}

/// 0x12: how much the sender will receive on a stream, and has received so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMaxMoneyFrame {
    /// Stream.
    pub stream_id: u64,
    /// Receive limit in the sender's units (saturates to `u64::MAX` when wider on the wire).
    pub receive_max: u64,
    /// Amount received so far.
    pub total_received: u64,
}

/// 0x13: the sender wants to send more money than the stream limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMoneyBlockedFrame {
    /// Stream.
    pub stream_id: u64,
    /// What the sender wants to send in total (saturates to `u64::MAX` when wider).
    pub send_max: u64,
    /// Amount sent so far.
    pub total_sent: u64,
}

/// 0x14: application bytes at an offset of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDataFrame {
    /// Stream.
    pub stream_id: u64,
    /// Position of `data` in the stream's byte sequence.
    pub offset: u64,
    /// The bytes; after decoding a view into the decrypted packet (no copy).
    pub data: Bytes,
}

/// 0x15: how many bytes the sender will receive on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamMaxDataFrame {
    /// Stream.
    pub stream_id: u64,
    /// Byte limit.
    pub max_offset: u64,
}

/// 0x16: the sender wants to send more bytes than the stream limit allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDataBlockedFrame {
    /// Stream.
    pub stream_id: u64,
    /// Total bytes the sender wants to send.
    pub max_offset: u64,
}

/// 0x17: a STREAM receipt (RFC 0039) proving money received on a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReceiptFrame {
    /// Stream.
    pub stream_id: u64,
    /// The opaque receipt bytes (58 bytes for receipt version 1).
    pub receipt: Bytes,
}

/// One STREAM frame.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Frame {
    ConnectionClose(ConnectionCloseFrame),
    ConnectionNewAddress(ConnectionNewAddressFrame),
    ConnectionMaxData(ConnectionMaxDataFrame),
    ConnectionDataBlocked(ConnectionDataBlockedFrame),
    ConnectionMaxStreamId(ConnectionMaxStreamIdFrame),
    ConnectionStreamIdBlocked(ConnectionStreamIdBlockedFrame),
    ConnectionAssetDetails(ConnectionAssetDetailsFrame),
    StreamClose(StreamCloseFrame),
    StreamMoney(StreamMoneyFrame),
    StreamMaxMoney(StreamMaxMoneyFrame),
    StreamMoneyBlocked(StreamMoneyBlockedFrame),
    StreamData(StreamDataFrame),
    StreamMaxData(StreamMaxDataFrame),
    StreamDataBlocked(StreamDataBlockedFrame),
    StreamReceipt(StreamReceiptFrame),
}

macro_rules! frame_from {
    ($($variant:ident($ty:ident)),* $(,)?) => {$(
        impl From<$ty> for Frame {
            fn from(f: $ty) -> Self { Frame::$variant(f) }
        }
    )*};
}
frame_from!(
    ConnectionClose(ConnectionCloseFrame),
    ConnectionNewAddress(ConnectionNewAddressFrame),
    ConnectionMaxData(ConnectionMaxDataFrame),
    ConnectionDataBlocked(ConnectionDataBlockedFrame),
    ConnectionMaxStreamId(ConnectionMaxStreamIdFrame),
    ConnectionStreamIdBlocked(ConnectionStreamIdBlockedFrame),
    ConnectionAssetDetails(ConnectionAssetDetailsFrame),
    StreamClose(StreamCloseFrame),
    StreamMoney(StreamMoneyFrame),
    StreamMaxMoney(StreamMaxMoneyFrame),
    StreamMoneyBlocked(StreamMoneyBlockedFrame),
    StreamData(StreamDataFrame),
    StreamMaxData(StreamMaxDataFrame),
    StreamDataBlocked(StreamDataBlockedFrame),
    StreamReceipt(StreamReceiptFrame),
);

fn utf8_lossy(b: &Bytes) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Frame {
    /// The frame's type byte.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Self::ConnectionClose(_) => FrameType::ConnectionClose,
            Self::ConnectionNewAddress(_) => FrameType::ConnectionNewAddress,
            Self::ConnectionMaxData(_) => FrameType::ConnectionMaxData,
            Self::ConnectionDataBlocked(_) => FrameType::ConnectionDataBlocked,
            Self::ConnectionMaxStreamId(_) => FrameType::ConnectionMaxStreamId,
            Self::ConnectionStreamIdBlocked(_) => FrameType::ConnectionStreamIdBlocked,
            Self::ConnectionAssetDetails(_) => FrameType::ConnectionAssetDetails,
            Self::StreamClose(_) => FrameType::StreamClose,
            Self::StreamMoney(_) => FrameType::StreamMoney,
            Self::StreamMaxMoney(_) => FrameType::StreamMaxMoney,
            Self::StreamMoneyBlocked(_) => FrameType::StreamMoneyBlocked,
            Self::StreamData(_) => FrameType::StreamData,
            Self::StreamMaxData(_) => FrameType::StreamMaxData,
            Self::StreamDataBlocked(_) => FrameType::StreamDataBlocked,
            Self::StreamReceipt(_) => FrameType::StreamReceipt,
        }
    }

    /// Length of the frame's contents (without type byte and length prefix).
    fn contents_len(&self) -> usize {
        use oer_io::{var_octets_len as vo, var_uint_len as vu};
        match self {
            Self::ConnectionClose(f) => 1 + vo(f.message.len()),
            Self::ConnectionNewAddress(f) => vo(f.source_account.len()),
            Self::ConnectionMaxData(f) => vu(f.max_offset),
            Self::ConnectionDataBlocked(f) => vu(f.max_offset),
            Self::ConnectionMaxStreamId(f) => vu(f.max_stream_id),
            Self::ConnectionStreamIdBlocked(f) => vu(f.max_stream_id),
            Self::ConnectionAssetDetails(f) => vo(f.source_asset_code.len()) + 1,
            Self::StreamClose(f) => vu(f.stream_id) + 1 + vo(f.message.len()),
            Self::StreamMoney(f) => vu(f.stream_id) + vu(f.shares),
            Self::StreamMaxMoney(f) => vu(f.stream_id) + vu(f.receive_max) + vu(f.total_received),
            Self::StreamMoneyBlocked(f) => vu(f.stream_id) + vu(f.send_max) + vu(f.total_sent),
            Self::StreamData(f) => vu(f.stream_id) + vu(f.offset) + vo(f.data.len()),
            Self::StreamMaxData(f) => vu(f.stream_id) + vu(f.max_offset),
            Self::StreamDataBlocked(f) => vu(f.stream_id) + vu(f.max_offset),
            Self::StreamReceipt(f) => vu(f.stream_id) + vo(f.receipt.len()),
        }
    }

    /// Encoded length of the whole frame (type byte + length prefix + contents).
    pub fn encoded_len(&self) -> usize {
        1 + oer_io::var_octets_len(self.contents_len())
    }

    /// Appends the encoded frame to `out`.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        use oer_io::{write_var_octets as wo, write_var_uint as wu};
        out.push(self.frame_type() as u8);
        oer_io::write_length(out, self.contents_len());
        match self {
            Self::ConnectionClose(f) => {
                out.push(f.code.to_u8());
                wo(out, f.message.as_bytes());
            }
            Self::ConnectionNewAddress(f) => wo(out, f.source_account.as_bytes()),
            Self::ConnectionMaxData(f) => wu(out, f.max_offset),
            Self::ConnectionDataBlocked(f) => wu(out, f.max_offset),
            Self::ConnectionMaxStreamId(f) => wu(out, f.max_stream_id),
            Self::ConnectionStreamIdBlocked(f) => wu(out, f.max_stream_id),
            Self::ConnectionAssetDetails(f) => {
                wo(out, f.source_asset_code.as_bytes());
                out.push(f.source_asset_scale);
            }
            Self::StreamClose(f) => {
                wu(out, f.stream_id);
                out.push(f.code.to_u8());
                wo(out, f.message.as_bytes());
            }
            Self::StreamMoney(f) => {
                wu(out, f.stream_id);
                wu(out, f.shares);
            }
            Self::StreamMaxMoney(f) => {
                wu(out, f.stream_id);
                wu(out, f.receive_max);
                wu(out, f.total_received);
            }
            Self::StreamMoneyBlocked(f) => {
                wu(out, f.stream_id);
                wu(out, f.send_max);
                wu(out, f.total_sent);
            }
            Self::StreamData(f) => {
                wu(out, f.stream_id);
                wu(out, f.offset);
                wo(out, &f.data);
            }
            Self::StreamMaxData(f) => {
                wu(out, f.stream_id);
                wu(out, f.max_offset);
            }
            Self::StreamDataBlocked(f) => {
                wu(out, f.stream_id);
                wu(out, f.max_offset);
            }
            Self::StreamReceipt(f) => {
                wu(out, f.stream_id);
                wo(out, &f.receipt);
            }
        }
    }

    /// Reads one frame; `Ok(None)` for an unknown frame type (skipped, per the RFC).
    pub(crate) fn decode_from(r: &mut Reader) -> Result<Option<Frame>, StreamError> {
        let ty = r.read_u8("frame type")?;
        let contents = r.read_var_octets("frame contents")?;
        let Some(ty) = FrameType::from_u8(ty) else {
            return Ok(None);
        };
        let c = &mut Reader::new(contents);
        let frame = match ty {
            FrameType::ConnectionClose => ConnectionCloseFrame {
                code: c.read_u8("ConnectionClose.errorCode")?.into(),
                message: utf8_lossy(&c.read_var_octets("ConnectionClose.errorMessage")?),
            }
            .into(),
            FrameType::ConnectionNewAddress => ConnectionNewAddressFrame {
                source_account: utf8_lossy(
                    &c.read_var_octets("ConnectionNewAddress.sourceAccount")?,
                ),
            }
            .into(),
            FrameType::ConnectionMaxData => ConnectionMaxDataFrame {
                max_offset: c.read_var_uint("ConnectionMaxData.maxOffset")?,
            }
            .into(),
            FrameType::ConnectionDataBlocked => ConnectionDataBlockedFrame {
                max_offset: c.read_var_uint("ConnectionDataBlocked.maxOffset")?,
            }
            .into(),
            FrameType::ConnectionMaxStreamId => ConnectionMaxStreamIdFrame {
                max_stream_id: c.read_var_uint("ConnectionMaxStreamId.maxStreamId")?,
            }
            .into(),
            FrameType::ConnectionStreamIdBlocked => ConnectionStreamIdBlockedFrame {
                max_stream_id: c.read_var_uint("ConnectionStreamIdBlocked.maxStreamId")?,
            }
            .into(),
            FrameType::ConnectionAssetDetails => ConnectionAssetDetailsFrame {
                source_asset_code: utf8_lossy(
                    &c.read_var_octets("ConnectionAssetDetails.sourceAssetCode")?,
                ),
                source_asset_scale: c.read_u8("ConnectionAssetDetails.sourceAssetScale")?,
            }
            .into(),
            FrameType::StreamClose => StreamCloseFrame {
                stream_id: c.read_var_uint("StreamClose.streamId")?,
                code: c.read_u8("StreamClose.errorCode")?.into(),
                message: utf8_lossy(&c.read_var_octets("StreamClose.errorMessage")?),
            }
            .into(),
            FrameType::StreamMoney => StreamMoneyFrame {
                stream_id: c.read_var_uint("StreamMoney.streamId")?,
                shares: c.read_var_uint("StreamMoney.shares")?,
            }
            .into(),
            FrameType::StreamMaxMoney => StreamMaxMoneyFrame {
                stream_id: c.read_var_uint("StreamMaxMoney.streamId")?,
                receive_max: c.read_var_uint_saturating("StreamMaxMoney.receiveMax")?,
                total_received: c.read_var_uint("StreamMaxMoney.totalReceived")?,
            }
            .into(),
            FrameType::StreamMoneyBlocked => StreamMoneyBlockedFrame {
                stream_id: c.read_var_uint("StreamMoneyBlocked.streamId")?,
                send_max: c.read_var_uint_saturating("StreamMoneyBlocked.sendMax")?,
                total_sent: c.read_var_uint("StreamMoneyBlocked.totalSent")?,
            }
            .into(),
            FrameType::StreamData => StreamDataFrame {
                stream_id: c.read_var_uint("StreamData.streamId")?,
                offset: c.read_var_uint("StreamData.offset")?,
                data: c.read_var_octets("StreamData.data")?,
            }
            .into(),
            FrameType::StreamMaxData => StreamMaxDataFrame {
                stream_id: c.read_var_uint("StreamMaxData.streamId")?,
                max_offset: c.read_var_uint("StreamMaxData.maxOffset")?,
            }
            .into(),
            FrameType::StreamDataBlocked => StreamDataBlockedFrame {
                stream_id: c.read_var_uint("StreamDataBlocked.streamId")?,
                max_offset: c.read_var_uint("StreamDataBlocked.maxOffset")?,
            }
            .into(),
            FrameType::StreamReceipt => StreamReceiptFrame {
                stream_id: c.read_var_uint("StreamReceipt.streamId")?,
                receipt: c.read_var_octets("StreamReceipt.receipt")?,
            }
            .into(),
        };
        Ok(Some(frame))
    }
}

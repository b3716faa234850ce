//! JSON view of STREAM packets in the shape of the RFC 0029 test vectors
//! (`{sequence, packetType, amount, frames: [{type, name, ...}]}`): u64 values as decimal
//! strings, byte fields (`data`, `receipt`) as base64, error codes and scales as numbers.
//! Used by the conformance tests, the JS interop harness and `tollcast stream`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::error::StreamError;
use super::frame::*;
use super::packet::{IlpPacketType, StreamPacket};

impl StreamPacket {
    /// The packet as fixture-shaped JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "sequence": self.sequence.to_string(),
            "packetType": self.ilp_packet_type as u8,
            "amount": self.prepare_amount.to_string(),
            "frames": self.frames.iter().map(Frame::to_json).collect::<Vec<_>>(),
        })
    }

    /// Parses fixture-shaped JSON. Integers may be JSON numbers or decimal strings;
    /// unknown frame names are errors (unlike unknown types on the wire, which are skipped).
    pub fn from_json(v: &Value) -> Result<Self, StreamError> {
        let o = obj(v, "packet")?;
        let ty = u8_field(o, "packetType")?;
        let frames = o
            .get("frames")
            .and_then(Value::as_array)
            .ok_or_else(|| err("packet.frames must be an array"))?
            .iter()
            .map(Frame::from_json)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            sequence: u64_field(o, "sequence")?,
            ilp_packet_type: IlpPacketType::try_from(ty)?,
            prepare_amount: u64_field(o, "amount")?,
            frames,
        })
    }
}

impl Frame {
    /// The frame as fixture-shaped JSON (`type`, `name`, then its fields).
    pub fn to_json(&self) -> Value {
        let ty = self.frame_type();
        let mut m = Map::new();
        m.insert("type".into(), json!(ty as u8));
        m.insert("name".into(), json!(ty.name()));
        let s = |v: u64| Value::String(v.to_string());
        let mut put = |k: &str, v: Value| {
            m.insert(k.into(), v);
        };
        match self {
            Frame::ConnectionClose(f) => {
                put("errorCode", json!(f.code.to_u8()));
                put("errorMessage", json!(f.message));
            }
            Frame::ConnectionNewAddress(f) => put("sourceAccount", json!(f.source_account)),
            Frame::ConnectionMaxData(f) => put("maxOffset", s(f.max_offset)),
            Frame::ConnectionDataBlocked(f) => put("maxOffset", s(f.max_offset)),
            Frame::ConnectionMaxStreamId(f) => put("maxStreamId", s(f.max_stream_id)),
            Frame::ConnectionStreamIdBlocked(f) => put("maxStreamId", s(f.max_stream_id)),
            Frame::ConnectionAssetDetails(f) => {
                put("sourceAssetCode", json!(f.source_asset_code));
                put("sourceAssetScale", json!(f.source_asset_scale));
            }
            Frame::StreamClose(f) => {
                put("streamId", s(f.stream_id));
                put("errorCode", json!(f.code.to_u8()));
                put("errorMessage", json!(f.message));
            }
            Frame::StreamMoney(f) => {
                put("streamId", s(f.stream_id));
                put("shares", s(f.shares));
            }
            Frame::StreamMaxMoney(f) => {
                put("streamId", s(f.stream_id));
                put("receiveMax", s(f.receive_max));
                put("totalReceived", s(f.total_received));
            }
            Frame::StreamMoneyBlocked(f) => {
                put("streamId", s(f.stream_id));
                put("sendMax", s(f.send_max));
                put("totalSent", s(f.total_sent));
            }
            Frame::StreamData(f) => {
                put("streamId", s(f.stream_id));
                put("offset", s(f.offset));
                put("data", json!(B64.encode(&f.data)));
            }
            Frame::StreamMaxData(f) => {
                put("streamId", s(f.stream_id));
                put("maxOffset", s(f.max_offset));
            }
            Frame::StreamDataBlocked(f) => {
                put("streamId", s(f.stream_id));
                put("maxOffset", s(f.max_offset));
            }
            Frame::StreamReceipt(f) => {
                put("streamId", s(f.stream_id));
                put("receipt", json!(B64.encode(&f.receipt)));
            }
        }
        Value::Object(m)
    }

    /// Parses one fixture-shaped frame; `name` (or, without it, `type`) selects the frame.
    pub fn from_json(v: &Value) -> Result<Self, StreamError> {
        let o = obj(v, "frame")?;
        let ty = match o.get("name").and_then(Value::as_str) {
            Some(name) => FrameType::from_name(name)
                .ok_or_else(|| err(format!("unknown frame name {name:?}")))?,
            None => {
                let b = u8_field(o, "type")?;
                FrameType::from_u8(b).ok_or_else(|| err(format!("unknown frame type {b}")))?
            }
        };
        let u = |k: &str| u64_field(o, k);
        let sid = || u64_field(o, "streamId");
        Ok(match ty {
            FrameType::ConnectionClose => ConnectionCloseFrame {
                code: u8_field(o, "errorCode")?.into(),
                message: str_field(o, "errorMessage")?,
            }
            .into(),
            FrameType::ConnectionNewAddress => ConnectionNewAddressFrame {
                source_account: str_field(o, "sourceAccount")?,
            }
            .into(),
            FrameType::ConnectionMaxData => ConnectionMaxDataFrame {
                max_offset: u("maxOffset")?,
            }
            .into(),
            FrameType::ConnectionDataBlocked => ConnectionDataBlockedFrame {
                max_offset: u("maxOffset")?,
            }
            .into(),
            FrameType::ConnectionMaxStreamId => ConnectionMaxStreamIdFrame {
                max_stream_id: u("maxStreamId")?,
            }
            .into(),
            FrameType::ConnectionStreamIdBlocked => ConnectionStreamIdBlockedFrame {
                max_stream_id: u("maxStreamId")?,
            }
            .into(),
            FrameType::ConnectionAssetDetails => ConnectionAssetDetailsFrame {
                source_asset_code: str_field(o, "sourceAssetCode")?,
                source_asset_scale: u8_field(o, "sourceAssetScale")?,
            }
            .into(),
            FrameType::StreamClose => StreamCloseFrame {
                stream_id: sid()?,
                code: u8_field(o, "errorCode")?.into(),
                message: str_field(o, "errorMessage")?,
            }
            .into(),
            FrameType::StreamMoney => StreamMoneyFrame {
                stream_id: sid()?,
                shares: u("shares")?,
            }
            .into(),
            FrameType::StreamMaxMoney => StreamMaxMoneyFrame {
                stream_id: sid()?,
                receive_max: u("receiveMax")?,
                total_received: u("totalReceived")?,
            }
            .into(),
            FrameType::StreamMoneyBlocked => StreamMoneyBlockedFrame {
                stream_id: sid()?,
                send_max: u("sendMax")?,
                total_sent: u("totalSent")?,
            }
            .into(),
            FrameType::StreamData => StreamDataFrame {
                stream_id: sid()?,
                offset: u("offset")?,
                data: b64_field(o, "data")?,
            }
            .into(),
            FrameType::StreamMaxData => StreamMaxDataFrame {
                stream_id: sid()?,
                max_offset: u("maxOffset")?,
            }
            .into(),
            FrameType::StreamDataBlocked => StreamDataBlockedFrame {
                stream_id: sid()?,
                max_offset: u("maxOffset")?,
            }
            .into(),
            FrameType::StreamReceipt => StreamReceiptFrame {
                stream_id: sid()?,
                receipt: b64_field(o, "receipt")?,
            }
            .into(),
        })
    }
}

fn err(msg: impl Into<String>) -> StreamError {
    StreamError::Json(msg.into())
}

fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, StreamError> {
    v.as_object()
        .ok_or_else(|| err(format!("{what} must be a JSON object")))
}

fn field<'a>(o: &'a Map<String, Value>, k: &str) -> Result<&'a Value, StreamError> {
    o.get(k).ok_or_else(|| err(format!("missing field {k:?}")))
}

fn u64_field(o: &Map<String, Value>, k: &str) -> Result<u64, StreamError> {
    let v = field(o, k)?;
    let parsed = match v {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        err(format!(
            "{k:?} must be an integer 0..=18446744073709551615, got {v}"
        ))
    })
}

fn u8_field(o: &Map<String, Value>, k: &str) -> Result<u8, StreamError> {
    let v = u64_field(o, k)?;
    u8::try_from(v).map_err(|_| err(format!("{k:?} must be 0..=255, got {v}")))
}

fn str_field(o: &Map<String, Value>, k: &str) -> Result<String, StreamError> {
    field(o, k)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| err(format!("{k:?} must be a string")))
}

fn b64_field(o: &Map<String, Value>, k: &str) -> Result<Bytes, StreamError> {
    let s = str_field(o, k)?;
    B64.decode(s.as_bytes())
        .map(Bytes::from)
        .map_err(|e| err(format!("{k:?} must be base64: {e}")))
}

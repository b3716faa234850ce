//! The connector's view of BTP (RFC 0023) frames, over `tollcast_wire::btp`: only the calls
//! BTP 2.0 peers exchange (Response, Error, Message, Transfer), flattened so each carries its
//! request id. The legacy Prepare/Fulfill/Reject calls (types 3-5) are refused as unreadable.

use bytes::Bytes;
use tollcast_wire::btp::{self as wire, BtpPacket};

pub use tollcast_wire::btp::{BtpError, ContentType, ProtocolData};

/// A decoded BTP 2.0 call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    Response {
        request_id: u32,
        protocol_data: Vec<ProtocolData>,
    },
    Error {
        request_id: u32,
        code: String,
        name: String,
        data: Bytes,
        protocol_data: Vec<ProtocolData>,
    },
    Message {
        request_id: u32,
        protocol_data: Vec<ProtocolData>,
    },
    Transfer {
        request_id: u32,
        amount: u64,
        protocol_data: Vec<ProtocolData>,
    },
}

impl Frame {
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Response { .. } => "Response",
            Frame::Error { .. } => "Error",
            Frame::Message { .. } => "Message",
            Frame::Transfer { .. } => "Transfer",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Btp(#[from] BtpError),
    #[error("legacy BTP call type {0} is not part of BTP 2.0")]
    Legacy(u8),
}

/// Decodes one WebSocket message into a call, never panicking.
pub fn decode(input: Bytes) -> Result<Frame, DecodeError> {
    let p = BtpPacket::decode(input)?;
    let request_id = p.request_id;
    Ok(match p.frame {
        wire::Frame::Response(r) => Frame::Response {
            request_id,
            protocol_data: r.protocol_data,
        },
        wire::Frame::Message(m) => Frame::Message {
            request_id,
            protocol_data: m.protocol_data,
        },
        wire::Frame::Transfer(t) => Frame::Transfer {
            request_id,
            amount: t.amount,
            protocol_data: t.protocol_data,
        },
        wire::Frame::Error(e) => Frame::Error {
            request_id,
            code: String::from_utf8_lossy(&e.code).into_owned(),
            name: e.name,
            data: e.data,
            protocol_data: e.protocol_data,
        },
        wire::Frame::Prepare(_) => return Err(DecodeError::Legacy(3)),
        wire::Frame::Fulfill(_) => return Err(DecodeError::Legacy(4)),
        wire::Frame::Reject(_) => return Err(DecodeError::Legacy(5)),
    })
}

pub fn octets(name: &str, data: Bytes) -> ProtocolData {
    ProtocolData::new(name, ContentType::OCTET_STREAM, data)
}

pub fn encode_message(id: u32, pd: &[ProtocolData]) -> Bytes {
    BtpPacket {
        request_id: id,
        frame: wire::Frame::Message(wire::Message {
            protocol_data: pd.to_vec(),
        }),
    }
    .encode()
}

pub fn encode_response(id: u32, pd: &[ProtocolData]) -> Bytes {
    BtpPacket {
        request_id: id,
        frame: wire::Frame::Response(wire::Response {
            protocol_data: pd.to_vec(),
        }),
    }
    .encode()
}

pub fn encode_transfer(id: u32, amount: u64, pd: &[ProtocolData]) -> Bytes {
    BtpPacket {
        request_id: id,
        frame: wire::Frame::Transfer(wire::Transfer {
            amount,
            protocol_data: pd.to_vec(),
        }),
    }
    .encode()
}

/// An Error reply; `code` is a 3-character RFC 0023 code (e.g. "F00").
pub fn encode_error(id: u32, code: &str, name: &str, data: &[u8], pd: &[ProtocolData]) -> Bytes {
    let mut code3 = [b' '; 3];
    for (d, s) in code3.iter_mut().zip(code.bytes()) {
        *d = s;
    }
    let mut p = BtpPacket::error(id, code3, name, std::time::SystemTime::now(), data);
    if let wire::Frame::Error(e) = &mut p.frame {
        e.protocol_data = pd.to_vec();
    }
    p.encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let pd = vec![
            ProtocolData::ilp(Bytes::from_static(b"\x0c\x01\x00")),
            ProtocolData::text("auth_token", "t"),
        ];
        assert_eq!(
            decode(encode_message(7, &pd)).unwrap(),
            Frame::Message {
                request_id: 7,
                protocol_data: pd.clone()
            }
        );
        assert_eq!(
            decode(encode_transfer(8, 99, &pd)).unwrap(),
            Frame::Transfer {
                request_id: 8,
                amount: 99,
                protocol_data: pd.clone()
            }
        );
        match decode(encode_error(9, "F00", "NotAcceptedError", b"why", &[])).unwrap() {
            Frame::Error {
                request_id,
                code,
                name,
                data,
                ..
            } => {
                assert_eq!(
                    (request_id, code.as_str(), name.as_str(), &data[..]),
                    (9, "F00", "NotAcceptedError", &b"why"[..])
                );
            }
            f => panic!("{f:?}"),
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 1u64;
        for len in 0..300usize {
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    (seed >> 33) as u8
                })
                .collect();
            let _ = decode(Bytes::from(v));
        }
        assert!(decode(Bytes::new()).is_err());
        assert!(decode(Bytes::from_static(&[6, 0, 0, 0, 1, 5, 1])).is_err());
    }
}

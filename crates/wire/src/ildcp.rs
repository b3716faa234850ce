//! IL-DCP (RFC 0031): how a child learns its ILP address and asset from its parent.
//!
//! The request is an ILP PREPARE to `peer.config` with amount 0 and the fixed condition
//! SHA-256(32 zero bytes); the response is a FULFILL with the all-zero fulfillment whose data is
//! `{clientAddress: var-octet-string (ASCII), assetScale: u8, assetCode: var-octet-string (UTF-8)}`.
//! The decoder requires a valid address and UTF-8 asset code and rejects trailing bytes.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::address::{Address, AddressError};
use crate::error_code::ErrorCode;
use crate::ilp::{Fulfill, IlpError, Prepare, Reject};
use crate::oer::{self, OerError, Reader, Writer};

/// Destination of every IL-DCP request.
pub const DESTINATION: &str = "peer.config";
/// The fulfillment of every IL-DCP response: 32 zero bytes.
pub const FULFILLMENT: [u8; 32] = [0; 32];
/// SHA-256 of [`FULFILLMENT`] (`Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU=`).
pub const CONDITION: [u8; 32] = [
    0x66, 0x68, 0x7a, 0xad, 0xf8, 0x62, 0xbd, 0x77, 0x6c, 0x8f, 0xc1, 0x8b, 0x8e, 0x9f, 0x8e, 0x20,
    0x08, 0x97, 0x14, 0x85, 0x6e, 0xe2, 0x33, 0xb3, 0x90, 0x2a, 0x59, 0x1d, 0x0d, 0x5f, 0x29, 0x25,
];
/// Expiry the JS implementation gives requests (60 s).
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(60);

/// Why an IL-DCP packet is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IldcpError {
    /// Not a valid ILP packet of the expected type.
    #[error(transparent)]
    Ilp(#[from] IlpError),
    /// Malformed response data.
    #[error("malformed IL-DCP response data: {0}")]
    Oer(#[from] OerError),
    /// A PREPARE not addressed to `peer.config`.
    #[error("not an IL-DCP request: destination is {0}, expected peer.config")]
    WrongDestination(String),
    /// A PREPARE without the peer-protocol condition.
    #[error("IL-DCP request does not carry the peer-protocol condition")]
    WrongCondition,
    /// A FULFILL whose fulfillment is not 32 zero bytes.
    #[error("IL-DCP response does not carry the all-zero fulfillment")]
    WrongFulfillment,
    /// The client address is invalid.
    #[error("invalid client address in IL-DCP response: {0}")]
    InvalidAddress(#[from] AddressError),
    /// The asset code is not UTF-8.
    #[error("IL-DCP asset code is not valid UTF-8")]
    InvalidAssetCode,
}

/// An IL-DCP request (the interesting parts of its PREPARE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Expiry of the PREPARE.
    pub expires_at: SystemTime,
    /// Data of the PREPARE (normally empty).
    pub data: Bytes,
}

impl Request {
    /// A request expiring [`DEFAULT_EXPIRY`] after `now`.
    pub fn new(now: SystemTime) -> Request {
        Request {
            expires_at: now + DEFAULT_EXPIRY,
            data: Bytes::new(),
        }
    }

    /// The PREPARE to send.
    pub fn to_prepare(&self) -> Prepare {
        Prepare {
            amount: 0,
            expires_at: self.expires_at,
            execution_condition: CONDITION,
            destination: Address::new(DESTINATION).expect("peer.config is a valid address"),
            data: self.data.clone(),
        }
    }

    /// Encoded PREPARE.
    pub fn encode(&self) -> Bytes {
        self.to_prepare().encode()
    }

    /// Checks a PREPARE is an IL-DCP request (destination and condition; the amount is not
    /// checked, RFC 0031 allows a non-zero one). Expiry is the caller's business.
    pub fn from_prepare(p: &Prepare) -> Result<Request, IldcpError> {
        if p.destination.as_str() != DESTINATION {
            return Err(IldcpError::WrongDestination(p.destination.to_string()));
        }
        if p.execution_condition != CONDITION {
            return Err(IldcpError::WrongCondition);
        }
        Ok(Request {
            expires_at: p.expires_at,
            data: p.data.clone(),
        })
    }

    /// Decodes an encoded PREPARE as an IL-DCP request.
    pub fn decode(input: Bytes) -> Result<Request, IldcpError> {
        Request::from_prepare(&Prepare::decode(input)?)
    }

    /// True if `p` is addressed to `peer.config` (cheap routing test).
    pub fn is_ildcp(p: &Prepare) -> bool {
        p.destination.as_str() == DESTINATION
    }
}

/// An IL-DCP response: the configuration the parent assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The child's ILP address.
    pub client_address: Address,
    /// Asset scale of amounts on this link.
    pub asset_scale: u8,
    /// Asset code, e.g. `USD`.
    pub asset_code: String,
}

impl Response {
    /// What a server answers with.
    pub fn new(client_address: Address, asset_scale: u8, asset_code: impl Into<String>) -> Self {
        Response {
            client_address,
            asset_scale,
            asset_code: asset_code.into(),
        }
    }

    /// The FULFILL data.
    pub fn encode_data(&self) -> Bytes {
        let a = self.client_address.as_str().as_bytes();
        let mut w = Writer::with_capacity(
            oer::var_octet_string_len(a.len())
                + 1
                + oer::var_octet_string_len(self.asset_code.len()),
        );
        w.write_var_octet_string(a);
        w.write_u8(self.asset_scale);
        w.write_var_octet_string(self.asset_code.as_bytes());
        w.into_bytes()
    }

    /// Reads the FULFILL data.
    pub fn decode_data(data: &[u8]) -> Result<Response, IldcpError> {
        let mut r = Reader::new(data);
        let client_address = Address::from_bytes(r.read_var_octet_string()?)?;
        let asset_scale = r.read_u8()?;
        let asset_code = std::str::from_utf8(r.read_var_octet_string()?)
            .map_err(|_| IldcpError::InvalidAssetCode)?
            .to_string();
        r.expect_end("IL-DCP response data")?;
        Ok(Response {
            client_address,
            asset_scale,
            asset_code,
        })
    }

    /// The FULFILL a server replies with.
    pub fn to_fulfill(&self) -> Fulfill {
        Fulfill {
            fulfillment: FULFILLMENT,
            data: self.encode_data(),
        }
    }

    /// Encoded FULFILL.
    pub fn encode(&self) -> Bytes {
        self.to_fulfill().encode()
    }

    /// Reads a FULFILL as an IL-DCP response.
    pub fn from_fulfill(f: &Fulfill) -> Result<Response, IldcpError> {
        if f.fulfillment != FULFILLMENT {
            return Err(IldcpError::WrongFulfillment);
        }
        Response::decode_data(&f.data)
    }

    /// Decodes an encoded FULFILL as an IL-DCP response.
    pub fn decode(input: Bytes) -> Result<Response, IldcpError> {
        Response::from_fulfill(&Fulfill::decode(input)?)
    }
}

/// A server's answer to an encoded packet: the FULFILL if it is a valid IL-DCP request,
/// otherwise the error to turn into an F00 reject.
pub fn serve(request: Bytes, config: &Response) -> Result<Bytes, IldcpError> {
    Request::decode(request)?;
    Ok(config.encode())
}

/// The F00 reject a server answers an invalid IL-DCP request with (as ilp-protocol-ildcp does).
pub fn reject(error: &IldcpError, server_address: Option<Address>) -> Reject {
    Reject::new(
        ErrorCode::F00_BAD_REQUEST,
        server_address,
        format!("invalid IL-DCP request: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ilp;

    #[test]
    fn condition_is_hash_of_fulfillment() {
        assert_eq!(ilp::condition_of(&FULFILLMENT), CONDITION);
    }

    #[test]
    fn round_trips() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let req = Request::new(now);
        let dec = Request::decode(req.encode()).unwrap();
        assert_eq!(dec, req);
        let resp = Response::new(Address::new("g.parent.child").unwrap(), 9, "XRP");
        let enc = serve(req.encode(), &resp).unwrap();
        assert_eq!(Response::decode(enc).unwrap(), resp);
        let mut p = req.to_prepare();
        p.destination = Address::new("peer.route").unwrap();
        let err = Request::from_prepare(&p).unwrap_err();
        assert!(matches!(err, IldcpError::WrongDestination(_)));
        let r = reject(&err, Some(Address::new("g.parent").unwrap()));
        assert_eq!(r.code, ErrorCode::F00_BAD_REQUEST);
        assert!(r.message.contains("peer.route"));
        let mut p = req.to_prepare();
        p.execution_condition[0] ^= 1;
        assert_eq!(Request::from_prepare(&p), Err(IldcpError::WrongCondition));
        let mut f = resp.to_fulfill();
        f.fulfillment[31] = 1;
        assert_eq!(
            Response::from_fulfill(&f),
            Err(IldcpError::WrongFulfillment)
        );
        let mut data = resp.encode_data().to_vec();
        data.push(0);
        assert!(matches!(
            Response::decode_data(&data),
            Err(IldcpError::Oer(OerError::TrailingBytes { .. }))
        ));
    }
}

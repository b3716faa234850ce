//! STREAM (RFC 0029): packets, frames and crypto, sans-io.
//!
//! - [`StreamPacket`] / [`Frame`]: the plaintext codec (`encode`, `decode`), with
//!   `StreamData` payloads decoded as zero-copy slices of the decrypted buffer.
//! - [`StreamKeys`]: keys derived once per connection from the shared secret; AES-256-GCM
//!   envelope `nonce || tag || ciphertext`, fulfillments and conditions.
//! - [`StreamPacket::encrypt_and_encode`] / [`StreamPacket::decrypt_and_decode`]: the ILP
//!   packet `data` in one step, encrypting in place.
//! - [`ServerSecret`]: stateless server addresses and shared secrets, compatible with
//!   ilp-protocol-stream's `generateAddressAndSecret`.
//! - [`Receipt`]: STREAM receipts (RFC 0039) as carried in `StreamReceipt` frames.
//! - JSON in the shape of the RFC test vectors ([`StreamPacket::to_json`]).
//!
//! Wire-compatible with ilp-protocol-stream 2.7 and interledger-rs.
//!
//! ```
//! use tollcast_wire::stream::*;
//!
//! let keys = StreamKeys::from_shared_secret(&[7u8; 32]);
//! let mut packet = StreamPacket::new(1, IlpPacketType::Prepare, 1000);
//! packet.frames.push(StreamMoneyFrame { stream_id: 1, shares: 1 }.into());
//! packet.frames.push(StreamDataFrame { stream_id: 1, offset: 0, data: "hi".into() }.into());
//!
//! // Sender: ILP Prepare data and execution condition.
//! let data = packet.encrypt_and_encode(&keys);
//! let condition = keys.condition(&data);
//!
//! // Receiver: decrypt (typed error on a wrong key or tampering), then fulfill.
//! let got = StreamPacket::decrypt_and_decode(&keys, &data)?;
//! assert_eq!(got, packet);
//! assert_eq!(condition_for_fulfillment(&keys.fulfillment(&data)), condition);
//! # Ok::<(), StreamError>(())
//! ```

mod crypto;
mod error;
mod frame;
mod json;
mod oer_io;
mod packet;
mod receipt;
mod token;

pub use crypto::{
    ENCRYPTION_OVERHEAD, NONCE_LEN, StreamKeys, TAG_LEN, condition_for_fulfillment, encryption_key,
    fulfillment_key, hmac_sha256, random_condition, sha256,
};
pub use error::StreamError;
pub use frame::{
    ConnectionAssetDetailsFrame, ConnectionCloseFrame, ConnectionDataBlockedFrame,
    ConnectionMaxDataFrame, ConnectionMaxStreamIdFrame, ConnectionNewAddressFrame,
    ConnectionStreamIdBlockedFrame, ErrorCode, Frame, FrameType, StreamCloseFrame,
    StreamDataBlockedFrame, StreamDataFrame, StreamMaxDataFrame, StreamMaxMoneyFrame,
    StreamMoneyBlockedFrame, StreamMoneyFrame, StreamReceiptFrame,
};
pub use packet::{IlpPacketType, STREAM_VERSION, StreamPacket};
pub use receipt::{RECEIPT_LEN, RECEIPT_VERSION, Receipt};
pub use token::{
    ConnectionCredentials, ConnectionOptions, ConnectionToken, ServerSecret, TOKEN_NONCE_LEN,
    connection_token_from_destination,
};

//! STREAM (RFC 0029) endpoints and SPSP (RFC 0009) setup, on top of the wire codecs.
//!
//! - [`receiver::StreamReceiver`]: the server side, an [`IlpService`](crate::connector::IlpService)
//!   to register with the connector as the local handler of its address prefix. Stateless
//!   credentials from a server secret (ilp-protocol-stream token format), money and data
//!   streams, receive-max and data windows, encrypted replies in FULFILL and F99 REJECT.
//! - [`sender::StreamSender`]: the client side, one long-lived connection sending through any
//!   `Arc<dyn IlpService>` (normally the connector's local sender): rate probing, packet
//!   sizing from F08, retries with backoff, send-max / receive-max, data, close; request/response
//!   one packet at a time (`request`) or pipelined (`start_request` / `next_answer` /
//!   `request_many`: several packets in flight, each paying for its own answer).
//! - [`spsp_http`]: SPSP responder (axum route answering `application/spsp4+json`) and client.
//! - [`spsp_nostr`]: SPSP over Nostr: NIP-44-encrypted kind 23194 request / 23195 response
//!   (Agent Society convention, `protocol/m2m.md` §7.1), sans-io builders plus a relay-client
//!   exchange.

pub mod receiver;
pub mod sender;
pub mod spsp_http;
pub mod spsp_nostr;

pub use receiver::{
    ConnectionTotals, MAX_RESPONSE_BYTES, ReceiverConfig, ReceiverEvent, Responder, ResponderReply,
    ResponderRequest, StreamReceiver,
};
pub use sender::{Rate, RequestId, SendReceipt, SenderConfig, StreamSendError, StreamSender};
pub use spsp_http::{SpspDetails, SpspError};

//! STREAM sender (client side of RFC 0029): one connection to a receiver, used for many
//! payments and data transfers over its lifetime.
//!
//! [`StreamSender::connect`] probes the path exchange rate with an unfulfillable packet (and
//! learns the path's maximum packet amount from F08 rejects); [`StreamSender::send`] splits an
//! amount into packets bounded by that maximum and by the receiver's advertised receive-max,
//! sets each packet's minimum destination amount from the measured rate minus slippage,
//! retries T/R-class errors with exponential backoff and stops on F-class errors. Data goes
//! in `StreamData` frames within the receiver's `StreamMaxData` window; data the receiver
//! sends back in FULFILLs is collected (ILP-native delivery).
//!
//! [`StreamSender::request`] is request/response over one packet: the request bytes go as
//! `StreamData` on a stream, with the money paying for the answer, and the answer comes back
//! as `StreamData` in that packet's FULFILL (the receiver's
//! [`Responder`](super::receiver::Responder)); a refused request is a REJECT and costs nothing.
//!
//! A connection keeps a fixed amount of state: per-second payments over hours on one
//! connection do not grow memory (the frame and buffer vectors are reused).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use tollcast_wire::address::Address;
use tollcast_wire::error_code::{ErrorClass, ErrorCode as IlpErrorCode};
use tollcast_wire::ilp::{MAX_DATA_LEN, Prepare};
use tollcast_wire::stream::{
    ConnectionAssetDetailsFrame, ConnectionCloseFrame, ConnectionMaxDataFrame,
    ConnectionNewAddressFrame, ENCRYPTION_OVERHEAD, ErrorCode, Frame, IlpPacketType,
    StreamCloseFrame, StreamDataFrame, StreamKeys, StreamMaxDataFrame, StreamMoneyFrame,
    StreamPacket, condition_for_fulfillment, random_condition,
};

use crate::connector::{AccountId, IlpService, IncomingRequest};

mod pipeline;
pub use pipeline::RequestId;

/// STREAM spec limit on packets per connection (AES-GCM nonce safety, RFC 0029 §5.1.3).
pub const MAX_PACKETS_PER_CONNECTION: u64 = 1 << 31;

/// Why a send failed. `sent`/`delivered` in [`SendReceipt`] say what did get through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamSendError {
    /// The path rejected a packet with a final error.
    #[error("payment rejected with {code} {message:?} (triggered by {triggered_by}); not retried")]
    Rejected {
        /// ILP error code.
        code: IlpErrorCode,
        /// Reject message.
        message: String,
        /// Who rejected it.
        triggered_by: String,
    },
    /// Temporary errors persisted through every retry.
    #[error("gave up after {attempts} attempts; last error {code} {message:?}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// Last ILP error code.
        code: IlpErrorCode,
        /// Last message.
        message: String,
    },
    /// The rate probe got no authentic answer from the receiver.
    #[error("exchange-rate probe failed: {0}")]
    ProbeFailed(String),
    /// The measured rate fell below what the caller accepts.
    #[error(
        "exchange rate dropped: {delivered} delivered for {sent} sent is worse than the minimum accepted"
    )]
    RateTooLow {
        /// Source amount of the packet.
        sent: u64,
        /// What arrived.
        delivered: u64,
    },
    /// The receiver's receive-max does not allow more money on this stream.
    #[error(
        "receiver accepts no more money on this stream (receive max {receive_max}, received {total_received})"
    )]
    ReceiveMaxReached {
        /// The receiver's limit, its units.
        receive_max: u64,
        /// What it has so far.
        total_received: u64,
    },
    /// The receiver closed the connection (or the stream).
    #[error("receiver closed the connection: {0}")]
    ClosedByReceiver(String),
    /// The receiver refused a request (its reason; nothing was paid).
    #[error("receiver refused the request: {0}")]
    Refused(String),
    /// A request's amount is more than one packet may carry on this path.
    #[error("request amount {amount} exceeds the path's maximum packet amount {max}")]
    RequestTooLarge {
        /// Amount asked for.
        amount: u64,
        /// Path maximum.
        max: u64,
    },
    /// The connection was closed locally.
    #[error("connection is closed")]
    Closed,
    /// The receiver's answer broke the protocol (bad fulfillment, wrong sequence...).
    #[error("receiver protocol violation: {0}")]
    Protocol(String),
    /// The 2^31 packet limit of one connection was reached: open a new one.
    #[error("connection used its 2^31 packets; open a new connection")]
    SequenceExhausted,
    /// Nothing can go through: the path's maximum packet amount rounds to zero.
    #[error("path maximum packet amount is zero")]
    ZeroMaxPacket,
}

/// How a [`StreamSender`] behaves.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Account the packets are booked on at the node (`AccountId::local()`: the node's own).
    pub from: AccountId,
    /// Our ILP address, told to the receiver in `ConnectionNewAddress` (None: we don't
    /// receive PREPAREs; an empty address is sent, as @interledger/pay does).
    pub source_address: Option<Address>,
    /// Our asset, told to the receiver in `ConnectionAssetDetails` when known.
    pub source_asset: Option<(String, u8)>,
    /// Receiver's address (SPSP `destination_account`).
    pub destination: Address,
    /// Shared secret (SPSP `shared_secret`).
    pub shared_secret: [u8; 32],
    /// Accepted drop of the rate below the probed rate, in parts per million (default 1 %).
    pub slippage_ppm: u32,
    /// Expiry of each PREPARE.
    pub packet_timeout: Duration,
    /// Attempts per packet for temporary errors before giving up.
    pub max_attempts: u32,
    /// First backoff after a temporary error (doubles up to 1 s).
    pub initial_backoff: Duration,
    /// The money/data stream used by [`StreamSender::send`] and [`StreamSender::send_data`].
    pub stream_id: u64,
}

impl SenderConfig {
    /// Defaults: local account, 1 % slippage, 30 s packet expiry, 8 attempts, stream 1.
    pub fn new(destination: Address, shared_secret: [u8; 32]) -> Self {
        Self {
            from: AccountId::local(),
            source_address: None,
            source_asset: None,
            destination,
            shared_secret,
            slippage_ppm: 10_000,
            packet_timeout: Duration::from_secs(30),
            max_attempts: 8,
            initial_backoff: Duration::from_millis(5),
            stream_id: 1,
        }
    }
}

/// What one [`StreamSender::send`] moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendReceipt {
    /// Source amount of fulfilled packets (our units).
    pub sent: u64,
    /// Amount the receiver got (its units, as it reported in FULFILLs).
    pub delivered: u64,
    /// Fulfilled packets.
    pub packets: u64,
}

/// The path exchange rate as measured: `delivered` arrived for `sent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Source amount.
    pub sent: u64,
    /// Destination amount.
    pub delivered: u64,
}

impl Rate {
    /// Destination amount for `amount` at this rate, rounded down.
    pub fn apply(&self, amount: u64) -> u64 {
        if self.sent == 0 {
            return 0;
        }
        (amount as u128 * self.delivered as u128 / self.sent as u128).min(u64::MAX as u128) as u64
    }
    /// Source amount that delivers at most `dest` at this rate, rounded down.
    pub fn invert(&self, dest: u64) -> u64 {
        if self.delivered == 0 {
            return u64::MAX;
        }
        (dest as u128 * self.sent as u128 / self.delivered as u128).min(u64::MAX as u128) as u64
    }
    fn better_or_equal(&self, other: &Rate) -> bool {
        self.delivered as u128 * other.sent as u128 >= other.delivered as u128 * self.sent as u128
    }
}

enum Outcome {
    /// FULFILL; `delivered` as the receiver reported (or as we estimated if it sent no reply).
    Fulfilled { delivered: u64 },
    /// REJECT with an authentic STREAM reply from the receiver.
    ReceiverReject { arrived: u64, message: String },
    /// REJECT from the path (or without a STREAM reply).
    PathReject {
        code: IlpErrorCode,
        message: String,
        triggered_by: String,
        data: Bytes,
    },
}

/// One STREAM connection from us to a receiver.
pub struct StreamSender {
    service: Arc<dyn IlpService>,
    config: SenderConfig,
    keys: StreamKeys,
    next_sequence: u64,
    rate: Option<Rate>,
    min_rate: Option<Rate>,
    max_packet_amount: u64,
    remote_asset: Option<(String, u8)>,
    remote_receive_max: Option<u64>,
    remote_total_received: u64,
    remote_max_data: u64,
    data_offset: u64,
    told_address: bool,
    total: SendReceipt,
    closed: bool,
    incoming_data: Vec<u8>,
    incoming_offset: u64,
    frames: Vec<Frame>,
    /// Stream of the request in flight: its reply data goes to `reply_data`.
    request_stream: Option<u64>,
    reply_data: Vec<u8>,
    /// Per request stream: (next request byte offset, next reply byte offset).
    request_offsets: BTreeMap<u64, (u64, u64)>,
    /// Requests in flight ([`Self::start_request`]).
    pipeline: pipeline::Pipeline,
}

impl std::fmt::Debug for StreamSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSender")
            .field("destination", &self.config.destination)
            .field("rate", &self.rate)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl StreamSender {
    /// Opens a connection: probes the exchange rate and the path's maximum packet amount.
    pub async fn connect(
        service: Arc<dyn IlpService>,
        config: SenderConfig,
    ) -> Result<Self, StreamSendError> {
        let mut s = Self::new_unprobed(service, config);
        s.probe().await?;
        Ok(s)
    }

    /// A connection that has not talked to the receiver yet (call [`Self::probe`] or send).
    pub fn new_unprobed(service: Arc<dyn IlpService>, config: SenderConfig) -> Self {
        let keys = StreamKeys::from_shared_secret(&config.shared_secret);
        Self {
            service,
            config,
            keys,
            next_sequence: 1,
            rate: None,
            min_rate: None,
            max_packet_amount: u64::MAX,
            remote_asset: None,
            remote_receive_max: None,
            remote_total_received: 0,
            // Until the receiver advertises a window, send what ilp-protocol-stream buffers.
            remote_max_data: 16_384,
            data_offset: 0,
            told_address: false,
            total: SendReceipt::default(),
            closed: false,
            incoming_data: Vec::new(),
            incoming_offset: 0,
            frames: Vec::with_capacity(8),
            request_stream: None,
            reply_data: Vec::new(),
            request_offsets: BTreeMap::new(),
            pipeline: pipeline::Pipeline::default(),
        }
    }

    /// The measured exchange rate (None before a probe or payment).
    pub fn rate(&self) -> Option<Rate> {
        self.rate
    }
    /// The receiver's asset (code, scale) if it told us.
    pub fn remote_asset(&self) -> Option<&(String, u8)> {
        self.remote_asset.as_ref()
    }
    /// Largest packet amount the path takes, as learned so far.
    pub fn max_packet_amount(&self) -> u64 {
        self.max_packet_amount
    }
    /// Totals over the connection's life.
    pub fn totals(&self) -> SendReceipt {
        self.total
    }
    /// Limits the path amount of each packet (e.g. to keep per-packet risk low).
    pub fn set_max_packet_amount(&mut self, max: u64) {
        self.max_packet_amount = self.max_packet_amount.min(max);
    }
    /// Bytes the receiver sent back (ILP-native delivery) since the last call.
    pub fn take_received_data(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.incoming_data)
    }

    /// Measures the exchange rate with unfulfillable packets (nothing is paid), shrinking
    /// the probe amount on F08 until the receiver answers.
    pub async fn probe(&mut self) -> Result<Rate, StreamSendError> {
        const AMOUNTS: [u64; 5] = [1_000_000_000_000, 1_000_000_000, 1_000_000, 1_000, 1];
        let mut last = String::from("no answer");
        let mut attempts = 0u32;
        let mut i = 0;
        while i < AMOUNTS.len() {
            let amount = AMOUNTS[i].min(self.max_packet_amount);
            if amount == 0 {
                return Err(StreamSendError::ZeroMaxPacket);
            }
            self.frames.clear();
            self.push_handshake_frames();
            match self.send_packet(amount, 0, false).await? {
                Outcome::ReceiverReject { arrived, .. }
                | Outcome::Fulfilled { delivered: arrived } => {
                    let rate = Rate {
                        sent: amount,
                        delivered: arrived,
                    };
                    self.rate = Some(rate);
                    self.min_rate = Some(self.with_slippage(rate));
                    return Ok(rate);
                }
                Outcome::PathReject {
                    code,
                    message,
                    data,
                    ..
                } => {
                    attempts += 1;
                    last = format!("{code} {message}");
                    if code == IlpErrorCode::F08_AMOUNT_TOO_LARGE {
                        self.learn_max_packet(amount, &data);
                        if attempts < 16 {
                            continue;
                        }
                    }
                    if code.class() != ErrorClass::Final && attempts < self.config.max_attempts {
                        self.backoff(attempts).await;
                        i += 1;
                        continue;
                    }
                    if code.class() == ErrorClass::Final
                        && code != IlpErrorCode::F08_AMOUNT_TOO_LARGE
                    {
                        return Err(StreamSendError::ProbeFailed(last));
                    }
                    i += 1;
                }
            }
        }
        Err(StreamSendError::ProbeFailed(last))
    }

    /// Sends `amount` (our units) on the configured stream, in as many packets as needed.
    /// On error the receipt of what got through is in [`Self::totals`].
    pub async fn send(&mut self, amount: u64) -> Result<SendReceipt, StreamSendError> {
        if self.closed {
            return Err(StreamSendError::Closed);
        }
        if self.rate.is_none() {
            self.probe().await?;
        }
        let mut receipt = SendReceipt::default();
        let mut attempts = 0u32;
        let mut remaining = amount;
        while remaining > 0 {
            let rate = self.rate.unwrap_or(Rate {
                sent: 1,
                delivered: 1,
            });
            let mut packet_amount = remaining.min(self.max_packet_amount);
            if let Some(max) = self.remote_receive_max {
                let room = max.saturating_sub(self.remote_total_received);
                if room == 0 {
                    return Err(StreamSendError::ReceiveMaxReached {
                        receive_max: max,
                        total_received: self.remote_total_received,
                    });
                }
                if max != u64::MAX && rate.delivered > 0 {
                    packet_amount = packet_amount.min(rate.invert(room).max(1));
                }
            }
            let min_dest = self.min_rate.map_or(0, |r| r.apply(packet_amount));
            self.frames.clear();
            self.push_handshake_frames();
            self.frames.push(Frame::StreamMoney(StreamMoneyFrame {
                stream_id: self.config.stream_id,
                shares: 1,
            }));
            match self.send_packet(packet_amount, min_dest, true).await? {
                Outcome::Fulfilled { delivered } => {
                    attempts = 0;
                    remaining -= packet_amount;
                    receipt.sent += packet_amount;
                    receipt.delivered += delivered;
                    receipt.packets += 1;
                    self.total.sent += packet_amount;
                    self.total.delivered += delivered;
                    self.total.packets += 1;
                    if delivered > 0 {
                        self.rate = Some(Rate {
                            sent: packet_amount,
                            delivered,
                        });
                    }
                }
                Outcome::ReceiverReject { arrived, .. } => {
                    attempts += 1;
                    if self.closed {
                        return Err(StreamSendError::ClosedByReceiver(
                            "connection closed".into(),
                        ));
                    }
                    if let Some(max) = self.remote_receive_max
                        && self.remote_total_received >= max
                    {
                        return Err(StreamSendError::ReceiveMaxReached {
                            receive_max: max,
                            total_received: self.remote_total_received,
                        });
                    }
                    if arrived < min_dest {
                        // The rate moved: accept it only within slippage of the first probe.
                        let now = Rate {
                            sent: packet_amount,
                            delivered: arrived,
                        };
                        if let Some(min) = self.min_rate
                            && !now.better_or_equal(&min)
                        {
                            return Err(StreamSendError::RateTooLow {
                                sent: packet_amount,
                                delivered: arrived,
                            });
                        }
                        self.rate = Some(now);
                    }
                    if attempts >= self.config.max_attempts {
                        return Err(StreamSendError::Protocol(
                            "receiver kept rejecting packets (F99) without a reason we can fix"
                                .into(),
                        ));
                    }
                }
                Outcome::PathReject {
                    code,
                    message,
                    triggered_by,
                    data,
                } => {
                    attempts += 1;
                    if code == IlpErrorCode::F08_AMOUNT_TOO_LARGE {
                        self.learn_max_packet(packet_amount, &data);
                        if self.max_packet_amount == 0 {
                            return Err(StreamSendError::ZeroMaxPacket);
                        }
                        if attempts < 32 {
                            continue;
                        }
                    }
                    if code.class() == ErrorClass::Final {
                        return Err(StreamSendError::Rejected {
                            code,
                            message,
                            triggered_by,
                        });
                    }
                    if attempts >= self.config.max_attempts {
                        return Err(StreamSendError::RetriesExhausted {
                            attempts,
                            code,
                            message,
                        });
                    }
                    self.backoff(attempts).await;
                }
            }
        }
        Ok(receipt)
    }

    /// Sends bytes on the configured stream (zero-amount packets), within the receiver's
    /// `StreamMaxData` window.
    pub async fn send_data(&mut self, data: &[u8]) -> Result<(), StreamSendError> {
        if self.closed {
            return Err(StreamSendError::Closed);
        }
        let mut pos = 0usize;
        let mut attempts = 0u32;
        // Room for envelope, header and control frames.
        let chunk_max = MAX_DATA_LEN - ENCRYPTION_OVERHEAD - 256;
        while pos < data.len() {
            let window = self.remote_max_data.saturating_sub(self.data_offset);
            if window == 0 {
                // Ask for a larger window with an empty packet; the reply carries StreamMaxData.
                self.frames.clear();
                self.push_handshake_frames();
                self.frames.push(Frame::StreamData(StreamDataFrame {
                    stream_id: self.config.stream_id,
                    offset: self.data_offset,
                    data: Bytes::new(),
                }));
                let before = self.remote_max_data;
                self.send_packet(0, 0, true).await?;
                attempts += 1;
                if self.remote_max_data == before {
                    if attempts >= self.config.max_attempts {
                        return Err(StreamSendError::Protocol(
                            "receiver's data window stays full".into(),
                        ));
                    }
                    self.backoff(attempts).await;
                }
                continue;
            }
            let take = (data.len() - pos)
                .min(chunk_max)
                .min(window.min(usize::MAX as u64) as usize);
            self.frames.clear();
            self.push_handshake_frames();
            self.frames.push(Frame::StreamData(StreamDataFrame {
                stream_id: self.config.stream_id,
                offset: self.data_offset,
                data: Bytes::copy_from_slice(&data[pos..pos + take]),
            }));
            match self.send_packet(0, 0, true).await? {
                Outcome::Fulfilled { .. } => {
                    attempts = 0;
                    pos += take;
                    self.data_offset += take as u64;
                }
                Outcome::ReceiverReject { .. } => {
                    attempts += 1;
                    if self.closed {
                        return Err(StreamSendError::ClosedByReceiver(
                            "connection closed".into(),
                        ));
                    }
                    if attempts >= self.config.max_attempts {
                        return Err(StreamSendError::Protocol(
                            "receiver rejects our data".into(),
                        ));
                    }
                }
                Outcome::PathReject {
                    code,
                    message,
                    triggered_by,
                    ..
                } => {
                    self.retry_after_path_reject(&mut attempts, code, message, triggered_by)
                        .await?
                }
            }
        }
        Ok(())
    }

    /// Request/response in one packet: sends `request` as `StreamData` on `stream_id` with
    /// `amount` (our units, one packet: at most the path's maximum packet amount) paid on that
    /// stream, and returns the bytes the receiver's responder sent back in the FULFILL. A
    /// refused request ([`StreamSendError::Refused`]) is a REJECT: nothing is paid, nothing
    /// delivered. Temporary path errors are retried; a rate change within slippage is too.
    pub async fn request(
        &mut self,
        stream_id: u64,
        request: &[u8],
        amount: u64,
    ) -> Result<Bytes, StreamSendError> {
        if self.closed {
            return Err(StreamSendError::Closed);
        }
        if amount > 0 && self.rate.is_none() {
            self.probe().await?;
        }
        if amount > self.max_packet_amount {
            return Err(StreamSendError::RequestTooLarge {
                amount,
                max: self.max_packet_amount,
            });
        }
        let mut attempts = 0u32;
        loop {
            let (out_offset, _) = *self.request_offsets.entry(stream_id).or_default();
            let min_dest = self.push_request_frames(
                stream_id,
                out_offset,
                Bytes::copy_from_slice(request),
                amount,
            );
            self.request_stream = Some(stream_id);
            self.reply_data.clear();
            let outcome = self.send_packet(amount, min_dest, true).await;
            self.request_stream = None;
            match outcome? {
                Outcome::Fulfilled { delivered } => {
                    if let Some(o) = self.request_offsets.get_mut(&stream_id) {
                        o.0 += request.len() as u64;
                    }
                    self.total.sent += amount;
                    self.total.delivered += delivered;
                    self.total.packets += 1;
                    if amount > 0 && delivered > 0 {
                        self.rate = Some(Rate {
                            sent: amount,
                            delivered,
                        });
                    }
                    return Ok(Bytes::from(std::mem::take(&mut self.reply_data)));
                }
                Outcome::ReceiverReject { arrived, message } => {
                    attempts += 1;
                    self.retry_after_receiver_reject(amount, arrived, message, attempts)?;
                }
                Outcome::PathReject {
                    code,
                    message,
                    triggered_by,
                    ..
                } => {
                    self.retry_after_path_reject(&mut attempts, code, message, triggered_by)
                        .await?
                }
            }
        }
    }

    /// Closes the stream and the connection (best effort: one packet, errors ignored).
    pub async fn close(&mut self) -> Result<(), StreamSendError> {
        if self.closed {
            return Ok(());
        }
        self.frames.clear();
        self.frames.push(Frame::StreamClose(StreamCloseFrame {
            stream_id: self.config.stream_id,
            code: ErrorCode::NoError,
            message: String::new(),
        }));
        self.frames
            .push(Frame::ConnectionClose(ConnectionCloseFrame {
                code: ErrorCode::NoError,
                message: String::new(),
            }));
        let r = self.send_packet(0, 0, true).await;
        self.closed = true;
        r.map(|_| ())
    }

    fn with_slippage(&self, rate: Rate) -> Rate {
        let keep = 1_000_000u128 - self.config.slippage_ppm.min(1_000_000) as u128;
        Rate {
            sent: rate.sent,
            delivered: (rate.delivered as u128 * keep / 1_000_000) as u64,
        }
    }

    /// The frames of one request packet on `stream_id` (handshake, an open data window for the
    /// answer, money when `amount` > 0, the request bytes at `offset`); returns the least the
    /// receiver must get for `amount` at the measured rate.
    fn push_request_frames(
        &mut self,
        stream_id: u64,
        offset: u64,
        data: Bytes,
        amount: u64,
    ) -> u64 {
        let min_dest = if amount > 0 {
            self.min_rate.map_or(0, |r| r.apply(amount))
        } else {
            0
        };
        self.frames.clear();
        self.push_handshake_frames();
        self.frames.push(Frame::StreamMaxData(StreamMaxDataFrame {
            stream_id,
            max_offset: u64::MAX,
        }));
        if amount > 0 {
            self.frames.push(Frame::StreamMoney(StreamMoneyFrame {
                stream_id,
                shares: 1,
            }));
        }
        self.frames.push(Frame::StreamData(StreamDataFrame {
            stream_id,
            offset,
            data,
        }));
        min_dest
    }

    fn push_handshake_frames(&mut self) {
        if self.told_address {
            return;
        }
        self.frames
            .push(Frame::ConnectionNewAddress(ConnectionNewAddressFrame {
                source_account: self
                    .config
                    .source_address
                    .as_ref()
                    .map_or_else(String::new, |a| a.as_str().to_string()),
            }));
        if let Some((code, scale)) = &self.config.source_asset {
            self.frames
                .push(Frame::ConnectionAssetDetails(ConnectionAssetDetailsFrame {
                    source_asset_code: code.clone(),
                    source_asset_scale: *scale,
                }));
        }
        // We accept data back (ILP-native delivery): open the windows wide.
        self.frames
            .push(Frame::ConnectionMaxData(ConnectionMaxDataFrame {
                max_offset: u64::MAX,
            }));
        self.frames.push(Frame::StreamMaxData(StreamMaxDataFrame {
            stream_id: self.config.stream_id,
            max_offset: u64::MAX,
        }));
    }

    fn learn_max_packet(&mut self, sent: u64, data: &[u8]) {
        // F08 data: amount the rejecting hop received and its maximum, in its units.
        let learned = tollcast_wire::error_code::AmountTooLarge::decode(data)
            .ok()
            .filter(|d| d.received_amount > 0)
            .map(|d| (sent as u128 * d.maximum_amount as u128 / d.received_amount as u128) as u64);
        self.max_packet_amount = match learned {
            Some(m) if m < sent => m,
            // No usable data: halve.
            _ => sent / 2,
        };
    }

    /// A request packet the receiver rejected (`attempts` so far): retried (Ok) only when the
    /// rate moved within slippage of the first probe; anything else is the request's answer.
    fn retry_after_receiver_reject(
        &mut self,
        amount: u64,
        arrived: u64,
        message: String,
        attempts: u32,
    ) -> Result<(), StreamSendError> {
        if self.closed {
            return Err(StreamSendError::ClosedByReceiver(message));
        }
        if message != super::receiver::BELOW_MINIMUM {
            return Err(StreamSendError::Refused(message));
        }
        let now = Rate {
            sent: amount,
            delivered: arrived,
        };
        if let Some(min) = self.min_rate
            && !now.better_or_equal(&min)
        {
            return Err(StreamSendError::RateTooLow {
                sent: amount,
                delivered: arrived,
            });
        }
        self.rate = Some(now);
        if attempts >= self.config.max_attempts {
            return Err(StreamSendError::Refused(message));
        }
        Ok(())
    }

    /// A reject from the path: final codes end the send, temporary ones are retried after a
    /// backoff until `max_attempts`.
    async fn retry_after_path_reject(
        &self,
        attempts: &mut u32,
        code: IlpErrorCode,
        message: String,
        triggered_by: String,
    ) -> Result<(), StreamSendError> {
        *attempts += 1;
        if code.class() == ErrorClass::Final {
            return Err(StreamSendError::Rejected {
                code,
                message,
                triggered_by,
            });
        }
        if *attempts >= self.config.max_attempts {
            return Err(StreamSendError::RetriesExhausted {
                attempts: *attempts,
                code,
                message,
            });
        }
        self.backoff(*attempts).await;
        Ok(())
    }

    async fn backoff(&self, attempt: u32) {
        let d = self
            .config
            .initial_backoff
            .saturating_mul(1 << attempt.min(10));
        tokio::time::sleep(d.min(Duration::from_secs(1))).await;
    }

    /// Sends one PREPARE carrying `self.frames`; updates flow-control state from the reply.
    async fn send_packet(
        &mut self,
        amount: u64,
        min_dest: u64,
        fulfillable: bool,
    ) -> Result<Outcome, StreamSendError> {
        let (sequence, prepare) = self.build_prepare(amount, min_dest, fulfillable)?;
        let condition = prepare.execution_condition;
        let reply = self
            .service
            .handle(IncomingRequest {
                from: self.config.from.clone(),
                prepare,
            })
            .await;
        self.apply_reply(reply, sequence, condition, amount, fulfillable)
    }

    /// Encrypts `self.frames` into the next PREPARE (takes a sequence number).
    fn build_prepare(
        &mut self,
        amount: u64,
        min_dest: u64,
        fulfillable: bool,
    ) -> Result<(u64, Prepare), StreamSendError> {
        if self.next_sequence >= MAX_PACKETS_PER_CONNECTION {
            return Err(StreamSendError::SequenceExhausted);
        }
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let mut packet = StreamPacket::new(sequence, IlpPacketType::Prepare, min_dest);
        packet.frames = std::mem::take(&mut self.frames);
        let data = Bytes::from(packet.encrypt_and_encode(&self.keys));
        self.frames = std::mem::take(&mut packet.frames);
        let condition = if fulfillable {
            self.keys.condition(&data)
        } else {
            random_condition()
        };
        let prepare = Prepare {
            amount,
            expires_at: SystemTime::now() + self.config.packet_timeout,
            execution_condition: condition,
            destination: self.config.destination.clone(),
            data,
        };
        Ok((sequence, prepare))
    }

    /// Checks and applies the reply to the PREPARE `sequence` (its condition, amount).
    fn apply_reply(
        &mut self,
        reply: crate::connector::IlpReply,
        sequence: u64,
        condition: [u8; 32],
        amount: u64,
        fulfillable: bool,
    ) -> Result<Outcome, StreamSendError> {
        match reply {
            Ok(fulfill) => {
                if !fulfillable || condition_for_fulfillment(&fulfill.fulfillment) != condition {
                    return Err(StreamSendError::Protocol(
                        "FULFILL does not match the condition".into(),
                    ));
                }
                self.told_address = true;
                let delivered =
                    match self.read_reply(&fulfill.data, sequence, IlpPacketType::Fulfill) {
                        Some(arrived) => arrived,
                        // A fulfill without a readable reply: assume the rate held.
                        None => self.rate.map_or(amount, |r| r.apply(amount)),
                    };
                Ok(Outcome::Fulfilled { delivered })
            }
            Err(reject) => match self.read_reply(&reject.data, sequence, IlpPacketType::Reject) {
                Some(arrived) => {
                    self.told_address = true;
                    Ok(Outcome::ReceiverReject {
                        arrived,
                        message: reject.message,
                    })
                }
                None => Ok(Outcome::PathReject {
                    code: reject.code,
                    message: reject.message,
                    triggered_by: reject
                        .triggered_by
                        .map_or_else(String::new, |a| a.as_str().to_string()),
                    data: reject.data,
                }),
            },
        }
    }

    /// Decrypts and applies the receiver's STREAM reply; returns the amount that arrived, or
    /// None if the data is not an authentic reply to `sequence`.
    fn read_reply(&mut self, data: &[u8], sequence: u64, kind: IlpPacketType) -> Option<u64> {
        if data.is_empty() {
            return None;
        }
        let reply = StreamPacket::decrypt_and_decode(&self.keys, data).ok()?;
        if reply.sequence != sequence || reply.ilp_packet_type != kind {
            return None;
        }
        for f in &reply.frames {
            match f {
                Frame::ConnectionAssetDetails(a) if self.remote_asset.is_none() => {
                    self.remote_asset = Some((a.source_asset_code.clone(), a.source_asset_scale));
                }
                Frame::StreamMaxMoney(m) if m.stream_id == self.config.stream_id => {
                    self.remote_receive_max = Some(m.receive_max);
                    self.remote_total_received = self.remote_total_received.max(m.total_received);
                }
                Frame::StreamMaxData(m) if m.stream_id == self.config.stream_id => {
                    self.remote_max_data = self.remote_max_data.max(m.max_offset);
                }
                Frame::ConnectionClose(_) => self.closed = true,
                // The answer to the request this reply belongs to (authenticated by its
                // sequence). Pipelined requests are answered in whatever order the receiver
                // processed them, so the offset only moves the high-water mark.
                Frame::StreamData(d) if Some(d.stream_id) == self.request_stream => {
                    let next = self.request_offsets.entry(d.stream_id).or_default();
                    self.reply_data.extend_from_slice(&d.data);
                    next.1 = next.1.max(d.offset.saturating_add(d.data.len() as u64));
                }
                Frame::StreamClose(c) if c.stream_id == self.config.stream_id => self.closed = true,
                // In-order delivery only: the receiver sends each byte once, in order.
                Frame::StreamData(d)
                    if d.stream_id == self.config.stream_id && d.offset == self.incoming_offset =>
                {
                    self.incoming_data.extend_from_slice(&d.data);
                    self.incoming_offset += d.data.len() as u64;
                }
                _ => {}
            }
        }
        Some(reply.prepare_amount)
    }
}

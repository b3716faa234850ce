//! STREAM receiver (server side of RFC 0029): an [`IlpService`] that fulfills PREPAREs whose
//! STREAM packet decrypts under a connection's shared secret and whose amount meets the
//! minimum the sender asked for, within each stream's receive-max.
//!
//! Shared secrets are derived statelessly from one server secret and the connection token in
//! the destination address (ilp-protocol-stream's format, see [`ServerSecret`]), so any JS or
//! Rust STREAM sender that got credentials from [`StreamReceiver::generate_credentials`] can
//! pay. Per-connection state (totals per stream, data reassembly, flow-control windows) is
//! created only after a packet authenticates, and is bounded (idle connections are evicted).
//!
//! Every authentic packet gets an encrypted STREAM reply: in the FULFILL, or in an F99 REJECT
//! when the packet cannot be fulfilled (rate probes with a random condition, amount below the
//! minimum, receive-max exceeded). Bad input (wrong secret, tampered data, wrong condition,
//! past expiry) credits nothing.
//!
//! Request/response (ILP-native delivery): with a [`Responder`] set, an authentic, fulfillable
//! packet that carries `StreamData` is first shown to the responder (connection, tag, amount,
//! the data frames). Its answer rides back as `StreamData` in the FULFILL of that very packet,
//! or it refuses and the packet is rejected (F99) with nothing in it: payment and delivery are
//! atomic, one packet at a time. Answered request data is consumed by the answer (not
//! buffered or published as stream data), so a sender may pipeline requests: any order, and a
//! refused one leaves no gap in the stream.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::broadcast;
use tollcast_wire::address::Address;
use tollcast_wire::error_code::ErrorCode as IlpErrorCode;
use tollcast_wire::ilp::{Fulfill, MAX_DATA_LEN, Prepare, Reject};
use tollcast_wire::stream::{
    ConnectionAssetDetailsFrame, ConnectionCloseFrame, ConnectionMaxDataFrame, ConnectionOptions,
    ENCRYPTION_OVERHEAD, ErrorCode, Frame, IlpPacketType, ServerSecret, StreamDataFrame,
    StreamKeys, StreamMaxDataFrame, StreamMaxMoneyFrame, StreamPacket, condition_for_fulfillment,
    connection_token_from_destination,
};

use crate::connector::{IlpReply, IlpService, IncomingRequest};

/// Most response bytes one FULFILL carries for a [`Responder`]: the ILP data limit less the
/// STREAM envelope and room for the control frames of the reply.
pub const MAX_RESPONSE_BYTES: usize = MAX_DATA_LEN - ENCRYPTION_OVERHEAD - 256;

/// What a [`Responder`] is shown: one authentic, fulfillable packet that carries data.
#[derive(Debug, Clone)]
pub struct ResponderRequest {
    /// Connection id (the token in the destination address).
    pub connection: Arc<str>,
    /// The credentials' tag, if any.
    pub tag: Option<Arc<str>>,
    /// The PREPARE amount (receiver's units): what fulfilling this packet credits.
    pub amount: u64,
    /// The packet's non-empty `StreamData` frames: (stream id, offset, bytes).
    pub data: Vec<(u64, u64, Bytes)>,
    /// Most bytes a [`ResponderReply::Reply`] may carry ([`MAX_RESPONSE_BYTES`]).
    pub max_reply: usize,
}

/// A [`Responder`]'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponderReply {
    /// Not a request: process the packet as usual.
    Pass,
    /// Fulfill the packet (if the usual checks pass) with `data` sent back on `stream_id`
    /// (at most [`ResponderRequest::max_reply`] bytes; longer answers are refused).
    Reply {
        /// Stream the answer goes back on (normally the request's stream).
        stream_id: u64,
        /// The answer.
        data: Bytes,
    },
    /// Reject the packet (F99, this message, nothing credited, no data).
    Refuse(String),
}

/// Answers requests that arrive as STREAM data, inside the FULFILL of the packet that carried
/// (and paid for) them. Must not have side effects a rejected packet would leave behind: the
/// packet may still be rejected after the answer (e.g. amount below the sender's minimum).
pub trait Responder: Send + Sync + 'static {
    /// The answer to one packet.
    fn respond(&self, req: ResponderRequest) -> BoxFuture<'static, ResponderReply>;
}

/// A decrypted, authenticated PREPARE, before any state changed.
struct Opened {
    token: Arc<str>,
    keys: StreamKeys,
    /// Tag from the token (None: connection already known, its state has the tag).
    new_tag: Option<Option<Arc<str>>>,
    tag: Option<Arc<str>>,
    packet: StreamPacket,
    fulfillment: [u8; 32],
    fulfillable: bool,
}

/// How a [`StreamReceiver`] behaves.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The receiver's ILP address; connection tokens are appended to it.
    pub server_address: Address,
    /// Asset the receiver counts in (announced to senders in `ConnectionAssetDetails`).
    pub asset_code: String,
    /// Asset scale (decimal places of the base unit).
    pub asset_scale: u8,
    /// Most money one stream accepts in total (`u64::MAX`: unlimited).
    pub receive_max_per_stream: u64,
    /// Bytes of not-yet-read data one stream may buffer (advertised as `StreamMaxData`).
    pub data_window_per_stream: u64,
    /// Connections kept in memory; the least recently used is dropped beyond this.
    pub max_connections: usize,
    /// Highest stream id a sender may open (ids are odd for client streams).
    pub max_stream_id: u64,
}

impl ReceiverConfig {
    /// Defaults: unlimited receive-max, 1 MiB data window, 10,000 connections.
    pub fn new(server_address: Address, asset_code: impl Into<String>, asset_scale: u8) -> Self {
        Self {
            server_address,
            asset_code: asset_code.into(),
            asset_scale,
            receive_max_per_stream: u64::MAX,
            data_window_per_stream: 1 << 20,
            max_connections: 10_000,
            max_stream_id: 1_001,
        }
    }
}

/// Something that happened on a connection, published to [`StreamReceiver::subscribe`]rs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiverEvent {
    /// A fulfilled packet credited money to a stream.
    Money {
        /// Connection id (the token in the destination address).
        connection: Arc<str>,
        /// The tag given to [`StreamReceiver::generate_credentials`], if any.
        tag: Option<Arc<str>>,
        /// Stream.
        stream_id: u64,
        /// Amount credited by this packet (receiver's units).
        amount: u64,
        /// Stream total after this packet.
        stream_total: u64,
        /// Connection total after this packet.
        connection_total: u64,
    },
    /// In-order bytes arrived on a stream.
    Data {
        /// Connection id.
        connection: Arc<str>,
        /// Tag, if any.
        tag: Option<Arc<str>>,
        /// Stream.
        stream_id: u64,
        /// The bytes (in order, each byte delivered once).
        data: Bytes,
    },
    /// The sender closed the connection.
    Closed {
        /// Connection id.
        connection: Arc<str>,
        /// Tag, if any.
        tag: Option<Arc<str>>,
        /// Why (STREAM error code byte) and the message.
        code: u8,
        /// Human-readable reason.
        message: String,
    },
}

/// Totals of one connection, from [`StreamReceiver::connection_totals`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionTotals {
    /// Money received on the whole connection.
    pub total_received: u64,
    /// Money per stream.
    pub streams: BTreeMap<u64, u64>,
    /// Fulfilled packets.
    pub packets: u64,
    /// Whether the sender closed it.
    pub closed: bool,
}

#[derive(Debug, Default)]
struct RecvStream {
    received: u64,
    /// Next in-order byte offset to deliver.
    data_delivered: u64,
    /// Out-of-order fragments by offset.
    pending: BTreeMap<u64, Bytes>,
    /// Bytes held in `pending` (bounded by the data window).
    pending_bytes: u64,
    /// Highest `StreamMaxData` we advertised (never shrinks).
    data_max_advertised: u64,
    /// Data we send back on this stream (ILP-native delivery).
    send_offset: u64,
    /// The sender's advertised window for our data (None: not told yet).
    remote_max_data: Option<u64>,
    closed: bool,
}

struct ConnState {
    id: Arc<str>,
    tag: Option<Arc<str>>,
    keys: StreamKeys,
    streams: BTreeMap<u64, RecvStream>,
    total_received: u64,
    packets: u64,
    closed: bool,
    sent_asset_details: bool,
    remote_address: Option<String>,
    last_seen: Instant,
    /// Bytes queued to ride back in FULFILLs, per stream, in order.
    outgoing: VecDeque<(u64, Bytes)>,
}

/// The STREAM server. Cheap to share (`Arc`); register it with the connector as the local
/// handler of its `server_address` prefix.
pub struct StreamReceiver {
    config: ReceiverConfig,
    secret: ServerSecret,
    conns: Mutex<HashMap<Arc<str>, ConnState>>,
    events: broadcast::Sender<ReceiverEvent>,
    responder: Mutex<Option<Arc<dyn Responder>>>,
}

impl std::fmt::Debug for StreamReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReceiver")
            .field("server_address", &self.config.server_address)
            .finish_non_exhaustive()
    }
}

/// Reasons a packet is rejected with an encrypted STREAM reply (F99).
enum Refusal {
    Unfulfillable,
    BelowMinimum,
    ReceiveMax,
    NoStream,
    Closed,
    Violation(ErrorCode, &'static str),
    /// The [`Responder`] refused the request.
    Responder(String),
}

impl StreamReceiver {
    /// A receiver with a fresh random server secret.
    pub fn new(config: ReceiverConfig) -> Self {
        Self::with_secret(config, rand::random())
    }

    /// A receiver whose credentials survive restarts (same `server_secret`, same tokens).
    pub fn with_secret(config: ReceiverConfig, server_secret: [u8; 32]) -> Self {
        let (events, _) = broadcast::channel(1024);
        Self {
            config,
            secret: ServerSecret::new(server_secret),
            conns: Mutex::new(HashMap::new()),
            events,
            responder: Mutex::new(None),
        }
    }

    /// Creates a receiver at `<node address>.<segment>` and registers it with the node's
    /// connector as the local handler of that prefix: the usual way an agent receives STREAM
    /// payments. Pass a stored `server_secret` so credentials survive restarts.
    pub fn attach(
        connector: &crate::connector::Connector,
        segment: &str,
        asset_code: &str,
        asset_scale: u8,
        server_secret: Option<[u8; 32]>,
    ) -> Result<Arc<Self>, tollcast_wire::address::AddressError> {
        let address = connector.address().with_suffix(segment)?;
        let config = ReceiverConfig::new(address.clone(), asset_code, asset_scale);
        let r = Arc::new(match server_secret {
            Some(s) => Self::with_secret(config, s),
            None => Self::new(config),
        });
        connector.add_local_handler(address.as_str().to_string(), r.clone());
        Ok(r)
    }

    /// The receiver's configuration.
    pub fn config(&self) -> &ReceiverConfig {
        &self.config
    }

    /// New credentials `(destination_account, shared_secret)` for one sender; `tag` (ASCII,
    /// e.g. a viewer id) comes back in every [`ReceiverEvent`] of that connection.
    pub fn generate_credentials(&self, tag: Option<&str>) -> (Address, [u8; 32]) {
        let creds = self.secret.generate_address_and_secret(
            self.config.server_address.as_str(),
            &ConnectionOptions {
                connection_tag: tag.map(str::to_string),
                receipt: None,
            },
        );
        let addr = Address::new(&creds.destination_account)
            .expect("server address plus a base64url segment is a valid ILP address");
        (addr, creds.shared_secret)
    }

    /// Events of all connections. Slow subscribers lag (they miss events, never block
    /// payments); [`Self::connection_totals`] is the authoritative count.
    pub fn subscribe(&self) -> broadcast::Receiver<ReceiverEvent> {
        self.events.subscribe()
    }

    /// Totals of the connection whose destination address was `destination` (or whose
    /// connection id is `destination`).
    pub fn connection_totals(&self, destination: &str) -> Option<ConnectionTotals> {
        let id =
            connection_token_from_destination(self.config.server_address.as_str(), destination)
                .unwrap_or(destination);
        let conns = self.conns.lock().expect("receiver lock");
        let c = conns.get(id)?;
        Some(ConnectionTotals {
            total_received: c.total_received,
            streams: c.streams.iter().map(|(id, s)| (*id, s.received)).collect(),
            packets: c.packets,
            closed: c.closed,
        })
    }

    /// Sum of money received over all connections in memory.
    pub fn total_received(&self) -> u128 {
        let conns = self.conns.lock().expect("receiver lock");
        conns.values().map(|c| c.total_received as u128).sum()
    }

    /// Queues bytes to send back to the sender on `stream_id`; they ride in the FULFILLs of
    /// the sender's next packets (ILP-native delivery). Returns false if the connection is
    /// unknown or closed.
    pub fn queue_data(&self, destination: &str, stream_id: u64, data: Bytes) -> bool {
        let id =
            connection_token_from_destination(self.config.server_address.as_str(), destination)
                .unwrap_or(destination);
        let mut conns = self.conns.lock().expect("receiver lock");
        match conns.get_mut(id) {
            Some(c) if !c.closed => {
                c.outgoing.push_back((stream_id, data));
                true
            }
            _ => false,
        }
    }

    /// Answers data-carrying packets from now on (ILP-native delivery, see the module doc);
    /// `None` turns it off. Applies to every connection; the responder sees each packet's
    /// connection id and tag, so it can serve each connection its own way.
    pub fn set_responder(&self, responder: Option<Arc<dyn Responder>>) {
        *self.responder.lock().expect("receiver lock") = responder;
    }

    fn current_responder(&self) -> Option<Arc<dyn Responder>> {
        self.responder.lock().expect("receiver lock").clone()
    }

    fn plain_reject(&self, code: IlpErrorCode, message: &str) -> Reject {
        Reject::new(code, Some(self.config.server_address.clone()), message)
    }

    /// Handles one PREPARE synchronously. With a [`Responder`] set, data-carrying packets are
    /// refused here (the responder is asynchronous: use the [`IlpService`] impl).
    pub fn handle_prepare(&self, prepare: &Prepare) -> IlpReply {
        let opened = self.open(prepare)?;
        let response = if self.current_responder().is_some() && carries_data(&opened.packet) {
            Some(ResponderReply::Refuse(
                "requests are answered by the asynchronous handler only".into(),
            ))
        } else {
            None
        };
        self.finish(prepare, opened, response)
    }

    /// Handles one PREPARE, asking the [`Responder`] (if any) about data-carrying packets.
    pub async fn handle_prepare_async(&self, prepare: &Prepare) -> IlpReply {
        let opened = self.open(prepare)?;
        let mut response = None;
        if opened.fulfillable
            && let Some(responder) = self.current_responder()
            && carries_data(&opened.packet)
        {
            let data = opened
                .packet
                .frames
                .iter()
                .filter_map(|f| match f {
                    Frame::StreamData(d) if !d.data.is_empty() => {
                        Some((d.stream_id, d.offset, d.data.clone()))
                    }
                    _ => None,
                })
                .collect();
            let req = ResponderRequest {
                connection: opened.token.clone(),
                tag: opened.tag.clone(),
                amount: prepare.amount,
                data,
                max_reply: MAX_RESPONSE_BYTES,
            };
            response = Some(responder.respond(req).await);
        }
        self.finish(prepare, opened, response)
    }

    /// Checks expiry and address, opens the connection token and decrypts the packet; changes
    /// no state.
    fn open(&self, prepare: &Prepare) -> Result<Opened, Reject> {
        if prepare.expires_at <= SystemTime::now() {
            return Err(self.plain_reject(IlpErrorCode::R00_TRANSFER_TIMED_OUT, "packet expired"));
        }
        let server = self.config.server_address.as_str();
        let Some(token) = connection_token_from_destination(server, prepare.destination.as_str())
        else {
            return Err(self.plain_reject(
                IlpErrorCode::F02_UNREACHABLE,
                "no STREAM connection token in address",
            ));
        };
        // Known connection: reuse its keys. Unknown: open the token (does not create state).
        let cached = {
            let conns = self.conns.lock().expect("receiver lock");
            conns.get(token).map(|c| (c.keys.clone(), c.tag.clone()))
        };
        let (keys, new_tag, tag) = match cached {
            Some((k, tag)) => (k, None, tag),
            None => match self.secret.open_token(token) {
                Ok(t) => {
                    let tag = t.connection_tag.map(Arc::<str>::from);
                    (
                        StreamKeys::from_shared_secret(&t.shared_secret),
                        Some(tag.clone()),
                        tag,
                    )
                }
                Err(_) => {
                    return Err(self
                        .plain_reject(IlpErrorCode::F06_UNEXPECTED_PAYMENT, "unknown connection"));
                }
            },
        };
        let packet = match StreamPacket::decrypt_and_decode(&keys, &prepare.data) {
            Ok(p) if p.ilp_packet_type == IlpPacketType::Prepare => p,
            _ => {
                return Err(self.plain_reject(
                    IlpErrorCode::F06_UNEXPECTED_PAYMENT,
                    "data is not a STREAM prepare for this connection",
                ));
            }
        };
        let fulfillment = keys.fulfillment(&prepare.data);
        let fulfillable = condition_for_fulfillment(&fulfillment) == prepare.execution_condition;
        Ok(Opened {
            token: Arc::from(token),
            keys,
            new_tag,
            tag,
            packet,
            fulfillment,
            fulfillable,
        })
    }

    /// Applies an opened packet (and the responder's answer, if asked) under the lock.
    fn finish(
        &self,
        prepare: &Prepare,
        opened: Opened,
        response: Option<ResponderReply>,
    ) -> IlpReply {
        let Opened {
            token,
            keys,
            new_tag,
            packet,
            fulfillment,
            fulfillable,
            ..
        } = opened;
        let mut events = Vec::new();
        let reply = {
            let mut conns = self.conns.lock().expect("receiver lock");
            if !conns.contains_key(&token) {
                self.evict_if_full(&mut conns);
                conns.insert(
                    token.clone(),
                    ConnState {
                        id: token.clone(),
                        tag: new_tag.flatten(),
                        keys,
                        streams: BTreeMap::new(),
                        total_received: 0,
                        packets: 0,
                        closed: false,
                        sent_asset_details: false,
                        remote_address: None,
                        last_seen: Instant::now(),
                        outgoing: VecDeque::new(),
                    },
                );
            }
            let conn = conns.get_mut(&token).expect("inserted above");
            conn.last_seen = Instant::now();
            self.process(conn, prepare, &packet, fulfillable, response, &mut events)
        };
        for e in events {
            let _ = self.events.send(e);
        }
        match reply {
            Ok(data) => Ok(Fulfill { fulfillment, data }),
            Err((code, message, data)) => Err(Reject {
                code,
                triggered_by: Some(self.config.server_address.clone()),
                message,
                data,
            }),
        }
    }

    fn evict_if_full(&self, conns: &mut HashMap<Arc<str>, ConnState>) {
        if conns.len() < self.config.max_connections.max(1) {
            return;
        }
        // Closed connections first, else the least recently used one.
        let victim = conns
            .values()
            .min_by_key(|c| (!c.closed, c.last_seen))
            .map(|c| c.id.clone());
        if let Some(v) = victim {
            conns.remove(&v);
        }
    }

    /// Applies a decrypted packet to the connection; returns the encrypted reply data for a
    /// FULFILL, or the reject (code, message, data).
    fn process(
        &self,
        conn: &mut ConnState,
        prepare: &Prepare,
        packet: &StreamPacket,
        fulfillable: bool,
        response: Option<ResponderReply>,
        events: &mut Vec<ReceiverEvent>,
    ) -> Result<Bytes, (IlpErrorCode, String, Bytes)> {
        let amount = prepare.amount;
        let mut wants_details = !conn.sent_asset_details;
        let mut close: Option<(ErrorCode, String)> = None;
        // Informational frames take effect even if the packet is not fulfilled (they are
        // authentic); money and data only with a FULFILL.
        for f in &packet.frames {
            match f {
                Frame::ConnectionNewAddress(a) => {
                    wants_details = true;
                    if !a.source_account.is_empty() {
                        conn.remote_address = Some(a.source_account.clone());
                    }
                }
                Frame::ConnectionAssetDetails(_) => wants_details = true,
                Frame::ConnectionClose(c) if !conn.closed => {
                    close = Some((c.code, c.message.clone()));
                }
                // Only for streams that exist or may exist (no state for arbitrary ids).
                Frame::StreamMaxData(m)
                    if m.stream_id <= self.config.max_stream_id
                        || conn.streams.contains_key(&m.stream_id) =>
                {
                    let s = conn.streams.entry(m.stream_id).or_default();
                    s.remote_max_data = Some(s.remote_max_data.unwrap_or(0).max(m.max_offset));
                }
                Frame::StreamClose(c) => {
                    if let Some(s) = conn.streams.get_mut(&c.stream_id) {
                        s.closed = true;
                    }
                }
                _ => {}
            }
        }
        if let Some((code, message)) = close {
            conn.closed = true;
            events.push(ReceiverEvent::Closed {
                connection: conn.id.clone(),
                tag: conn.tag.clone(),
                code: code.to_u8(),
                message,
            });
        }

        // A request the responder answered is consumed by its answer: not stream data to
        // buffer or deliver. So pipelined requests may arrive in any order, and one refused in
        // the middle leaves no gap that would stall the stream's window.
        let answered = matches!(response, Some(ResponderReply::Reply { .. }));
        let mut refusal = self.check(conn, prepare, packet, fulfillable, answered);
        let mut answer = None;
        if refusal.is_ok() {
            match response {
                Some(ResponderReply::Refuse(m)) => refusal = Err(Refusal::Responder(m)),
                Some(ResponderReply::Reply { data, .. }) if data.len() > MAX_RESPONSE_BYTES => {
                    refusal = Err(Refusal::Responder(
                        "the answer is too large for one packet".into(),
                    ))
                }
                Some(ResponderReply::Reply { stream_id, data }) => answer = Some((stream_id, data)),
                Some(ResponderReply::Pass) | None => {}
            }
        }
        let mut reply_frames: Vec<Frame> = Vec::new();
        if wants_details {
            reply_frames.push(Frame::ConnectionAssetDetails(ConnectionAssetDetailsFrame {
                source_asset_code: self.config.asset_code.clone(),
                source_asset_scale: self.config.asset_scale,
            }));
            conn.sent_asset_details = true;
        }
        if let Err(refusal) = refusal {
            if let Refusal::Violation(code, msg) = refusal {
                conn.closed = true;
                reply_frames.push(Frame::ConnectionClose(ConnectionCloseFrame {
                    code,
                    message: msg.to_string(),
                }));
            } else if matches!(refusal, Refusal::Closed) {
                reply_frames.push(Frame::ConnectionClose(ConnectionCloseFrame {
                    code: ErrorCode::NoError,
                    message: String::new(),
                }));
            }
            self.push_money_windows(conn, packet, &mut reply_frames);
            let reply = self.seal(
                conn,
                packet.sequence,
                IlpPacketType::Reject,
                amount,
                reply_frames,
            );
            let message = match refusal {
                Refusal::Unfulfillable => String::new(),
                Refusal::BelowMinimum => BELOW_MINIMUM.to_string(),
                Refusal::ReceiveMax => "stream receive-max exceeded".to_string(),
                Refusal::NoStream => "money without a StreamMoney frame".to_string(),
                Refusal::Closed => "connection closed".to_string(),
                Refusal::Violation(_, m) => m.to_string(),
                Refusal::Responder(m) => m,
            };
            return Err((IlpErrorCode::F99_APPLICATION_ERROR, message, reply));
        }

        // Commit money.
        if amount > 0 {
            let credits = split_money(packet, amount);
            conn.total_received += amount;
            for (stream_id, credit) in credits {
                let s = conn.streams.entry(stream_id).or_default();
                s.received += credit;
                events.push(ReceiverEvent::Money {
                    connection: conn.id.clone(),
                    tag: conn.tag.clone(),
                    stream_id,
                    amount: credit,
                    stream_total: s.received,
                    connection_total: conn.total_received,
                });
            }
        }
        conn.packets += 1;

        // Commit data (reassemble in order; duplicates and already-delivered bytes ignored).
        for f in &packet.frames {
            if let Frame::StreamData(d) = f
                && !answered
            {
                let s = conn.streams.entry(d.stream_id).or_default();
                if d.data.is_empty() {
                    continue;
                }
                if d.offset >= s.data_delivered && !s.pending.contains_key(&d.offset) {
                    s.pending_bytes += d.data.len() as u64;
                    s.pending.insert(d.offset, d.data.clone());
                }
                while let Some(chunk) = s.pending.remove(&s.data_delivered) {
                    s.pending_bytes -= chunk.len() as u64;
                    s.data_delivered += chunk.len() as u64;
                    events.push(ReceiverEvent::Data {
                        connection: conn.id.clone(),
                        tag: conn.tag.clone(),
                        stream_id: d.stream_id,
                        data: chunk,
                    });
                }
            }
        }

        self.push_money_windows(conn, packet, &mut reply_frames);
        // Data windows: the application consumes events as they are published, so the window
        // slides with what was delivered.
        for f in &packet.frames {
            if let Frame::StreamData(d) = f
                && !answered
            {
                let window = self.config.data_window_per_stream;
                let s = conn.streams.entry(d.stream_id).or_default();
                let max = s
                    .data_delivered
                    .saturating_add(window)
                    .max(s.data_max_advertised);
                s.data_max_advertised = max;
                reply_frames.push(Frame::StreamMaxData(StreamMaxDataFrame {
                    stream_id: d.stream_id,
                    max_offset: max,
                }));
            }
        }
        match answer {
            // The answer to this packet's request rides in its FULFILL (queued data waits).
            Some((stream_id, data)) => {
                let s = conn.streams.entry(stream_id).or_default();
                reply_frames.push(Frame::StreamData(StreamDataFrame {
                    stream_id,
                    offset: s.send_offset,
                    data: data.clone(),
                }));
                s.send_offset += data.len() as u64;
            }
            None => self.attach_outgoing(conn, &mut reply_frames),
        }
        Ok(self.seal(
            conn,
            packet.sequence,
            IlpPacketType::Fulfill,
            amount,
            reply_frames,
        ))
    }

    /// Checks a packet against the rules without changing any money or data state.
    fn check(
        &self,
        conn: &ConnState,
        prepare: &Prepare,
        packet: &StreamPacket,
        fulfillable: bool,
        answered: bool,
    ) -> Result<(), Refusal> {
        if conn.closed {
            return Err(Refusal::Closed);
        }
        let mut total_shares: u128 = 0;
        for f in &packet.frames {
            match f {
                Frame::StreamMoney(m) if m.stream_id == 0 => {
                    return Err(Refusal::Violation(
                        ErrorCode::ProtocolViolation,
                        "stream id 0",
                    ));
                }
                Frame::StreamMoney(m) => {
                    self.check_stream_id(conn, m.stream_id)?;
                    if m.stream_id % 2 == 0 && !conn.streams.contains_key(&m.stream_id) {
                        return Err(Refusal::Violation(
                            ErrorCode::ProtocolViolation,
                            "client opened an even-numbered stream",
                        ));
                    }
                    total_shares += m.shares as u128;
                }
                Frame::StreamData(d) => {
                    self.check_stream_id(conn, d.stream_id)?;
                    if d.stream_id % 2 == 0 && !conn.streams.contains_key(&d.stream_id) {
                        return Err(Refusal::Violation(
                            ErrorCode::ProtocolViolation,
                            "client opened an even-numbered stream",
                        ));
                    }
                    if answered {
                        // Consumed by the answer, never buffered: no window to check.
                        continue;
                    }
                    let s = conn.streams.get(&d.stream_id);
                    let delivered = s.map_or(0, |s| s.data_delivered);
                    let advertised = s.map_or(0, |s| s.data_max_advertised);
                    let limit = advertised
                        .max(delivered.saturating_add(self.config.data_window_per_stream));
                    let end = d.offset.checked_add(d.data.len() as u64);
                    let pending = s.map_or(0, |s| s.pending_bytes);
                    let buffered = pending.saturating_add(d.data.len() as u64);
                    if end.is_none_or(|e| e > limit)
                        || buffered > self.config.data_window_per_stream
                    {
                        return Err(Refusal::Violation(
                            ErrorCode::FlowControlError,
                            "stream data window exceeded",
                        ));
                    }
                }
                _ => {}
            }
        }
        if !fulfillable {
            return Err(Refusal::Unfulfillable);
        }
        if prepare.amount < packet.prepare_amount {
            return Err(Refusal::BelowMinimum);
        }
        if prepare.amount > 0 {
            if total_shares == 0 {
                return Err(Refusal::NoStream);
            }
            for (stream_id, part) in split_money(packet, prepare.amount) {
                let s = conn.streams.get(&stream_id);
                if s.is_some_and(|s| s.closed) {
                    return Err(Refusal::Closed);
                }
                let have = s.map_or(0, |s| s.received);
                if have
                    .checked_add(part)
                    .is_none_or(|t| t > self.config.receive_max_per_stream)
                {
                    return Err(Refusal::ReceiveMax);
                }
            }
        }
        Ok(())
    }

    fn check_stream_id(&self, conn: &ConnState, id: u64) -> Result<(), Refusal> {
        if id > self.config.max_stream_id && !conn.streams.contains_key(&id) {
            return Err(Refusal::Violation(
                ErrorCode::StreamIdError,
                "stream id above the limit",
            ));
        }
        Ok(())
    }

    fn push_money_windows(&self, conn: &ConnState, packet: &StreamPacket, out: &mut Vec<Frame>) {
        for f in &packet.frames {
            if let Frame::StreamMoney(m) = f {
                if out
                    .iter()
                    .any(|o| matches!(o, Frame::StreamMaxMoney(x) if x.stream_id == m.stream_id))
                {
                    continue;
                }
                out.push(Frame::StreamMaxMoney(StreamMaxMoneyFrame {
                    stream_id: m.stream_id,
                    receive_max: self.config.receive_max_per_stream,
                    total_received: conn.streams.get(&m.stream_id).map_or(0, |s| s.received),
                }));
            }
        }
    }

    /// Moves queued outgoing bytes into the reply, within the sender's window and the ILP
    /// data limit.
    fn attach_outgoing(&self, conn: &mut ConnState, frames: &mut Vec<Frame>) {
        if conn.outgoing.is_empty() {
            return;
        }
        frames.push(Frame::ConnectionMaxData(ConnectionMaxDataFrame {
            max_offset: u64::MAX,
        }));
        // Leave room for the envelope, header and the frames already there.
        let mut budget = MAX_DATA_LEN.saturating_sub(ENCRYPTION_OVERHEAD + 64 + frames.len() * 40);
        while budget > 32 {
            let Some((stream_id, data)) = conn.outgoing.pop_front() else {
                break;
            };
            let s = conn.streams.entry(stream_id).or_default();
            let window = s
                .remote_max_data
                .unwrap_or(u64::MAX)
                .saturating_sub(s.send_offset);
            let take = data
                .len()
                .min(budget - 32)
                .min(window.min(usize::MAX as u64) as usize);
            if take == 0 {
                conn.outgoing.push_front((stream_id, data));
                break;
            }
            frames.push(Frame::StreamData(StreamDataFrame {
                stream_id,
                offset: s.send_offset,
                data: data.slice(..take),
            }));
            s.send_offset += take as u64;
            budget -= take + 32;
            if take < data.len() {
                conn.outgoing.push_front((stream_id, data.slice(take..)));
            }
        }
    }

    fn seal(
        &self,
        conn: &ConnState,
        sequence: u64,
        kind: IlpPacketType,
        amount: u64,
        frames: Vec<Frame>,
    ) -> Bytes {
        let mut reply = StreamPacket::new(sequence, kind, amount);
        reply.frames = frames;
        Bytes::from(reply.encrypt_and_encode(&conn.keys))
    }
}

/// Reject message when the amount that arrived is below the sender's minimum (the sender
/// retries at the new rate).
pub const BELOW_MINIMUM: &str = "amount below the minimum the sender asked for";

fn carries_data(packet: &StreamPacket) -> bool {
    packet
        .frames
        .iter()
        .any(|f| matches!(f, Frame::StreamData(d) if !d.data.is_empty()))
}

/// Splits a PREPARE amount over the packet's `StreamMoney` frames by shares (RFC 0029
/// §5.3.8): each stream gets its rounded-down share, the remainder goes to the
/// lowest-numbered stream. Returns (stream id, amount) per distinct stream.
fn split_money(packet: &StreamPacket, amount: u64) -> Vec<(u64, u64)> {
    let mut shares: Vec<(u64, u128)> = Vec::new();
    for f in &packet.frames {
        if let Frame::StreamMoney(m) = f {
            match shares.iter_mut().find(|(id, _)| *id == m.stream_id) {
                Some(e) => e.1 += m.shares as u128,
                None => shares.push((m.stream_id, m.shares as u128)),
            }
        }
    }
    let total: u128 = shares.iter().map(|(_, s)| *s).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut out: Vec<(u64, u64)> = shares
        .iter()
        .map(|(id, s)| (*id, (amount as u128 * s / total) as u64))
        .collect();
    let given: u64 = out.iter().map(|(_, a)| *a).sum();
    if let Some(low) = out.iter_mut().min_by_key(|(id, _)| *id) {
        low.1 += amount - given;
    }
    out
}

impl IlpService for StreamReceiver {
    fn handle(&self, req: IncomingRequest) -> BoxFuture<'_, IlpReply> {
        Box::pin(async move { self.handle_prepare_async(&req.prepare).await })
    }
}

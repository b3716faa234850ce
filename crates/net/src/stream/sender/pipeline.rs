//! Pipelined request/response: several [`StreamSender::request`]-style packets in flight on one
//! connection at once.
//!
//! Each packet still pays for exactly its own answer and gets it inside its own FULFILL (or is
//! rejected carrying nothing), so payment and delivery stay atomic per packet; only the waiting
//! overlaps. Every path hop (BTP, a durable ledger commit per hop) then works on several
//! packets at a time, and the ledgers' group commit makes one fsync for all of them.
//!
//! A request keeps its stream offset across retries (a re-sent request is the same bytes at
//! the same place); distinct requests get distinct offsets. Answers come back in the order
//! the receiver finished them, each tied to its request by the packet's sequence number.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tollcast_wire::error_code::ErrorClass;

use super::{Outcome, Rate, StreamSendError, StreamSender};
use crate::connector::{IlpReply, IncomingRequest};

/// Names one pipelined request ([`StreamSender::start_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// A packet's reply as it came back from the path.
struct Landed {
    id: u64,
    sequence: u64,
    condition: [u8; 32],
    reply: IlpReply,
}

/// A request in flight: what to re-send it with.
struct Pending {
    stream_id: u64,
    data: Bytes,
    amount: u64,
    offset: u64,
    attempts: u32,
}

/// One packet on its way: its own task (so the packet is carried to its end even if the
/// sender is dropped, and packets run on all worker threads), `Sync` so the sender stays so.
type InFlight = Pin<Box<dyn Future<Output = Landed> + Send + Sync>>;

/// Requests in flight on one connection.
#[derive(Default)]
pub(super) struct Pipeline {
    in_flight: FuturesUnordered<InFlight>,
    pending: HashMap<u64, Pending>,
    /// Answers [`StreamSender::request_many`] collected for requests it did not start.
    ready: VecDeque<(RequestId, Result<Bytes, StreamSendError>)>,
    next_id: u64,
}

impl StreamSender {
    /// Starts a request like [`Self::request`] (`request` as `StreamData` on `stream_id`,
    /// `amount` paying for the answer) without waiting for its answer: collect it with
    /// [`Self::next_answer`]. Keep a bounded number in flight ([`Self::requests_in_flight`]).
    pub async fn start_request(
        &mut self,
        stream_id: u64,
        request: &[u8],
        amount: u64,
    ) -> Result<RequestId, StreamSendError> {
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
        let offsets = self.request_offsets.entry(stream_id).or_default();
        let offset = offsets.0;
        offsets.0 += request.len() as u64;
        let id = self.pipeline.next_id;
        self.pipeline.next_id += 1;
        self.pipeline.pending.insert(
            id,
            Pending {
                stream_id,
                data: Bytes::copy_from_slice(request),
                amount,
                offset,
                attempts: 0,
            },
        );
        if let Err(e) = self.issue(id, None) {
            self.pipeline.pending.remove(&id);
            return Err(e);
        }
        Ok(RequestId(id))
    }

    /// Requests started with [`Self::start_request`] whose answers were not collected yet.
    pub fn requests_in_flight(&self) -> usize {
        self.pipeline.pending.len() + self.pipeline.ready.len()
    }

    /// The next finished request: its answer, or why it failed (the errors of
    /// [`Self::request`]; a refused request paid nothing). Temporary path errors and rate
    /// moves within slippage are retried here, without holding up the other requests.
    /// `None` when nothing is in flight.
    pub async fn next_answer(&mut self) -> Option<(RequestId, Result<Bytes, StreamSendError>)> {
        if let Some(a) = self.pipeline.ready.pop_front() {
            return Some(a);
        }
        self.land().await
    }

    /// Runs `requests` (stream id, request bytes, amount) with at most `window` in flight;
    /// the results in the order of `requests`. Requests started earlier with
    /// [`Self::start_request`] keep running; their answers stay for [`Self::next_answer`].
    pub async fn request_many(
        &mut self,
        requests: &[(u64, &[u8], u64)],
        window: usize,
    ) -> Vec<Result<Bytes, StreamSendError>> {
        let window = window.max(1);
        let mut out: Vec<Option<Result<Bytes, StreamSendError>>> = vec![None; requests.len()];
        let mut mine: HashMap<RequestId, usize> = HashMap::new();
        let mut next = 0;
        loop {
            while next < requests.len() && mine.len() < window {
                let (stream_id, data, amount) = requests[next];
                match self.start_request(stream_id, data, amount).await {
                    Ok(id) => {
                        mine.insert(id, next);
                    }
                    Err(e) => out[next] = Some(Err(e)),
                }
                next += 1;
            }
            if mine.is_empty() {
                break;
            }
            let Some((id, r)) = self.land().await else {
                break;
            };
            match mine.remove(&id) {
                Some(i) => out[i] = Some(r),
                None => self.pipeline.ready.push_back((id, r)),
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or(Err(StreamSendError::Closed)))
            .collect()
    }

    /// Sends (or re-sends) request `id` as a new packet, after `delay` if given.
    fn issue(&mut self, id: u64, delay: Option<Duration>) -> Result<(), StreamSendError> {
        let Some(p) = self.pipeline.pending.get(&id) else {
            return Err(StreamSendError::Protocol(
                "unknown pipelined request".into(),
            ));
        };
        let (stream_id, data, amount, offset) = (p.stream_id, p.data.clone(), p.amount, p.offset);
        let min_dest = self.push_request_frames(stream_id, offset, data, amount);
        let (sequence, prepare) = self.build_prepare(amount, min_dest, true)?;
        let condition = prepare.execution_condition;
        let service = self.service.clone();
        let from = self.config.from.clone();
        let task = tokio::spawn(async move {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            service.handle(IncomingRequest { from, prepare }).await
        });
        self.pipeline.in_flight.push(Box::pin(async move {
            let reply = task.await.unwrap_or_else(|e| {
                Err(tollcast_wire::ilp::Reject::new(
                    tollcast_wire::error_code::ErrorCode::T00_INTERNAL_ERROR,
                    None,
                    format!("packet task failed: {e}"),
                ))
            });
            Landed {
                id,
                sequence,
                condition,
                reply,
            }
        }));
        Ok(())
    }

    /// Waits for packets until one request is finished (answered or failed for good).
    async fn land(&mut self) -> Option<(RequestId, Result<Bytes, StreamSendError>)> {
        loop {
            let landed = self.pipeline.in_flight.next().await?;
            if let Some(r) = self.settle(landed) {
                return Some(r);
            }
        }
    }

    /// Applies one packet's reply; `None` if its request was re-sent.
    fn settle(&mut self, l: Landed) -> Option<(RequestId, Result<Bytes, StreamSendError>)> {
        let id = RequestId(l.id);
        let (stream_id, amount) = {
            let p = self.pipeline.pending.get(&l.id)?;
            (p.stream_id, p.amount)
        };
        self.request_stream = Some(stream_id);
        self.reply_data.clear();
        let outcome = self.apply_reply(l.reply, l.sequence, l.condition, amount, true);
        self.request_stream = None;
        let retry = match outcome {
            Err(e) => Err(e),
            Ok(Outcome::Fulfilled { delivered }) => {
                self.total.sent += amount;
                self.total.delivered += delivered;
                self.total.packets += 1;
                if amount > 0 && delivered > 0 {
                    self.rate = Some(Rate {
                        sent: amount,
                        delivered,
                    });
                }
                self.pipeline.pending.remove(&l.id);
                return Some((id, Ok(Bytes::from(std::mem::take(&mut self.reply_data)))));
            }
            Ok(Outcome::ReceiverReject { arrived, message }) => {
                self.receiver_reject_retry(l.id, amount, arrived, message)
            }
            Ok(Outcome::PathReject {
                code,
                message,
                triggered_by,
                ..
            }) => {
                let p = self.pipeline.pending.get_mut(&l.id)?;
                p.attempts += 1;
                let attempts = p.attempts;
                if code.class() == ErrorClass::Final {
                    Err(StreamSendError::Rejected {
                        code,
                        message,
                        triggered_by,
                    })
                } else if attempts >= self.config.max_attempts {
                    Err(StreamSendError::RetriesExhausted {
                        attempts,
                        code,
                        message,
                    })
                } else {
                    Ok(Some(self.backoff_delay(attempts)))
                }
            }
        };
        let failed = match retry {
            Ok(delay) => match self.issue(l.id, delay) {
                Ok(()) => return None,
                Err(e) => e,
            },
            Err(e) => e,
        };
        self.pipeline.pending.remove(&l.id);
        Some((id, Err(failed)))
    }

    /// The receiver rejected a request packet: re-send it (Ok) only when the rate moved within
    /// slippage, as [`Self::request`] does; anything else is the request's final answer.
    fn receiver_reject_retry(
        &mut self,
        id: u64,
        amount: u64,
        arrived: u64,
        message: String,
    ) -> Result<Option<Duration>, StreamSendError> {
        let attempts = match self.pipeline.pending.get_mut(&id) {
            Some(p) => {
                p.attempts += 1;
                p.attempts
            }
            None => return Err(StreamSendError::Refused(message)),
        };
        self.retry_after_receiver_reject(amount, arrived, message, attempts)?;
        Ok(None)
    }

    fn backoff_delay(&self, attempt: u32) -> Duration {
        self.config
            .initial_backoff
            .saturating_mul(1 << attempt.min(10))
            .min(Duration::from_secs(1))
    }
}

//! Viewer side of ILP-native delivery: [`NativeFetcher`] fetches chunks by hash over one STREAM
//! connection, paying each packet exactly what its slice costs and verifying every chunk's
//! SHA-256.
//!
//! Several slices are in flight at once (a window, [`DEFAULT_WINDOW`] by default): the path
//! (BTP, a durable ledger commit per hop) then works on several packets at a time and the
//! ledgers' group commit shares one fsync between them. Each packet still carries exactly its
//! own slice and its own payment; a refused packet moves neither. A slice the path delivered
//! short of its price (fees, rounding) is re-sent with more, as a new packet.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tollcast_media::store::sha256_hex;
use tollcast_net::connector::IlpService;
use tollcast_net::stream::{Rate, RequestId, SenderConfig, StreamSendError, StreamSender};

use super::{ANSWER_HEADER, MAX_SLICE, NativeError, NativePricing, PartRequest, REQUEST_STREAM};

/// How often a fetcher tops up one packet the path delivered short of its price.
const TOP_UP_ATTEMPTS: u32 = 4;

/// Slices in flight per connection unless [`NativeFetcher::set_window`] says otherwise.
pub const DEFAULT_WINDOW: usize = 8;

/// `(need, got)` from a server refusal `"unpaid: need N ..., got M"` /
/// `"underpaid: need N ..., got M"`.
fn parse_shortfall(m: &str) -> Option<(u64, u64)> {
    if !(m.starts_with("unpaid: need ") || m.starts_with("underpaid: need ")) {
        return None;
    }
    let num = |s: &str| -> Option<u64> {
        let d: String = s.chars().take_while(char::is_ascii_digit).collect();
        d.parse().ok()
    };
    let need = num(m.split_once("need ")?.1)?;
    let got = num(m.rsplit_once(", got ")?.1)?;
    Some((need, got))
}

/// The source amount to re-send a refused slice with, if the refusal is a shortfall the path
/// caused (the relay asking no more than the advertised `price`).
fn topped_up(message: &str, price: u64, amount: u64) -> Option<u64> {
    match parse_shortfall(message) {
        Some((need, got)) if need <= price && got < need => {
            let add = if got == 0 {
                amount
            } else {
                ((need - got) as u128 * amount as u128)
                    .div_ceil(got as u128)
                    .min(u64::MAX as u128) as u64
            };
            Some(amount.saturating_add(add.max(1)))
        }
        _ => None,
    }
}

/// What a [`NativeFetcher`] moved so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchStats {
    /// Chunks fetched and verified.
    pub chunks: u64,
    /// Chunk bytes received.
    pub bytes: u64,
    /// Packets that carried chunk bytes or sizes.
    pub packets: u64,
    /// Paid, in our (source) units.
    pub paid: u64,
}

/// Viewer side of ILP-native delivery: one STREAM connection to a relay's receiver, fetching
/// chunks by hash, paying each packet exactly what its bytes cost, verifying every chunk's hash.
pub struct NativeFetcher {
    sender: StreamSender,
    pricing: NativePricing,
    stats: FetchStats,
    /// The most precise rate sample seen (largest source amount): the sender keeps only the
    /// last one, and a 4-unit packet that delivered 3 would price a 40,000-unit slice 33 %
    /// too high.
    rate: Option<Rate>,
    /// Most slices in flight.
    window: usize,
}

impl std::fmt::Debug for NativeFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeFetcher")
            .field("pricing", &self.pricing)
            .field("stats", &self.stats)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// One slice of one chunk, in flight or waiting to go.
#[derive(Debug, Clone, Copy)]
struct Slice {
    chunk: usize,
    offset: u64,
    len: u64,
    /// The relay's price for it (its units).
    price: u64,
    /// What we send for it (our units).
    amount: u64,
    top_ups: u32,
}

/// A chunk being fetched.
struct Job {
    hash: String,
    size: Option<u64>,
    /// Slices not answered yet.
    missing: usize,
    buf: BytesMut,
    error: Option<NativeError>,
}

impl NativeFetcher {
    /// Connects (rate probe) through `service` (normally the viewer's node:
    /// `node.connector.sender(AccountId::local())`) with the relay's SPSP credentials in
    /// `config`, at the relay's advertised `pricing`.
    pub async fn connect(
        service: Arc<dyn IlpService>,
        config: SenderConfig,
        pricing: NativePricing,
    ) -> Result<Self, NativeError> {
        let sender = StreamSender::connect(service, config).await?;
        let rate = sender.rate();
        Ok(Self {
            sender,
            pricing,
            stats: FetchStats::default(),
            rate,
            window: DEFAULT_WINDOW,
        })
    }

    pub fn stats(&self) -> FetchStats {
        self.stats
    }

    /// The STREAM connection (totals, rate).
    pub fn sender(&self) -> &StreamSender {
        &self.sender
    }

    /// Most packets in flight at once (at least 1; 1 fetches one slice at a time).
    pub fn set_window(&mut self, window: usize) {
        self.window = window.max(1);
    }

    pub fn window(&self) -> usize {
        self.window
    }

    /// Source amount that delivers at least `price` at the measured rate.
    fn source_amount(&self, price: u64) -> u64 {
        if price == 0 {
            return 0;
        }
        match self.rate {
            Some(r) if r.delivered > 0 && r.sent != r.delivered => (price as u128 * r.sent as u128)
                .div_ceil(r.delivered as u128)
                .min(u64::MAX as u128)
                as u64,
            _ => price,
        }
    }

    /// Keeps the most precise rate sample (see the field).
    fn learn_rate(&mut self) {
        if let Some(r) = self.sender.rate()
            && self.rate.is_none_or(|b| r.sent >= b.sent)
        {
            self.rate = Some(r);
        }
    }

    /// Splits an answer into (chunk size, bytes).
    fn split_answer(answer: Bytes) -> Result<(u64, Bytes), NativeError> {
        if answer.len() < ANSWER_HEADER {
            return Err(NativeError::BadAnswer(format!(
                "{} bytes, less than the {ANSWER_HEADER}-byte header",
                answer.len()
            )));
        }
        let mut s = [0u8; 8];
        s.copy_from_slice(&answer[..ANSWER_HEADER]);
        Ok((u64::from_be_bytes(s), answer.slice(ANSWER_HEADER..)))
    }

    /// The size of chunk `hash` as the relay knows it (a free request).
    pub async fn size_of(&mut self, hash: &str) -> Result<u64, NativeError> {
        let r = PartRequest::new(hash, 0, 0)?;
        let answer = self.sender.request(REQUEST_STREAM, &r.encode(), 0).await?;
        let (size, _) = Self::split_answer(answer)?;
        self.stats.packets += 1;
        Ok(size)
    }

    /// Fetches chunk `hash`, verified. `size` is the chunk's size from its signed manifest if
    /// known (then it is checked too, and no size request is needed).
    pub async fn fetch(&mut self, hash: &str, size: Option<u64>) -> Result<Bytes, NativeError> {
        self.fetch_many(&[(hash, size)])
            .await
            .pop()
            .unwrap_or_else(|| Err(NativeError::BadAnswer("no result".into())))
    }

    /// Fetches several chunks `(hash, size if known)` with their slices sharing the window;
    /// each result verified, in the order asked. A failed chunk stops only its own slices.
    pub async fn fetch_many(
        &mut self,
        chunks: &[(&str, Option<u64>)],
    ) -> Vec<Result<Bytes, NativeError>> {
        let mut jobs: Vec<Job> = chunks
            .iter()
            .map(|(hash, size)| Job {
                hash: hash.to_string(),
                size: *size,
                missing: 0,
                buf: BytesMut::new(),
                error: None,
            })
            .collect();
        // Sizes first (free requests), pipelined too.
        let mut queries = Vec::new();
        let mut asked = Vec::new();
        for (i, job) in jobs.iter_mut().enumerate() {
            if job.size.is_some() {
                continue;
            }
            match PartRequest::new(&job.hash, 0, 0) {
                Ok(r) => {
                    queries.push(r.encode());
                    asked.push(i);
                }
                Err(e) => job.error = Some(e),
            }
        }
        if !queries.is_empty() {
            let reqs: Vec<(u64, &[u8], u64)> = queries
                .iter()
                .map(|q| (REQUEST_STREAM, &q[..], 0))
                .collect();
            let answers = self.sender.request_many(&reqs, self.window).await;
            for (i, a) in asked.into_iter().zip(answers) {
                match a.map_err(NativeError::from).and_then(Self::split_answer) {
                    Ok((size, _)) => {
                        self.stats.packets += 1;
                        jobs[i].size = Some(size);
                    }
                    Err(e) => jobs[i].error = Some(e),
                }
            }
        }
        // Every slice of every chunk, in order.
        let mut queue = std::collections::VecDeque::new();
        for (i, job) in jobs.iter_mut().enumerate() {
            if job.error.is_some() {
                continue;
            }
            let Some(size) = job.size else { continue };
            if let Err(e) = PartRequest::new(&job.hash, 0, 0) {
                job.error = Some(e);
                continue;
            }
            job.buf = BytesMut::zeroed(size as usize);
            let mut offset = 0;
            // A zero-byte chunk still takes one (free) packet: the relay confirms the size.
            loop {
                let len = (size - offset).min(MAX_SLICE as u64);
                let price = self.pricing.price(offset, offset + len, size);
                queue.push_back(Slice {
                    chunk: i,
                    offset,
                    len,
                    price,
                    amount: 0,
                    top_ups: 0,
                });
                job.missing += 1;
                offset += len;
                if offset >= size {
                    break;
                }
            }
        }
        let mut in_flight: HashMap<RequestId, Slice> = HashMap::new();
        loop {
            while in_flight.len() < self.window
                && let Some(mut s) = queue.pop_front()
            {
                if jobs[s.chunk].error.is_some() {
                    continue;
                }
                if s.top_ups == 0 {
                    s.amount = self.source_amount(s.price);
                }
                let job = &mut jobs[s.chunk];
                let request = match PartRequest::new(&job.hash, s.offset, s.len as u32) {
                    Ok(r) => r.encode(),
                    Err(e) => {
                        job.error = Some(e);
                        continue;
                    }
                };
                match self
                    .sender
                    .start_request(REQUEST_STREAM, &request, s.amount)
                    .await
                {
                    Ok(id) => {
                        in_flight.insert(id, s);
                    }
                    Err(e) => jobs[s.chunk].error = Some(e.into()),
                }
            }
            if in_flight.is_empty() {
                break;
            }
            let Some((id, answer)) = self.sender.next_answer().await else {
                break;
            };
            let Some(s) = in_flight.remove(&id) else {
                continue;
            };
            let job = &mut jobs[s.chunk];
            match answer {
                Ok(a) => {
                    self.stats.packets += 1;
                    self.stats.paid += s.amount;
                    self.learn_rate();
                    if job.error.is_some() {
                        continue;
                    }
                    match Self::check_slice(job, &s, a) {
                        Ok(()) => job.missing -= 1,
                        Err(e) => job.error = Some(e),
                    }
                }
                // The relay wants what we meant to deliver, but the path (fees rounded up,
                // rates rounded down, a stale rate sample) delivered less: a refused packet
                // moves no money, so send again with more source units. A relay asking more
                // than its advertised price gets nothing more.
                Err(StreamSendError::Refused(m)) if s.top_ups < TOP_UP_ATTEMPTS => {
                    match topped_up(&m, s.price, s.amount) {
                        Some(amount) if job.error.is_none() => queue.push_front(Slice {
                            amount,
                            top_ups: s.top_ups + 1,
                            ..s
                        }),
                        Some(_) => {}
                        None => job.error = Some(StreamSendError::Refused(m).into()),
                    }
                }
                Err(e) => {
                    if job.error.is_none() {
                        job.error = Some(e.into());
                    }
                }
            }
        }
        jobs.into_iter().map(|job| self.finish(job)).collect()
    }

    /// Checks one answered slice and puts its bytes in place.
    fn check_slice(job: &mut Job, s: &Slice, answer: Bytes) -> Result<(), NativeError> {
        let (got_size, bytes) = Self::split_answer(answer)?;
        let want = job.size.unwrap_or(0);
        if got_size != want {
            return Err(NativeError::SizeMismatch {
                hash: job.hash.clone(),
                got: got_size,
                want,
            });
        }
        if bytes.len() as u64 != s.len {
            return Err(NativeError::BadAnswer(format!(
                "asked for {} bytes at {}, got {}",
                s.len,
                s.offset,
                bytes.len()
            )));
        }
        let at = s.offset as usize;
        job.buf[at..at + bytes.len()].copy_from_slice(&bytes);
        Ok(())
    }

    /// Verifies a finished chunk.
    fn finish(&mut self, job: Job) -> Result<Bytes, NativeError> {
        if let Some(e) = job.error {
            return Err(e);
        }
        if job.missing > 0 || job.size.is_none() {
            return Err(NativeError::BadAnswer(format!(
                "chunk {}: {} slices never answered",
                job.hash, job.missing
            )));
        }
        let got = sha256_hex(&job.buf);
        if got != job.hash {
            return Err(NativeError::HashMismatch {
                hash: job.hash,
                got,
            });
        }
        self.stats.chunks += 1;
        self.stats.bytes += job.buf.len() as u64;
        Ok(job.buf.freeze())
    }

    /// Closes the STREAM connection.
    pub async fn close(&mut self) -> Result<(), NativeError> {
        Ok(self.sender.close().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortfall_messages_parse() {
        assert_eq!(
            parse_shortfall("underpaid: need 20 for bytes 0..100 of 200, got 19"),
            Some((20, 19))
        );
        assert_eq!(
            parse_shortfall("unpaid: need 3 for bytes 0..1 of 2, got 0"),
            Some((3, 0))
        );
        assert_eq!(parse_shortfall("unknown chunk"), None);
        assert_eq!(parse_shortfall("underpaid: need x, got 1"), None);
    }

    #[test]
    fn top_ups_only_for_a_shortfall_within_the_price() {
        // 19 of 20 arrived for 100 sent: 100 * 1/19 more, rounded up.
        assert_eq!(
            topped_up("underpaid: need 20 for bytes 0..1 of 2, got 19", 20, 100),
            Some(106)
        );
        // Nothing arrived: double.
        assert_eq!(
            topped_up("unpaid: need 20 for bytes 0..1 of 2, got 0", 20, 7),
            Some(14)
        );
        // The relay asks more than it advertised: no.
        assert_eq!(
            topped_up("underpaid: need 21 for bytes 0..1 of 2, got 19", 20, 100),
            None
        );
        assert_eq!(topped_up("unknown chunk", 20, 100), None);
    }
}

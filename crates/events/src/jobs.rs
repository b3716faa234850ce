//! NIP-90 jobs tollcast uses: transcoding requests (kind 5200), their results (6200) and
//! job feedback (7000) with ILP prices.
//!
//! Kind 5200 is "Video Conversion" in the NIP-90 job-kind registry
//! (nostr-protocol/data-vending-machines `kinds/5200.md`: input = link to a video, `param`
//! `format`/`range`, output = link). tollcast's transcode request is a 5200 request whose
//! input is the live stream and whose `param rendition` tags name the ABR ladder.

use std::str::FromStr;

use nostr::prelude::{Event, EventBuilder, EventId, Keys, Kind, PublicKey};

use crate::error::{BuildError, EventError};
use crate::tags::{
    Price, StreamAddress, all, check, opt_val, parse_pubkey, parse_u64, required, single,
    single_value, tag, val,
};

/// NIP-90 job request kind for transcoding a stream ("Video Conversion").
pub const KIND_TRANSCODE_REQUEST: u16 = 5200;
/// Its result kind (request + 1000).
pub const KIND_TRANSCODE_RESULT: u16 = 6200;
/// NIP-90 job feedback.
pub const KIND_JOB_FEEDBACK: u16 = 7000;

/// One rung of the ABR ladder: `["param", "rendition", name, "<w>x<h>", bitrate_bps]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendition {
    /// Name, e.g. `720p`.
    pub name: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Target video bit rate in bits per second.
    pub bitrate: u64,
}

/// A transcoding job request (kind 5200).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranscodeRequest {
    /// The source stream (`a` tag; also given as NIP-90 input `["i", <address>, "event"]`).
    pub stream: StreamAddress,
    /// Where the source parts can be fetched (`["i", url, "url", "", "source"]`).
    pub source_urls: Vec<String>,
    /// Output MIME type (`output`), e.g. `video/mp4`.
    pub output: String,
    /// Ladder.
    pub renditions: Vec<Rendition>,
    /// Video codec (`["param", "codec", ...]`), e.g. `h264`.
    pub codec: Option<String>,
    /// Offer per transcoded minute (`["bid", amount, asset, scale]`).
    pub bid_per_minute: Option<Price>,
    /// Preferred providers (`p`).
    pub providers: Vec<PublicKey>,
    /// Relays for responses (`relays`).
    pub relays: Vec<String>,
}

impl TranscodeRequest {
    /// The unsigned event.
    pub fn to_builder(&self) -> Result<EventBuilder, BuildError> {
        if self.renditions.is_empty() {
            return Err(BuildError::Invalid(
                "a transcode request needs at least one rendition".into(),
            ));
        }
        let addr = self.stream.to_string();
        let mut b = EventBuilder::new(Kind::from(KIND_TRANSCODE_REQUEST), "")
            .tag(tag(&["i", &addr, "event"]))
            .tag(tag(&["a", &addr]));
        for u in &self.source_urls {
            b = b.tag(tag(&["i", u, "url", "", "source"]));
        }
        b = b.tag(tag(&["output", &self.output]));
        for r in &self.renditions {
            b = b.tag(tag(&[
                "param",
                "rendition",
                &r.name,
                &format!("{}x{}", r.width, r.height),
                &r.bitrate.to_string(),
            ]));
        }
        if let Some(c) = &self.codec {
            b = b.tag(tag(&["param", "codec", c]));
        }
        if let Some(p) = &self.bid_per_minute {
            let [a, c, s] = p.values();
            b = b.tag(tag(&["bid", &a, &c, &s]));
        }
        for p in &self.providers {
            b = b.tag(tag(&["p", &p.to_hex()]));
        }
        if !self.relays.is_empty() {
            let mut v = vec!["relays".to_string()];
            v.extend(self.relays.iter().cloned());
            b = b.tag(tag(&v));
        }
        Ok(b)
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder()?, keys, created_at)
    }

    /// Parse and verify a kind-5200 event.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_TRANSCODE_REQUEST, "5200")?;
        let stream: StreamAddress = val(required(ev, "a")?, 1, "a")?.parse()?;
        let mut source_urls = Vec::new();
        for t in all(ev, "i") {
            if t.get(2).map(String::as_str) == Some("url") {
                source_urls.push(val(t, 1, "i")?.to_string());
            }
        }
        let mut renditions = Vec::new();
        let mut codec = None;
        for t in all(ev, "param") {
            match val(t, 1, "param")? {
                "rendition" => {
                    let name = val(t, 2, "param")?.to_string();
                    let size = val(t, 3, "param")?;
                    let (w, h) = size.split_once('x').ok_or_else(|| {
                        EventError::bad("param", format!("rendition size `{size}` is not <w>x<h>"))
                    })?;
                    let dim = |s: &str| -> Result<u32, EventError> {
                        let v = parse_u64(s, "param")?;
                        if v == 0 || v > 16384 {
                            return Err(EventError::bad(
                                "param",
                                format!("dimension {v} out of range"),
                            ));
                        }
                        Ok(v as u32)
                    };
                    renditions.push(Rendition {
                        name,
                        width: dim(w)?,
                        height: dim(h)?,
                        bitrate: parse_u64(val(t, 4, "param")?, "param")?,
                    });
                }
                "codec" => codec = Some(val(t, 2, "param")?.to_string()),
                _ => {} // other params are allowed and ignored
            }
        }
        if renditions.is_empty() {
            return Err(EventError::MissingTag("param rendition"));
        }
        let bid_per_minute = match single(ev, "bid")? {
            Some(t) => Some(Price::parse(t, 1, "bid")?),
            None => None,
        };
        let providers = all(ev, "p")
            .map(|t| parse_pubkey(val(t, 1, "p")?, "p"))
            .collect::<Result<_, _>>()?;
        let relays = single(ev, "relays")?
            .map(|t| t[1..].to_vec())
            .unwrap_or_default();
        Ok(TranscodeRequest {
            stream,
            source_urls,
            output: single_value(ev, "output")?.ok_or(EventError::MissingTag("output"))?,
            renditions,
            codec,
            bid_per_minute,
            providers,
            relays,
        })
    }
}

/// A job result (kind = request kind + 1000, 6000-6999).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobResult {
    /// Kind of the request this answers (5000-5999).
    pub request_kind: u16,
    /// `e`: the request event id.
    pub request_id: EventId,
    /// `p`: the customer.
    pub customer: PublicKey,
    /// `request`: the request event as JSON (NIP-90), optional.
    pub request_json: Option<String>,
    /// `amount`: what the provider asks (amount, asset, scale).
    pub amount: Option<Price>,
    /// Payload, e.g. the rendition playlist URLs as JSON.
    pub content: String,
}

impl JobResult {
    /// The unsigned event.
    pub fn to_builder(&self) -> Result<EventBuilder, BuildError> {
        if !(5000..=5999).contains(&self.request_kind) {
            return Err(BuildError::Invalid(format!(
                "request kind {} is not 5000-5999",
                self.request_kind
            )));
        }
        let mut b = EventBuilder::new(Kind::from(self.request_kind + 1000), self.content.clone());
        if let Some(r) = &self.request_json {
            b = b.tag(tag(&["request", r]));
        }
        b = b
            .tag(tag(&["e", &self.request_id.to_hex()]))
            .tag(tag(&["p", &self.customer.to_hex()]));
        if let Some(p) = &self.amount {
            let [a, c, s] = p.values();
            b = b.tag(tag(&["amount", &a, &c, &s]));
        }
        Ok(b)
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder()?, keys, created_at)
    }

    /// Parse and verify a kind-6000..6999 event.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        crate::verify(ev)?;
        let k = ev.kind.as_u16();
        if !(6000..=6999).contains(&k) {
            return Err(EventError::WrongKind {
                expected: "6000-6999",
                got: k,
            });
        }
        Ok(JobResult {
            request_kind: k - 1000,
            request_id: parse_event_id(val(required(ev, "e")?, 1, "e")?)?,
            customer: parse_pubkey(val(required(ev, "p")?, 1, "p")?, "p")?,
            request_json: single_value(ev, "request")?,
            amount: single(ev, "amount")?
                .map(|t| Price::parse(t, 1, "amount"))
                .transpose()?,
            content: ev.content.clone(),
        })
    }
}

/// NIP-90 feedback status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Pay before the provider continues (the `amount` and `ilp` tags say how much and where).
    PaymentRequired,
    /// Working on it.
    Processing,
    /// Failed.
    Error,
    /// Done.
    Success,
    /// Partly done.
    Partial,
}

impl JobStatus {
    /// The tag value.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::PaymentRequired => "payment-required",
            JobStatus::Processing => "processing",
            JobStatus::Error => "error",
            JobStatus::Success => "success",
            JobStatus::Partial => "partial",
        }
    }
}

impl FromStr for JobStatus {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, EventError> {
        Ok(match s {
            "payment-required" => JobStatus::PaymentRequired,
            "processing" => JobStatus::Processing,
            "error" => JobStatus::Error,
            "success" => JobStatus::Success,
            "partial" => JobStatus::Partial,
            o => {
                return Err(EventError::bad(
                    "status",
                    format!("unknown job status `{o}`"),
                ));
            }
        })
    }
}

/// Job feedback (kind 7000).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobFeedback {
    /// `status`.
    pub status: JobStatus,
    /// Human-readable extra info (3rd `status` value).
    pub info: Option<String>,
    /// `e`: the request.
    pub request_id: EventId,
    /// `p`: the customer.
    pub customer: PublicKey,
    /// `amount`: price (per transcoded minute for transcoding jobs).
    pub amount: Option<Price>,
    /// `ilp`: ILP address to pay (SPSP/STREAM destination).
    pub ilp_address: Option<String>,
    /// Optional payload.
    pub content: String,
}

impl JobFeedback {
    /// The unsigned event.
    pub fn to_builder(&self) -> EventBuilder {
        let mut st = vec!["status".to_string(), self.status.as_str().to_string()];
        if let Some(i) = &self.info {
            st.push(i.clone());
        }
        let mut b =
            EventBuilder::new(Kind::from(KIND_JOB_FEEDBACK), self.content.clone()).tag(tag(&st));
        if let Some(p) = &self.amount {
            let [a, c, s] = p.values();
            b = b.tag(tag(&["amount", &a, &c, &s]));
        }
        if let Some(ilp) = &self.ilp_address {
            b = b.tag(tag(&["ilp", ilp]));
        }
        b.tag(tag(&["e", &self.request_id.to_hex()]))
            .tag(tag(&["p", &self.customer.to_hex()]))
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder(), keys, created_at)
    }

    /// Parse and verify a kind-7000 event.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_JOB_FEEDBACK, "7000")?;
        let st = required(ev, "status")?;
        let status: JobStatus = val(st, 1, "status")?.parse()?;
        let amount = single(ev, "amount")?
            .map(|t| Price::parse(t, 1, "amount"))
            .transpose()?;
        let ilp_address = single_value(ev, "ilp")?;
        if status == JobStatus::PaymentRequired && (amount.is_none() || ilp_address.is_none()) {
            return Err(EventError::bad(
                "status",
                "payment-required needs `amount` and `ilp` tags",
            ));
        }
        Ok(JobFeedback {
            status,
            info: opt_val(st, 2),
            request_id: parse_event_id(val(required(ev, "e")?, 1, "e")?)?,
            customer: parse_pubkey(val(required(ev, "p")?, 1, "p")?, "p")?,
            amount,
            ilp_address,
            content: ev.content.clone(),
        })
    }
}

pub(crate) fn parse_event_id(s: &str) -> Result<EventId, EventError> {
    if s.len() != 64 {
        return Err(EventError::bad("e", "event id must be 64 hex characters"));
    }
    EventId::from_hex(s).map_err(|e| EventError::bad("e", format!("bad event id: {e}")))
}

//! The NIP-90 conversation of a transcoding job, as tollcast speaks it (both sides use this):
//!
//! 1. **Request** (kind 5200, [`TranscodeRequest`]) by the streamer: the stream address, the
//!    source origin URL (`i … url`), the ladder (`param rendition`), a bid per minute, and the
//!    cut targets (`param part_target` / `param segment_target`, seconds) the source uses.
//! 2. **Offer** (kind 7000 `payment-required`) by each willing transcoder: `amount` = price per
//!    transcoded minute, `ilp` = its STREAM receiver's address, content = [`OfferTerms`] JSON
//!    (SPSP URL for this job, capacity, billing unit, credit it extends).
//! 3. **Acceptance** (kind 5200 again, NIP-90 "addressed to one provider"): same stream and
//!    ladder, exactly one `p` = the chosen transcoder, `["e", <request id>, "", "accept"]` and
//!    `["e", <offer id>, "", "offer"]`. Only the request's author can accept; a transcoder
//!    ignores 5200s addressed to others.
//! 4. **Work**: the transcoder answers `processing` (7000), pulls the source, publishes its
//!    rung manifests (31311, role `transcoder`, `source` = source segment hash) and a **result**
//!    (kind 6200) whose content is [`ResultInfo`] JSON (its origin URL, renditions, signer).
//! 5. **Pay**: the streamer pays over STREAM to the offer's SPSP URL, one billing unit of
//!    price at a time, as delivered minutes show up in the transcoder's signed manifests. A
//!    transcoder owed more than its credit stops with a 7000 `error` saying why; a customer
//!    ends a job by deleting the acceptance (NIP-09 kind 5, reason in content).

use serde::{Deserialize, Serialize};
use tollcast_events::jobs::{KIND_TRANSCODE_REQUEST, TranscodeRequest};
use tollcast_events::nostr::prelude::{
    Event, EventBuilder, EventId, FinalizeEvent, Keys, Kind, PublicKey, Tag,
};

/// Marker of the acceptance's `e` tag pointing at the open request.
pub const ACCEPT_MARKER: &str = "accept";
/// Marker of the acceptance's `e` tag pointing at the chosen offer.
pub const OFFER_MARKER: &str = "offer";

/// What a transcoder's offer (7000 `payment-required`) carries in its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfferTerms {
    /// SPSP URL to pay this job at (tagged for the job).
    pub spsp: String,
    /// Jobs it can still take.
    pub capacity: u32,
    /// Seconds of transcoded media per payment unit (price is per 60 s).
    pub unit_secs: f64,
    /// Seconds of transcoding it does ahead of payment.
    pub credit_secs: f64,
    /// Base URL where its origin will serve the job (`…/jobs/<id>`).
    pub origin: String,
}

/// What a result (6200) carries in its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultInfo {
    /// Base URL of the job's origin (relays use it as upstream): `{origin}/live/master.m3u8`.
    pub origin: String,
    /// Multivariant playlist URL.
    pub master: String,
    /// Rendition names served (the mirrored `source` first).
    pub renditions: Vec<String>,
    /// Hex pubkey that signs the rung manifests (relays trust it with `--signer`).
    pub signer: String,
}

fn tag(v: &[&str]) -> Tag {
    Tag::parse(v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .unwrap_or_else(|_| Tag::parse(["t", "invalid"]).expect("static tag"))
}

/// The request as an event, with the cut targets as extra `param`s.
pub fn sign_request(
    req: &TranscodeRequest,
    part_target: f64,
    segment_target: f64,
    keys: &Keys,
) -> Result<Event, String> {
    let b = req
        .to_builder()
        .map_err(|e| e.to_string())?
        .tag(tag(&["param", "part_target", &part_target.to_string()]))
        .tag(tag(&[
            "param",
            "segment_target",
            &segment_target.to_string(),
        ]));
    b.finalize(keys).map_err(|e| e.to_string())
}

/// The cut targets a request names (`None` for any absent or out of range).
pub fn cut_targets(ev: &Event) -> (Option<f64>, Option<f64>) {
    let mut part = None;
    let mut seg = None;
    for t in ev.tags.iter() {
        let v = t.as_slice();
        if v.len() >= 3 && v[0] == "param" {
            let x = v[2].parse::<f64>().ok().filter(|x| x.is_finite());
            match v[1].as_str() {
                "part_target" => part = x.filter(|x| (0.05..=2.0).contains(x)),
                "segment_target" => seg = x.filter(|x| (0.5..=10.0).contains(x)),
                _ => {}
            }
        }
    }
    (part, seg)
}

/// The acceptance of `offer` (by `transcoder`) for the open `request`.
pub fn sign_acceptance(
    req: &TranscodeRequest,
    request: &Event,
    offer: EventId,
    transcoder: PublicKey,
    keys: &Keys,
) -> Result<Event, String> {
    let mut addressed = req.clone();
    addressed.providers = vec![transcoder];
    let (p, s) = cut_targets(request);
    let b = addressed
        .to_builder()
        .map_err(|e| e.to_string())?
        .tag(tag(&["e", &request.id.to_hex(), "", ACCEPT_MARKER]))
        .tag(tag(&["e", &offer.to_hex(), "", OFFER_MARKER]))
        .tag(tag(&[
            "param",
            "part_target",
            &p.unwrap_or(0.2).to_string(),
        ]))
        .tag(tag(&[
            "param",
            "segment_target",
            &s.unwrap_or(1.0).to_string(),
        ]));
    b.finalize(keys).map_err(|e| e.to_string())
}

/// If `ev` is an acceptance: (open request id, offer id).
pub fn acceptance_of(ev: &Event) -> Option<(EventId, EventId)> {
    if ev.kind != Kind::from(KIND_TRANSCODE_REQUEST) {
        return None;
    }
    let mut req = None;
    let mut offer = None;
    for t in ev.tags.iter() {
        let v = t.as_slice();
        if v.len() >= 4 && v[0] == "e" {
            let id = EventId::from_hex(&v[1]).ok();
            match v[3].as_str() {
                ACCEPT_MARKER => req = id,
                OFFER_MARKER => offer = id,
                _ => {}
            }
        }
    }
    Some((req?, offer?))
}

/// A NIP-09 deletion of the acceptance: the customer ends the job.
pub fn sign_cancel(acceptance: EventId, reason: &str, keys: &Keys) -> Result<Event, String> {
    EventBuilder::new(Kind::from(5u16), reason)
        .tag(tag(&["e", &acceptance.to_hex()]))
        .tag(tag(&["k", &KIND_TRANSCODE_REQUEST.to_string()]))
        .finalize(keys)
        .map_err(|e| e.to_string())
}

/// The event ids a deletion (kind 5) names.
pub fn deleted_ids(ev: &Event) -> Vec<EventId> {
    if ev.kind != Kind::from(5u16) {
        return Vec::new();
    }
    ev.tags
        .iter()
        .filter_map(|t| {
            let v = t.as_slice();
            (v.len() >= 2 && v[0] == "e")
                .then(|| EventId::from_hex(&v[1]).ok())
                .flatten()
        })
        .collect()
}

/// The SPSP tag of a job (URL-safe, derived from the acceptance or request id).
pub fn job_tag(id: &EventId) -> String {
    id.to_hex()[..24].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollcast_events::jobs::Rendition;
    use tollcast_events::{Price, StreamAddress};

    fn req(k: &Keys) -> TranscodeRequest {
        TranscodeRequest {
            stream: StreamAddress::new(k.public_key(), "s"),
            source_urls: vec!["http://127.0.0.1:1".into()],
            output: "video/mp4".into(),
            renditions: vec![Rendition {
                name: "240p".into(),
                width: 426,
                height: 240,
                bitrate: 300_000,
            }],
            codec: Some("h264".into()),
            bid_per_minute: Some(Price::new(100, "USD", 6)),
            providers: vec![],
            relays: vec![],
        }
    }

    #[test]
    fn request_acceptance_and_cancel_round_trip() {
        let k = Keys::generate();
        let t = Keys::generate();
        let r = req(&k);
        let ev = sign_request(&r, 0.25, 2.0, &k).unwrap();
        assert_eq!(TranscodeRequest::from_event(&ev).unwrap(), r);
        assert_eq!(cut_targets(&ev), (Some(0.25), Some(2.0)));
        assert!(acceptance_of(&ev).is_none());
        let offer = EventId::from_byte_array([7u8; 32]);
        let acc = sign_acceptance(&r, &ev, offer, t.public_key(), &k).unwrap();
        assert_eq!(acceptance_of(&acc), Some((ev.id, offer)));
        let parsed = TranscodeRequest::from_event(&acc).unwrap();
        assert_eq!(parsed.providers, vec![t.public_key()]);
        assert_eq!(cut_targets(&acc), (Some(0.25), Some(2.0)));
        let c = sign_cancel(acc.id, "verifier: bad segment", &k).unwrap();
        assert_eq!(deleted_ids(&c), vec![acc.id]);
        assert_eq!(job_tag(&acc.id).len(), 24);
    }
}

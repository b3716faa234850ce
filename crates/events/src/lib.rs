//! tollcast-events: the Nostr event kinds tollcast speaks and their TOON mapping.
//!
//! Owns typed builders/parsers for live events (NIP-53 30311, chat 1311), NIP-90 jobs,
//! segment manifests, relay offers, moderation events, and the TOON encoding of signed
//! events carried inside ILP packets ([`toon`]). Keys, events, signatures, NIP-19 and
//! NIP-44 v2 come from the `nostr` crate, re-exported as [`nostr`].
//!
//! Every parser (`X::from_event`) first verifies the event id and BIP-340 signature, then the
//! kind, then the tags; it returns a typed [`EventError`] and never panics. Every builder
//! (`X::sign`) signs with a [`nostr::Keys`]. Unknown extra tags are ignored by parsers.
//!
//! # The kinds (this table is the spec other tollcast nodes follow)
//!
//! Numbers are decimal strings in tags. Hashes are 64 lower-case hex chars of SHA-256.
//! A *stream address* is `30311:<creator pubkey hex>:<d>`. A *price* is three values
//! `<amount in base units>, <asset code>, <asset scale>` (ILP style, e.g. `1000, USD, 6`).
//!
//! | kind | name | module | content | tags (in the order builders write them; `?` optional, `*` repeated) |
//! |---|---|---|---|---|
//! | 30311 | live event (NIP-53, addressable) | [`live`] | empty | `d`; `title`?; `summary`?; `image`?; `t`*; `streaming`* (LL-HLS URLs); `recording`?; `starts`? / `ends`? (unix s); `status`? (`planned`/`live`/`ended`); `current_participants`?; `total_participants`?; `p`* `[p, pubkey, relay, role, proof?]` (roles: `Host`, or agent roles `transcoder`, `relay`, `moderator`…); `relays`? `[relays, url…]` |
//! | 1311 | live chat (NIP-53) | [`chat`] | the message | `a` `[a, stream address, relay hint, "root"]`; `e`? reply target |
//! | 5200 | transcode job request (NIP-90 "Video Conversion", registry kinds/5200) | [`jobs`] | empty | `i` `[i, stream address, "event"]`; `a` stream address; `i`* `[i, url, "url", "", "source"]` source part locations; `output` MIME; `param`+ `[param, "rendition", name, "<w>x<h>", bitrate bps]`; `param`? `[param, "codec", c]`; `bid`? price per transcoded minute; `p`* preferred providers; `relays`? |
//! | 6200 (request + 1000) | job result (NIP-90) | [`jobs`] | result payload (e.g. rendition URLs) | `request`? request JSON; `e` request id; `p` customer; `amount`? price |
//! | 7000 | job feedback (NIP-90) | [`jobs`] | empty or partial result | `status` `[status, payment-required/processing/error/success/partial, info?]`; `amount`? price (per minute for transcoding); `ilp`? ILP address to pay (both required with `payment-required`); `e` request id; `p` customer |
//! | 31311 | **segment manifest** (tollcast, addressable) | [`manifest`] | empty | `d` = `<stream address>/<rendition>/<msn>`; `a` stream address; `rendition` (no `/`); `msn` media sequence number; `init` hash of the init segment; `part`* `[part, hash, duration µs, size bytes, independent 1/0]` (≤ 1024, sizes sum to the segment size); `segment` `[segment, hash, size]`; `duration` µs; `captured` first-frame wall clock, unix ms; `source`* hashes of the source segment(s) a transcoded rendition came from; `role` `streamer`/`transcoder`/`relay`/`viewer`/`moderator`/`recorder` |
//! | 21311 | **part manifest** (tollcast, ephemeral: fanned out live, never stored) | [`part_manifest`] | empty | `a` stream address; `rendition` (no `/`); `msn` of the open segment; `init` hash of the init segment; `part`+ `[part, hash, duration µs, size bytes, independent 1/0]`: the segment's parts so far, cumulative (1..=1024); `captured` first-frame wall clock of the segment, unix ms; `role`. Signed by the same producer right after each part is stored, so relays serve a part before its segment's 31311 exists |
//! | 31312 | **relay offer** (tollcast, addressable) | [`offer`] | empty | `d` = stream address or `*`; `a`? stream address; `price`+ `[price, "minute" or "gb", amount, asset, scale]` (≤ 1 per unit; gb = 10^9 bytes); `ilp` ILP address; `spsp`* SPSP endpoints; `url`? LL-HLS base URL; `upstream`? origin URL or upstream relay pubkey; `load`? `[load, viewers, capacity]`; `expiration`? (NIP-40, unix s) |
//! | 1984 | report (NIP-56) | [`moderation`] | free text | `p` `[p, pubkey, type]`; `e`? `[e, id, type]`; type ∈ nudity, malware, profanity, illegal, spam, impersonation, other |
//! | 1985 | takedown vote (NIP-32 label) | [`moderation`] | reason | `L` `tollcast.moderation`; `l` `[l, "takedown" or "keep", "tollcast.moderation"]`; `a` stream address; `e`? target event |
//! | 30311 (extra tags) | chat and tip settings of a live event (read by `tollcast_agents::chat::ChatSettings`) | — | — | `chat_price` `[chat_price, amount, asset, scale]` per chat message or reaction (creator and `p` role `moderator` free); `slow_mode` seconds between one author's messages; `chat_mode` `subscribers` (only payers with a tip receipt); `tip`* `[tip, endpoint URL, receiving agent pubkey]` |
//! | 7 | reaction (NIP-25) to a chat line | [`reaction`] | `+`, `-` or emoji | `e` target; `p` its author; `a` stream address; `k` target kind |
//! | 9736 | **tip request** (tollcast, like NIP-57 9734; sent to the receiving agent, not published) | [`tip`] | tip message | `p` creator; `a` stream address; `amount` price; `relays`? |
//! | 9737 | **tip receipt** (tollcast, like NIP-57 9735; signed by the creator's receiving agent) | [`tip`] | tip message | `p` creator; `P` payer; `a`; `e` request id; `amount` delivered (receiver's asset); `ilp` receiving address; `stream_receipt` RFC 0039 receipt hex; `description` request JSON |
//! | 1985 | takedown proposal / appeal / relay notice (NIP-32 labels) | [`moderation`] | case / argument / JSON reason | `L` `tollcast.moderation`; `l` `proposal`, `appeal`, `taken-down` or `restored`; `a` stream; proposal: `threshold`, `p`* panel; notice: `p`* deciding moderators |
//! | 34235 (21 parsed) | recording (NIP-71 addressable normal video) | [`vod`] | summary | `d` recorded stream address; `title`; `published_at`?; `alt`?; `imeta`+ (`url`, `m` application/x-mpegURL, `x` SHA-256 of the playlist, `dim`?, `duration`?, `bitrate`?, `fallback`*, `service tollcast`); `duration`?; `t`*; `p`* host; `a`? live event |
//! | 10000 / 30000 | mute list / per-stream block set (NIP-51) | [`moderation`] | empty | `p`* pubkeys; `word`* lower-case words; 30000: `d` = `block:<stream address>` |
//!
//! Kinds 31311/31312 are tollcast's own: addressable (relays keep the newest per author and
//! `d`), not used by any NIP or by the DVM registry at the time of writing. Kind 21311 is its
//! ephemeral companion (NIP-01 range 20000-29999), likewise unused elsewhere.
//!
//! # Events inside ILP packets
//!
//! [`toon::event_to_ilp_data`] / [`toon::event_from_ilp_data`]: PREPARE `data` is the UTF-8
//! TOON text of the signed event (M2M G2 wire, `protocol/m2m.md` §5-§6), see [`toon`].

pub mod chat;
pub mod error;
pub mod jobs;
pub mod live;
pub mod manifest;
pub mod moderation;
pub mod offer;
pub mod part_manifest;
pub mod reaction;
pub mod split;
pub mod tags;
pub mod tip;
pub mod toon;
pub mod vod;

pub use error::{BuildError, EventError, ToonEventError};
pub use nostr;
pub use tags::{Price, Role, Sha256, StreamAddress};
pub use toon::{event_from_ilp_data, event_to_ilp_data, from_toon, to_toon};

use nostr::prelude::{Event, EventBuilder, FinalizeEvent, Keys, Timestamp};

/// Verify an event's id (NIP-01 hash) and BIP-340 signature.
pub fn verify(ev: &Event) -> Result<(), EventError> {
    ev.verify().map_err(|e| EventError::Verify(e.to_string()))
}

/// Sign `b` with `keys`, at `created_at` (unix seconds) or now.
pub(crate) fn finish(
    b: EventBuilder,
    keys: &Keys,
    created_at: Option<u64>,
) -> Result<Event, BuildError> {
    let b = match created_at {
        Some(t) => b.custom_created_at(Timestamp::from_secs(t)),
        None => b,
    };
    b.finalize(keys)
        .map_err(|e| BuildError::Sign(e.to_string()))
}

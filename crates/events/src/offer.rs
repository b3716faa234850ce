//! Relay offer (tollcast kind 31312, addressable): a relay agent advertises what it serves,
//! at what price, where to pay it and how loaded it is, so viewers can choose.
//!
//! An `spsp` tag holds an SPSP (HTTP) endpoint or, as a NIP-21 URI `nostr:nprofile1…` /
//! `nostr:npub1…` ([`SpspNostr`]), a key that answers SPSP over Nostr (kinds 23194/23195) on
//! the relays the nprofile names. Relays list their HTTP endpoint first, so readers that take
//! the first `spsp` value as a URL keep working.

use nostr::nips::nip19::{FromBech32, Nip19Profile, ToBech32};
use nostr::prelude::{Event, EventBuilder, Keys, Kind, PublicKey, RelayUrl, Timestamp};

use crate::error::{BuildError, EventError};
use crate::tags::{Price, StreamAddress, all, check, parse_u64, single, single_value, tag, val};

/// tollcast relay offer (addressable; `d` = the stream address, or `*` for any stream).
pub const KIND_RELAY_OFFER: u16 = 31312;

/// Current load: `["load", viewers, capacity]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    /// Viewers being served now.
    pub viewers: u64,
    /// Viewers the relay accepts at most.
    pub capacity: u64,
}

/// URI prefix of an `spsp` value that names a Nostr key (NIP-21).
pub const SPSP_NOSTR_SCHEME: &str = "nostr:";

/// A key answering SPSP over Nostr, and the Nostr relays to ask it on (empty: wherever the
/// offer was found).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpspNostr {
    pub pubkey: PublicKey,
    pub relays: Vec<String>,
}

impl SpspNostr {
    /// `nostr:nprofile1…` (or `nostr:npub1…` without relays; relay URLs that do not parse
    /// are left out).
    pub fn to_uri(&self) -> String {
        let relays: Vec<RelayUrl> = self
            .relays
            .iter()
            .filter_map(|u| RelayUrl::parse(u).ok())
            .collect();
        let bech = if relays.is_empty() {
            self.pubkey.to_bech32().map_err(|e| e.to_string())
        } else {
            Nip19Profile::new(self.pubkey, relays)
                .to_bech32()
                .map_err(|e| e.to_string())
        };
        match bech {
            Ok(b) => format!("{SPSP_NOSTR_SCHEME}{b}"),
            // Encoding a valid key cannot fail; hex is still a valid NIP-21-style fallback.
            Err(_) => format!("{SPSP_NOSTR_SCHEME}{}", self.pubkey.to_hex()),
        }
    }

    /// Parse `nostr:nprofile1…`, `nostr:npub1…` or `nostr:<64 hex>`.
    pub fn parse(s: &str) -> Result<Self, EventError> {
        let rest = s
            .strip_prefix(SPSP_NOSTR_SCHEME)
            .ok_or_else(|| EventError::bad("spsp", format!("`{s}` is not a nostr: URI")))?;
        if rest.starts_with("nprofile1") {
            let p = Nip19Profile::from_bech32(rest)
                .map_err(|e| EventError::bad("spsp", format!("nprofile: {e}")))?;
            return Ok(Self {
                pubkey: p.public_key,
                relays: p
                    .relays
                    .iter()
                    .map(|u| u.as_str().trim_end_matches('/').to_string())
                    .collect(),
            });
        }
        let pubkey = PublicKey::parse(rest)
            .map_err(|e| EventError::bad("spsp", format!("`{rest}`: {e}")))?;
        Ok(Self {
            pubkey,
            relays: Vec::new(),
        })
    }
}

/// A relay's offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayOffer {
    /// `a`: the stream served; `None` = any stream (then `d` is `*`).
    pub stream: Option<StreamAddress>,
    /// `["price", "minute", amount, asset, scale]`: per watched minute.
    pub price_per_minute: Option<Price>,
    /// `["price", "gb", amount, asset, scale]`: per 10^9 bytes delivered.
    pub price_per_gb: Option<Price>,
    /// `ilp`: the relay's ILP address (required).
    pub ilp_address: String,
    /// `spsp`: SPSP endpoints (`https://…/.well-known/pay` or `$host/path`).
    pub spsp: Vec<String>,
    /// `url`: base URL of the relay's LL-HLS origin for this stream.
    pub url: Option<String>,
    /// `upstream`: where the relay pulls from (origin URL or upstream relay pubkey).
    pub upstream: Option<String>,
    /// `load`.
    pub load: Option<Load>,
    /// NIP-40 `expiration` (unix seconds): ignore the offer afterwards.
    pub expires_at: Option<u64>,
}

impl RelayOffer {
    /// The `d` identifier.
    pub fn identifier(&self) -> String {
        self.stream
            .as_ref()
            .map_or_else(|| "*".to_string(), |s| s.to_string())
    }

    /// The unsigned event.
    pub fn to_builder(&self) -> Result<EventBuilder, BuildError> {
        if self.price_per_minute.is_none() && self.price_per_gb.is_none() {
            return Err(BuildError::Invalid(
                "an offer needs a price per minute or per GB".into(),
            ));
        }
        if self.ilp_address.is_empty() {
            return Err(BuildError::Invalid("an offer needs an ILP address".into()));
        }
        let mut b = EventBuilder::new(Kind::from(KIND_RELAY_OFFER), "")
            .tag(tag(&["d", &self.identifier()]));
        if let Some(s) = &self.stream {
            b = b.tag(tag(&["a", &s.to_string()]));
        }
        for (unit, p) in [
            ("minute", &self.price_per_minute),
            ("gb", &self.price_per_gb),
        ] {
            if let Some(p) = p {
                let [a, c, s] = p.values();
                b = b.tag(tag(&["price", unit, &a, &c, &s]));
            }
        }
        b = b.tag(tag(&["ilp", &self.ilp_address]));
        for s in &self.spsp {
            b = b.tag(tag(&["spsp", s]));
        }
        if let Some(u) = &self.url {
            b = b.tag(tag(&["url", u]));
        }
        if let Some(u) = &self.upstream {
            b = b.tag(tag(&["upstream", u]));
        }
        if let Some(l) = self.load {
            b = b.tag(tag(&[
                "load",
                &l.viewers.to_string(),
                &l.capacity.to_string(),
            ]));
        }
        if let Some(e) = self.expires_at {
            b = b.tag(nostr::prelude::Tag::expiration(Timestamp::from_secs(e)));
        }
        Ok(b)
    }

    /// Sign with `keys`.
    pub fn sign(&self, keys: &Keys, created_at: Option<u64>) -> Result<Event, BuildError> {
        crate::finish(self.to_builder()?, keys, created_at)
    }

    /// Parse and verify a kind-31312 event.
    pub fn from_event(ev: &Event) -> Result<Self, EventError> {
        check(ev, KIND_RELAY_OFFER, "31312")?;
        let stream = match single(ev, "a")? {
            Some(t) => Some(val(t, 1, "a")?.parse::<StreamAddress>()?),
            None => None,
        };
        let (mut per_min, mut per_gb) = (None, None);
        for t in all(ev, "price") {
            let slot = match val(t, 1, "price")? {
                "minute" => &mut per_min,
                "gb" => &mut per_gb,
                o => {
                    return Err(EventError::bad(
                        "price",
                        format!("unknown unit `{o}` (minute or gb)"),
                    ));
                }
            };
            if slot.is_some() {
                return Err(EventError::DuplicateTag("price"));
            }
            *slot = Some(Price::parse(t, 2, "price")?);
        }
        if per_min.is_none() && per_gb.is_none() {
            return Err(EventError::MissingTag("price"));
        }
        let load = match single(ev, "load")? {
            Some(t) => Some(Load {
                viewers: parse_u64(val(t, 1, "load")?, "load")?,
                capacity: parse_u64(val(t, 2, "load")?, "load")?,
            }),
            None => None,
        };
        let offer = RelayOffer {
            stream,
            price_per_minute: per_min,
            price_per_gb: per_gb,
            ilp_address: single_value(ev, "ilp")?.ok_or(EventError::MissingTag("ilp"))?,
            spsp: all(ev, "spsp")
                .map(|t| val(t, 1, "spsp").map(str::to_string))
                .collect::<Result<_, _>>()?,
            url: single_value(ev, "url")?,
            upstream: single_value(ev, "upstream")?,
            load,
            expires_at: single_value(ev, "expiration")?
                .map(|v| parse_u64(&v, "expiration"))
                .transpose()?,
        };
        let d = single_value(ev, "d")?.ok_or(EventError::MissingTag("d"))?;
        if d != offer.identifier() {
            return Err(EventError::bad(
                "d",
                format!("`{d}` is not `{}`", offer.identifier()),
            ));
        }
        Ok(offer)
    }

    /// The SPSP endpoints reached over HTTP(S) (every `spsp` value but `nostr:` URIs).
    pub fn spsp_http(&self) -> impl Iterator<Item = &str> {
        self.spsp
            .iter()
            .map(String::as_str)
            .filter(|s| !s.starts_with(SPSP_NOSTR_SCHEME))
    }

    /// The first well-formed `nostr:` SPSP value: a key answering SPSP over Nostr.
    pub fn spsp_nostr(&self) -> Option<SpspNostr> {
        self.spsp
            .iter()
            .filter(|s| s.starts_with(SPSP_NOSTR_SCHEME))
            .find_map(|s| SpspNostr::parse(s).ok())
    }

    /// Whether the offer has expired at unix time `now`.
    pub fn is_expired_at(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spsp_over_nostr_is_an_additive_spsp_value() {
        let keys = Keys::generate();
        let n = SpspNostr {
            pubkey: keys.public_key(),
            relays: vec!["ws://127.0.0.1:7777/nostr".into()],
        };
        let uri = n.to_uri();
        assert!(uri.starts_with("nostr:nprofile1"), "{uri}");
        assert_eq!(SpspNostr::parse(&uri).unwrap(), n);
        let bare = SpspNostr {
            pubkey: keys.public_key(),
            relays: vec![],
        };
        assert!(bare.to_uri().starts_with("nostr:npub1"));
        assert_eq!(SpspNostr::parse(&bare.to_uri()).unwrap(), bare);
        assert!(SpspNostr::parse("nostr:nprofile1zzz").is_err());
        assert!(SpspNostr::parse("http://x/.well-known/pay").is_err());

        let offer = RelayOffer {
            stream: None,
            price_per_minute: Some(Price::new(60, "USD", 6)),
            price_per_gb: None,
            ilp_address: "test.relay".into(),
            spsp: vec!["http://127.0.0.1:1/.well-known/pay".into(), uri.clone()],
            url: None,
            upstream: None,
            load: None,
            expires_at: None,
        };
        let ev = offer.sign(&keys, None).unwrap();
        let back = RelayOffer::from_event(&ev).unwrap();
        assert_eq!(back, offer);
        // Readers taking the first value still find the HTTP endpoint.
        assert_eq!(back.spsp[0], "http://127.0.0.1:1/.well-known/pay");
        assert_eq!(
            back.spsp_http().collect::<Vec<_>>(),
            vec!["http://127.0.0.1:1/.well-known/pay"]
        );
        assert_eq!(back.spsp_nostr(), Some(n));
        // An offer of old (HTTP only) has none.
        let old = RelayOffer {
            spsp: vec!["http://127.0.0.1:1/.well-known/pay".into()],
            ..offer
        };
        assert_eq!(old.spsp_nostr(), None);
    }
}

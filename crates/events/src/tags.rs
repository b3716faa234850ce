//! Small, panic-free helpers for reading and writing tags, shared by the kind modules,
//! plus the value types several kinds use (stream address, price, role, SHA-256 hash).

use std::fmt;
use std::str::FromStr;

use nostr::prelude::{Event, PublicKey, Tag};

use crate::error::EventError;
use crate::live::KIND_LIVE_EVENT;

/// Build a tag from string values. `values` must start with a non-empty name (all our call
/// sites pass a literal name), so this never fails; an empty slice yields a `["?"]` tag.
pub(crate) fn tag<S: AsRef<str>>(values: &[S]) -> Tag {
    let v: Vec<String> = values.iter().map(|s| s.as_ref().to_string()).collect();
    Tag::parse(v).unwrap_or_else(|_| Tag::parse(["?"]).expect("non-empty tag"))
}

/// All tags named `name`, as string slices (name at index 0).
pub(crate) fn all<'a>(ev: &'a Event, name: &'a str) -> impl Iterator<Item = &'a [String]> + 'a {
    ev.tags
        .iter()
        .map(|t| t.as_slice())
        .filter(move |t| t.first().map(String::as_str) == Some(name))
}

/// The tag named `name` if present at most once.
pub(crate) fn single<'a>(
    ev: &'a Event,
    name: &'static str,
) -> Result<Option<&'a [String]>, EventError> {
    let mut it = all(ev, name);
    let first = it.next();
    if it.next().is_some() {
        return Err(EventError::DuplicateTag(name));
    }
    Ok(first)
}

/// The tag named `name`, present exactly once.
pub(crate) fn required<'a>(ev: &'a Event, name: &'static str) -> Result<&'a [String], EventError> {
    single(ev, name)?.ok_or(EventError::MissingTag(name))
}

/// Value at `idx` of a tag (index 1 is the first value).
pub(crate) fn val<'a>(
    t: &'a [String],
    idx: usize,
    name: &'static str,
) -> Result<&'a str, EventError> {
    t.get(idx)
        .map(String::as_str)
        .ok_or_else(|| EventError::bad(name, format!("value #{idx} is missing")))
}

/// Optional non-empty value at `idx`.
pub(crate) fn opt_val(t: &[String], idx: usize) -> Option<String> {
    t.get(idx).filter(|s| !s.is_empty()).cloned()
}

/// First value of the single tag `name`, if present.
pub(crate) fn single_value(ev: &Event, name: &'static str) -> Result<Option<String>, EventError> {
    Ok(match single(ev, name)? {
        Some(t) => Some(val(t, 1, name)?.to_string()),
        None => None,
    })
}

pub(crate) fn parse_u64(s: &str, name: &'static str) -> Result<u64, EventError> {
    // Decimal digits only: no sign, no spaces, no leading '+' (u64::from_str accepts '+').
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EventError::bad(
            name,
            format!("`{s}` is not a decimal integer"),
        ));
    }
    s.parse()
        .map_err(|_| EventError::bad(name, format!("`{s}` is out of range")))
}

pub(crate) fn parse_pubkey(s: &str, name: &'static str) -> Result<PublicKey, EventError> {
    if s.len() != 64 {
        return Err(EventError::bad(
            name,
            "public key must be 64 hex characters",
        ));
    }
    PublicKey::from_hex(s).map_err(|e| EventError::bad(name, format!("bad public key: {e}")))
}

pub(crate) fn parse_hash(s: &str, name: &'static str) -> Result<Sha256, EventError> {
    s.parse().map_err(|_| {
        EventError::bad(
            name,
            format!("`{s}` is not a 64-character lower-case SHA-256 hex"),
        )
    })
}

/// Check id + signature, then the kind.
pub(crate) fn check(ev: &Event, kind: u16, expected: &'static str) -> Result<(), EventError> {
    crate::verify(ev)?;
    if ev.kind.as_u16() != kind {
        return Err(EventError::WrongKind {
            expected,
            got: ev.kind.as_u16(),
        });
    }
    Ok(())
}

/// A SHA-256 digest, written as 64 lower-case hex characters in tags (Blossom style).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256({self})")
    }
}

impl FromStr for Sha256 {
    type Err = hex::FromHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(hex::FromHexError::InvalidHexCharacter { c: 'A', index: 0 });
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)?;
        Ok(Sha256(out))
    }
}

/// The address of a NIP-53 live event: `30311:<author pubkey hex>:<d identifier>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamAddress {
    /// The stream's author (the creator).
    pub pubkey: PublicKey,
    /// The live event's `d` tag.
    pub identifier: String,
}

impl StreamAddress {
    /// Address of the creator's stream `identifier`.
    pub fn new(pubkey: PublicKey, identifier: impl Into<String>) -> Self {
        StreamAddress {
            pubkey,
            identifier: identifier.into(),
        }
    }

    /// NIP-19 `naddr` (bech32) of the live event, with optional relay hints.
    pub fn to_naddr(&self, relays: &[&str]) -> Result<String, EventError> {
        use nostr::nips::nip01::Coordinate;
        use nostr::nips::nip19::{Nip19Coordinate, ToBech32};
        let coordinate = Coordinate::new(nostr::prelude::Kind::from(KIND_LIVE_EVENT), self.pubkey)
            .identifier(self.identifier.clone());
        let mut urls = Vec::new();
        for r in relays {
            urls.push(
                nostr::prelude::RelayUrl::parse(r)
                    .map_err(|e| EventError::bad("relays", format!("{r}: {e}")))?,
            );
        }
        Nip19Coordinate {
            coordinate,
            relays: urls,
        }
        .to_bech32()
        .map_err(|e| EventError::bad("a", format!("naddr: {e}")))
    }

    /// Parse a NIP-19 `naddr` that points at a kind-30311 live event.
    pub fn from_naddr(naddr: &str) -> Result<Self, EventError> {
        use nostr::nips::nip19::{FromBech32, Nip19Coordinate};
        let c = Nip19Coordinate::from_bech32(naddr)
            .map_err(|e| EventError::bad("a", format!("naddr: {e}")))?;
        if c.coordinate.kind.as_u16() != KIND_LIVE_EVENT {
            return Err(EventError::bad(
                "a",
                "naddr does not point at a kind-30311 live event",
            ));
        }
        Ok(StreamAddress::new(
            c.coordinate.public_key,
            c.coordinate.identifier.clone(),
        ))
    }
}

impl fmt::Display for StreamAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{KIND_LIVE_EVENT}:{}:{}",
            self.pubkey.to_hex(),
            self.identifier
        )
    }
}

impl FromStr for StreamAddress {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut it = s.splitn(3, ':');
        let (k, pk, d) = match (it.next(), it.next(), it.next()) {
            (Some(k), Some(pk), Some(d)) => (k, pk, d),
            _ => return Err(EventError::bad("a", "expected `30311:<pubkey>:<d>`")),
        };
        if k != "30311" {
            return Err(EventError::bad(
                "a",
                format!("address kind {k} is not 30311"),
            ));
        }
        Ok(StreamAddress::new(parse_pubkey(pk, "a")?, d))
    }
}

/// An amount of money in an asset's base units (ILP style: code + scale).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    /// Amount in base units (10^-scale of the asset).
    pub amount: u64,
    /// Asset code, e.g. `USD`.
    pub asset_code: String,
    /// Asset scale, e.g. 6 for micro-dollars.
    pub asset_scale: u8,
}

impl Price {
    /// A price of `amount` base units of `asset_code` at `asset_scale`.
    pub fn new(amount: u64, asset_code: impl Into<String>, asset_scale: u8) -> Self {
        Price {
            amount,
            asset_code: asset_code.into(),
            asset_scale,
        }
    }

    /// Values written after a tag name: amount, asset code, scale.
    pub(crate) fn values(&self) -> [String; 3] {
        [
            self.amount.to_string(),
            self.asset_code.clone(),
            self.asset_scale.to_string(),
        ]
    }

    /// Parse `t[at..at+3]` = amount, asset code, scale.
    pub(crate) fn parse(t: &[String], at: usize, name: &'static str) -> Result<Self, EventError> {
        let amount = parse_u64(val(t, at, name)?, name)?;
        let code = val(t, at + 1, name)?;
        if code.is_empty() || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(EventError::bad(name, format!("bad asset code `{code}`")));
        }
        let scale = parse_u64(val(t, at + 2, name)?, name)?;
        if scale > 18 {
            return Err(EventError::bad(
                name,
                format!("asset scale {scale} is above 18"),
            ));
        }
        Ok(Price::new(amount, code, scale as u8))
    }
}

/// The role of the agent that produced or serves something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Captures and publishes the source.
    Streamer,
    /// Produces renditions from the source (NIP-90 job).
    Transcoder,
    /// Caches and serves parts to viewers.
    Relay,
    /// Watches and pays.
    Viewer,
    /// Reviews, reports and votes.
    Moderator,
    /// Keeps segments for VOD.
    Recorder,
}

impl Role {
    /// The tag value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Streamer => "streamer",
            Role::Transcoder => "transcoder",
            Role::Relay => "relay",
            Role::Viewer => "viewer",
            Role::Moderator => "moderator",
            Role::Recorder => "recorder",
        }
    }
}

impl FromStr for Role {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "streamer" => Role::Streamer,
            "transcoder" => Role::Transcoder,
            "relay" => Role::Relay,
            "viewer" => Role::Viewer,
            "moderator" => Role::Moderator,
            "recorder" => Role::Recorder,
            other => return Err(EventError::bad("role", format!("unknown role `{other}`"))),
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

//! Validated ILP addresses (RFC 0015).
//!
//! An address is an allocation scheme (`g`, `private`, `example`, `peer`, `self`, `test`,
//! `test1`..`test3`, `local`) followed by one or more `.`-separated segments of
//! `[a-zA-Z0-9_~-]+`, at most 1023 bytes in total. [`Address`] holds an `Arc<str>`, so clones are
//! cheap and it can be shared across routing tables and tasks.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// Longest valid address, in bytes.
pub const MAX_ADDRESS_LEN: usize = 1023;

/// Allocation schemes RFC 0015 allows as the first segment.
pub const SCHEMES: [&str; 10] = [
    "g", "private", "example", "peer", "self", "test", "test1", "test2", "test3", "local",
];

/// Why a string is not a valid ILP address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Empty string.
    #[error("ILP address is empty")]
    Empty,
    /// Longer than 1023 bytes.
    #[error("ILP address is {0} bytes long, the maximum is 1023")]
    TooLong(usize),
    /// First segment is not an allocation scheme.
    #[error(
        "ILP address must start with an allocation scheme (g, private, example, peer, self, test, test1, test2, test3, local), got {0:?}"
    )]
    BadScheme(String),
    /// Only a scheme, no segment after it.
    #[error("ILP address needs at least one segment after the allocation scheme {0:?}")]
    NoSegments(String),
    /// A `..`, a leading/trailing dot.
    #[error("ILP address has an empty segment at byte {0}")]
    EmptySegment(usize),
    /// A byte outside `[a-zA-Z0-9_~-.]`.
    #[error(
        "ILP address has invalid character {ch:?} at byte {at} (allowed: a-z A-Z 0-9 _ ~ - and . between segments)"
    )]
    BadChar {
        /// The offending character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
}

/// A validated ILP address.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(Arc<str>);

fn is_segment_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'~' || b == b'-'
}

/// Checks `s` against the RFC 0015 rules.
pub fn validate(s: &str) -> Result<(), AddressError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(AddressError::Empty);
    }
    if bytes.len() > MAX_ADDRESS_LEN {
        return Err(AddressError::TooLong(bytes.len()));
    }
    let mut seg_start = 0;
    let mut segments = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'.' {
            if i == seg_start {
                return Err(AddressError::EmptySegment(i));
            }
            if segments == 0 && !SCHEMES.contains(&&s[..i]) {
                return Err(AddressError::BadScheme(s[..i].to_string()));
            }
            segments += 1;
            seg_start = i + 1;
        } else if !is_segment_byte(b) {
            let ch = s[i..].chars().next().unwrap_or('\u{fffd}');
            return Err(AddressError::BadChar { ch, at: i });
        }
    }
    if seg_start == bytes.len() {
        return Err(AddressError::EmptySegment(bytes.len()));
    }
    if segments == 0 {
        return Err(if SCHEMES.contains(&s) {
            AddressError::NoSegments(s.to_string())
        } else {
            AddressError::BadScheme(s.to_string())
        });
    }
    Ok(())
}

impl Address {
    /// Validates and wraps `s`.
    pub fn new(s: &str) -> Result<Address, AddressError> {
        validate(s)?;
        Ok(Address(Arc::from(s)))
    }

    /// Validates UTF-8/ASCII bytes (e.g. from a packet) as an address.
    pub fn from_bytes(b: &[u8]) -> Result<Address, AddressError> {
        match std::str::from_utf8(b) {
            Ok(s) => Address::new(s),
            Err(e) => {
                let at = e.valid_up_to();
                Err(AddressError::BadChar {
                    ch: char::from(b[at]),
                    at,
                })
            }
        }
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false (a valid address is never empty); present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `self` + `.` + `suffix` (suffix may itself contain dots), validated.
    pub fn with_suffix(&self, suffix: &str) -> Result<Address, AddressError> {
        let mut s = String::with_capacity(self.0.len() + 1 + suffix.len());
        s.push_str(&self.0);
        s.push('.');
        s.push_str(suffix);
        Address::new(&s)
    }

    /// The allocation scheme (first segment), e.g. `g` or `test`.
    pub fn scheme(&self) -> &str {
        self.0.split('.').next().unwrap_or("")
    }

    /// All `.`-separated segments, the scheme first.
    pub fn segments(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.split('.')
    }

    /// Segment-aware prefix test for routing: `g.a` is a prefix of `g.a` and `g.a.b` but not of
    /// `g.ab`. A prefix ending in `.` matches plainly (`g.a.` matches `g.a.b`); an empty prefix
    /// matches everything (a default route).
    pub fn starts_with(&self, prefix: impl AsRef<str>) -> bool {
        let p = prefix.as_ref();
        let s: &str = &self.0;
        if !s.starts_with(p) {
            return false;
        }
        p.is_empty() || p.len() == s.len() || p.ends_with('.') || s.as_bytes()[p.len()] == b'.'
    }
}

impl AsRef<str> for Address {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({:?})", &*self.0)
    }
}

impl FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::new(s)
    }
}

impl TryFrom<&str> for Address {
    type Error = AddressError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Address::new(s)
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        validate(&s)?;
        Ok(Address(Arc::from(s)))
    }
}

impl PartialEq<str> for Address {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Address {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        Address::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses() {
        for s in [
            "g.acme.bob",
            "peer.config",
            "test.a",
            "test1.x~y_z-0",
            "private.x",
            "example.alice",
            "self.a.b.c",
            "local.q",
        ] {
            assert!(Address::new(s).is_ok(), "{s}");
        }
        let long = format!("g.{}", "a".repeat(1021));
        assert!(Address::new(&long).is_ok());
        assert_eq!(
            Address::new(&format!("{long}a")),
            Err(AddressError::TooLong(1024))
        );
    }

    #[test]
    fn invalid_addresses() {
        assert_eq!(Address::new(""), Err(AddressError::Empty));
        assert!(matches!(
            Address::new("g"),
            Err(AddressError::NoSegments(_))
        ));
        assert!(matches!(
            Address::new("xyz.a"),
            Err(AddressError::BadScheme(_))
        ));
        assert!(matches!(
            Address::new("test4.a"),
            Err(AddressError::BadScheme(_))
        ));
        assert!(matches!(
            Address::new("g..a"),
            Err(AddressError::EmptySegment(2))
        ));
        assert!(matches!(
            Address::new("g.a."),
            Err(AddressError::EmptySegment(4))
        ));
        assert!(matches!(
            Address::new(".g.a"),
            Err(AddressError::EmptySegment(0))
        ));
        assert!(matches!(
            Address::new("g.a b"),
            Err(AddressError::BadChar { ch: ' ', at: 3 })
        ));
        assert!(matches!(
            Address::new("g.é"),
            Err(AddressError::BadChar { .. })
        ));
        assert!(Address::from_bytes(&[b'g', b'.', 0xff]).is_err());
    }

    #[test]
    fn routing_helpers() {
        let a = Address::new("g.acme.bob.stream").unwrap();
        assert_eq!(a.scheme(), "g");
        assert_eq!(
            a.segments().collect::<Vec<_>>(),
            ["g", "acme", "bob", "stream"]
        );
        assert!(a.starts_with("g.acme"));
        assert!(a.starts_with("g.acme."));
        let same = Address::new("g.acme.bob.stream").unwrap();
        assert!(a.starts_with(&same));
        assert!(a.starts_with(""));
        assert!(!a.starts_with("g.ac"));
        assert!(!a.starts_with("g.acme.bob.stream.x"));
        let b = a.with_suffix("conn~1").unwrap();
        assert_eq!(b.as_str(), "g.acme.bob.stream.conn~1");
        assert!(a.with_suffix("").is_err());
        assert_eq!(b.to_string().parse::<Address>().unwrap(), b);
        let j = serde_json::to_string(&b).unwrap();
        assert_eq!(j, "\"g.acme.bob.stream.conn~1\"");
        assert_eq!(serde_json::from_str::<Address>(&j).unwrap(), b);
        assert!(serde_json::from_str::<Address>("\"nope\"").is_err());
    }
}

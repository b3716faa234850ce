//! TOON (spec v4.0) encoding of signed Nostr events, and the generic JSON <-> TOON
//! conversion the CLI and the conformance tests use.
//!
//! Event layout (this is the wire text inside ILP PREPARE `data`, `protocol/m2m.md` §5.1/§6):
//! - fields in nostr-tools' `finalizeEvent` order: `kind, created_at, content, tags, pubkey, id, sig`
//!   (what every TypeScript M2M/TOON peer encodes, so our bytes equal theirs);
//! - `@toon-format/toon` 4.4.0 `encode()` defaults: indent 2, comma delimiter, `\uXXXX` for C0
//!   controls other than `\n \r \t`, no trailing newline;
//! - one deliberate difference from 4.4.0: an empty `tags` list is written in the legacy
//!   header form `tags[0]:` (allowed by spec v4.0 §9.1), because the `@toon-format/toon` 1.4.0
//!   decoders of G2 peers read 4.x's `tags: []` as the *string* `"[]"` and reject the event
//!   (m2m.md §6.3). Every decoder, 1.4.0 to 4.4.0 and ours, reads `tags[0]:` as `[]`.
//!
//! Decoding is strict TOON v4 and accepts any field order and either empty-array form, then
//! checks hex fields and verifies the event id and BIP-340 signature.

use std::borrow::Cow;

use bytes::Bytes;
use nostr::prelude::{Event, EventId, Kind, PublicKey, Signature, Tag, Timestamp};
use serde::Deserialize;
use serde_toon::{DecodeOptions, Delimiter, ToonOptions};

use crate::error::ToonEventError;

/// Largest TOON event we parse (4 MiB). ILP packets carry at most a few hundred kB of data
/// (500 kB blob chunks on M2M); this bounds the work an untrusted peer can cause.
pub const MAX_TOON_EVENT_BYTES: usize = 4 * 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventIn<'a> {
    kind: u16,
    created_at: u64,
    #[serde(borrow)]
    content: Cow<'a, str>,
    tags: Vec<Vec<String>>,
    #[serde(borrow)]
    pubkey: Cow<'a, str>,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    sig: Cow<'a, str>,
}

/// TOON text of a signed event, byte-identical to `@toon-format/toon` 4.4.0 `encode()` of the
/// event's JSON object in nostr-tools field order, except `tags[0]:` for empty tags (module doc).
///
/// Written directly rather than through `serde_toon::to_string`: the event has a fixed shape,
/// and serde_toon quotes strings that begin with U+FEFF, which 4.4.0 writes bare (both decode
/// to the same string; byte identity with the TypeScript peers is what matters on the wire).
/// The tests compare this writer with serde_toon, toon-format 0.7 and 4.4.0 on random events.
pub fn to_toon(event: &Event) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(256 + event.content.len() + 64 * event.tags.len());
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "kind: {}\ncreated_at: {}\ncontent: ",
        event.kind.as_u16(),
        event.created_at.as_secs()
    );
    push_value(&mut out, &event.content);
    let _ = write!(out, "\ntags[{}]:", event.tags.len());
    for t in event.tags.iter() {
        let t = t.as_slice();
        let _ = write!(out, "\n  - [{}]:", t.len());
        for (i, v) in t.iter().enumerate() {
            out.push(if i == 0 { ' ' } else { ',' });
            push_value(&mut out, v);
        }
    }
    out.push_str("\npubkey: ");
    push_value(&mut out, &event.pubkey.to_hex());
    out.push_str("\nid: ");
    push_value(&mut out, &event.id.to_hex());
    out.push_str("\nsig: ");
    push_value(&mut out, &event.sig.to_hex());
    out
}

/// Append a string value with comma as the active delimiter: bare when TOON v4 §7.2 allows,
/// else quoted with §7.1 escapes (`\\ \" \n \r \t`, other C0 controls as lower-case `\u00xx`).
fn push_value(out: &mut String, s: &str) {
    if !needs_quotes(s) {
        out.push_str(s);
        return;
    }
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(c as usize) >> 4] as char);
                out.push(HEX[(c as usize) & 15] as char);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// TOON v4 §7.2 quoting rule for a value (document and active delimiter: comma).
fn needs_quotes(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return true; // empty
    };
    first == b' '
        || last == b' '
        || first == b'-'
        || first == b'#'
        || matches!(s, "true" | "false" | "null")
        || b.iter().any(|&c| {
            c < 0x20 || matches!(c, b':' | b'"' | b'\\' | b'[' | b']' | b'{' | b'}' | b',')
        })
        || numeric_like(b)
}

/// `/^[+-]?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?$/i` (ASCII digits only).
fn numeric_like(b: &[u8]) -> bool {
    fn digits(b: &[u8], i: &mut usize) -> bool {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    }
    let mut i = 0;
    if i < b.len() && matches!(b[i], b'+' | b'-') {
        i += 1;
    }
    if !digits(b, &mut i) {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(b, &mut i) {
            return false;
        }
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'+' | b'-') {
            i += 1;
        }
        if !digits(b, &mut i) {
            return false;
        }
    }
    i == b.len()
}

/// Decode a TOON event (strict TOON v4), check its fields and verify its id and signature.
pub fn from_toon(text: &str) -> Result<Event, ToonEventError> {
    let event = from_toon_unverified(text)?;
    event
        .verify()
        .map_err(|e| ToonEventError::Verify(e.to_string()))?;
    Ok(event)
}

/// Decode and shape-check a TOON event without verifying id and signature (for tools that
/// want to report *why* an event is invalid; never use it to accept an event).
pub fn from_toon_unverified(text: &str) -> Result<Event, ToonEventError> {
    if text.len() > MAX_TOON_EVENT_BYTES {
        return Err(ToonEventError::TooLarge {
            len: text.len(),
            max: MAX_TOON_EVENT_BYTES,
        });
    }
    let raw: EventIn<'_> = serde_toon::from_str_with_options(text, DecodeOptions::strict())?;
    let id =
        EventId::from_hex(lower_hex(&raw.id, "id", 64)?).map_err(|_| ToonEventError::BadHex {
            field: "id",
            len: 64,
        })?;
    let pubkey = PublicKey::from_hex(lower_hex(&raw.pubkey, "pubkey", 64)?)
        .map_err(|e| ToonEventError::BadPubkey(e.to_string()))?;
    let sig = Signature::from_hex(lower_hex(&raw.sig, "sig", 128)?).map_err(|_| {
        ToonEventError::BadHex {
            field: "sig",
            len: 128,
        }
    })?;
    let mut tags = Vec::with_capacity(raw.tags.len());
    for (index, t) in raw.tags.into_iter().enumerate() {
        tags.push(Tag::parse(t).map_err(|_| ToonEventError::EmptyTag { index })?);
    }
    Ok(Event::new(
        id,
        pubkey,
        Timestamp::from_secs(raw.created_at),
        Kind::from(raw.kind),
        tags,
        raw.content.into_owned(),
        sig,
    ))
}

fn lower_hex<'a>(s: &'a str, field: &'static str, len: usize) -> Result<&'a str, ToonEventError> {
    if s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(s)
    } else {
        Err(ToonEventError::BadHex { field, len })
    }
}

/// ILP PREPARE `data` carrying `event`: the UTF-8 bytes of [`to_toon`], no prefix, no length,
/// no trailing newline (m2m.md §5.1).
pub fn event_to_ilp_data(event: &Event) -> Bytes {
    Bytes::from(to_toon(event).into_bytes())
}

/// The verified event carried in ILP `data` (UTF-8 TOON). Errors say why it is refused.
pub fn event_from_ilp_data(data: &[u8]) -> Result<Event, ToonEventError> {
    if data.len() > MAX_TOON_EVENT_BYTES {
        return Err(ToonEventError::TooLarge {
            len: data.len(),
            max: MAX_TOON_EVENT_BYTES,
        });
    }
    from_toon(std::str::from_utf8(data)?)
}

/// Options for generic JSON -> TOON encoding (spec v4.0 option names).
#[derive(Clone, Debug)]
pub struct EncodeOptions {
    /// `delimiter`: `,` (default), `\t` or `|`.
    pub delimiter: Delimiter,
    /// `indentSize`: spaces per level (default 2, at least 1).
    pub indent: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            delimiter: Delimiter::Comma,
            indent: 2,
        }
    }
}

/// Options for generic TOON -> JSON decoding (spec v4.0 option names).
#[derive(Clone, Copy, Debug)]
pub struct DecodeOpts {
    /// `strict` (default true): §14 validation.
    pub strict: bool,
    /// `indentSize` (default 2).
    pub indent: usize,
}

impl Default for DecodeOpts {
    fn default() -> Self {
        DecodeOpts {
            strict: true,
            indent: 2,
        }
    }
}

/// Parse a spec option delimiter string (`","`, `"\t"`, `"|"`, or the words comma/tab/pipe).
pub fn parse_delimiter(s: &str) -> Option<Delimiter> {
    match s {
        "," | "comma" => Some(Delimiter::Comma),
        "\t" | "tab" | "\\t" => Some(Delimiter::Tab),
        "|" | "pipe" => Some(Delimiter::Pipe),
        _ => None,
    }
}

/// Encode any JSON value as TOON with spec v4.0 defaults (empty arrays as `key: []`).
pub fn json_to_toon(
    value: &serde_json::Value,
    opts: &EncodeOptions,
) -> Result<String, serde_toon::Error> {
    let o = ToonOptions::new()
        .with_delimiter(opts.delimiter.clone())
        .with_indent(opts.indent);
    serde_toon::to_string_with_options(value, o)
}

/// Decode a TOON document into JSON (object key order kept).
pub fn toon_to_json(text: &str, opts: DecodeOpts) -> Result<serde_json::Value, serde_toon::Error> {
    let o = if opts.strict {
        DecodeOptions::strict()
    } else {
        DecodeOptions::lenient()
    }
    .with_indent_size(opts.indent);
    serde_toon::from_str_with_options(text, o)
}

/// The event as a JSON object in the same field order [`to_toon`] writes (nostr-tools order),
/// which is the object `@toon-format/toon` must be given to produce identical text.
pub fn event_to_json_value(event: &Event) -> serde_json::Value {
    serde_json::json!({
        "kind": event.kind.as_u16(),
        "created_at": event.created_at.as_secs(),
        "content": event.content,
        "tags": event.tags.iter().map(|t| t.as_slice()).collect::<Vec<_>>(),
        "pubkey": event.pubkey.to_hex(),
        "id": event.id.to_hex(),
        "sig": event.sig.to_hex(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nostr::prelude::{EventBuilder, FinalizeEvent, Keys, SecretKey};

    fn keys() -> Keys {
        Keys::new(SecretKey::from_hex(&format!("{:064x}", 3)).unwrap())
    }

    #[test]
    fn empty_tags_use_legacy_header_and_round_trip() {
        let ev = EventBuilder::new(Kind::from(1u16), "hello")
            .custom_created_at(Timestamp::from_secs(1_700_000_000))
            .finalize(&keys())
            .unwrap();
        let t = to_toon(&ev);
        assert!(t.starts_with(
            "kind: 1\ncreated_at: 1700000000\ncontent: hello\ntags[0]:\npubkey: f9308a"
        ));
        assert!(!t.ends_with('\n'));
        let back = from_toon(&t).unwrap();
        assert_eq!(back, ev);
        assert_eq!(to_toon(&back), t);
        // 4.x form decodes too.
        let modern = t.replace("tags[0]:", "tags: []");
        assert_eq!(from_toon(&modern).unwrap(), ev);
    }

    #[test]
    fn tampered_content_fails_verification() {
        let ev = EventBuilder::new(Kind::from(1311u16), "hi")
            .tag(Tag::parse(["t", "x"]).unwrap())
            .finalize(&keys())
            .unwrap();
        let t = to_toon(&ev).replace("content: hi", "content: ho");
        assert!(matches!(from_toon(&t), Err(ToonEventError::Verify(_))));
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate() {
        // Untrusted headers declare lengths; decoding must fail cleanly, not reserve memory.
        for doc in [
            "tags[4000000000]:",
            "kind: 1\ntags[18446744073709551615]:\n  - [1]: a",
            "kind: 1\ntags[1]:\n  - [4294967295]: a,b",
            "tags[99999999999999999999999]:",
        ] {
            assert!(from_toon(doc).is_err(), "{doc}");
        }
        let deep = "a:\n".to_string()
            + &(1..200)
                .map(|i| format!("{}b:\n", "  ".repeat(i)))
                .collect::<String>();
        assert!(from_toon(&deep).is_err());
    }

    #[test]
    fn rejects_shape_errors() {
        assert!(matches!(from_toon("kind: 1"), Err(ToonEventError::Toon(_))));
        assert!(from_toon("").is_err());
        assert!(from_toon("[2]: 1,2").is_err());
        let big = "a".repeat(MAX_TOON_EVENT_BYTES + 1);
        assert!(matches!(
            from_toon(&big),
            Err(ToonEventError::TooLarge { .. })
        ));
        assert!(matches!(
            event_from_ilp_data(&[0xff, 0xfe]),
            Err(ToonEventError::NotUtf8(_))
        ));
    }
}

//! Shared helpers for the integration tests: vector paths, JSON-model equality, test keys.
#![allow(dead_code)]

use std::path::PathBuf;

/// `<repo root>/../shared/vectors`.
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
}

/// `<repo root>`.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// TOON spec §2 JSON-model equality: numbers by mathematical value, objects by ordered keys.
pub fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
            (Some(p), Some(q), _, _) => p == q,
            (_, _, Some(p), Some(q)) => p == q,
            _ => x.as_f64() == y.as_f64(),
        },
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((ka, va), (kb, vb))| ka == kb && json_eq(va, vb))
        }
        _ => a == b,
    }
}

use nostr::prelude::{EventBuilder, FinalizeEvent, Keys, Kind, SecretKey, Tag, Timestamp};
use rand::{Rng, SeedableRng};

/// Strings that stress TOON quoting: controls, quotes, delimiters, number/bool look-alikes,
/// hyphen/hash prefixes, edge spaces, non-ASCII, BOM, separators.
const ATOMS: &[&str] = &[
    "",
    " ",
    "a",
    "hello world",
    "é",
    "ü",
    "😀",
    "日本語",
    "\u{0}",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "\n",
    "\r",
    "\t",
    "\"",
    "\\",
    ",",
    ":",
    "[",
    "]",
    "{",
    "}",
    "|",
    "-",
    "#",
    "-x",
    "#tag",
    "true",
    "false",
    "null",
    "42",
    "-3.14",
    "1e5",
    "05",
    ".5",
    "5.",
    "+1",
    "0x10",
    "\u{2028}",
    "\u{feff}",
    "\u{a0}",
    "wss://relay.example.com",
    " lead",
    "trail ",
];

pub fn rand_string(r: &mut impl Rng, max: usize) -> String {
    let n = r.random_range(0..=max);
    let mut s = String::new();
    for _ in 0..n {
        if r.random_bool(0.6) {
            s.push_str(ATOMS[r.random_range(0..ATOMS.len())]);
        } else {
            s.push(char::from(r.random_range(32u8..127)));
        }
    }
    s
}

/// A random event signed by `nostr` (deterministic per seed): random kind, time, content
/// (5% long), 0-6 tags (25% none) of 1-5 random strings.
pub fn random_event(seed: u64) -> nostr::prelude::Event {
    let mut r = rand::rngs::StdRng::seed_from_u64(seed);
    let mut sk = [0u8; 32];
    r.fill(&mut sk);
    sk[0] = 1 + sk[0] % 200;
    let keys = Keys::new(SecretKey::from_slice(&sk).unwrap());
    let content = if r.random_bool(0.05) {
        rand_string(&mut r, 4000)
    } else {
        rand_string(&mut r, 40)
    };
    let mut b = EventBuilder::new(Kind::from(r.random::<u16>()), content)
        .custom_created_at(Timestamp::from_secs(r.random_range(0..4_000_000_000)));
    if !r.random_bool(0.25) {
        for _ in 0..r.random_range(1..=6) {
            let len = r.random_range(1..=5);
            let v: Vec<String> = (0..len).map(|_| rand_string(&mut r, 6)).collect();
            b = b.tag(Tag::parse(v).unwrap());
        }
    }
    b.finalize(&keys).unwrap()
}

// Deterministic random Nostr events signed with nostr-tools (finalizeEvent), and an
// independent verifier (verifyEvent on a JSON.parse copy, so no cached verdict leaks in:
// nostr-tools stores the result on the object under a Symbol that spreads copy along).
import { finalizeEvent, verifyEvent } from 'nostr-tools/pure';

// mulberry32: small seeded PRNG, so a failing case can be reproduced from its seed.
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Strings that stress TOON quoting: controls, quotes, delimiters, number/bool look-alikes,
// hyphen/hash prefixes, edge spaces, non-ASCII, BOM, line/paragraph separators.
const ATOMS = ['', ' ', 'a', 'hello world', 'é', 'ü', '😀', '日本語', '\u0000', '\u0001', '\u001f', '\u007f',
  '\n', '\r', '\t', '"', '\\', ',', ':', '[', ']', '{', '}', '|', '-', '#', '-x', '#tag', 'true', 'false', 'null',
  '42', '-3.14', '1e5', '05', '.5', '5.', '+1', '0x10', '\u2028', '\ufeff', 'wss://relay.example.com', ' lead', 'trail '];

export function randString(r, max) {
  const n = Math.floor(r() * (max + 1));
  let s = '';
  for (let i = 0; i < n; i++) {
    s += r() < 0.6 ? ATOMS[Math.floor(r() * ATOMS.length)] : String.fromCharCode(32 + Math.floor(r() * 95));
  }
  return s;
}

export function randTags(r) {
  if (r() < 0.25) return [];
  const tags = [];
  const n = 1 + Math.floor(r() * 6);
  for (let i = 0; i < n; i++) {
    const len = 1 + Math.floor(r() * 5);
    const t = [];
    for (let j = 0; j < len; j++) t.push(j === 0 && r() < 0.5 ? ['e', 'p', 'a', 't', 'd', 'status'][Math.floor(r() * 6)] : randString(r, 6));
    tags.push(t);
  }
  return tags;
}

export function randomSignedEvent(seed) {
  const r = rng(seed);
  const sk = new Uint8Array(32);
  for (let i = 0; i < 32; i++) sk[i] = Math.floor(r() * 256);
  sk[0] = 1 + (sk[0] % 200); // keep the key below the curve order
  const long = r() < 0.05;
  const template = {
    kind: [1, 1311, 30311, 5200, 7000, 31311, 31312, Math.floor(r() * 65536)][Math.floor(r() * 8)],
    created_at: Math.floor(r() * 2_000_000_000),
    content: long ? randString(r, 4000) : randString(r, 40),
    tags: randTags(r),
  };
  return finalizeEvent(template, sk);
}

export function verifyCopy(ev) {
  return verifyEvent(JSON.parse(JSON.stringify(ev)));
}

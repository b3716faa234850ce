// JS side of crates/events/benches/toon.rs: @toon-format/toon encode/decode and JSON
// stringify/parse of the same kind-1311 chat event (~200-byte content, 3 tags), plus
// nostr-tools verifyEvent. Prints the median ns/op of 7 runs per operation.
// Run from the repo root: node tests/interop/toon/bench-toon.mjs
import { encode, decode } from '@toon-format/toon';
import { finalizeEvent, verifyEvent, getPublicKey } from 'nostr-tools/pure';

const CONTENT = 'Great stream tonight! The transition at 12:30 was smooth, and the audio mix sounds much better than last week. Quick question: will the VOD be up later? Also, shoutout to the transcoder folks, 720p looks crisp.';
const sk = new Uint8Array(32); sk[31] = 3;
const pk = getPublicKey(sk);
const ev = finalizeEvent({
  kind: 1311, created_at: 1700000000, content: CONTENT,
  tags: [['a', `30311:${pk}:show-42`, 'wss://relay.example.com', 'root'],
    ['e', '5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36'], ['t', 'music']],
}, sk);
const plain = JSON.parse(JSON.stringify(ev)); // no cached verification symbol
const toon = encode(plain);
const json = JSON.stringify(plain);
console.log(`chat event: TOON ${Buffer.byteLength(toon)} bytes, JSON ${Buffer.byteLength(json)} bytes`);

let sink = 0;
function measure(name, fn, iters) {
  for (let i = 0; i < iters; i++) sink ^= fn() ? 1 : 0; // warm-up
  const runs = [];
  for (let r = 0; r < 7; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) sink ^= fn() ? 1 : 0;
    runs.push(Number(process.hrtime.bigint() - t0) / iters);
  }
  runs.sort((a, b) => a - b);
  console.log(`${name.padEnd(22)} median ${runs[3].toFixed(0).padStart(7)} ns/op  (min ${runs[0].toFixed(0)}, max ${runs[6].toFixed(0)})`);
}
measure('toon_encode', () => encode(plain), 20000);
measure('toon_decode', () => decode(toon), 20000);
measure('toon_decode_verify', () => verifyEvent(decode(toon)), 500);
measure('json_encode', () => JSON.stringify(plain), 200000);
measure('json_decode', () => JSON.parse(json), 200000);
if (sink === 42) console.log('');

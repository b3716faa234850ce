// TOON reference peer for tollcast's interop tests: reads JSON requests, one per line, on
// stdin and answers one JSON line each on stdout (one node process per test run).
//   {"op":"check","json":<event object>,"toon":<text from Rust>}
//     -> {"js_toon": encode(json), "decoded_equal": <decode(toon) deep-equals json>, "verified": <verifyEvent>}
//   {"op":"make","seed":<n>}
//     -> {"toon": encode(ev), "json": ev} for a random event signed by nostr-tools
import { encode, decode } from '@toon-format/toon';
import { isDeepStrictEqual } from 'node:util';
import readline from 'node:readline';
import { randomSignedEvent, verifyCopy } from '../nostr/random-events.mjs';

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of rl) {
  if (!line) continue;
  const req = JSON.parse(line);
  let res;
  try {
    if (req.op === 'check') {
      let decodedEqual = false, decodeError = null;
      try { decodedEqual = isDeepStrictEqual(decode(req.toon), req.json); } catch (e) { decodeError = String(e); }
      res = { js_toon: encode(req.json), decoded_equal: decodedEqual, decode_error: decodeError, verified: verifyCopy(req.json) };
    } else if (req.op === 'make') {
      const ev = randomSignedEvent(req.seed);
      res = { toon: encode(ev), json: JSON.parse(JSON.stringify(ev)) };
    } else if (req.op === 'encode') {
      res = { toon: encode(req.json) };
    } else {
      res = { error: `unknown op ${req.op}` };
    }
  } catch (e) {
    res = { error: String(e) };
  }
  out.push(JSON.stringify(res));
}
process.stdout.write(out.join('\n') + '\n');

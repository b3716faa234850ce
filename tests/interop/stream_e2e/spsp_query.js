// ilp-protocol-spsp query() (JS reference SPSP client) against an SPSP endpoint.
// usage: node -r ./node20-stream-shim.js spsp_query.js <url>
// Prints one `TOLLCAST_JSON {...}` line: the parsed response (snake_case + content_type) or {error}.
const { query } = require('ilp-protocol-spsp');

const out = (line) => process.stdout.write(`TOLLCAST_JSON ${line}\n`);
query(process.argv[2]).then(
  (r) => { out(JSON.stringify(r)); process.exit(0); },
  (e) => { out(JSON.stringify({ error: String(e && e.message || e) })); process.exit(1); },
);

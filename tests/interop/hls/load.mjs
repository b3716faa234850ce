// HTTP GET load generator for comparing the tollcast origin with nginx serving the same chunk
// files: keep-alive connections, each fetching the listed paths round-robin for a fixed time.
// Usage: node load.mjs <base URL> <file with one path per line> [connections=8] [seconds=5]
// Prints JSON: requests, bytes, rps, MB/s, latency p50/p99 in ms, errors.
import http from 'node:http';
import fs from 'node:fs';

const [base, listFile, connArg, secArg] = process.argv.slice(2);
if (!base || !listFile) {
  console.error('usage: node load.mjs <base URL> <paths file> [connections] [seconds]');
  process.exit(2);
}
const paths = fs.readFileSync(listFile, 'utf8').split('\n').filter(Boolean);
const conns = Number(connArg || 8);
const seconds = Number(secArg || 5);
const url = new URL(base);
const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
let requests = 0, bytes = 0, errors = 0;
const lat = [];
const end = performance.now() + seconds * 1000;

function one(i) {
  return new Promise((resolve) => {
    const t = performance.now();
    const req = http.get({ host: url.hostname, port: url.port, path: paths[i % paths.length], agent }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => {
        if (res.statusCode === 200) { requests++; bytes += n; lat.push(performance.now() - t); } else { errors++; }
        resolve();
      });
    });
    req.on('error', () => { errors++; resolve(); });
  });
}

async function worker(w) {
  let i = w * 7919;
  while (performance.now() < end) { await one(i++); }
}
const t0 = performance.now();
await Promise.all(Array.from({ length: conns }, (_, w) => worker(w)));
const dt = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
console.log(JSON.stringify({
  requests, errors, seconds: +dt.toFixed(2), rps: Math.round(requests / dt),
  mbps: +((bytes / dt) / 1e6).toFixed(1),
  p50_ms: +(lat[Math.floor(lat.length * 0.5)] || 0).toFixed(3),
  p99_ms: +(lat[Math.floor(lat.length * 0.99)] || 0).toFixed(3),
}));
agent.destroy();

// Plays a stream through the tollcast viewer agent with hls.js (lowLatencyMode) in headless
// Chromium (playwright-core) and reports as JSON: how far currentTime advanced, every `waiting`
// event after playback started (`waits`: when, ms after the first frame, and how long),
// `stalls` (waits of 250 ms or more: a freeze a viewer sees), the longest time currentTime
// did not move, hls.js's live latency, the viewer's own /api/status, and hls.js errors.
// Usage: node watch.mjs <viewer base URL, e.g. http://127.0.0.1:8090> [seconds to watch]
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = require(path.join(here, '../node_modules/playwright-core'));
const hlsPath = path.join(here, '../node_modules/hls.js/dist/hls.min.js');

const base = process.argv[2];
const watch = Number(process.argv[3] || 30);
if (!base) {
  console.error('usage: node watch.mjs <viewer base URL> [seconds]');
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required',
  ],
});
let result;
try {
  const page = await browser.newPage();
  await page.setContent('<video id="v" muted playsinline></video>');
  await page.addScriptTag({ path: hlsPath });
  result = await page.evaluate(async ({ base, watch }) => {
    const v = document.getElementById('v');
    const errors = [];
    const waits = [];
    let waitingSince = null;
    let started = false;
    let firstFrame = 0;
    v.addEventListener('playing', () => {
      if (!started) firstFrame = performance.now();
      started = true;
      if (waitingSince !== null) {
        waits.push({ at: Math.round(waitingSince - firstFrame), ms: performance.now() - waitingSince });
        waitingSince = null;
      }
    });
    v.addEventListener('waiting', () => {
      if (started && waitingSince === null) waitingSince = performance.now();
    });
    const hls = new Hls({ lowLatencyMode: true });
    hls.on(Hls.Events.ERROR, (_e, d) => errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`));
    hls.loadSource(base + '/live/master.m3u8');
    hls.attachMedia(v);
    await new Promise((res) => hls.on(Hls.Events.MANIFEST_PARSED, res));
    await v.play().catch((e) => errors.push('play: ' + e));
    // Count from the first frame played.
    const t0wait = performance.now();
    while (!started && performance.now() - t0wait < 20000) await new Promise((r) => setTimeout(r, 50));
    const start = v.currentTime;
    const samples = [];
    let frozen = 0; // longest time currentTime did not move, ms
    let lastMove = performance.now();
    let last = v.currentTime;
    const t0 = performance.now();
    while (performance.now() - t0 < watch * 1000) {
      await new Promise((r) => setTimeout(r, 250));
      if (v.currentTime !== last) {
        last = v.currentTime;
        lastMove = performance.now();
      } else {
        frozen = Math.max(frozen, performance.now() - lastMove);
      }
      if (hls.latency) samples.push(hls.latency);
    }
    if (waitingSince !== null) waits.push({ at: Math.round(waitingSince - firstFrame), ms: performance.now() - waitingSince });
    const stalls = waits.filter((w) => w.ms >= 250).map((w) => w.ms);
    samples.sort((a, b) => a - b);
    const status = await (await fetch(base + '/api/status')).json();
    return {
      started,
      advanced: v.currentTime - start,
      watched: watch,
      stalls,
      waits,
      longestFreezeMs: frozen,
      latencyMedian: samples.length ? samples[Math.floor(samples.length / 2)] : null,
      viewer: { state: status.state, latency_ms: status.latency_ms, parts: status.parts, relay: status.relay?.url ?? null },
      errors,
    };
  }, { base, watch });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result && result.advanced > 1 ? 0 : 1);

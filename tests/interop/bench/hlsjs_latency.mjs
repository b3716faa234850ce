// Glass-to-glass latency as a viewer sees it: hls.js (lowLatencyMode) in headless Debian Chromium
// plays a tollcast LL-HLS playlist; every 250 ms after a warm-up it samples
//   Date.now() - hls.playingDate   (wall clock minus the capture time of the frame on screen,
//                                   from EXT-X-PROGRAM-DATE-TIME, which tollcast sets to capture)
// and hls.latency (distance to the live edge), and counts stalls (`waiting` events). hls.js runs
// with lowLatencyMode and maxLiveSyncPlaybackRate 1.5 (catches up after a stall).
// Usage: node hlsjs_latency.mjs <master.m3u8 URL> <seconds> [viewer id for Authorization: Bearer]
// Prints one JSON line. Used by `tollcast bench network --hlsjs`.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = require(path.join(here, '../node_modules/playwright-core'));
const hlsPath = path.join(here, '../node_modules/hls.js/dist/hls.min.js');

const [url, secondsArg, bearer] = process.argv.slice(2);
if (!url || !secondsArg) {
  console.error('usage: node hlsjs_latency.mjs <master.m3u8 URL> <seconds> [viewer id]');
  process.exit(2);
}
const seconds = Number(secondsArg);

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
  result = await page.evaluate(async ({ url, seconds, bearer }) => {
    const v = document.getElementById('v');
    const errors = [];
    let stalls = 0;
    const hls = new Hls({
      lowLatencyMode: true,
      // Catch up to the target latency after a stall, as a low-latency player page would.
      maxLiveSyncPlaybackRate: 1.5,
      xhrSetup: (xhr) => {
        if (bearer) xhr.setRequestHeader('Authorization', 'Bearer ' + bearer);
      },
    });
    hls.on(Hls.Events.ERROR, (_e, d) => errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`));
    hls.loadSource(url);
    hls.attachMedia(v);
    await new Promise((res) => hls.on(Hls.Events.MANIFEST_PARSED, res));
    await v.play().catch((e) => errors.push('play: ' + e));
    // Warm-up: until playback runs (or 15 s).
    const w0 = performance.now();
    while (v.currentTime < 0.5 && performance.now() - w0 < 15000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    v.addEventListener('waiting', () => { stalls++; });
    const start = v.currentTime;
    const g2g = [];
    const edge = [];
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await new Promise((r) => setTimeout(r, 250));
      const d = hls.playingDate;
      if (d && !v.paused && v.readyState >= 3) g2g.push(Date.now() - d.getTime());
      if (hls.latency) edge.push(hls.latency * 1000);
    }
    return {
      g2gMs: g2g,
      edgeMs: edge,
      stalls,
      advanced: v.currentTime - start,
      targetLatency: hls.targetLatency,
      errors: errors.slice(0, 20),
    };
  }, { url, seconds, bearer: bearer || null });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result && result.advanced > 1 ? 0 : 1);

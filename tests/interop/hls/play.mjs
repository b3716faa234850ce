// Plays a tollcast LL-HLS origin with hls.js (lowLatencyMode) in headless Debian Chromium driven
// by playwright-core, and reports as JSON: whether currentTime advanced, the live latency hls.js
// measured, how many blocking (_HLS_msn) playlist requests it made, and hls.js errors.
// Usage: node play.mjs <master playlist URL> [seconds to watch]
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = require(path.join(here, '../node_modules/playwright-core'));
const hlsPath = path.join(here, '../node_modules/hls.js/dist/hls.min.js');

const url = process.argv[2];
const watch = Number(process.argv[3] || 6);
if (!url) {
  console.error('usage: node play.mjs <master.m3u8 URL> [seconds]');
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
  result = await page.evaluate(async ({ url, watch }) => {
    const v = document.getElementById('v');
    const errors = [];
    const requests = { playlist: 0, blocking: 0, parts: 0 };
    const hls = new Hls({
      lowLatencyMode: true,
      xhrSetup: (xhr, u) => {
        if (u.includes('.m3u8')) {
          requests.playlist++;
          if (u.includes('_HLS_msn=')) requests.blocking++;
        } else if (u.endsWith('.m4s')) {
          requests.parts++;
        }
      },
    });
    hls.on(Hls.Events.ERROR, (_e, d) => errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`));
    hls.loadSource(url);
    hls.attachMedia(v);
    await new Promise((res) => hls.on(Hls.Events.MANIFEST_PARSED, res));
    await v.play().catch((e) => errors.push('play: ' + e));
    const start = v.currentTime;
    const samples = [];
    const t0 = performance.now();
    while (performance.now() - t0 < watch * 1000) {
      await new Promise((r) => setTimeout(r, 500));
      if (hls.latency) samples.push(hls.latency);
    }
    samples.sort((a, b) => a - b);
    const details = hls.levels[hls.currentLevel]?.details || hls.levels[0]?.details;
    return {
      advanced: v.currentTime - start,
      currentTime: v.currentTime,
      latencyMedian: samples.length ? samples[Math.floor(samples.length / 2)] : null,
      targetLatency: hls.targetLatency,
      partTarget: details?.partTarget ?? null,
      canBlockReload: details?.canBlockReload ?? null,
      requests,
      errors,
    };
  }, { url, watch });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result && result.advanced > 1 ? 0 : 1);

// Plays a tollcast recorder's HLS VOD with hls.js in headless Chromium (playwright-core) and
// checks every loaded fragment against its content address: each chunk URL is <sha256>.<ext>,
// so the page hashes every response hls.js receives (playlists too; WebCrypto) and compares. Reports JSON:
// { duration, currentTime, ended, verified, mismatched, fragments (responses hashed), playlistType, errors }.
// Usage: node play_vod.mjs <recorder base URL> <master playlist URL> [viewer id] [timeout s]
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = require(path.join(here, '../node_modules/playwright-core'));
const hlsPath = path.join(here, '../node_modules/hls.js/dist/hls.min.js');

const [base, url, viewer = '', timeoutS = '60'] = process.argv.slice(2);
if (!base || !url) {
  console.error('usage: node play_vod.mjs <recorder base URL> <master.m3u8 URL> [viewer] [timeout s]');
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
  // A page on the recorder's origin (http://127.0.0.1 is a secure context: WebCrypto works).
  await page.goto(`${base}/metrics`);
  await page.setContent('<video id="v" muted playsinline></video>');
  await page.addScriptTag({ path: hlsPath });
  result = await page.evaluate(async ({ url, viewer, timeoutS }) => {
    const v = document.getElementById('v');
    const errors = [];
    const checks = [];
    let verified = 0, mismatched = 0, fragments = 0, playlistType = null;
    const hex = (buf) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
    // Every response (playlists, init, segments) is hashed before hls.js sees it.
    const Base = Hls.DefaultConfig.loader;
    const check = (url, data) => {
      fragments++;
      const name = url.split('?')[0].split('/').pop().split('.')[0];
      const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data.slice(0);
      checks.push(crypto.subtle.digest('SHA-256', bytes).then((h) => {
        if (hex(h) === name) verified++; else { mismatched++; errors.push(`hash mismatch: ${url}`); }
      }));
    };
    class HashingLoader extends Base {
      load(context, config, callbacks) {
        const cb = { ...callbacks, onSuccess: (response, stats, ctx, nd) => {
          check(ctx.url, response.data);
          callbacks.onSuccess(response, stats, ctx, nd);
        } };
        super.load(context, config, cb);
      }
    }
    const hls = new Hls({
      loader: HashingLoader,
      xhrSetup: (xhr) => { if (viewer) xhr.setRequestHeader('Authorization', `Bearer ${viewer}`); },
    });
    hls.on(Hls.Events.ERROR, (_e, d) => errors.push(`${d.type}/${d.details}${d.fatal ? ' (fatal)' : ''}`));
    hls.on(Hls.Events.LEVEL_LOADED, (_e, d) => { playlistType = d.details.type; });
    hls.loadSource(url);
    hls.attachMedia(v);
    await new Promise((res) => hls.on(Hls.Events.MANIFEST_PARSED, res));
    await v.play().catch((e) => errors.push('play: ' + e));
    const t0 = performance.now();
    while (!v.ended && performance.now() - t0 < timeoutS * 1000) {
      if (errors.some((e) => e.includes('fatal'))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    await Promise.all(checks);
    return {
      duration: v.duration, currentTime: v.currentTime, ended: v.ended,
      verified, mismatched, fragments, playlistType, errors,
    };
  }, { url, viewer, timeoutS: Number(timeoutS) });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
process.exit(result && result.ended && result.mismatched === 0 ? 0 : 1);

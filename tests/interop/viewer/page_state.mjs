// The viewer page (web/index.html + web/player.js) in headless Chromium: wait until the page
// has rendered /api/status in state `want`, then print what the person sees as JSON
// ({state, banner, bannerHidden}). Usage: node page_state.mjs <page url> <want> [timeout ms]
import { chromium } from 'playwright-core';

const [url, want, timeoutArg] = process.argv.slice(2);
if (!url || !want) {
  console.error('usage: node page_state.mjs <page url> <state> [timeout ms]');
  process.exit(2);
}
const timeout = Number(timeoutArg || 15000);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--autoplay-policy=no-user-gesture-required'],
});
let code = 0;
const errors = [];
let page = null;
try {
  page = await browser.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction((w) => window.tollcast && window.tollcast.state === w, want, { timeout });
  // One more render after the state arrived (the banner is drawn in the same pass).
  await page.waitForTimeout(100);
  const seen = await page.evaluate(() => {
    const b = document.getElementById('banner');
    return { state: window.tollcast.state, banner: b.textContent, bannerHidden: b.classList.contains('hidden') };
  });
  console.log(JSON.stringify(seen));
} catch (e) {
  // Say what the page showed instead, and what went wrong in it.
  const seen = page ? await page.evaluate(() => window.tollcast && { state: window.tollcast.state, errors: window.tollcast.errors }).catch(() => null) : null;
  console.error(String(e), JSON.stringify({ seen, errors }));
  code = 1;
} finally {
  await browser.close();
}
process.exit(code);

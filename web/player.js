// tollcast viewer page: plays the stream through the viewer agent (same origin, /live/...),
// shows what it costs while it plays, and carries the chat and tips. Everything it shows
// comes from the viewer agent's /api/status, the player itself, or the stream's Nostr relay.
'use strict';

const $ = (id) => document.getElementById(id);
// Test hook and debugging aid: the page's live figures.
const T = (window.tollcast = { latencyMs: null, balance: null, state: null, chat: [], errors: [], status: null });

function units(amount, scale, code) {
  const neg = amount < 0;
  let s = String(Math.abs(Math.round(amount))).padStart(scale + 1, '0');
  if (scale > 0) s = s.slice(0, s.length - scale) + '.' + s.slice(s.length - scale);
  return (neg ? '-' : '') + s + (code ? ' ' + code : '');
}
function short(hex) { return hex ? hex.slice(0, 8) + '…' : '?'; }

let status = null;
let statusAt = 0;
let hls = null;

function banner(text, kind) {
  const b = $('banner');
  if (!text) { b.classList.add('hidden'); return; }
  b.textContent = text;
  b.className = 'banner' + (kind === 'info' ? ' info' : '');
}

const STATE_TEXT = {
  starting: 'Connecting to the network…',
  payment_required: 'The relay asks for payment (HTTP 402).',
  wallet_empty: 'Your wallet is empty: top it up to keep watching.',
  payment_path_down: 'Payments cannot reach the relay (an Interledger link is down); playback resumes by itself when it is back.',
  relay_failed: 'The relay serving you failed; pick another relay below.',
  no_relay: 'No relay serves this stream right now.',
  ended: 'The stream has ended.',
};

async function pollStatus() {
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    if (!r.ok) throw new Error('/api/status answered ' + r.status);
    status = await r.json();
    statusAt = performance.now();
    T.status = status;
    T.state = status.state;
    render();
  } catch (e) {
    banner('The viewer agent does not answer (' + e.message + '). Is `tollcast watch` (or `tollcast demo`) still running?');
  }
}

function render() {
  const s = status;
  const st = s.stream || {};
  $('title').textContent = st.title || 'Untitled stream';
  $('summary').textContent = st.summary || '';
  $('host').textContent = st.host || short((st.address || '').split(':')[1]);
  document.title = (st.title || 'live') + ' — tollcast';
  const live = st.status === 'live' || s.state === 'playing';
  $('live-badge').textContent = s.state === 'ended' ? 'ended' : live ? 'LIVE' : s.state;
  $('live-badge').className = 'badge' + (live ? ' live' : '');
  if (s.state === 'playing' || s.state === 'starting') {
    banner(s.state === 'starting' ? (s.message || STATE_TEXT.starting) : null, 'info');
  } else {
    banner(s.message || STATE_TEXT[s.state] || s.state);
  }
  const w = s.wallet || {};
  const scale = w.asset_scale ?? st.asset_scale ?? 0;
  const code = w.asset_code || st.asset_code || '';
  $('spent').textContent = units(w.spent || 0, scale, code);
  const rel = s.relay;
  if (rel) {
    $('price').textContent = units(rel.price_per_second || 0, scale, code) + '/s';
    $('relay-info').textContent = (rel.url || '') + (rel.rtt_ms != null ? ' · rtt ' + rel.rtt_ms + ' ms' : '');
  } else {
    $('price').textContent = '–';
    $('relay-info').textContent = 'no relay';
  }
  const sel = $('relay');
  const cands = s.candidates || [];
  const want = cands.map((c) => c.pubkey).join(',');
  if (sel.dataset.keys !== want) {
    sel.innerHTML = '';
    for (const c of cands) {
      const o = document.createElement('option');
      o.value = c.pubkey;
      o.textContent = (c.name || short(c.pubkey)) + ' · ' + units(c.price_per_second || 0, scale, code) + '/s' +
        (c.healthy === false ? ' (unhealthy' + (c.reason ? ': ' + c.reason : '') + ')' : '');
      sel.appendChild(o);
    }
    sel.dataset.keys = want;
  }
  if (rel && document.activeElement !== sel) sel.value = rel.pubkey;
  const price = st.chat_price;
  $('chat-cost').textContent = price == null ? 'Messages are paid to the chat relay per byte (pay-to-write), from your wallet; the amount shows after sending.' :
    'Each message costs ' + units(price, scale, code) + ', paid from your wallet when you send.';
  $('chat-send').textContent = price == null ? 'Send' : 'Send (' + units(price, scale, code) + ')';
  $('tip-units').textContent = code ? 'base units (' + units(Number($('tip-amount').value || 0), scale, code) + ')' : '';
  if (s.latency_ms != null && T.latencyMs == null) showLatency(s.latency_ms);
}

// The wallet ticks down between status polls at the relay's price (the next poll corrects it).
function tickBalance() {
  if (!status || !status.wallet) return;
  const w = status.wallet;
  const price = status.state === 'playing' && status.relay ? status.relay.price_per_second || 0 : 0;
  const elapsed = Math.min((performance.now() - statusAt) / 1000, 2);
  const bal = w.balance - price * elapsed;
  T.balance = bal;
  T.balanceReported = w.balance;
  const el = $('balance');
  el.textContent = units(bal, w.asset_scale, w.asset_code);
  el.dataset.units = String(w.balance);
  el.className = w.balance <= 0 ? 'bad' : '';
}

function showLatency(ms) {
  T.latencyMs = ms;
  const el = $('latency');
  el.textContent = (ms / 1000).toFixed(2) + ' s';
  el.dataset.ms = String(Math.round(ms));
}

let lastReport = 0;
let lastJump = 0;
// Latency = wall clock minus capture time of what is on screen (EXT-X-PROGRAM-DATE-TIME).
function measureLatency() {
  if (!hls) return;
  const d = hls.playingDate;
  const v = $('video');
  if (!d || v.paused || v.readyState < 2) return;
  const capture = d.getTime();
  showLatency(Date.now() - capture);
  T.edgeLatency = hls.latency;
  T.targetLatency = hls.targetLatency;
  // Fell behind the live edge (start-up, a slow moment) and the data to jump to is already
  // buffered: jump there rather than play late for good.
  const live = hls.liveSyncPosition;
  if (live != null && hls.latency > hls.targetLatency + 1.0 && performance.now() - lastJump > 5000) {
    for (let i = 0; i < v.buffered.length; i++) {
      if (v.buffered.start(i) <= live && live < v.buffered.end(i) - 0.1) {
        lastJump = performance.now();
        T.jumps = (T.jumps || 0) + 1;
        v.currentTime = live;
        break;
      }
    }
  }
  if (performance.now() - lastReport > 2000) {
    lastReport = performance.now();
    fetch('/api/latency', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ capture_ms: capture }) }).catch(() => {});
  }
}

function startPlayer() {
  const v = $('video');
  if (!window.Hls) {
    banner('hls.js did not load: run scripts/setup.sh on the machine serving this page.');
    return;
  }
  if (!Hls.isSupported()) {
    banner('This browser cannot play LL-HLS through Media Source Extensions.');
    return;
  }
  // Low-latency mode plays PART-HOLD-BACK behind the live edge; catching up at up to 1.5x
  // brings the player back there after a stall instead of staying behind for good.
  hls = new Hls({ lowLatencyMode: true, backBufferLength: 10, maxLiveSyncPlaybackRate: 1.5,
    manifestLoadingMaxRetry: 1000, levelLoadingMaxRetry: 1000, fragLoadingMaxRetry: 10 });
  window.hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, (_e, data) => {
    const sel = $('rendition');
    sel.innerHTML = '<option value="-1">auto</option>';
    data.levels.forEach((l, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      o.textContent = (l.height ? l.height + 'p' : 'level ' + i) + (l.bitrate ? ' · ' + Math.round(l.bitrate / 1000) + ' kb/s' : '');
      sel.appendChild(o);
    });
    // Start on the highest rendition (the source, mirrored at the live edge): transcoded
    // rungs trail it by about a segment, and switching up from one later means a jump.
    let top = 0;
    data.levels.forEach((l, i) => { if ((l.bitrate || 0) > (data.levels[top].bitrate || 0)) top = i; });
    hls.startLevel = top;
    v.play().catch(() => {});
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    const code = data.response && data.response.code;
    T.errors.push({ type: data.type, details: data.details, fatal: data.fatal, code });
    if (code === 402) banner('Payment required (HTTP 402): the relay has not received enough from your wallet. ' +
      'Top up, or pick a cheaper relay.');
    else if (data.fatal && data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      banner('Network trouble loading the stream (' + data.details + '); retrying…', 'info');
      setTimeout(() => hls.startLoad(), 1000);
    } else if (data.fatal && data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
  });
  hls.loadSource('/live/master.m3u8');
  hls.attachMedia(v);
  // nextLevel switches at the next fragment boundary: the buffer already loaded keeps playing
  // (currentLevel would flush it and stall a live player); -1 goes back to automatic choice.
  $('rendition').addEventListener('change', (e) => { hls.nextLevel = Number(e.target.value); });
}

$('relay').addEventListener('change', async (e) => {
  const r = await fetch('/api/relay', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ pubkey: e.target.value }) });
  if (!r.ok) banner('Switching relay failed: ' + (await r.text()));
  pollStatus();
});

// ---- chat: read free from the stream's Nostr relay, written through the viewer agent ----
const seen = new Set();
function addChat(ev) {
  if (seen.has(ev.id)) return;
  seen.add(ev.id);
  T.chat.push({ id: ev.id, kind: ev.kind, content: ev.content, pubkey: ev.pubkey });
  const li = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = short(ev.pubkey);
  const body = document.createElement('span');
  body.textContent = ev.content;
  if (ev.kind !== 1311) li.className = 'tip';
  li.append(who, body);
  li.dataset.id = ev.id;
  const log = $('chat-log');
  log.appendChild(li);
  log.scrollTop = log.scrollHeight;
}

let chatSocket = null;
function openChat() {
  const st = (status && status.stream) || {};
  const url = (st.nostr_relays || [])[0];
  if (!url || !st.address) { setTimeout(openChat, 1000); return; }
  const ws = new WebSocket(url);
  chatSocket = ws;
  ws.onopen = () => {
    $('chat-status').textContent = 'reading chat from ' + url;
    ws.send(JSON.stringify(['REQ', 'chat', { kinds: [1311, 7, 9735, 31315, 1312], '#a': [st.address], limit: 100 }]));
  };
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch { return; }
    if (msg[0] === 'EVENT' && msg[2] && typeof msg[2].content === 'string') addChat(msg[2]);
  };
  ws.onclose = () => { $('chat-status').textContent = 'chat disconnected; reconnecting…'; setTimeout(openChat, 2000); };
}

$('chat-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('chat-input');
  const content = input.value.trim();
  if (!content) return;
  $('chat-send').disabled = true;
  try {
    const r = await fetch('/api/chat', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content }) });
    const j = await r.json().catch(() => ({}));
    if (!r.ok || j.error) {
      $('chat-status').textContent = 'not sent: ' + (j.message || j.error || r.status);
    } else {
      input.value = '';
      const w = (status && status.wallet) || {};
      $('chat-status').textContent = 'sent' + (j.paid ? ' (paid ' + units(j.paid, w.asset_scale || 0, w.asset_code || '') + ')' : '');
    }
  } finally {
    $('chat-send').disabled = false;
    pollStatus();
  }
});

$('tip-send').addEventListener('click', async () => {
  const amount = Number($('tip-amount').value);
  if (!Number.isInteger(amount) || amount < 1) { $('tip-result').textContent = 'enter a whole amount of base units'; return; }
  $('tip-send').disabled = true;
  $('tip-result').textContent = 'sending…';
  try {
    const r = await fetch('/api/tip', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ amount, message: $('tip-message').value }) });
    const j = await r.json().catch(() => ({}));
    if (!r.ok || j.error) $('tip-result').textContent = 'tip failed: ' + (j.message || j.error || r.status);
    else {
      const w = (status && status.wallet) || {};
      $('tip-result').textContent = 'tip delivered: ' + units(j.delivered || 0, w.asset_scale || 0, w.asset_code || '');
      T.lastTip = j;
    }
  } finally {
    $('tip-send').disabled = false;
    pollStatus();
  }
});
$('tip-amount').addEventListener('input', () => status && render());

pollStatus().then(() => { startPlayer(); openChat(); });
setInterval(pollStatus, 1000);
setInterval(tickBalance, 200);
setInterval(measureLatency, 250);

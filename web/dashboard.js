// tollcast creator/operator dashboard: every figure comes from /api/dashboard, which the demo
// fills from the agents' real ledgers (GET /accounts of every node) and metrics.
'use strict';

const $ = (id) => document.getElementById(id);
const D = (window.tollcastDashboard = { data: null });
const COLORS = { creator: '#f5a623', relay: '#4ea1ff', transcoder: '#b07cff', moderator: '#30a46c', hub: '#8a90a2', recorder: '#e5484d' };
const color = (r) => COLORS[r] || '#cccccc';

function units(amount, scale, code) {
  const neg = amount < 0;
  let s = String(Math.abs(Math.round(amount))).padStart(scale + 1, '0');
  if (scale > 0) s = s.slice(0, s.length - scale) + '.' + s.slice(s.length - scale);
  return (neg ? '-' : '') + s + (code ? ' ' + code : '');
}
function esc(s) { return String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c])); }
function table(el, head, rows) {
  el.innerHTML = '<tr>' + head.map((h) => '<th>' + esc(h) + '</th>').join('') + '</tr>' +
    rows.map((r) => '<tr>' + r.map((c) => '<td>' + c + '</td>').join('') + '</tr>').join('');
}

// Earnings per second by role over the last `window` seconds of the series.
function rates(series, window) {
  if (series.length < 2) return {};
  const last = series[series.length - 1];
  let first = series[0];
  for (const p of series) if (last.t - p.t <= window * 1000) { first = p; break; }
  const dt = (last.t - first.t) / 1000;
  const out = {};
  for (const r of Object.keys(last.roles)) out[r] = dt > 0 ? (last.roles[r] - (first.roles[r] || 0)) / dt : 0;
  return out;
}

function chart(d) {
  const svg = $('chart');
  const W = 900, H = 260, L = 70, R = 50, TOP = 10, B = 24;
  const s = d.series;
  if (s.length < 2) { svg.innerHTML = '<text x="20" y="40">collecting…</text>'; return; }
  const roles = Object.keys(s[s.length - 1].roles).filter((r) => r !== 'viewer');
  const t0 = s[0].t, t1 = s[s.length - 1].t;
  let maxV = 1, maxM = 1;
  for (const p of s) {
    maxV = Math.max(maxV, p.viewers);
    for (const r of roles) maxM = Math.max(maxM, p.roles[r] || 0);
  }
  const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
  const yM = (v) => TOP + (1 - v / maxM) * (H - TOP - B);
  const yV = (v) => TOP + (1 - v / maxV) * (H - TOP - B);
  let out = '';
  for (let i = 0; i <= 4; i++) {
    const v = (maxM * i) / 4, y = yM(v);
    out += `<line x1="${L}" x2="${W - R}" y1="${y}" y2="${y}" stroke="#262a33"/>`;
    out += `<text x="${L - 6}" y="${y + 4}" text-anchor="end">${esc(units(v, d.asset.scale, ''))}</text>`;
    out += `<text x="${W - R + 6}" y="${yV((maxV * i) / 4) + 4}">${Math.round((maxV * i) / 4)}</text>`;
  }
  out += `<text x="${L}" y="${H - 6}">-${Math.round((t1 - t0) / 1000)} s</text><text x="${W - R}" y="${H - 6}" text-anchor="end">now</text>`;
  for (const r of roles) {
    const pts = s.map((p) => `${x(p.t).toFixed(1)},${yM(p.roles[r] || 0).toFixed(1)}`).join(' ');
    out += `<polyline fill="none" stroke="${color(r)}" stroke-width="2" points="${pts}"><title>${esc(r)}</title></polyline>`;
  }
  const vp = s.map((p) => `${x(p.t).toFixed(1)},${yV(p.viewers).toFixed(1)}`).join(' ');
  out += `<polyline fill="none" stroke="#fff" stroke-dasharray="4 3" stroke-width="1.5" points="${vp}"><title>viewers</title></polyline>`;
  svg.innerHTML = out;
  $('legend').innerHTML = roles.map((r) => `<span><i style="background:${color(r)}"></i>${esc(r)} (cumulative, ${esc(d.asset.code)})</span>`).join('') +
    '<span><i style="background:#fff"></i>viewers (right axis)</span>';
}

function render(d) {
  const a = d.asset;
  $('stream-title').textContent = (d.stream && d.stream.title) || '';
  $('viewers').textContent = d.viewers;
  $('viewers-detail').textContent = d.relays.map((r) => r.name + ': ' + r.viewers).join(' · ');
  const rt = rates(d.series, 10);
  const roles = Object.keys(d.roles).filter((r) => r !== 'viewer');
  table($('rates'), ['role', 'per second (last 10 s)'], roles.map((r) => [esc(r), esc(units(rt[r] || 0, a.scale, a.code))]));
  table($('totals'), ['role', 'total'], roles.map((r) => [esc(r), `<span data-role="${esc(r)}" data-units="${d.roles[r]}">${esc(units(d.roles[r], a.scale, a.code))}</span>`])
    .concat([['viewers paid', esc(units(-(d.roles.viewer || 0), a.scale, a.code))]]));
  const b = d.books;
  // While money moves some packets are always in flight; only a settled mismatch is an error.
  $('books').innerHTML = b.balanced ? '<span class="ok">books balanced</span>: all ledgers sum to 0, every link booked on both sides'
    : b.pending > 0 ? `settling: ${esc(units(b.pending, a.scale, a.code))} in flight (ledgers sum to ${esc(units(b.total, a.scale, a.code))} meanwhile)`
    : `<span class="bad">books do not balance</span>: sum ${b.total}${b.mismatched.length ? ', mismatched links ' + esc(b.mismatched.map((m) => m[0]).join(', ')) : ''}`;
  chart(d);
  table($('relays'), ['relay', 'upstream', 'price/s', 'paying clients', 'served', 'cache hit rate', 'upstream fetches', '402s', 'earned'],
    d.relays.map((r) => [esc(r.name), esc(r.upstream || ''), esc(units(r.price_per_second, a.scale, a.code)), r.viewers,
      (r.bytes_served / 1e6).toFixed(1) + ' MB', r.hit_rate == null ? '–' : (100 * r.hit_rate).toFixed(1) + ' %',
      r.upstream_fetches ?? '–', r.payment_required ?? '–', esc(units(r.earned || 0, a.scale, a.code))]));
  const l = d.latency;
  table($('latency'), ['percentile', 'seconds'], l.n ? [['p50', (l.p50 / 1000).toFixed(2)], ['p90', (l.p90 / 1000).toFixed(2)],
    ['p99', (l.p99 / 1000).toFixed(2)], ['samples', l.n]] : [['no samples yet', '']]);
  table($('ladder'), ['rendition', 'state', 'detail'], (d.ladder || []).map((x) => [esc(x.name), x.ok ? '<span class="ok">ok</span>' : '<span class="bad">down</span>', esc(x.detail || '')]));
  // The moderator's own /status, flattened: whatever counters it reports.
  const flat = [];
  (function walk(o, pre) {
    for (const [k, v] of Object.entries(o || {})) {
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v, pre + k + '.');
      else {
        const t = String(Array.isArray(v) ? v.length + ' items' : v);
        flat.push([esc(pre + k), esc(t.length > 20 ? t.slice(0, 16) + '…' : t)]);
      }
    }
  })(d.moderation, '');
  table($('moderation'), ['', ''], flat.length ? flat.slice(0, 14) : [['no moderator', '']]);
  table($('parties'), ['party', 'role', 'earned (+) / spent (−)', 'in flight'], d.parties.map((p) => [esc(p.name), esc(p.role), esc(units(p.net, a.scale, a.code)), p.pending]));
  table($('agents'), ['agent', 'role', 'what it does', 'where'], d.agents.map((x) => [esc(x.name), esc(x.role), esc(x.what), esc(x.url || '')]));
}

async function poll() {
  try {
    const r = await fetch('/api/dashboard', { cache: 'no-store' });
    if (!r.ok) throw new Error('/api/dashboard answered ' + r.status + ' (the dashboard is served by `tollcast demo`)');
    const d = await r.json();
    D.data = d;
    $('banner').classList.add('hidden');
    render(d);
  } catch (e) {
    $('banner').textContent = e.message;
    $('banner').classList.remove('hidden');
  }
}
poll();
setInterval(poll, 1000);

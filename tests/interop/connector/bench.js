// Prepare -> Fulfill through 1 and 2 ilp-connector (JS reference) hops over BTP on loopback,
// measured the same way as crates/net/benches/connector.rs: bare ilp-plugin-btp sender and
// receiver, 100 warm-up packets, sequential round trips (p50/p99), then packets/s with 32
// in flight. ilp-connector runs with its in-memory store, one-to-one rates, no spread.
// usage: node bench.js [sequential n] [concurrent n]
const crypto = require('crypto');
const net = require('net');
const { createApp } = require('ilp-connector');
const BtpPlugin = require('ilp-plugin-btp');
const IlpPacket = require('ilp-packet');

const SEQ = Number(process.argv[2] || 2000);
const CONC = Number(process.argv[3] || 4000);

const freePort = () => new Promise((res) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
const listener = (port, secret) => ({ listener: { port, secret, wsOpts: { host: '127.0.0.1', port } } });
const child = (port, secret) => ({ relation: 'child', assetCode: 'USD', assetScale: 6, plugin: 'ilp-plugin-btp', options: listener(port, secret) });
const app = (ilpAddress, accounts, routes = []) => createApp({ ilpAddress, backend: 'one-to-one', spread: 0, store: 'memory', accounts, routes });

const fulfiller = async (buf) => {
  const p = IlpPacket.deserializeIlpPrepare(buf);
  return IlpPacket.serializeIlpFulfill({ fulfillment: p.data, data: Buffer.alloc(0) });
};

async function one(plugin, destination) {
  const pre = crypto.randomBytes(32);
  const reply = await plugin.sendData(IlpPacket.serializeIlpPrepare({
    amount: '100',
    executionCondition: crypto.createHash('sha256').update(pre).digest(),
    expiresAt: new Date(Date.now() + 30000),
    destination,
    data: pre,
  }));
  if (reply[0] !== IlpPacket.Type.TYPE_ILP_FULFILL) throw new Error('packet rejected: ' + JSON.stringify(IlpPacket.deserializeIlpReject(reply)));
}

async function setup(hops) {
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  const snd = new BtpPlugin({ server: `btp+ws://:snd@127.0.0.1:${p1}` });
  const rcv = new BtpPlugin({ server: `btp+ws://:rcv@127.0.0.1:${p2}` });
  rcv.registerDataHandler(fulfiller);
  let apps;
  let dest;
  if (hops === 1) {
    apps = [app('g.js', { snd: child(p1, 'snd'), rcv: child(p2, 'rcv') })];
    dest = 'g.js.rcv.x';
  } else {
    const a2 = app('g.js2', {
      b1: { relation: 'peer', assetCode: 'USD', assetScale: 6, plugin: 'ilp-plugin-btp', sendRoutes: false, receiveRoutes: false, options: listener(p3, 'b1') },
      rcv: child(p2, 'rcv'),
    });
    const a1 = app('g.js1', {
      snd: child(p1, 'snd'),
      b2: { relation: 'peer', assetCode: 'USD', assetScale: 6, plugin: 'ilp-plugin-btp', sendRoutes: false, receiveRoutes: false, options: { server: `btp+ws://:b1@127.0.0.1:${p3}` } },
    }, [{ targetPrefix: 'g.js2', peerId: 'b2' }]);
    apps = [a2, a1];
    dest = 'g.js2.rcv.x';
  }
  await Promise.all([...apps.map((a) => a.listen()), snd.connect(), rcv.connect()]);
  return { apps, snd, rcv, dest };
}

(async () => {
  for (const hops of [1, 2]) {
    const s = await setup(hops);
    for (let i = 0; i < 100; i++) await one(s.snd, s.dest);
    const lat = [];
    for (let i = 0; i < SEQ; i++) {
      const t = process.hrtime.bigint();
      await one(s.snd, s.dest);
      lat.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    lat.sort((a, b) => a - b);
    const pct = (p) => lat[Math.round((lat.length - 1) * p)];
    const t = process.hrtime.bigint();
    let next = 0;
    const worker = async () => { while (next < CONC) { next++; await one(s.snd, s.dest); } };
    await Promise.all(Array.from({ length: 32 }, worker));
    const pps = CONC / (Number(process.hrtime.bigint() - t) / 1e9);
    console.log(`BENCH connector ilp-connector hops=${hops} ledger=memory p50_us=${pct(0.5).toFixed(0)} p99_us=${pct(0.99).toFixed(0)} packets_per_s=${pps.toFixed(0)} (seq n=${SEQ}, concurrent n=${CONC} x32)`);
    await s.snd.disconnect(); await s.rcv.disconnect();
    for (const a of s.apps) await a.shutdown();
  }
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });

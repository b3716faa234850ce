// ilp-connector (JS reference, in-memory store, one-to-one rates, no spread) peered with a
// tollcast node over BTP. The tollcast node dials the "tollcast" listener; a JS client
// "alice" (ilp-plugin-btp) is a child of the JS connector. Alice pays a tollcast address
// through both connectors, and waits to be paid by the tollcast side.
// usage: node ilp_connector.js <tollcast listener port> <alice listener port> <destination> <amount>
const { createApp } = require('ilp-connector');
const BtpPlugin = require('ilp-plugin-btp');
const ILDCP = require('ilp-protocol-ildcp');
const { out, receiver, pay, exitOnStdinClose } = require('./common');

(async () => {
  const [tcPort, alicePort, dest, amount] = process.argv.slice(2).map((x, i) => (i < 2 ? Number(x) : x));
  const listener = (port, secret) => ({ listener: { port, secret, wsOpts: { host: '127.0.0.1', port } } });
  const app = createApp({
    ilpAddress: 'g.js',
    backend: 'one-to-one',
    spread: 0,
    store: 'memory',
    accounts: {
      tollcast: { relation: 'peer', assetCode: 'USD', assetScale: 6, plugin: 'ilp-plugin-btp', sendRoutes: false, receiveRoutes: false, options: listener(tcPort, 'tc-secret') },
      alice: { relation: 'child', assetCode: 'USD', assetScale: 6, plugin: 'ilp-plugin-btp', options: listener(alicePort, 'alice-secret') },
    },
    routes: [{ targetPrefix: 'g.tollcast', peerId: 'tollcast' }],
  });
  const alice = new BtpPlugin({ server: `btp+ws://:alice-secret@127.0.0.1:${alicePort}` });
  alice.registerDataHandler(receiver('alice'));
  out({ event: 'starting' });
  await Promise.all([app.listen(), alice.connect()]);
  const info = await ILDCP.fetch(alice.sendData.bind(alice));
  out({ event: 'ildcp', clientAddress: info.clientAddress });
  out({ event: 'paid', result: await pay(alice, dest, amount) });
  out({ event: 'ready' });
  exitOnStdinClose(async () => { await alice.disconnect(); await app.shutdown(); });
})().catch((e) => { out({ event: 'error', message: String(e && e.stack || e) }); process.exit(1); });

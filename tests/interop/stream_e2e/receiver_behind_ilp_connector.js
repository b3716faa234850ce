// A JS reference STREAM receiver behind the JS reference connector, for tollcast's STREAM sender to pay.
// ilp-connector (address test.jsconn, one-to-one rates, no spread) gets two child accounts:
//   "tollcast": ilp-plugin-btp listener on 127.0.0.1:<free port>, auth token <secret> (a tollcast node connects here as a BTP client)
//   "receiver": an in-process plugin pair whose far end is the STREAM receiver:
//       --impl stream-receiver     @interledger/stream-receiver StreamServer (stateless, default)
//       --impl ilp-protocol-stream ilp-protocol-stream createServer (run node with -r ./node20-stream-shim.js)
// Prints one `TOLLCAST_JSON {...}` line {btp, destinationAccount, sharedSecret(b64)} when ready; then for each stdin line "report"
// prints {received, packets, data(utf8 of data received, ilp-protocol-stream only)}; "quit" exits.
const crypto = require('crypto');
// ilp-connector logs to stdout: our machine-readable lines carry this prefix.
const out = (line) => process.stdout.write(`TOLLCAST_JSON ${line}\n`);
const net = require('net');
const EventEmitter = require('events');
const readline = require('readline');
const IlpPacket = require('ilp-packet');

const impl = process.argv.includes('--impl') ? process.argv[process.argv.indexOf('--impl') + 1] : 'stream-receiver';
const ASSET = { code: 'XYZ', scale: 9 };

class PairPlugin extends EventEmitter { // one side of an in-process LedgerPlugin v2 pair
  constructor() { super(); this.handler = null; this.other = null; this.connected = false; }
  async connect() { if (!this.connected) { this.connected = true; this.emit('connect'); } }
  async disconnect() { if (this.connected) { this.connected = false; this.emit('disconnect'); } }
  isConnected() { return this.connected; }
  async sendData(buf) {
    if (!this.other.handler) throw new Error('peer has no data handler');
    return this.other.handler(buf);
  }
  async sendMoney() {}
  registerDataHandler(h) { this.handler = h; this.emit('_handler'); }
  whenHandler() { return this.handler ? Promise.resolve() : new Promise((r) => this.once('_handler', r)); }
  deregisterDataHandler() { this.handler = null; }
  registerMoneyHandler() {}
  deregisterMoneyHandler() {}
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function main() {
  const port = await freePort();
  const secret = crypto.randomBytes(16).toString('hex');
  const connectorSide = new PairPlugin();
  const receiverSide = new PairPlugin();
  connectorSide.other = receiverSide; receiverSide.other = connectorSide;

  const createApp = require('ilp-connector').createApp;
  const app = createApp({
    ilpAddress: 'test.jsconn',
    backend: 'one-to-one',
    spread: 0,
    store: 'memory',
    initialConnectTimeout: 60000,
    accounts: {
      tollcast: {
        relation: 'child', assetCode: ASSET.code, assetScale: ASSET.scale, plugin: 'ilp-plugin-btp',
        options: { listener: { port, secret, wsOpts: { host: '127.0.0.1', port } } },
      },
      receiver: { relation: 'child', assetCode: ASSET.code, assetScale: ASSET.scale, plugin: connectorSide },
    },
  });
  // listen() waits (up to initialConnectTimeout) for the BTP client: don't await it before printing the address.
  const listening = app.listen();

  let received = 0n; let packets = 0; let data = '';
  let credentials;
  if (impl === 'ilp-protocol-stream') {
    const { createServer } = require('ilp-protocol-stream');
    await receiverSide.connect();
    await connectorSide.whenHandler();
    // createServer runs IL-DCP through the connector; the connector answers once its accounts are set up.
    const server = await createServer({ plugin: receiverSide, serverSecret: crypto.randomBytes(32) });
    server.on('connection', (conn) => conn.on('stream', (s) => {
      s.setReceiveMax('18446744073709551615');
      s.on('money', (a) => { received += BigInt(a); packets += 1; });
      s.on('data', (d) => { data += d.toString('utf8'); });
    }));
    const { destinationAccount, sharedSecret } = server.generateAddressAndSecret();
    credentials = { destinationAccount, sharedSecret };
  } else {
    const { StreamServer } = require('@interledger/stream-receiver');
    const srv = new StreamServer({ serverSecret: crypto.randomBytes(32), serverAddress: 'test.jsconn.receiver' });
    receiverSide.registerDataHandler(async (buf) => {
      const prepare = IlpPacket.deserializeIlpPrepare(buf);
      const reply = srv.createReply(prepare);
      if (IlpPacket.isFulfill(reply) || IlpPacket.isReject(reply)) return IlpPacket.serializeIlpReply(reply);
      reply.setTotalReceived((received + BigInt(prepare.amount)).toString());
      const out = reply.accept();
      if (IlpPacket.isFulfill(out)) { received += BigInt(prepare.amount); packets += 1; }
      return IlpPacket.serializeIlpReply(out);
    });
    await receiverSide.connect();
    const { ilpAddress, sharedSecret } = srv.generateCredentials({ asset: ASSET });
    credentials = { destinationAccount: ilpAddress, sharedSecret };
  }
  out(JSON.stringify({
    btp: `btp+ws://:${secret}@127.0.0.1:${port}`,
    destinationAccount: credentials.destinationAccount,
    sharedSecret: credentials.sharedSecret.toString('base64'),
    asset: ASSET,
  }));
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'report') out(JSON.stringify({ received: received.toString(), packets, data }));
    if (cmd === 'quit') process.exit(0);
  });
  rl.on('close', () => process.exit(0));
  await listening;
}
main().catch((e) => { out(JSON.stringify({ error: String(e && e.stack || e) })); process.exit(1); });

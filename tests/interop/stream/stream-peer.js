// STREAM reference peer for tollcast's interop tests: ilp-protocol-stream 2.7's own packet
// codec and crypto behind a JSON-lines protocol on stdin/stdout (one request per line,
// one reply per line, in order). Packets travel as fixture-shaped JSON (RFC 0029 test
// vectors: u64 as decimal strings, byte fields base64), buffers as hex.
//
// Requests ({op, ...} -> {ok: true, ...} or {ok: false, error}):
//   decode   {hex}                    plaintext -> {packet}
//   encode   {packet}                 -> {hex}
//   decrypt  {secret, hex}            secret = base64 shared secret -> {packet, fulfillment, condition}
//   encrypt  {secret, packet}         -> {hex, fulfillment, condition}
//   random   {count}                  JS-generated random packets -> {items: [{packet, hex}]}
//   bench    {secret, dataLen, iters} encrypt+encode / decrypt+decode / fulfillment ns/op
//            (one packet: StreamMoney + StreamData of dataLen bytes; median of 5 rounds)
//   tokenOpen {serverSecret, token}   open a server token as ilp-protocol-stream's pool does
//   tokenIssue {serverSecret, tag}    Server#generateAddressAndSecret on a real JS Server
//   receiptCreate {nonce, streamId, totalReceived, secret}  RFC 0039 receipt -> {hex}
//   receiptVerify {hex, secret}       -> {nonce, streamId, totalReceived} or error
const readline = require('readline');
const crypto = require('crypto');
const Long = require('long');
const { Reader } = require('oer-utils');
const P = require('ilp-protocol-stream/dist/src/packet');
const C = require('ilp-protocol-stream/dist/src/crypto');
const R = require('ilp-protocol-stream/dist/src/util/receipt');

const u = (s) => Long.fromString(String(s), true);
const b64 = (s) => Buffer.from(s, 'base64');

// Frame name -> constructor from fixture JSON (argument order of the JS classes).
const build = {
  ConnectionClose: (f) => new P.ConnectionCloseFrame(f.errorCode, f.errorMessage),
  ConnectionNewAddress: (f) => new P.ConnectionNewAddressFrame(f.sourceAccount),
  ConnectionAssetDetails: (f) => new P.ConnectionAssetDetailsFrame(f.sourceAssetCode, f.sourceAssetScale),
  ConnectionMaxData: (f) => new P.ConnectionMaxDataFrame(u(f.maxOffset)),
  ConnectionDataBlocked: (f) => new P.ConnectionDataBlockedFrame(u(f.maxOffset)),
  ConnectionMaxStreamId: (f) => new P.ConnectionMaxStreamIdFrame(u(f.maxStreamId)),
  ConnectionStreamIdBlocked: (f) => new P.ConnectionStreamIdBlockedFrame(u(f.maxStreamId)),
  StreamClose: (f) => new P.StreamCloseFrame(u(f.streamId), f.errorCode, f.errorMessage),
  StreamMoney: (f) => new P.StreamMoneyFrame(u(f.streamId), u(f.shares)),
  StreamMaxMoney: (f) => new P.StreamMaxMoneyFrame(u(f.streamId), u(f.receiveMax), u(f.totalReceived)),
  StreamMoneyBlocked: (f) => new P.StreamMoneyBlockedFrame(u(f.streamId), u(f.sendMax), u(f.totalSent)),
  StreamData: (f) => new P.StreamDataFrame(u(f.streamId), u(f.offset), b64(f.data)),
  StreamMaxData: (f) => new P.StreamMaxDataFrame(u(f.streamId), u(f.maxOffset)),
  StreamDataBlocked: (f) => new P.StreamDataBlockedFrame(u(f.streamId), u(f.maxOffset)),
  StreamReceipt: (f) => new P.StreamReceiptFrame(u(f.streamId), b64(f.receipt)),
};

function toPacket(j) {
  return new P.Packet(u(j.sequence), j.packetType, u(j.amount), j.frames.map((f) => {
    const mk = build[f.name];
    if (!mk) throw new Error(`unknown frame name ${f.name}`);
    return mk(f);
  }));
}

function fromPacket(p) {
  return {
    sequence: p.sequence.toString(),
    packetType: p.ilpPacketType,
    amount: p.prepareAmount.toString(),
    frames: p.frames.map((f) => {
      const o = { type: f.type, name: f.name };
      for (const k of Object.getOwnPropertyNames(f)) {
        if (k === 'type' || k === 'name') continue;
        const v = f[k];
        o[k] = Long.isLong(v) ? v.toString() : Buffer.isBuffer(v) ? v.toString('base64') : v;
      }
      return o;
    }),
  };
}

const keysFor = (secretB64) => {
  const secret = b64(secretB64);
  return { enc: C.generatePskEncryptionKey(secret), ful: C.generateFulfillmentKey(secret) };
};
async function proof(k, data) {
  const fulfillment = await C.generateFulfillment(await k.ful, data);
  return { fulfillment: fulfillment.toString('hex'), condition: (await C.hash(fulfillment)).toString('hex') };
}

// --- random packets generated on the JS side ---
const rnd = (n) => crypto.randomInt(n);
function rndU64() {
  switch (rnd(6)) {
    case 0: return '0';
    case 1: return String(rnd(256));
    case 2: return '9007199254740991';
    case 3: return '18446744073709551615';
    default: return BigInt('0x' + crypto.randomBytes(1 + rnd(8)).toString('hex')).toString();
  }
}
const CHARS = Array.from('abcXYZ019 .~_-é€😀'); // whole code points (no lone surrogates)
const rndStr = () => Array.from({ length: rnd(40) }, () => CHARS[rnd(CHARS.length)]).join('');
const rndBytes = (max) => crypto.randomBytes(rnd(max + 1)).toString('base64');
const gens = [
  () => ({ name: 'ConnectionClose', errorCode: rnd(256), errorMessage: rndStr() }),
  () => ({ name: 'ConnectionNewAddress', sourceAccount: 'g.' + rndStr().replace(/[^a-zA-Z0-9]/g, 'x') }),
  () => ({ name: 'ConnectionAssetDetails', sourceAssetCode: Array.from(rndStr()).slice(0, 5).join(''), sourceAssetScale: rnd(256) }),
  () => ({ name: 'ConnectionMaxData', maxOffset: rndU64() }),
  () => ({ name: 'ConnectionDataBlocked', maxOffset: rndU64() }),
  () => ({ name: 'ConnectionMaxStreamId', maxStreamId: rndU64() }),
  () => ({ name: 'ConnectionStreamIdBlocked', maxStreamId: rndU64() }),
  () => ({ name: 'StreamClose', streamId: rndU64(), errorCode: rnd(256), errorMessage: rndStr() }),
  () => ({ name: 'StreamMoney', streamId: rndU64(), shares: rndU64() }),
  () => ({ name: 'StreamMaxMoney', streamId: rndU64(), receiveMax: rndU64(), totalReceived: rndU64() }),
  () => ({ name: 'StreamMoneyBlocked', streamId: rndU64(), sendMax: rndU64(), totalSent: rndU64() }),
  () => ({ name: 'StreamData', streamId: rndU64(), offset: rndU64(), data: rndBytes(rnd(10) === 0 ? 2000 : 64) }),
  () => ({ name: 'StreamMaxData', streamId: rndU64(), maxOffset: rndU64() }),
  () => ({ name: 'StreamDataBlocked', streamId: rndU64(), maxOffset: rndU64() }),
  () => ({ name: 'StreamReceipt', streamId: rndU64(), receipt: rndBytes(80) }),
];
function randomPacket() {
  const j = { sequence: rndU64(), packetType: 12 + rnd(3), amount: rndU64(), frames: [] };
  for (let i = rnd(6); i > 0; i--) j.frames.push(gens[rnd(gens.length)]());
  const p = toPacket(j);
  // Canonical JSON from the JS object itself (adds type numbers).
  return { packet: fromPacket(p), hex: p._serialize().toString('hex') };
}

async function bench({ secret, dataLen, iters }) {
  const k = keysFor(secret);
  const key = await k.enc;
  const packet = new P.Packet(u(1), 12, u(1000), [
    new P.StreamMoneyFrame(u(1), u(1000)),
    new P.StreamDataFrame(u(1), u(0), crypto.randomBytes(dataLen)),
  ]);
  let enc;
  const runs = { encrypt: [], decrypt: [], fulfill: [] };
  const fulKey = await k.ful;
  for (let r = 0; r < 5; r++) {
    let t = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) enc = await packet.serializeAndEncrypt(key);
    runs.encrypt.push(Number(process.hrtime.bigint() - t) / iters);
    t = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) await P.Packet.decryptAndDeserialize(key, enc);
    runs.decrypt.push(Number(process.hrtime.bigint() - t) / iters);
    t = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) await C.generateFulfillment(fulKey, enc);
    runs.fulfill.push(Number(process.hrtime.bigint() - t) / iters);
  }
  const med = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1];
  return { encryptNs: med(runs.encrypt), decryptNs: med(runs.decrypt), fulfillNs: med(runs.fulfill), runs, bytes: enc.length };
}

function openToken({ serverSecret, token }) {
  const seed = b64(serverSecret);
  const raw = Buffer.from(token, 'base64');
  const sharedSecret = C.generateSharedSecretFromToken(seed, raw);
  const reader = new Reader(C.decryptConnectionAddressToken(seed, raw));
  reader.skipOctetString(C.TOKEN_NONCE_LENGTH);
  const tag = reader.readVarOctetString().toString('ascii');
  return { sharedSecret: sharedSecret.toString('base64'), tag };
}

async function issueToken({ serverSecret, tag, serverAddress }) {
  const { createServer } = require('ilp-protocol-stream');
  const ILDCP = require('ilp-protocol-ildcp');
  // Minimal plugin: only answers IL-DCP so the Server can learn its address.
  const plugin = {
    async connect() {}, async disconnect() {}, isConnected: () => true,
    registerDataHandler() {}, deregisterDataHandler() {}, registerMoneyHandler() {}, deregisterMoneyHandler() {},
    async sendMoney() {},
    async sendData(buf) {
      return ILDCP.serve({ requestPacket: buf, serverAddress: 'test',
        handler: async () => ({ clientAddress: serverAddress, assetCode: 'XYZ', assetScale: 9 }) });
    },
  };
  const server = await createServer({ plugin, serverSecret: b64(serverSecret) });
  const r = server.generateAddressAndSecret(tag ? { connectionTag: tag } : undefined);
  await server.close();
  return { destinationAccount: r.destinationAccount, sharedSecret: r.sharedSecret.toString('base64') };
}

async function handle(req) {
  switch (req.op) {
    case 'decode': return { packet: fromPacket(P.Packet._deserializeUnencrypted(Buffer.from(req.hex, 'hex'))) };
    case 'encode': return { hex: toPacket(req.packet)._serialize().toString('hex') };
    case 'decrypt': {
      const k = keysFor(req.secret);
      const data = Buffer.from(req.hex, 'hex');
      const p = await P.Packet.decryptAndDeserialize(await k.enc, data);
      return { packet: fromPacket(p), ...(await proof(k, data)) };
    }
    case 'encrypt': {
      const k = keysFor(req.secret);
      const data = await toPacket(req.packet).serializeAndEncrypt(await k.enc);
      return { hex: data.toString('hex'), ...(await proof(k, data)) };
    }
    case 'random': return { items: Array.from({ length: req.count }, randomPacket) };
    case 'bench': return bench(req);
    case 'tokenOpen': return openToken(req);
    case 'tokenIssue': return issueToken(req);
    case 'receiptCreate': return { hex: R.createReceipt({ nonce: b64(req.nonce), streamId: req.streamId,
      totalReceived: req.totalReceived, secret: b64(req.secret) }).toString('hex') };
    case 'receiptVerify': {
      const r = R.verifyReceipt(Buffer.from(req.hex, 'hex'), b64(req.secret));
      return { nonce: r.nonce.toString('base64'), streamId: Number(r.streamId), totalReceived: r.totalReceived.toString() };
    }
    default: throw new Error(`unknown op ${req.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin, terminal: false });
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let out;
    try { out = { ok: true, ...(await handle(JSON.parse(line))) }; } catch (e) { out = { ok: false, error: String(e && e.message || e) }; }
    process.stdout.write(JSON.stringify(out) + '\n');
  });
});
rl.on('close', () => { chain.then(() => process.exit(0)); });

// The JS reference doing the same per-payment work as tollcast's `stream/payment/direct` bench:
// the sender builds and encrypts a STREAM Prepare packet (ilp-protocol-stream Packet + crypto),
// derives the condition, the receiver (@interledger/stream-receiver StreamServer) decrypts,
// checks and fulfills with an encrypted reply, the sender decrypts the reply.
// usage: node bench_stream_js.js [payments=20000]
// Prints `STREAM-BENCH js-direct: N payments in S s = P payments/s; CPU C s per 1,000 payments` (3 runs, median).
const crypto = require('crypto');
const { StreamServer } = require('@interledger/stream-receiver');
const { Packet, StreamMoneyFrame, IlpPacketType } = require('ilp-protocol-stream/dist/src/packet');
const sc = require('ilp-protocol-stream/dist/src/crypto');
const { isFulfill } = require('ilp-packet');
const Long = require('long');

async function run(n) {
  const srv = new StreamServer({ serverSecret: crypto.randomBytes(32), serverAddress: 'test.direct.recv' });
  const { ilpAddress, sharedSecret } = srv.generateCredentials({ asset: { code: 'XYZ', scale: 9 } });
  const encKey = await sc.generatePskEncryptionKey(sharedSecret);
  const fulKey = await sc.generateFulfillmentKey(sharedSecret);
  let total = 0n;
  const pay = async (seq) => {
    const p = new Packet(seq, IlpPacketType.Prepare, 1, [new StreamMoneyFrame(1, 1)]);
    const data = await p.serializeAndEncrypt(encKey);
    const fulfillment = await sc.generateFulfillment(fulKey, data);
    const condition = crypto.createHash('sha256').update(fulfillment).digest();
    const prepare = { amount: '1', expiresAt: new Date(Date.now() + 30000), executionCondition: condition, destination: ilpAddress, data };
    const reply = srv.createReply(prepare);
    if (isFulfill(reply) || reply.code) throw new Error('rejected');
    reply.setTotalReceived((total + 1n).toString());
    const f = reply.accept();
    total += 1n;
    const r = await Packet.decryptAndDeserialize(encKey, f.data);
    if (!Long.fromValue(r.sequence).equals(Long.fromValue(seq))) throw new Error('bad reply');
  };
  for (let i = 1; i <= 1000; i++) await pay(i); // warm-up
  const cpu0 = process.cpuUsage(); const t0 = process.hrtime.bigint();
  for (let i = 1001; i <= n + 1000; i++) await pay(i);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9; const cpu = process.cpuUsage(cpu0);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

(async () => {
  const n = Number(process.argv[2] || 20000);
  const runs = [];
  for (let k = 0; k < 3; k++) runs.push(await run(n));
  runs.sort((a, b) => a.wall - b.wall);
  const m = runs[1];
  console.log(`STREAM-BENCH js-direct: ${n} payments in ${m.wall.toFixed(3)} s = ${(n / m.wall).toFixed(0)} payments/s; CPU ${(m.cpu * 1000 / n).toFixed(4)} s per 1,000 payments (${(m.wall * 1e9 / n).toFixed(0)} ns/payment)`);
})().catch((e) => { console.error(e); process.exit(1); });

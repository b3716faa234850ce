// Shared by the connector interop scripts: a test receiver (the PREPARE data is the 32-byte
// preimage) and JSON-line output for the Rust test that drives these scripts.
const crypto = require('crypto');
const IlpPacket = require('ilp-packet');

exports.out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

// A data handler that fulfills test packets and reports each one.
exports.receiver = (name) => async (buf) => {
  const p = IlpPacket.deserializeIlpPrepare(buf);
  exports.out({ event: 'got', who: name, amount: p.amount, destination: p.destination });
  if (p.data.length !== 32) {
    return IlpPacket.serializeIlpReject({ code: 'F06', triggeredBy: '', message: 'test receiver wants a preimage', data: Buffer.alloc(0) });
  }
  return IlpPacket.serializeIlpFulfill({ fulfillment: p.data, data: Buffer.from('js') });
};

// Sends a test PREPARE and returns a JSON summary of the reply.
exports.pay = async (plugin, destination, amount) => {
  const pre = crypto.randomBytes(32);
  const prepare = IlpPacket.serializeIlpPrepare({
    amount: String(amount),
    executionCondition: crypto.createHash('sha256').update(pre).digest(),
    expiresAt: new Date(Date.now() + 10000),
    destination,
    data: pre,
  });
  const reply = IlpPacket.deserializeIlpPacket(await plugin.sendData(prepare));
  if (reply.typeString === 'ilp_fulfill') {
    return { type: 'fulfill', matches: reply.data.fulfillment.equals(pre), data: reply.data.data.toString() };
  }
  return { type: 'reject', code: reply.data.code, triggeredBy: reply.data.triggeredBy, message: reply.data.message };
};

// Exit when the Rust side closes our stdin.
exports.exitOnStdinClose = (cleanup) => {
  process.stdin.resume();
  process.stdin.on('end', async () => { try { await cleanup(); } catch (e) {} process.exit(0); });
};

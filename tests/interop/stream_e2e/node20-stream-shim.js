// Lets ilp-protocol-stream 2.x run on Node >= 18: its DataAndMoneyStream (a Duplex) assigns `this.closed`,
// but Readable#closed became a getter-only accessor. Shadow it on Duplex.prototype with an accessor whose
// setter turns the assignment into an own data property of that instance. Use: node -r ./node20-stream-shim.js
const { Readable, Duplex } = require('stream');
const base = Object.getOwnPropertyDescriptor(Readable.prototype, 'closed');
if (base && base.get && !base.set && !Object.getOwnPropertyDescriptor(Duplex.prototype, 'closed')) {
  Object.defineProperty(Duplex.prototype, 'closed', {
    configurable: true,
    enumerable: false,
    get: base.get,
    set(v) {
      Object.defineProperty(this, 'closed', { value: v, writable: true, configurable: true, enumerable: true });
    },
  });
}

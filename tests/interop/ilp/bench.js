// ILP PREPARE encode/decode with ilp-packet 3.1.3, same cases as crates/wire/benches/ilp.rs.
// Prints the median ns/op over ROUNDS timed rounds per case.   usage: node bench.js [rounds]
'use strict'
const path = require('path')
const IlpPacket = require(path.join(__dirname, '..', 'node_modules', 'ilp-packet'))

const ROUNDS = Number(process.argv[2] || 15)

function prepare (len) {
  return {
    amount: '107',
    expiresAt: new Date(1900000000123),
    executionCondition: Buffer.alloc(32, 0x5a),
    destination: 'g.tollcast.relay.viewer-01.stream~abc',
    data: Buffer.alloc(len, 0xab)
  }
}

function measure (fn) {
  // Calibrate the batch to ~20 ms, warm up, then take the median of ROUNDS batches.
  let n = 1
  for (;;) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) fn()
    if (Number(process.hrtime.bigint() - t) > 20e6) break
    n *= 2
  }
  const samples = []
  for (let r = 0; r < ROUNDS; r++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < n; i++) fn()
    samples.push(Number(process.hrtime.bigint() - t) / n)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]
}

let sink = 0
for (const [label, len] of [['64B', 64], ['32767B', 32767]]) {
  const p = prepare(len)
  const buf = IlpPacket.serializeIlpPrepare(p)
  const enc = measure(() => { sink += IlpPacket.serializeIlpPrepare(p).length })
  const dec = measure(() => { sink += IlpPacket.deserializeIlpPacket(buf).data.data.length })
  console.log(`js ilp_prepare_encode_${label}: ${enc.toFixed(1)} ns/op`)
  console.log(`js ilp_prepare_decode_${label}: ${dec.toFixed(1)} ns/op`)
}
if (sink === 42) console.log('')

// ILP / BTP / IL-DCP codec oracle for tollcast's Rust interop tests.
//
// Reads JSON lines on stdin, answers one JSON line per request on stdout:
//   {"op":"decode","kind":K,"hex":H}        -> {"ok":true,"value":V} | {"ok":false,"error":E}
//   {"op":"encode","kind":K,"value":V}      -> {"ok":true,"hex":H}   | {"ok":false,"error":E}
//   {"op":"gen","kind":K,"count":N,"seed":S} -> {"ok":true,"items":[{"hex":H,"value":V},...]}
// K is ilp | btp | ildcp_request | ildcp_response; V is the normalized JSON form shared with
// the Rust side (bytes as lowercase hex, amounts as decimal strings, times as ISO 8601).
'use strict'
const path = require('path')
const nm = path.join(__dirname, '..', 'node_modules')
const IlpPacket = require(path.join(nm, 'ilp-packet'))
const Btp = require(path.join(nm, 'btp-packet'))
const Ildcp = require(path.join(nm, 'ilp-protocol-ildcp'))
const readline = require('readline')

const hex = (b) => Buffer.from(b).toString('hex')
const unhex = (h) => Buffer.from(h, 'hex')

// ---- normalized forms -------------------------------------------------------------------
function ilpToValue (buf) {
  const type = buf[0]
  if (type === IlpPacket.Type.TYPE_ILP_PREPARE) {
    const p = IlpPacket.deserializeIlpPrepare(buf)
    return { type: 'prepare', amount: p.amount, expiresAt: p.expiresAt.toISOString(), executionCondition: hex(p.executionCondition), destination: p.destination, data: hex(p.data) }
  } else if (type === IlpPacket.Type.TYPE_ILP_FULFILL) {
    const f = IlpPacket.deserializeIlpFulfill(buf)
    return { type: 'fulfill', fulfillment: hex(f.fulfillment), data: hex(f.data) }
  } else if (type === IlpPacket.Type.TYPE_ILP_REJECT) {
    const r = IlpPacket.deserializeIlpReject(buf)
    return { type: 'reject', code: r.code, triggeredBy: r.triggeredBy, message: r.message, data: hex(r.data) }
  }
  throw new Error('unknown ILP packet type ' + type)
}

function ilpFromValue (v) {
  if (v.type === 'prepare') {
    return IlpPacket.serializeIlpPrepare({ amount: v.amount, expiresAt: new Date(v.expiresAt), executionCondition: unhex(v.executionCondition), destination: v.destination, data: unhex(v.data) })
  } else if (v.type === 'fulfill') {
    return IlpPacket.serializeIlpFulfill({ fulfillment: unhex(v.fulfillment), data: unhex(v.data) })
  } else if (v.type === 'reject') {
    return IlpPacket.serializeIlpReject({ code: v.code, triggeredBy: v.triggeredBy, message: v.message, data: unhex(v.data) })
  }
  throw new Error('unknown type ' + v.type)
}

function btpToValue (buf) {
  const p = Btp.deserialize(buf)
  const v = { type: p.type, requestId: p.requestId }
  const d = p.data
  if (p.type === Btp.TYPE_TRANSFER) v.amount = d.amount
  if (p.type === Btp.TYPE_ERROR) {
    v.code = d.code
    v.name = d.name
    v.triggeredAt = d.triggeredAt.toISOString()
    v.data = hex(Buffer.from(d.data, 'utf8'))
  }
  v.protocolData = d.protocolData.map((e) => ({ name: e.protocolName, contentType: e.contentType, data: hex(e.data) }))
  return v
}

function btpFromValue (v) {
  const protocolData = v.protocolData.map((e) => ({ protocolName: e.name, contentType: e.contentType, data: unhex(e.data) }))
  let data
  if (v.type === Btp.TYPE_TRANSFER) data = { amount: v.amount, protocolData }
  else if (v.type === Btp.TYPE_ERROR) data = { code: v.code, name: v.name, triggeredAt: new Date(v.triggeredAt), data: unhex(v.data).toString('utf8'), protocolData }
  else data = { protocolData }
  return Btp.serialize({ type: v.type, requestId: v.requestId, data })
}

const KINDS = {
  ilp: { toValue: ilpToValue, fromValue: ilpFromValue },
  btp: { toValue: btpToValue, fromValue: btpFromValue },
  ildcp_request: {
    toValue: (buf) => { const r = Ildcp.deserializeIldcpRequest(buf); return { expiresAt: r.expiresAt.toISOString(), data: hex(r.data) } },
    fromValue: (v) => Ildcp.serializeIldcpRequest({ expiresAt: new Date(v.expiresAt), data: unhex(v.data) })
  },
  ildcp_response: {
    toValue: (buf) => Ildcp.deserializeIldcpResponse(buf),
    fromValue: (v) => Ildcp.serializeIldcpResponse(v)
  }
}

// ---- seeded random values ---------------------------------------------------------------
function mulberry32 (a) {
  return function () {
    a |= 0; a = a + 0x6D2B79F5 | 0
    let t = Math.imul(a ^ a >>> 15, 1 | a)
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t
    return ((t ^ t >>> 14) >>> 0) / 4294967296
  }
}

function makeGen (seed) {
  const rnd = mulberry32(seed)
  const int = (lo, hi) => lo + Math.floor(rnd() * (hi - lo + 1))
  const pick = (arr) => arr[int(0, arr.length - 1)]
  const bytes = (n) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = int(0, 255); return b }
  const dataLen = () => { const r = rnd(); return r < 0.5 ? int(0, 127) : r < 0.9 ? int(128, 600) : r < 0.98 ? int(600, 5000) : int(5000, 32767) }
  const u64 = () => { const r = rnd(); if (r < 0.05) return '0'; if (r < 0.1) return '18446744073709551615'; return ((BigInt(int(0, 0xffffffff)) << 32n) | BigInt(int(0, 0xffffffff))).toString() }
  const SEG = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~-'
  const segment = (max) => { let s = ''; const n = int(1, max); for (let i = 0; i < n; i++) s += SEG[int(0, SEG.length - 1)]; return s }
  const address = () => {
    let a = pick(['g', 'private', 'example', 'peer', 'self', 'test', 'test1', 'test2', 'test3', 'local'])
    const long = rnd() < 0.05
    const n = long ? 200 : int(1, 5)
    for (let i = 0; i < n; i++) { const s = segment(long ? 8 : 12); if (a.length + 1 + s.length > 1023) break; a += '.' + s }
    return a
  }
  const date = () => new Date(int(Date.UTC(1971, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999)))
  const text = (max) => {
    let s = ''
    const n = int(0, max)
    for (let i = 0; i < n; i++) {
      const r = rnd()
      if (r < 0.6) s += String.fromCharCode(int(0x20, 0x7e))
      else if (r < 0.8) s += String.fromCharCode(int(0xa0, 0x7ff))
      else if (r < 0.95) { let c; do { c = int(0x800, 0xfffd) } while (c >= 0xd800 && c <= 0xdfff); s += String.fromCharCode(c) } else s += String.fromCodePoint(int(0x10000, 0x10ffff))
    }
    return s
  }
  const ascii = (min, max) => { let s = ''; const n = int(min, max); for (let i = 0; i < n; i++) s += String.fromCharCode(int(0x20, 0x7e)); return s }
  const code = () => pick(['F', 'T', 'R']) + int(0, 9) + int(0, 9)
  const protocolData = () => { const n = int(0, 5); const out = []; for (let i = 0; i < n; i++) out.push({ name: i === 0 && rnd() < 0.5 ? 'ilp' : ascii(0, 12), contentType: int(0, 255), data: hex(bytes(rnd() < 0.9 ? int(0, 200) : int(200, 3000))) }); return out }

  return {
    ilp () {
      const t = int(0, 2)
      if (t === 0) return { type: 'prepare', amount: u64(), expiresAt: date().toISOString(), executionCondition: hex(bytes(32)), destination: address(), data: hex(bytes(dataLen())) }
      if (t === 1) return { type: 'fulfill', fulfillment: hex(bytes(32)), data: hex(bytes(dataLen())) }
      return { type: 'reject', code: code(), triggeredBy: rnd() < 0.2 ? '' : address(), message: text(rnd() < 0.9 ? 60 : 400), data: hex(bytes(dataLen())) }
    },
    btp () {
      const type = pick([1, 2, 6, 7])
      const v = { type, requestId: int(0, 0xffffffff) }
      if (type === 7) v.amount = u64()
      if (type === 2) { v.code = ascii(3, 3); v.name = ascii(0, 30); v.triggeredAt = date().toISOString(); v.data = hex(Buffer.from(text(40), 'utf8')) }
      v.protocolData = protocolData()
      return v
    },
    ildcp_request () {
      return { expiresAt: new Date(Date.now() + int(60000, 1e12)).toISOString(), data: hex(bytes(rnd() < 0.7 ? 0 : int(1, 300))) }
    },
    ildcp_response () {
      return { clientAddress: address(), assetScale: int(0, 255), assetCode: text(8) }
    }
  }
}

function handle (req) {
  const kind = KINDS[req.kind]
  if (!kind) throw new Error('unknown kind ' + req.kind)
  if (req.op === 'decode') return { ok: true, value: kind.toValue(unhex(req.hex)) }
  if (req.op === 'encode') return { ok: true, hex: hex(kind.fromValue(req.value)) }
  if (req.op === 'gen') {
    const g = makeGen(req.seed)
    const items = []
    for (let i = 0; i < req.count; i++) { const value = g[req.kind](); const h = hex(kind.fromValue(value)); items.push({ hex: h, value: kind.toValue(unhex(h)) }) }
    return { ok: true, items }
  }
  throw new Error('unknown op ' + req.op)
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })
const out = []
rl.on('line', (line) => {
  if (!line.trim()) return
  let res
  try { res = handle(JSON.parse(line)) } catch (e) { res = { ok: false, error: String(e && e.message ? e.message : e) } }
  out.push(JSON.stringify(res))
  if (out.length >= 256) { process.stdout.write(out.join('\n') + '\n'); out.length = 0 }
})
rl.on('close', () => { if (out.length) process.stdout.write(out.join('\n') + '\n') })

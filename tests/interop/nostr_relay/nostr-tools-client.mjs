// nostr-tools (the JS reference client) against a relay: NIP-11, publish, REQ back,
// live subscription, tampered and forged events refused with "invalid:".
// Usage: node nostr-tools-client.mjs ws://127.0.0.1:PORT
// Prints one line per check and a final `N passed, N failed`; exit code 1 on any failure.
import WebSocket from 'ws'
import { Relay, useWebSocketImplementation } from 'nostr-tools/relay'
import { finalizeEvent, generateSecretKey, getPublicKey, verifyEvent } from 'nostr-tools/pure'
import { fetchRelayInformation } from 'nostr-tools/nip11'

useWebSocketImplementation(WebSocket)
const url = process.argv[2]
let passed = 0, failed = 0
const check = (name, ok, detail = '') => {
  if (ok) passed++; else failed++
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`)
}
const withTimeout = (p, ms, what) =>
  Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms))])

try {
  const info = await withTimeout(fetchRelayInformation(url), 5000, 'nip11')
  check('nip11 document', Array.isArray(info.supported_nips) && info.supported_nips.includes(1), JSON.stringify(info.supported_nips))

  const relay = await withTimeout(Relay.connect(url), 5000, 'connect')
  const sk = generateSecretKey()
  const pk = getPublicKey(sk)
  const now = Math.floor(Date.now() / 1000)
  const ev = finalizeEvent({ kind: 1311, created_at: now, tags: [['a', `30311:${pk}:show`]], content: 'hello from nostr-tools' }, sk)
  const reason = await withTimeout(relay.publish(ev), 5000, 'publish')
  check('publish accepted', true, JSON.stringify(reason))

  // Read back by id, author and tag; wait for EOSE.
  const got = []
  await withTimeout(new Promise((resolve) => {
    const sub = relay.subscribe([{ ids: [ev.id] }, { authors: [pk], '#a': [`30311:${pk}:show`] }], {
      onevent: (e) => got.push(e),
      oneose: () => { sub.close(); resolve() },
    })
  }), 5000, 'req')
  check('req returns the event once', got.length === 1 && got[0].id === ev.id && verifyEvent(JSON.parse(JSON.stringify(got[0]))), `${got.length} events`)

  // Live delivery after EOSE.
  const live = finalizeEvent({ kind: 1311, created_at: now + 1, tags: [], content: 'live' }, sk)
  const liveGot = await withTimeout(new Promise((resolve) => {
    const sub = relay.subscribe([{ kinds: [1311], authors: [pk], since: now + 1 }], {
      onevent: (e) => { sub.close(); resolve(e) },
      oneose: () => { relay.publish(live).catch(() => {}) },
    })
  }), 5000, 'live')
  check('live event delivered after EOSE', liveGot.id === live.id)

  // Tampered content (id mismatch) and forged signature must be refused with invalid:.
  const tampered = { ...JSON.parse(JSON.stringify(ev)), content: 'tampered' }
  let msg = ''
  try { await withTimeout(relay.publish(tampered), 5000, 'tampered'); msg = 'accepted' } catch (e) { msg = String(e.message || e) }
  check('tampered event refused with invalid:', msg.startsWith('invalid:'), msg)

  const other = finalizeEvent({ kind: 1, created_at: now, tags: [], content: 'x' }, generateSecretKey())
  const ev2 = finalizeEvent({ kind: 1, created_at: now, tags: [], content: 'forged' }, sk)
  const forged = { ...JSON.parse(JSON.stringify(ev2)), sig: other.sig }
  try { await withTimeout(relay.publish(forged), 5000, 'forged'); msg = 'accepted' } catch (e) { msg = String(e.message || e) }
  check('forged signature refused with invalid:', msg.startsWith('invalid:'), msg)

  // Neither was stored.
  const after = []
  await withTimeout(new Promise((resolve) => {
    const sub = relay.subscribe([{ ids: [ev2.id] }], { onevent: (e) => after.push(e), oneose: () => { sub.close(); resolve() } })
  }), 5000, 'req2')
  check('refused events not stored', after.length === 0)
  relay.close()
} catch (e) {
  check('no exception', false, String(e && e.stack || e))
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 && passed > 0 ? 0 : 1)

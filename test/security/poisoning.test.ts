import t from 'tap'
import Fastify, { type LightMyRequestResponse } from 'fastify'
import errors from '../../plugins/errors.ts'
import auth from '../../plugins/auth.ts'
import cache from '../../plugins/cache.ts'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import { TTL_CLASSES } from '../../src/catalog.ts'
import { build } from '../helpers/build.ts'

// Cache poisoning: a request carrying headers the key does not include ("unkeyed") must never
// get an answer shaped by them stored for the next caller. A canary goes in on a cold key; the
// clean request after it must not see it. With trustProxy off and on (then X-Forwarded-Host and
// X-Forwarded-Proto change what the app believes the host and protocol are).

const CANARY = 'canary7f3a'
const POISON: Record<string, string> = {
  'x-forwarded-host': `${CANARY}.example`,
  'x-forwarded-proto': CANARY,
  'x-forwarded-port': '4444',
  'x-forwarded-prefix': `/${CANARY}`,
  forwarded: `host=${CANARY}.example;proto=${CANARY}`,
  'x-host': `${CANARY}.example`,
  'x-original-url': `/${CANARY}`,
  'x-rewrite-url': `/${CANARY}`,
  'x-http-method-override': 'DELETE',
  'accept-language': `${CANARY}, en;q=0.5`,
  origin: `https://${CANARY}.example`
}

// Every public cached route of the service, each on a key no earlier request warmed.
const CACHED = ['/gigs/1', '/gigs?status=open', '/featured', '/categories', '/skills/popular', '/leaderboards/creators',
  '/leaderboards/applicants', '/search?q=design', '/users/1/gigs', '/users/1/stats', '/users/2', '/stats/daily']

function mentions (res: LightMyRequestResponse, needle: string): boolean {
  return res.body.includes(needle) || Object.values(res.headers).some((v) => String(v).includes(needle))
}

for (const trustProxy of [false, true]) {
  t.test(`unkeyed headers with a canary never reach the next caller of any cached route (trustProxy ${trustProxy ? 'on' : 'off'})`, async (t) => {
    const app = await build(t, { config: { trustProxy } })
    for (const url of CACHED) {
      const poisoned = await app.inject({ url, headers: POISON })
      t.equal(poisoned.statusCode, 200, `${url} answered the poisoned request`)
      const clean = await app.inject(url)
      t.equal(clean.statusCode, 200)
      t.notOk(mentions(clean, CANARY), `${url}: no canary for the next caller (${String(clean.headers['x-cache'])})`)
      t.equal(clean.body, poisoned.body, `${url}: the same answer either way`)
    }
    t.equal((await app.inject('/gigs/1')).statusCode, 200, 'X-HTTP-Method-Override did not turn a GET into a DELETE')
  })

  t.test(`a route that reflects the host and protocol is never stored from a forged X-Forwarded-Host or -Proto (trustProxy ${trustProxy ? 'on' : 'off'})`, async (t) => {
    const app = Fastify({ logger: false, trustProxy })
    await app.register(errors)
    await app.register(auth, { secret: 'x' })
    await app.register(cache, { store: new MemoryStore({ maxBytes: 1e6 }), ttl: TTL_CLASSES })
    // Reflecting what Fastify derives from the request: the kind of route a forged header poisons.
    app.get('/where', { config: { cache: { key: 'where', ttl: 'entity' } } }, async (request) => ({
      host: request.host, hostname: request.hostname, protocol: request.protocol, url: request.url, method: request.method
    }))
    t.teardown(() => app.close())
    for (const [name, value] of Object.entries(POISON)) {
      const poisoned = await app.inject({ url: '/where', headers: { [name]: value } })
      t.equal(poisoned.statusCode, 200)
      const clean = await app.inject('/where')
      t.notOk(mentions(clean, CANARY), `${name}: the next caller sees no canary (${String(clean.headers['x-cache'])})`)
    }
    const clean = await app.inject('/where')
    t.equal(clean.headers['x-cache'], 'HIT', 'a clean request is still cached')
    t.same(JSON.parse(clean.body), { host: 'localhost:80', hostname: 'localhost', protocol: 'http', url: '/where', method: 'GET' })
  })
}

import t from 'tap'
import { ManualClock } from '../../src/cache/clock.ts'
import { TTL_CLASSES } from '../../src/catalog.ts'
import { authAs, json, USERS } from '../helpers/build.ts'
import { fingerprint } from '../helpers/fingerprint.ts'
import { buildBehindDbProxy } from './helpers.ts'

// The database is the source of truth: while it cannot be reached, what the cache holds is still
// served, everything else is a 503 in the common error shape, and nothing is half-written.

const STALE_IF_ERROR = 600
// Past the entity TTL and its jitter (at most 5%), inside the staleIfError window.
const EXPIRED = Math.ceil(TTL_CLASSES.entity * 1.05) * 1000 + 1000

function isUnavailable (t: Tap, res: { statusCode: number, body: string }, what: string): void {
  t.equal(res.statusCode, 503, `${what}: 503`)
  t.match(json(res as never), { statusCode: 503, code: 'SERVICE_UNAVAILABLE', error: 'Service Unavailable', message: String }, `${what}: the common error shape`)
}

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

t.test('Postgres unreachable: cached reads served, uncached reads and writes 503, expired entries STALE within staleIfError, nothing lost, and it recovers', async (t) => {
  const clock = new ManualClock(Date.now())
  const { app, proxy, directUrl } = await buildBehindDbProxy(t, { clock, config: { cacheStaleIfError: STALE_IF_ERROR } })
  const alice = authAs(app, USERS.alice)

  const created = await app.inject({ method: 'POST', url: '/gigs', headers: alice, payload: { title: 'Written before the outage', category: 'design', budgetMin: 10, budgetMax: 20, status: 'open' } })
  t.equal(created.statusCode, 201)
  const gig1 = await app.inject('/gigs/1')
  t.equal(gig1.headers['x-cache'], 'MISS')
  const before = await fingerprint(directUrl)

  await proxy.setMode('refuse')
  const hit = await app.inject('/gigs/1')
  t.equal(hit.statusCode, 200, 'a cached read is still served')
  t.equal(hit.headers['x-cache'], 'HIT')
  t.equal(hit.body, gig1.body)
  isUnavailable(t, await app.inject('/gigs/3'), 'an uncached read')
  isUnavailable(t, await app.inject('/gigs/3'), 'the same read again (the 503 was not stored)')
  isUnavailable(t, await app.inject({ method: 'PATCH', url: '/gigs/1', headers: alice, payload: { title: 'Never written' } }), 'an update')
  isUnavailable(t, await app.inject({ method: 'POST', url: '/gigs', headers: alice, payload: { title: 'Never created', category: 'design', budgetMin: 1, budgetMax: 2 } }), 'a create')
  t.equal(hit.headers['retry-after'], undefined)
  t.equal((await app.inject('/gigs/3')).headers['retry-after'], '5', 'a 503 says when to retry')

  clock.advance(EXPIRED)
  const stale = await app.inject('/gigs/1')
  t.equal(stale.statusCode, 200, 'an expired entry inside staleIfError is served instead of a 503')
  t.equal(stale.headers['x-cache'], 'STALE')
  t.equal(stale.body, gig1.body)
  t.equal(Number(stale.headers.age), Math.floor(EXPIRED / 1000), 'with its age')
  const notModified = await app.inject({ url: '/gigs/1', headers: { 'if-none-match': String(gig1.headers.etag) } })
  t.equal(notModified.statusCode, 304, 'and its etag still answers If-None-Match')

  clock.advance(STALE_IF_ERROR * 1000)
  isUnavailable(t, await app.inject('/gigs/1'), 'an entry past its staleIfError window')

  await proxy.setMode('reset')
  isUnavailable(t, await app.inject('/gigs/4'), 'a read while every connection is reset')

  await proxy.setMode('pass')
  const again = await app.inject('/gigs/1')
  t.equal(again.statusCode, 200, 'recovers once Postgres is back')
  t.equal(again.headers['x-cache'], 'MISS')
  t.equal(json<{ title: string }>(again).title, json<{ title: string }>(gig1).title, 'the refused update was not applied')
  t.equal((await app.inject(`/gigs/${json<{ id: number }>(created).id}`)).statusCode, 200, 'the write acknowledged before the outage is there')
  t.same(await fingerprint(directUrl), before, 'every table as it was before the outage: nothing lost, nothing half-written')
  const patch = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: alice, payload: { title: 'Written after the outage' } })
  t.equal(patch.statusCode, 200)
  t.equal(json<{ title: string }>(await app.inject('/gigs/1')).title, 'Written after the outage')
})

t.test('without staleIfError an expired entry is not served when Postgres is down', async (t) => {
  const clock = new ManualClock(Date.now())
  const { app, proxy } = await buildBehindDbProxy(t, { clock })
  t.equal((await app.inject('/gigs/1')).statusCode, 200)
  await proxy.setMode('refuse')
  t.equal((await app.inject('/gigs/1')).headers['x-cache'], 'HIT')
  clock.advance(EXPIRED)
  isUnavailable(t, await app.inject('/gigs/1'), 'an expired entry')
})

import t from 'tap'
import Fastify from 'fastify'
import { sql } from 'drizzle-orm'
import errors from '../../plugins/errors.ts'
import auth from '../../plugins/auth.ts'
import cache from '../../plugins/cache.ts'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import { ManualClock } from '../../src/cache/clock.ts'
import { TTL_CLASSES } from '../../src/catalog.ts'
import { build, json } from '../helpers/build.ts'

// staleWhileRevalidate: an expired entry inside the window is sent at once (x-cache: STALE) while
// one background request refreshes it. Time is a manual clock, so "expired" is exact.

const SWR = 60

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

async function setup (t: Tap, config = {}) {
  const clock = new ManualClock(Date.now())
  const app = await build(t, { clock, config: { cacheStaleWhileRevalidate: SWR, ...config } })
  // Changed behind the cache's back: only a refresh can show it.
  const retitle = async (title: string): Promise<void> => {
    await app.testDatabase.db.execute(sql`update gigs set title = ${title} where id = 1`)
  }
  /** Moves the clock to `ms` after the entry's expiry (its TTL has jitter, so it is read back). */
  const expire = async (key: string, ms = 1000): Promise<number> => {
    const entry = await app.cacheStore.get(key)
    if (entry === undefined) throw new Error(`${key} is not cached`)
    clock.set(entry.freshUntil + ms)
    return Math.floor((entry.freshUntil + ms - entry.storedAt) / 1000)
  }
  return { app, clock, retitle, expire }
}

async function settle (): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setTimeout(resolve, 50))
}

t.test('an expired entry inside staleWhileRevalidate is sent at once as STALE, and the next request gets the refreshed one', async (t) => {
  const { app, retitle, expire } = await setup(t)
  const first = await app.inject('/gigs/1')
  t.equal(first.headers['x-cache'], 'MISS')
  await retitle('Changed behind the cache')
  const age = await expire('gig:1')
  const stale = await app.inject('/gigs/1')
  t.equal(stale.headers['x-cache'], 'STALE')
  t.equal(stale.body, first.body, 'the stale bytes, at once')
  t.equal(Number(stale.headers.age), age, 'with their age')
  await settle()
  const fresh = await app.inject('/gigs/1')
  t.equal(fresh.headers['x-cache'], 'HIT')
  t.equal(json<{ title: string }>(fresh).title, 'Changed behind the cache', 'refreshed in the background')
  t.equal(fresh.headers.age, '0')
})

t.test('many requests for one stale entry start one background refresh', async (t) => {
  const { app, expire } = await setup(t)
  await app.inject('/gigs/2')
  const cold = app.testDatabase.queries
  await app.inject('/gigs/3')
  const perMiss = app.testDatabase.queries - cold
  await app.inject('/gigs/1')
  await expire('gig:1')
  const before = app.testDatabase.queries
  const answers = await Promise.all(Array.from({ length: 20 }, () => app.inject('/gigs/1')))
  t.same(answers.map((a) => a.headers['x-cache']), Array(20).fill('STALE'))
  await settle()
  t.equal(app.testDatabase.queries - before, perMiss, 'the database was asked once, as for one miss')
  t.equal((await app.inject('/gigs/1')).headers['x-cache'], 'HIT')
})

t.test('past the staleWhileRevalidate window the request waits for the handler (MISS)', async (t) => {
  const { app, retitle, expire } = await setup(t)
  await app.inject('/gigs/1')
  await retitle('Fresh from the database')
  await expire('gig:1', SWR * 1000)
  const res = await app.inject('/gigs/1')
  t.equal(res.headers['x-cache'], 'MISS')
  t.equal(json<{ title: string }>(res).title, 'Fresh from the database')
})

t.test('a client cannot trigger or forge a refresh: the refresh header from outside is ignored', async (t) => {
  const { app } = await setup(t)
  await app.inject('/gigs/1')
  const res = await app.inject({ url: '/gigs/1', headers: { 'x-cache-revalidate': '1' } })
  t.equal(res.headers['x-cache'], 'HIT', 'served from the cache as any request')
})

t.test('a negative staleIfError or staleWhileRevalidate fails boot naming the route', async (t) => {
  for (const option of ['staleIfError', 'staleWhileRevalidate'] as const) {
    const app = Fastify({ logger: false })
    await app.register(errors)
    await app.register(auth, { secret: 'x' })
    await app.register(cache, { store: new MemoryStore({ maxBytes: 1e6 }), ttl: TTL_CLASSES })
    app.register(async (scope) => {
      scope.get('/x', { config: { cache: { key: 'x', ttl: 'entity', [option]: -1 } } }, async () => ({ ok: true }))
    })
    t.teardown(() => app.close().catch(() => {}))
    await t.rejects(async () => { await app.ready() }, new RegExp(`config\\.cache of route GET /x: ${option} must be a non-negative number`))
  }
})

import t from 'tap'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.ts'
import { resilienceOf } from '../src/cache/resilient-store.ts'
import { authAs, build, json, USERS } from './helpers/build.ts'
import { createTestDatabase } from './helpers/database.ts'

// CACHE_STORE picks the cache: off, memory, redis (alone, behind the breaker) or tiered.

type App = FastifyInstance & { testDatabase: { queries: number } }

/** SQL statements the app sends while answering `url` (as `headers`' caller). */
async function queriesFor (app: App, url: string, headers: Record<string, string> = {}): Promise<{ queries: number, xCache: unknown, status: number }> {
  const before = app.testDatabase.queries
  const res = await app.inject({ url, headers })
  return { queries: app.testDatabase.queries - before, xCache: res.headers['x-cache'], status: res.statusCode }
}

t.test('memory (the default without Redis): the second read of a gig is a HIT that sends no SQL', async (t) => {
  const app = await build(t)
  t.equal(app.cacheStore.kind, 'memory')
  t.equal((await queriesFor(app, '/gigs/1')).xCache, 'MISS')
  t.match(await queriesFor(app, '/gigs/1'), { xCache: 'HIT', queries: 0 })
})

t.test('off: every read is answered by its handler from the database, with no x-cache header', async (t) => {
  const app = await build(t, { config: { cacheStore: 'off' } })
  const first = await queriesFor(app, '/gigs/1')
  const second = await queriesFor(app, '/gigs/1')
  t.equal(first.status, 200)
  t.equal(second.xCache, undefined)
  t.ok(second.queries > 0, 'the second read queries the database again')
})

t.test('off: services get no entity cache, so a repeated application read queries the database again', async (t) => {
  const cached = await build(t)
  const off = await build(t, { config: { cacheStore: 'off' } })
  const bob = (app: App) => authAs(app, USERS.bob)
  await queriesFor(cached, '/applications/1', bob(cached))
  await queriesFor(off, '/applications/1', bob(off))
  const fromCache = await queriesFor(cached, '/applications/1', bob(cached))
  const uncached = await queriesFor(off, '/applications/1', bob(off))
  t.equal(uncached.status, 200)
  t.ok(uncached.queries > fromCache.queries, `off: ${uncached.queries} statements, cached: ${fromCache.queries}`)
})

t.test('off: writes leave no outbox row (there is nothing to invalidate)', async (t) => {
  const app = await build(t, { config: { cacheStore: 'off' } })
  const created = await app.inject({
    method: 'POST', url: '/gigs', headers: authAs(app, USERS.bob), payload: { title: 'Written with caching off', category: 'design', budgetMin: 10, budgetMax: 20, status: 'open' }
  })
  t.equal(created.statusCode, 201)
  const rows = await app.testDatabase.db.execute(sql`select count(*)::int as n from outbox`)
  t.same((rows as unknown as { rows: Array<{ n: number }> }).rows, [{ n: 0 }])
  t.equal(json<{ title: string }>(await app.inject(`/gigs/${json<{ id: number }>(created).id}`)).title, 'Written with caching off')
})

t.test('off: the app keeps its routes, /metrics and /cache/stats', async (t) => {
  const app = await build(t, { config: { cacheStore: 'off' } })
  t.equal((await app.inject('/metrics')).statusCode, 200)
  const stats = await app.inject('/cache/stats')
  t.equal(stats.statusCode, 200)
  t.match(json(stats), { alerts: Array, store: 'off' }, 'stats say caching is off')
  t.equal((await app.inject('/gigs?status=open')).statusCode, 200)
})

t.test('off in one app leaves caching on in another app of the same process', async (t) => {
  await build(t, { config: { cacheStore: 'off' } })
  const cached = await build(t)
  await cached.inject('/gigs/2')
  t.equal((await cached.inject('/gigs/2')).headers['x-cache'], 'HIT')
})

t.test('redis: Redis alone behind the circuit breaker, no L1; the second read is a HIT', async (t) => {
  const app = await build(t, { redis: true, config: { cacheStore: 'redis' } })
  t.equal(app.cacheStore.kind, 'redis')
  t.ok(resilienceOf(app.cacheStore), 'guarded by the resilient store')
  t.equal((await queriesFor(app, '/gigs/1')).xCache, 'MISS')
  t.match(await queriesFor(app, '/gigs/1'), { xCache: 'HIT', queries: 0 })
})

t.test('with a Redis URL and no CACHE_STORE the store is tiered', async (t) => {
  const app = await build(t, { redis: true })
  t.equal(app.cacheStore.kind, 'tiered')
})

t.test('redis or tiered without a Redis URL: buildApp fails before it opens anything', async (t) => {
  const made = await createTestDatabase()
  t.teardown(() => made.drop())
  for (const cacheStore of ['redis', 'tiered'] as const) {
    await t.rejects(buildApp({ logger: false, database: made.database, config: { cacheStore, redisUrl: undefined } }), { message: new RegExp(`CACHE_STORE=${cacheStore} needs REDIS_URL`) })
  }
})

t.test('the onRoute seam sees routes before the cache plugin: a replaced handler answers', async (t) => {
  const app = await build(t, {
    config: { cacheStore: 'off' },
    onRoute: (route) => {
      if (route.method !== 'GET' || route.url !== '/gigs/:id') return
      const original = route.handler
      route.handler = function (request, reply) {
        reply.header('x-answered-by', 'seam')
        return original.call(this, request, reply)
      }
    }
  })
  const res = await app.inject('/gigs/1')
  t.equal(res.headers['x-answered-by'], 'seam')
  t.match(json(res), { id: 1 })
})

t.test('metrics: false leaves out /metrics and /cache/*, and the cache still serves', async (t) => {
  const app = await build(t, { metrics: false })
  t.equal((await app.inject('/metrics')).statusCode, 404)
  t.equal((await app.inject('/cache/stats')).statusCode, 404)
  await app.inject('/gigs/1')
  t.equal((await app.inject('/gigs/1')).headers['x-cache'], 'HIT')
})

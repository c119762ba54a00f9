import t from 'tap'
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { asc, eq, sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { outbox } from '../drizzle/schema.ts'
import { buildApp } from '../src/app.ts'
import type { Db } from '../src/db.ts'
import { RedisStore } from '../src/cache/redis-store.ts'
import { inTransaction } from '../src/domain/unit-of-work.ts'
import type { DomainEvent } from '../src/domain/events.ts'
import { OutboxDispatcher } from '../src/outbox.ts'
import { authAs, build, deletePrefix, json, REDIS_URL, USERS } from './helpers/build.ts'
import { createTestDatabase } from './helpers/database.ts'
import { startRedisServer } from './helpers/redis-server.ts'
import { startTcpProxy } from './helpers/tcp-proxy.ts'
import { waitFor } from './consistency/cluster.ts'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

async function rows (db: Db): Promise<Array<typeof outbox.$inferSelect>> {
  return await db.select().from(outbox).orderBy(asc(outbox.id))
}

async function patchTitle (app: FastifyInstance, title: string): Promise<void> {
  const res = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: authAs(app, USERS.alice), payload: { title } })
  if (res.statusCode !== 200) throw new Error(`PATCH: ${res.statusCode} ${res.body}`)
}

const event = (gigId: number): DomainEvent => ({
  name: 'gig.updated',
  payload: { gigId, postedById: 1, version: 2, featured: false, category: 'dev', applicantIds: [] }
})

/** A database of the test's own with no app on it: the dispatchers under test are the only ones. */
async function database (t: Tap): Promise<Db> {
  const made = await createTestDatabase()
  t.teardown(() => made.drop())
  return made.database.db
}

// Generous: these tests are about the outbox, not about the store's per-operation timeout.
const CACHE_TIMEOUT_MS = 5000

async function insertPending (db: Db, events: DomainEvent[]): Promise<void> {
  await db.insert(outbox).values(events.map((e) => ({ event: e.name, payload: e.payload })))
}

t.test('a write records its events in the outbox and marks them done once the cache has them', async (t) => {
  const app = await build(t)
  const before = (await rows(app.testDatabase.db)).length
  await patchTitle(app, 'recorded')
  const after = await rows(app.testDatabase.db)
  t.equal(after.length, before + 1, 'one row for one event')
  const row = after.at(-1)!
  t.equal(row.event, 'gig.updated')
  t.match(row.payload, { gigId: 1, postedById: USERS.alice })
  t.not(row.processedAt, null, 'applied by the request itself before it replied')
  t.equal(row.attempts, 0)
})

t.test('a transaction that rolls back leaves no outbox row', async (t) => {
  const app = await build(t)
  const before = (await rows(app.testDatabase.db)).length
  await t.rejects(inTransaction(app.database.db, app.events, async (_tx, sink) => {
    sink.add(event(1))
    throw new Error('rolled back')
  }), /rolled back/)
  t.equal((await rows(app.testDatabase.db)).length, before)
})

t.test('an invalidation that failed while Redis was unreachable is applied within seconds of Redis coming back', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const proxy = await startTcpProxy({ port: redis.port })
  t.teardown(() => proxy.close())
  const prefix = `test:outbox:${process.pid}:${Date.now().toString(36)}`
  const app = await build(t, { config: { redisUrl: `redis://127.0.0.1:${proxy.port}`, cachePrefix: prefix, cacheTimeoutMs: CACHE_TIMEOUT_MS } })
  // What the cache holds, seen straight on the server (not through the proxy or any L1).
  const direct = new Redis(redis.url)
  t.teardown(() => direct.quit())
  const l2 = new RedisStore({ client: direct, prefix })

  t.equal((await app.inject({ url: '/gigs/1' })).headers['x-cache'], 'MISS')
  t.equal((await app.inject({ url: '/gigs/1' })).headers['x-cache'], 'HIT')
  const old = (await l2.get('gig:1'))?.value
  t.match(old, /"title":"Build a caching layer/, 'Redis holds the gig')

  // Redis stays up with its data, but this instance cannot reach it: the invalidation fails.
  await proxy.setMode('refuse')
  await patchTitle(app, 'written while Redis was unreachable')
  const pending = (await rows(app.testDatabase.db)).filter((r) => r.processedAt === null)
  t.equal(pending.length, 1, 'the event stays pending')
  t.equal((await l2.get('gig:1'))?.value, old, 'the stale entry is still in Redis')

  await sleep(500)
  await proxy.setMode('pass')
  const back = Date.now()
  await waitFor(async () => (await l2.get('gig:1')) === undefined, 'the replayed invalidation', 15_000)
  t.comment(`stale entry gone ${Date.now() - back} ms after Redis was reachable again`)
  // The dispatcher marks the row after the invalidation is applied: a moment later, not at once.
  await waitFor(async () => (await rows(app.testDatabase.db)).every((r) => r.processedAt !== null), 'the row marked done', 5_000).catch(() => {})
  t.same((await rows(app.testDatabase.db)).filter((r) => r.processedAt === null), [], 'the row is done')
  const res = await app.inject({ url: '/gigs/1' })
  t.equal(json<{ title: string }>(res).title, 'written while Redis was unreachable')
})

t.test('a process that died after commit but before invalidating has its events replayed at the next start', async (t) => {
  const made = await createTestDatabase()
  const prefix = `test:outbox:crash:${process.pid}:${Date.now().toString(36)}`
  const config = { jwtSecret: 'test-secret', devLogin: true, seedDemo: false, cachePrefix: prefix, redisUrl: REDIS_URL, cacheTimeoutMs: CACHE_TIMEOUT_MS }
  const apps: FastifyInstance[] = []
  t.teardown(async () => {
    for (const app of apps) await app.close()
    await deletePrefix(REDIS_URL, prefix)
    await made.drop()
  })
  const direct = new Redis(REDIS_URL)
  t.teardown(() => direct.quit())
  const l2 = new RedisStore({ client: direct, prefix })

  const first = await buildApp({ logger: false, database: made.database, config })
  apps.push(first)
  await first.inject({ url: '/gigs/1' })
  t.equal((await first.inject({ url: '/gigs/1' })).headers['x-cache'], 'HIT', 'the gig is cached')
  await first.close()

  const exit = await runCrashWriter(t, made.url, 'committed, never invalidated')
  t.equal(exit.signal, 'SIGKILL', 'the writer died right after its commit')
  const pending = (await rows(made.database.db)).filter((r) => r.processedAt === null)
  t.equal(pending.length, 1, 'its event is pending in the outbox')
  t.match((await l2.get('gig:1'))?.value, /Build a caching layer/, 'and the cache still holds the old gig')

  const next = await buildApp({ logger: false, database: made.database, config })
  apps.push(next)
  await next.ready()
  t.equal(await l2.get('gig:1'), undefined, 'replayed while the next instance started')
  t.same((await rows(made.database.db)).filter((r) => r.processedAt === null), [])
  const res = await next.inject({ url: '/gigs/1' })
  t.equal(json<{ title: string }>(res).title, 'committed, never invalidated')
})

async function runCrashWriter (t: Tap, url: string, title: string): Promise<{ code: number | null, signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/consistency/crash-writer.ts', url, '1', title], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const exit = await new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { resolve({ code, signal }) })
  })
  if (exit.signal !== 'SIGKILL') t.comment(err)
  return exit
}

t.test('instances share the outbox: every pending row is applied once, by one of them', async (t) => {
  const db = await database(t)
  await insertPending(db, Array.from({ length: 60 }, (_, i) => event(1000 + i)))
  const applied = new Map<number, number>()
  const dispatcher = (): OutboxDispatcher => new OutboxDispatcher({
    db,
    batchSize: 7,
    apply: async (e) => {
      const id = (e.payload as { gigId: number }).gigId
      applied.set(id, (applied.get(id) ?? 0) + 1)
      await sleep(2)
    }
  })
  const [one, two, three] = [dispatcher(), dispatcher(), dispatcher()]
  const drainAll = async (d: OutboxDispatcher): Promise<number> => {
    let n = 0
    for (;;) {
      const r = await d.drain()
      n += r.applied
      if (r.applied === 0) return n
    }
  }
  const counts = await Promise.all([drainAll(one), drainAll(two), drainAll(three)])
  t.equal(counts.reduce((a, b) => a + b, 0), 60, `all 60 applied (${counts.join(' + ')})`)
  t.ok(counts.filter((n) => n > 0).length >= 2, 'by more than one instance')
  t.same([...applied.values()].filter((n) => n !== 1), [], 'none twice')
  t.same((await rows(db)).filter((r) => r.processedAt === null), [])
})

t.test('while the cache fails, pending rows are retried with backoff until they are applied', async (t) => {
  const db = await database(t)
  await insertPending(db, [event(2001), event(2002)])
  let failures = 3
  const calls: number[] = []
  const d = new OutboxDispatcher({
    db,
    graceMs: 0,
    pollMs: 50,
    maxBackoffMs: 400,
    apply: async () => {
      calls.push(Date.now())
      if (failures > 0) {
        failures--
        throw new Error('cache unreachable')
      }
    }
  })
  t.teardown(() => d.stop())
  await d.start()
  await waitFor(async () => (await rows(db)).every((r) => r.processedAt !== null), 'both rows applied', 10_000)
  t.equal(calls.length, 5, 'three failed attempts, then one success per row')
  const attempts = (await rows(db)).reduce((n, r) => n + r.attempts, 0)
  t.equal(attempts, 3, 'each failed attempt is counted on its row')
  t.equal(d.stats().failures, 3)
})

t.test('an event this version does not know does not hold up the others', async (t) => {
  const db = await database(t)
  await db.insert(outbox).values({ event: 'gig.teleported', payload: { gigId: 1 } })
  await insertPending(db, [event(3001)])
  const seen: DomainEvent[] = []
  const d = new OutboxDispatcher({ db, apply: async (e) => { seen.push(e) } })
  await d.drain()
  await d.drain()
  t.equal(seen.length, 1, 'the known event was applied')
  const unknown = (await db.select().from(outbox).where(eq(outbox.event, 'gig.teleported')))[0]!
  t.equal(unknown.processedAt, null, 'the unknown one stays pending for an instance that knows it')
  t.ok(unknown.attempts >= 1)
})

t.test('processed rows are deleted after the retention period; pending rows never are', async (t) => {
  const db = await database(t)
  await insertPending(db, [event(4001), event(4002), event(4003)])
  const [a, b] = await rows(db)
  await db.update(outbox).set({ processedAt: sql`now() - interval '2 hours'` }).where(eq(outbox.id, a!.id))
  await db.update(outbox).set({ processedAt: sql`now()` }).where(eq(outbox.id, b!.id))
  const d = new OutboxDispatcher({ db, apply: async () => {}, retentionMs: 3600_000 })
  t.equal(await d.cleanup(), 1, 'only the row processed two hours ago')
  const left = await rows(db)
  t.same(left.map((r) => r.id).sort(), [b!.id, left.find((r) => r.processedAt === null)!.id].sort(), 'the recent and the pending rows stay')
})

t.test('the running app cleans up processed rows on its own', async (t) => {
  const app = await build(t)
  const db = app.testDatabase.db
  await patchTitle(app, 'one')
  await db.update(outbox).set({ processedAt: sql`now() - interval '1 day'` })
  // The app cleans up at start and then every minute; a restart on the same database shows it.
  const again = await buildApp({ logger: false, database: app.testDatabase, config: { jwtSecret: 'test-secret', seedDemo: false } })
  t.teardown(() => again.close())
  await again.ready()
  await waitFor(async () => (await rows(db)).length === 0, 'the old row to be deleted', 5000)
  t.pass('deleted')
})

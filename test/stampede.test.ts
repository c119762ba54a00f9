import t from 'tap'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.ts'
import { openDatabase, type Database } from '../src/db.ts'
import { CacheManager } from '../src/cache/manager.ts'
import { InvalidationBus } from '../src/cache/bus.ts'
import { MemoryStore } from '../src/cache/memory-store.ts'
import { RedisStore } from '../src/cache/redis-store.ts'
import { TieredStore } from '../src/cache/tiered-store.ts'
import { TTL_CLASSES } from '../src/catalog.ts'
import { deletePrefix, REDIS_URL } from './helpers/build.ts'
import { createTestDatabase } from './helpers/database.ts'
import { waitFor } from './consistency/cluster.ts'

const INSTANCES = 3
const READERS = 300

// Single-flight is per process: each instance makes at most one loader call per key at a time.
// There is no distributed lease (see README, "Consistency"), so three instances make at most three.

t.test(`${INSTANCES} instances × ${READERS} concurrent cold reads of one key call the loader at most ${INSTANCES} times`, async (t) => {
  const prefix = `test:stampede:${process.pid}:${Date.now().toString(36)}`
  t.teardown(() => deletePrefix(REDIS_URL, prefix))
  // Like separate processes: each instance has its own connections, L1 and bus.
  const managers = await Promise.all(Array.from({ length: INSTANCES }, async () => {
    const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
    const l2 = new RedisStore({ client, prefix })
    const bus = new InvalidationBus({ l2 })
    const store = new TieredStore({ l1: new MemoryStore({ maxBytes: 1 << 20 }), l2, bus })
    bus.start()
    t.teardown(async () => {
      await bus.close()
      client.disconnect()
    })
    await waitFor(() => bus.l1Usable(), 'the bus lease')
    return new CacheManager({ store, ttl: { table: TTL_CLASSES } })
  }))
  let calls = 0
  const loader = async (): Promise<{ id: number, name: string }> => {
    calls++
    await new Promise((resolve) => setTimeout(resolve, 20))
    return { id: 7, name: 'the user' }
  }
  const reads = managers.flatMap((m) => Array.from({ length: READERS }, () => m.getEntity('user', 7, loader)))
  const results = await Promise.all(reads)
  t.equal(results.length, INSTANCES * READERS)
  t.ok(results.every((r) => r.name === 'the user'), 'every reader got the value')
  t.ok(calls >= 1 && calls <= INSTANCES, `${calls} loader call(s)`)
})

t.test(`through the HTTP API: ${INSTANCES} instances × ${READERS} concurrent GET /users/:id of a cold user read the database at most ${INSTANCES} times`, async (t) => {
  const made = await createTestDatabase()
  const prefix = `test:stampede:http:${process.pid}:${Date.now().toString(36)}`
  const apps: FastifyInstance[] = []
  const databases: Database[] = []
  t.teardown(async () => {
    await Promise.all(apps.map((app) => app.close()))
    await Promise.all(databases.map((d) => d.close()))
    await deletePrefix(REDIS_URL, prefix)
    await made.drop()
  })
  for (let i = 0; i < INSTANCES; i++) {
    // Each instance has a pool of its own, so its query counter counts its own reads only.
    const database = await openDatabase({ url: made.url, poolSize: 4 })
    databases.push(database)
    const app = await buildApp({
      logger: false,
      database,
      config: { jwtSecret: 'test-secret', seedDemo: false, cachePrefix: prefix, redisUrl: REDIS_URL, cacheTimeoutMs: 5000 }
    })
    apps.push(app)
    await app.ready()
    // Its outbox dispatcher polls the same pool; stopped, the counter sees requests only.
    await app.outbox.stop()
  }
  const before = databases.map((d) => d.queries)
  const responses = await Promise.all(apps.flatMap((app) => Array.from({ length: READERS }, () => app.inject({ url: '/users/3' }))))
  t.ok(responses.every((r) => r.statusCode === 200 && JSON.parse(r.body).id === 3), 'every reader got the user')
  const reads = databases.map((d, i) => d.queries - before[i]!)
  const total = reads.reduce((a, b) => a + b, 0)
  t.ok(reads.every((n) => n <= 1), `per instance: ${reads.join(', ')} database read(s)`)
  t.ok(total >= 1 && total <= INSTANCES, `${total} in all`)
})

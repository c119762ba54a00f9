import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import errors from '../../plugins/errors.ts'
import auth from '../../plugins/auth.ts'
import cache, { type CachePluginOptions } from '../../plugins/cache.ts'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import { RedisStore } from '../../src/cache/redis-store.ts'
import type { Store } from '../../src/cache/store.ts'
import { TTL_CLASSES } from '../../src/catalog.ts'
import { deletePrefix, REDIS_URL } from './build.ts'

export type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

let prefixes = 0

/** A key prefix no other test (or run) uses. */
export function uniquePrefix (label: string): string {
  return `test:${label}:${process.pid}:${prefixes++}:${Date.now().toString(36)}`
}

/** Specifies a behaviour twice: on the in-memory store and on the shared Redis. */
export function both (name: string, fn: (t: Tap, redis: boolean) => Promise<void>, extra: { todo?: string } = {}): void {
  for (const redis of [false, true]) {
    t.test(`${name} (${redis ? 'redis' : 'memory'})`, extra, (t) => fn(t, redis))
  }
}

/** A fresh store: in memory, or on the shared Redis under a prefix of its own, deleted at teardown. */
export function testStore (t: Tap, redis: boolean, label: string): Store {
  if (!redis) return new MemoryStore({ maxBytes: 1e6 })
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const prefix = uniquePrefix(label)
  t.teardown(async () => {
    await deletePrefix(REDIS_URL, prefix)
    client.disconnect()
  })
  return new RedisStore({ client, prefix })
}

/**
 * A bare Fastify app with the error, auth and cache plugins over `store`, for what no Gig Service
 * route does; closed at teardown. Resolves to a wrapper: a Fastify instance is thenable, and
 * returning it from an async function would await its boot (a boot error under test would then
 * reject this helper instead of the test's ready()).
 */
export async function bareCacheApp (t: Tap, store: Store, opts: Partial<CachePluginOptions> = {}): Promise<{ app: FastifyInstance }> {
  const app = Fastify({ logger: false })
  await app.register(errors)
  await app.register(auth, { secret: 'x' })
  await app.register(cache, { store, ttl: TTL_CLASSES, ...opts })
  t.teardown(() => app.close().catch(() => {}))
  return { app }
}

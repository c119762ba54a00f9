import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import { buildApp, type AppOptions } from '../../src/app.ts'
import type { Database } from '../../src/db.ts'
import { createEmbeddedDatabase, createTestDatabase } from './database.ts'

interface Teardown { teardown (fn: () => unknown): void }

export interface BuildOptions extends AppOptions {
  /** Use embedded PGlite instead of the Postgres server. */
  embedded?: boolean
  /** Cache on the shared Redis (tiered store, own key prefix, keys deleted at teardown) instead of memory. */
  redis?: boolean
}

/** The shared Redis the tests use, under a key prefix of their own. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
let builds = 0

export interface TestApp extends FastifyInstance {
  /** The test's own database (dropped at teardown). */
  testDatabase: Database
}

/** Builds the app on a database of its own (demo data loaded) and closes both when the test ends. */
export async function build (t: Teardown, opts: BuildOptions = {}): Promise<FastifyInstance & { testDatabase: Database }> {
  const made = opts.embedded ? await createEmbeddedDatabase() : await createTestDatabase()
  const cachePrefix = `test:${process.pid}:${builds++}:${Date.now().toString(36)}`
  const app = await buildApp({
    logger: false,
    ...opts,
    database: made.database,
    config: {
      jwtSecret: 'test-secret',
      devLogin: true,
      seedDemo: false,
      cachePrefix,
      redisUrl: opts.redis ? REDIS_URL : undefined,
      ...opts.config
    }
  })
  t.teardown(async () => {
    if (opts.redis) await deletePrefix(REDIS_URL, cachePrefix)
    await app.close()
    await made.drop()
  })
  await app.ready()
  return Object.assign(app, { testDatabase: made.database })
}

/** Deletes this test's keys from the shared Redis (SCAN, never FLUSHDB). */
export async function deletePrefix (url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    await client.connect()
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}

/** Demo users, by id, as seeded (see drizzle/seed-data.ts). */
export const USERS = { alice: 1, bob: 2, carol: 3, dave: 4, erin: 5, admin: 6 } as const

/** A bearer header for a demo user. */
export function authAs (app: FastifyInstance, userId: number, role: 'user' | 'admin' = 'user'): { authorization: string } {
  return { authorization: `Bearer ${app.signToken({ id: userId, role })}` }
}

/** Parses a JSON response body. */
export function json<T = Record<string, unknown>> (res: LightMyRequestResponse): T {
  return JSON.parse(res.body) as T
}

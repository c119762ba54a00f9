import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { buildApp, type AppOptions } from '../../src/app.ts'
import type { Database } from '../../src/db.ts'
import { createEmbeddedDatabase, createTestDatabase } from './database.ts'

interface Teardown { teardown (fn: () => unknown): void }

export interface BuildOptions extends AppOptions {
  /** Use embedded PGlite instead of the Postgres server. */
  embedded?: boolean
}

export interface TestApp extends FastifyInstance {
  /** The test's own database (dropped at teardown). */
  testDatabase: Database
}

/** Builds the app on a database of its own (demo data loaded) and closes both when the test ends. */
export async function build (t: Teardown, opts: BuildOptions = {}): Promise<FastifyInstance & { testDatabase: Database }> {
  const made = opts.embedded ? await createEmbeddedDatabase() : await createTestDatabase()
  const app = await buildApp({
    logger: false,
    ...opts,
    database: made.database,
    config: { jwtSecret: 'test-secret', devLogin: true, seedDemo: false, cachePrefix: `test:${process.pid}`, ...opts.config }
  })
  t.teardown(async () => {
    await app.close()
    await made.drop()
  })
  await app.ready()
  return Object.assign(app, { testDatabase: made.database })
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

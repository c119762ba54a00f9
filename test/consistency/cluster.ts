import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../../src/app.ts'
import type { Database } from '../../src/db.ts'
import { TieredStore } from '../../src/cache/tiered-store.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { deletePrefix, REDIS_URL } from '../helpers/build.ts'

interface Teardown { teardown (fn: () => unknown): void }

export interface Cluster {
  apps: FastifyInstance[]
  database: Database
  prefix: string
  redisUrl: string
}

let clusters = 0

/**
 * N instances of the Gig Service on ONE database and one Redis (key prefix shared), each with its
 * own Redis connections, L1 and bus subscription, as separate processes would have (`urls[i]`
 * lets instance i reach that Redis through a proxy). Resolves once
 * every instance holds a bus lease (its L1 is in use). Everything is closed, and the database
 * dropped, when the test ends.
 */
export interface ClusterOptions {
  /** The Redis every instance uses (default: the shared one, under a prefix of the cluster's own). */
  redisUrl?: string
  /** Per instance: another way to reach that Redis (a proxy), or undefined for `redisUrl`. */
  urls?: Array<string | undefined>
  /** Proxies the instances connect through: set to pass before the instances close, closed after them. */
  proxies?: Array<{ setMode (mode: 'pass'): Promise<void>, close (): Promise<void> }>
}

export async function buildCluster (t: Teardown, n: number, opts: ClusterOptions = {}): Promise<Cluster> {
  const made = await createTestDatabase()
  const redisUrl = opts.redisUrl ?? REDIS_URL
  const prefix = `test:cluster:${process.pid}:${clusters++}:${Date.now().toString(36)}`
  const apps: FastifyInstance[] = []
  t.teardown(async () => {
    for (const p of opts.proxies ?? []) await p.setMode('pass')
    // Let bytes a proxy still delays arrive before its connections close.
    if (opts.proxies !== undefined) await sleep(100)
    const closed = await Promise.allSettled(apps.map((app) => app.close()))
    for (const p of opts.proxies ?? []) await p.close()
    if (opts.redisUrl === undefined) await deletePrefix(REDIS_URL, prefix)
    await made.drop()
    const failed = closed.find((r) => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  })
  for (let i = 0; i < n; i++) {
    const app = await buildApp({
      logger: false,
      database: made.database,
      // An instance may reach the same Redis another way (through a proxy that delays or cuts it).
      // A generous per-operation timeout: a loaded test machine must not turn fills into misses here.
      config: { jwtSecret: 'test-secret', devLogin: true, seedDemo: false, cachePrefix: prefix, redisUrl: opts.urls?.[i] ?? redisUrl, cacheTimeoutMs: 5000 }
    })
    apps.push(app)
    await app.ready()
  }
  await waitFor(() => apps.every((app) => tieredOf(app).bus?.l1Usable() === true), 'every instance to hold a bus lease')
  return { apps, database: made.database, prefix, redisUrl }
}

export function tieredOf (app: FastifyInstance): TieredStore {
  const store = app.cacheStore
  if (!(store instanceof TieredStore)) throw new Error('the app does not run a tiered store')
  return store
}

/** Polls `check` every 10 ms until it holds; fails after `timeoutMs`. */
export async function waitFor (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await sleep(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}

import { Writable } from 'node:stream'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import { buildApp } from '../../src/app.ts'
import type { Clock } from '../../src/cache/clock.ts'
import { resilienceOf, type ResilientStore } from '../../src/cache/resilient-store.ts'
import type { Config } from '../../src/config.ts'
import { openDatabase, type Database } from '../../src/db.ts'
import { build } from '../helpers/build.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'

interface Teardown { teardown (fn: () => unknown): void }

/** Fast recovery for tests: the defaults (1 s doubling to 30 s) would make them wait. */
export const FAST_BREAKER: Partial<Config> = { cacheBreakerBackoffMs: 200, cacheBreakerBackoffMaxMs: 800 }

/** The app's log lines, parsed, for counting what a fault writes. */
export class LogLines extends Writable {
  readonly lines: Array<{ level: number, msg: string }> = []
  override _write (chunk: Buffer, _enc: string, done: () => void): void {
    for (const line of chunk.toString().split('\n')) if (line !== '') this.lines.push(JSON.parse(line))
    done()
  }

  count (re: RegExp): number {
    return this.lines.filter((l) => re.test(l.msg)).length
  }
}

export type App = FastifyInstance & { testDatabase: Database }

/** The Gig Service on a database of its own and a Redis the test owns (or a proxy in front of it). */
export async function buildOnRedis (t: Teardown, redisUrl: string, config: Partial<Config> = {}, logs?: LogLines): Promise<App> {
  return await build(t, {
    config: { redisUrl, ...FAST_BREAKER, ...config },
    ...(logs ? { logger: { level: 'warn', stream: logs } } : {})
  })
}

/** The guard in front of the app's Redis tier. */
export function guardOf (app: FastifyInstance): ResilientStore {
  const guard = resilienceOf(app.cacheStore)
  if (guard === undefined) throw new Error('the app has no resilient store')
  return guard
}

/** The Gig Service reaching its own Postgres database through a TCP proxy the test switches. */
export async function buildBehindDbProxy (t: Teardown, opts: { config?: Partial<Config>, clock?: Clock } = {}): Promise<{ app: FastifyInstance, proxy: TcpProxy, database: Database, directUrl: string }> {
  const made = await createTestDatabase()
  const url = new URL(made.url)
  const proxy = await startTcpProxy({ port: Number(url.port || 5432), host: url.hostname })
  url.port = String(proxy.port)
  const database = await openDatabase({ url: url.toString(), poolSize: 4 })
  const app = await buildApp({
    logger: false,
    database,
    ...(opts.clock ? { clock: opts.clock } : {}),
    config: { jwtSecret: 'test-secret', devLogin: true, seedDemo: false, redisUrl: undefined, cachePrefix: 'dbproxy', ...opts.config }
  })
  t.teardown(async () => {
    await app.close()
    await database.close().catch(() => {})
    await proxy.close()
    await made.drop()
  })
  await app.ready()
  return { app, proxy, database, directUrl: made.url }
}

/** Polls `check` every 25 ms until it holds or `ms` pass; returns whether it held. */
export async function eventually (check: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

/** A client straight to a test-owned redis-server (never the shared one). */
export function adminClient (t: Teardown, url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false })
  t.teardown(() => { client.disconnect() })
  return client
}

/** Runs `total` requests with `concurrency` in flight; returns them in completion order with timings. */
export async function load (concurrency: number, total: number, next: (i: number) => Promise<LightMyRequestResponse>): Promise<Array<{ i: number, res: LightMyRequestResponse, ms: number }>> {
  const out: Array<{ i: number, res: LightMyRequestResponse, ms: number }> = []
  let issued = 0
  const worker = async (): Promise<void> => {
    while (issued < total) {
      const i = issued++
      const start = performance.now()
      const res = await next(i)
      out.push({ i, res, ms: performance.now() - start })
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return out
}

/** The p-th percentile (0–100) of some numbers. */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p / 100))] as number
}

import Fastify, { type FastifyInstance, type RouteHandlerMethod } from 'fastify'
import type { Redis } from 'ioredis'
import { loadConfig, type Config } from '../src/config.ts'
import type { AppOptions } from '../src/app.ts'
import { openDatabase, type Database } from '../src/db.ts'
import { MemoryStore } from '../src/cache/memory-store.ts'
import { RedisStore } from '../src/cache/redis-store.ts'
import { TieredStore } from '../src/cache/tiered-store.ts'
import { systemClock } from '../src/cache/clock.ts'
import type { CacheEntry, SetOptions, Store } from '../src/cache/store.ts'
import { findGig, getGig } from '../src/domain/gigs.ts'
import { createRedisClient } from '../plugins/redis.ts'
import { createPeer, type PeerSetup } from './peers.ts'

/** What a benchmark server process runs; one per scenario (or group of scenarios). */
export const SERVER_KINDS = [
  'ceiling-static', 'ceiling-redis', 'nocache', 'memory', 'redis', 'tiered', 'miss',
  'peer-bentocache', 'peer-async-cache-dedupe', 'peer-async-cache-dedupe-redis',
  // Diagnostics: the memory store without the metrics plugin; the tiered store with a longer L1 cap;
  // every request a miss on the memory store (the plugin's own miss cost, without Redis).
  'memory-no-metrics', 'tiered-l1-5s', 'miss-memory'
] as const
export type ServerKind = typeof SERVER_KINDS[number]

export interface ServerOptions {
  kind: ServerKind
  databaseUrl: string
  redisUrl: string
  /** Every Redis key this server writes lives under `${prefix}:` (the runner deletes it after). */
  prefix: string
  jwtSecret: string
  /** Bound of the in-process stores (ours and the peers'): room for every gig. */
  l1MaxBytes: number
  /** A public gig whose JSON the ceiling routes send. */
  sampleGigId: number
}

export interface BenchServer {
  app: FastifyInstance
  /** The Database whose `queries` counter the runner reads (none for the ceilings). */
  database: Database | undefined
  close (): Promise<void>
}

const CONTENT_TYPE = 'application/json; charset=utf-8'
const PEER_MAX_ITEMS = 200_000

async function connectRedis (url: string): Promise<Redis> {
  const client = createRedisClient(url)
  await client.connect()
  return client
}

/**
 * Wraps a store so every lookup misses while paying a real lookup's cost (it asks the inner store
 * for a key nothing is stored under); token reads and writes go through untouched.
 */
export class AlwaysMissStore implements Store {
  readonly kind: Store['kind']
  readonly #inner: Store
  constructor (inner: Store) {
    this.#inner = inner
    this.kind = inner.kind
  }

  async get (key: string): Promise<CacheEntry | undefined> {
    await this.#inner.get(`${key}~never-stored`)
    return undefined
  }

  tagTokens (tags: string[]): Promise<string[]> { return this.#inner.tagTokens(tags) }
  set (key: string, value: string, meta: string, opts: SetOptions): Promise<boolean> { return this.#inner.set(key, value, meta, opts) }
  delete (keys: string[]): Promise<number> { return this.#inner.delete(keys) }
  invalidateTags (tags: string[]): Promise<void> { return this.#inner.invalidateTags(tags) }
  deletePattern (glob: string): Promise<number> { return this.#inner.deletePattern(glob) }
}

async function sampleGig (database: Database, id: number): Promise<string> {
  const gig = await findGig(database.db, id)
  if (!gig) throw new Error(`sample gig ${id} not found`)
  return JSON.stringify(gig)
}

/** Builds the server of one kind; the caller listens and closes. */
export async function buildBenchServer (opts: ServerOptions): Promise<BenchServer> {
  const { kind } = opts
  if (kind === 'ceiling-static' || kind === 'ceiling-redis') {
    const database = await openDatabase({ url: opts.databaseUrl, poolSize: 1 })
    const body = await sampleGig(database, opts.sampleGigId)
    await database.close()
    const app = Fastify({ logger: false })
    if (kind === 'ceiling-static') {
      app.get('/gigs/:id', (_request, reply) => { reply.header('content-type', CONTENT_TYPE).send(body) })
      return { app, database: undefined, close: () => app.close() }
    }
    const client = await connectRedis(opts.redisUrl)
    const key = `${opts.prefix}:ceiling:gig`
    await client.set(key, body, 'PX', 3_600_000)
    app.get('/gigs/:id', async (_request, reply) => {
      const value = await client.get(key)
      return reply.header('content-type', CONTENT_TYPE).send(value)
    })
    return { app, database: undefined, close: async () => { await app.close(); await client.quit() } }
  }

  // The database bounds production gets (the bench opens the database itself to count its queries).
  const { databaseConnectTimeoutMs, databaseStatementTimeoutMs, l1TtlMs } = loadConfig()
  const database = await openDatabase({
    url: opts.databaseUrl,
    poolSize: 10,
    connectTimeoutMs: databaseConnectTimeoutMs,
    statementTimeoutMs: databaseStatementTimeoutMs
  })
  const config: Partial<Config> = {
    databaseUrl: opts.databaseUrl,
    redisUrl: undefined,
    cacheStore: 'memory',
    cachePrefix: opts.prefix,
    l1MaxBytes: opts.l1MaxBytes,
    jwtSecret: opts.jwtSecret,
    jwtSecretIsRandom: false,
    devLogin: false,
    seedDemo: false,
    logLevel: 'warn'
  }
  const options: AppOptions = { database, config }
  let client: Redis | undefined
  let closePeer = async (): Promise<void> => {}
  if (kind === 'nocache') {
    config.cacheStore = 'off'
  } else if (kind.startsWith('peer-')) {
    // The uncached service with a peer library caching the one read it is compared on.
    config.cacheStore = 'off'
    const ctx = { db: database.db } as Parameters<typeof getGig>[0]
    const peer = await createPeer(kind.slice('peer-'.length) as PeerSetup, (id) => getGig(ctx, id), {
      redisUrl: opts.redisUrl, prefix: opts.prefix, maxItems: PEER_MAX_ITEMS
    })
    closePeer = () => peer.close()
    const gigHandler: RouteHandlerMethod = async (request) => peer.getGig((request.params as { id: number }).id)
    options.onRoute = (route) => {
      if (route.method === 'GET' && route.url === '/gigs/:id') route.handler = gigHandler
    }
  } else if (kind === 'memory-no-metrics') {
    options.metrics = false
  } else if (kind === 'redis' || kind === 'tiered' || kind === 'tiered-l1-5s') {
    // Exactly what CACHE_STORE and REDIS_URL give in production: buildApp makes the store itself.
    config.cacheStore = kind === 'redis' ? 'redis' : 'tiered'
    config.redisUrl = opts.redisUrl
    if (kind === 'tiered-l1-5s') config.l1TtlMs = 5000
  } else if (kind === 'miss-memory') {
    options.store = new AlwaysMissStore(new MemoryStore({ maxBytes: opts.l1MaxBytes, clock: systemClock }))
  } else if (kind === 'miss') {
    client = await connectRedis(opts.redisUrl)
    const l2 = new RedisStore({ client, prefix: opts.prefix })
    options.store = new AlwaysMissStore(new TieredStore({ l1: new MemoryStore({ maxBytes: opts.l1MaxBytes, clock: systemClock }), l2, l1MaxTtlMs: l1TtlMs }))
  }
  // Loaded here, not at the top: the ceilings do not need the whole service.
  const { buildApp } = await import('../src/app.ts')
  // Warnings only (breaker changes, failed invalidations): nothing is logged per request.
  const app = await buildApp({ ...options, logger: { level: 'warn' } })
  return {
    app,
    database,
    close: async () => {
      await app.close()
      await closePeer()
      await client?.quit()
      await database.close()
    }
  }
}

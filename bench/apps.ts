import Fastify, { type FastifyInstance, type RouteHandlerMethod } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { Redis } from 'ioredis'
import { loadConfig } from '../src/config.ts'
import { openDatabase, type Database } from '../src/db.ts'
import { MemoryStore } from '../src/cache/memory-store.ts'
import { RedisStore } from '../src/cache/redis-store.ts'
import { TieredStore } from '../src/cache/tiered-store.ts'
import { systemClock } from '../src/cache/clock.ts'
import type { CacheEntry, SetOptions, Store } from '../src/cache/store.ts'
import { entityTtlClass, listTtlClass, patternOfKey, TTL_CLASSES } from '../src/catalog.ts'
import { DOMAIN_EVENT_NAMES } from '../src/domain/events.ts'
import { noEntityCache } from '../src/domain/context.ts'
import { findGig, getGig } from '../src/domain/gigs.ts'
import { storeSessions } from '../src/session-store.ts'
import errors from '../plugins/errors.ts'
import auth from '../plugins/auth.ts'
import db from '../plugins/db.ts'
import swagger from '../plugins/swagger.ts'
import cache from '../plugins/cache.ts'
import { createRedisClient } from '../plugins/redis.ts'
import { sharedSchemas } from '../routes/schemas.ts'
import gigRoutes from '../routes/gigs.ts'
import usersRoutes from '../routes/users.ts'
import applicationsRoutes from '../routes/applications.ts'
import assignmentsRoutes from '../routes/assignments.ts'
import submissionsRoutes from '../routes/submissions.ts'
import searchRoutes from '../routes/search.ts'
import catalogRoutes from '../routes/catalog.ts'
import meRoutes from '../routes/me.ts'
import { createPeer, type PeerSetup } from './peers.ts'

/** What a benchmark server process runs; one per scenario (or group of scenarios). */
export const SERVER_KINDS = [
  'ceiling-static', 'ceiling-redis', 'nocache', 'memory', 'redis', 'tiered', 'miss',
  'peer-bentocache', 'peer-async-cache-dedupe', 'peer-async-cache-dedupe-redis',
  // Diagnostics: the memory store without the metrics plugin; the tiered store with a longer L1 cap;
  // every request a miss on the memory store (the plugin's own miss cost, without Redis).
  'memory-no-metrics', 'tiered-l1-60s', 'miss-memory'
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

/**
 * The Gig Service wired by hand: `buildApp` has no switch for caching off yet, so this mirrors
 * its wiring (same plugins but metrics, same routes, same options). With `caching: false` it hides
 * `config.cache` from the cache plugin and gives the services no entity cache; `gigHandler`
 * replaces the handler of GET /gigs/:id (how the peers are plugged in).
 */
async function buildHandWiredApp (opts: ServerOptions, database: Database, caching: boolean, gigHandler?: RouteHandlerMethod): Promise<FastifyInstance> {
  const app = Fastify({
    // The same logger as the buildApp servers get (a child logger per request is part of the cost).
    logger: { level: 'warn' },
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
    routerOptions: { maxParamLength: 200 }
  }).withTypeProvider<TypeBoxTypeProvider>()
  for (const schema of sharedSchemas) app.addSchema(schema)
  await app.register(errors)
  await app.register(swagger)
  await app.register(auth, { secret: opts.jwtSecret })
  const store = new MemoryStore({ maxBytes: opts.l1MaxBytes, clock: systemClock })
  await app.register(db, { database, closeDatabase: false, seedDemo: false, sessionStore: storeSessions(store, TTL_CLASSES) })
  // Added before the cache plugin's own onRoute hook, so that hook finds no cache option.
  app.addHook('onRoute', (route) => {
    if (!caching && route.config?.cache) route.config.cache = false
    if (gigHandler && route.method === 'GET' && route.url === '/gigs/:id') route.handler = gigHandler
  })
  await app.register(cache, {
    store,
    ttl: TTL_CLASSES,
    knownEvents: DOMAIN_EVENT_NAMES,
    manager: { ttl: { entity: entityTtlClass, list: listTtlClass }, patternOf: patternOfKey }
  })
  app.domain.entities = caching ? app.cache : noEntityCache
  await app.register(gigRoutes)
  await app.register(usersRoutes)
  await app.register(applicationsRoutes)
  await app.register(assignmentsRoutes)
  await app.register(submissionsRoutes)
  await app.register(searchRoutes)
  await app.register(catalogRoutes)
  await app.register(meRoutes)
  return app
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

  const database = await openDatabase({ url: opts.databaseUrl, poolSize: 10 })
  if (kind === 'nocache' || kind === 'memory-no-metrics' || kind.startsWith('peer-')) {
    let gigHandler: RouteHandlerMethod | undefined
    let closePeer = async (): Promise<void> => {}
    if (kind !== 'nocache') {
      const ctx = { db: database.db } as Parameters<typeof getGig>[0]
      const peer = await createPeer(kind.slice('peer-'.length) as PeerSetup, (id) => getGig(ctx, id), {
        redisUrl: opts.redisUrl, prefix: opts.prefix, maxItems: PEER_MAX_ITEMS
      })
      closePeer = () => peer.close()
      gigHandler = async (request) => peer.getGig((request.params as { id: number }).id)
    }
    const app = await buildHandWiredApp(opts, database, kind === 'memory-no-metrics', gigHandler)
    return { app, database, close: async () => { await app.close(); await closePeer(); await database.close() } }
  }

  const config = {
    databaseUrl: opts.databaseUrl,
    redisUrl: undefined as string | undefined,
    cachePrefix: opts.prefix,
    l1MaxBytes: opts.l1MaxBytes,
    jwtSecret: opts.jwtSecret,
    jwtSecretIsRandom: false,
    ...(kind === 'tiered-l1-60s' ? { l1TtlMs: 60_000 } : {}),
    devLogin: false,
    seedDemo: false,
    logLevel: 'warn'
  }
  let client: Redis | undefined
  let store: Store | undefined
  if (kind === 'tiered' || kind === 'tiered-l1-60s') {
    // Exactly what REDIS_URL gives in production: buildApp makes the tiered store itself.
    config.redisUrl = opts.redisUrl
  } else if (kind === 'miss-memory') {
    store = new AlwaysMissStore(new MemoryStore({ maxBytes: opts.l1MaxBytes, clock: systemClock }))
  } else if (kind === 'redis' || kind === 'miss') {
    client = await connectRedis(opts.redisUrl)
    const l2 = new RedisStore({ client, prefix: opts.prefix })
    store = kind === 'redis'
      ? l2
      : new AlwaysMissStore(new TieredStore({ l1: new MemoryStore({ maxBytes: opts.l1MaxBytes, clock: systemClock }), l2, l1MaxTtlMs: loadConfig().l1TtlMs }))
  }
  // Loaded here, not at the top: the ceilings and the uncached app do not need the whole service.
  const { buildApp } = await import('../src/app.ts')
  // Warnings only (breaker changes, failed invalidations): nothing is logged per request.
  const app = await buildApp({ database, logger: { level: 'warn' }, config, ...(store ? { store } : {}) })
  return {
    app,
    database,
    close: async () => {
      await app.close()
      await client?.quit()
      await database.close()
    }
  }
}

import Fastify, { type FastifyInstance, type FastifyServerOptions, type RouteOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { loadConfig, resolveCacheStore, type CacheStoreKind, type Config } from './config.ts'
import { openDatabase, type Database } from './db.ts'
import { MemoryStore } from './cache/memory-store.ts'
import { RedisStore } from './cache/redis-store.ts'
import { TieredStore } from './cache/tiered-store.ts'
import { systemClock, type Clock } from './cache/clock.ts'
import { logBreakerChanges, withResilience } from './cache/resilient-store.ts'
import { degradeSessions } from './degraded-sessions.ts'
import type { Store } from './cache/store.ts'
import { entityTtlClass, listTtlClass, patternOfKey, TTL_CLASSES } from './catalog.ts'
import { DOMAIN_EVENT_NAMES } from './domain/events.ts'
import { createInvalidator } from './invalidation.ts'
import { OutboxDispatcher } from './outbox.ts'
import { FreshnessSampler } from './sampler.ts'
import { useOutbox } from './domain/unit-of-work.ts'
import { noEntityCache } from './domain/context.ts'
import { InvalidationBus } from './cache/bus.ts'
import { storeSessions } from './session-store.ts'
import errors from '../plugins/errors.ts'
import auth from '../plugins/auth.ts'
import db from '../plugins/db.ts'
import swagger from '../plugins/swagger.ts'
import redis from '../plugins/redis.ts'
import cache, { type PluginCacheEvent } from '../plugins/cache.ts'
import metrics from '../plugins/metrics.ts'
import cacheAdminRoutes from '../routes/cache-admin.ts'
import { sharedSchemas } from '../routes/schemas.ts'
import authRoutes from '../routes/auth.ts'
import gigRoutes from '../routes/gigs.ts'
import usersRoutes from '../routes/users.ts'
import applicationsRoutes from '../routes/applications.ts'
import assignmentsRoutes from '../routes/assignments.ts'
import submissionsRoutes from '../routes/submissions.ts'
import searchRoutes from '../routes/search.ts'
import catalogRoutes from '../routes/catalog.ts'
import meRoutes from '../routes/me.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** What caches this app: the resolved CACHE_STORE (`off` when routes and services read through). */
    cacheMode: CacheStoreKind
  }
}

export interface AppOptions {
  /** Overrides of the environment's configuration. */
  config?: Partial<Config>
  /** A database the caller owns (tests); otherwise opened from the config and closed with the app. */
  database?: Database
  /** A cache store the caller owns (tests); otherwise built from the config. */
  store?: Store
  /** Time source of the cache (tests drive expiry with a ManualClock). */
  clock?: Clock
  logger?: FastifyServerOptions['logger']
  /**
   * Test and benchmark seam: sees every route before the cache and metrics plugins compile it,
   * e.g. to replace a handler (the benchmark plugs peer caches into GET /gigs/:id this way).
   */
  onRoute?: (route: RouteOptions) => void
  /**
   * Benchmark seam: `false` leaves out the metrics plugin and the routes that read it (`/metrics`,
   * `/cache/*`), to measure what metrics cost. Default true.
   */
  metrics?: boolean
}

/** Builds the Gig Service: plugins first, then routes. The caller listens or injects. */
export async function buildApp (opts: AppOptions = {}): Promise<FastifyInstance> {
  const config: Config = { ...loadConfig(), ...opts.config }
  // Before anything is opened: a store that cannot be built fails the boot with nothing to close.
  const cacheStore: CacheStoreKind = resolveCacheStore(config)
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel },
    trustProxy: config.trustProxy,
    // Reject unknown body fields instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
    // Ids in URLs are short; anything longer than this is not a request we serve.
    routerOptions: { maxParamLength: 200 }
  }).withTypeProvider<TypeBoxTypeProvider>()

  for (const schema of sharedSchemas) app.addSchema(schema)
  if (config.jwtSecretIsRandom && !opts.config?.jwtSecret) {
    app.log.warn('JWT_SECRET is not set: using a random development secret (tokens die with the process)')
  }

  if (opts.onRoute !== undefined) app.addHook('onRoute', opts.onRoute)
  if (cacheStore === 'off') {
    // Before the cache plugin's own onRoute hook, so it finds no cache option: every route answers
    // from its handler. A copy, not an edit: a route's options may be an object other apps share.
    app.addHook('onRoute', (route) => {
      if (route.config?.cache) route.config = { ...route.config, cache: false }
    })
  }

  const database = opts.database ?? await openDatabase({
    url: config.databaseUrl,
    dataDir: config.dataDir,
    connectTimeoutMs: config.databaseConnectTimeoutMs,
    statementTimeoutMs: config.databaseStatementTimeoutMs
  })

  await app.register(errors)
  await app.register(swagger)
  await app.register(auth, { secret: config.jwtSecret })

  const clock = opts.clock ?? systemClock
  let store = opts.store
  if (!store && config.redisUrl && (cacheStore === 'redis' || cacheStore === 'tiered')) {
    await app.register(redis, { url: config.redisUrl })
    const l1 = cacheStore === 'tiered' ? new MemoryStore({ maxBytes: config.l1MaxBytes, clock }) : undefined
    // Redis is never a dependency: bounded waits and a circuit breaker on every Redis operation;
    // what Redis cannot be told (an invalidation) L1 forgets, and L1 is cleared when the circuit opens.
    const l2 = withResilience(new RedisStore({ client: app.redis, prefix: config.cachePrefix, clock }), {
      ...(l1 ? { localTier: l1 } : {}),
      clock,
      timeoutMs: config.cacheTimeoutMs,
      failureThreshold: config.cacheBreakerFailures,
      backoffBaseMs: config.cacheBreakerBackoffMs,
      backoffMaxMs: config.cacheBreakerBackoffMaxMs,
      onEvent: logBreakerChanges(app.log)
    })
    store = l2
    if (l1) {
      // Keeps every instance's L1 coherent: a write's response means no other L1 serves the old data.
      const bus = new InvalidationBus({ l2, log: app.log })
      store = new TieredStore({ l1, l2, l1MaxTtlMs: config.l1TtlMs, bus })
      bus.start()
      app.addHook('onClose', async () => { await bus.close() })
    }
  }
  // `off` keeps a memory store too: the session data (recent views, drafts) lives there, and the
  // cache plugin, which still decorates the app, has a store that no route reaches.
  store ??= new MemoryStore({ maxBytes: config.l1MaxBytes, clock })
  await app.register(db, {
    database,
    closeDatabase: !opts.database,
    seedDemo: config.seedDemo,
    sessionStore: degradeSessions(storeSessions(store, TTL_CLASSES))
  })

  const withMetrics = opts.metrics !== false
  // Before the cache plugin: every lookup, store and invalidation it reports lands in app.cacheMetrics.
  if (withMetrics) await app.register(metrics, { store, clock, thresholds: config.cacheAlerts })
  await app.register(cache, {
    store,
    ttl: TTL_CLASSES,
    knownEvents: DOMAIN_EVENT_NAMES,
    ...(withMetrics ? { onEvent: (e: PluginCacheEvent) => { app.cacheMetrics.record(e) } } : {}),
    clock,
    staleWhileRevalidate: config.cacheStaleWhileRevalidate,
    staleIfError: config.cacheStaleIfError,
    manager: { ttl: { entity: entityTtlClass, list: listTtlClass }, patternOf: patternOfKey }
  })
  app.domain.entities = cacheStore === 'off' ? noEntityCache : app.cache
  // An explicit store (tests, the benchmark) is reported as what it is.
  app.decorate('cacheMode', cacheStore === 'off' ? 'off' : store.kind)
  // Domain events reach the cache through the outbox: written with each transaction, applied
  // before the write replies, retried and replayed by the dispatcher when the cache was unreachable.
  // With caching off there is nothing to invalidate: writes record no outbox rows, and the
  // dispatcher (still `app.outbox`) never polls.
  const tiered = store instanceof TieredStore ? store : undefined
  const outbox = new OutboxDispatcher({
    db: app.database.db,
    apply: createInvalidator(app.cache, app.database.db, app.log),
    log: app.log,
    fenceMs: () => tiered?.writeFenceMs() ?? 0
  })
  app.decorate('outbox', outbox)
  if (cacheStore !== 'off') {
    useOutbox(app.events, outbox)
    tiered?.bus?.onRecover(() => { outbox.kick() })
    app.addHook('onReady', async () => { await outbox.start() })
    app.addHook('onClose', async () => { await outbox.stop() })
  }
  // Off by default: compares a few cached entities with the database every interval.
  const sampler = config.cacheSamplerIntervalMs > 0 && cacheStore !== 'off'
    ? new FreshnessSampler({ store, db: app.database.db, intervalMs: config.cacheSamplerIntervalMs, log: app.log })
    : null
  app.decorate('cacheSampler', sampler)
  if (sampler !== null) {
    app.addHook('onReady', async () => { sampler.start() })
    app.addHook('onClose', async () => { await sampler.stop() })
  }

  if (config.devLogin) await app.register(authRoutes)
  await app.register(gigRoutes)
  await app.register(usersRoutes)
  await app.register(applicationsRoutes)
  await app.register(assignmentsRoutes)
  await app.register(submissionsRoutes)
  await app.register(searchRoutes)
  await app.register(catalogRoutes)
  await app.register(meRoutes)
  if (withMetrics) await app.register(cacheAdminRoutes)
  return app
}

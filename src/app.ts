import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { loadConfig, type Config } from './config.ts'
import { openDatabase, type Database } from './db.ts'
import { MemoryStore } from './cache/memory-store.ts'
import { RedisStore } from './cache/redis-store.ts'
import { TieredStore } from './cache/tiered-store.ts'
import { systemClock } from './cache/clock.ts'
import type { Store } from './cache/store.ts'
import { entityTtlClass, listTtlClass, patternOfKey, TTL_CLASSES } from './catalog.ts'
import { DOMAIN_EVENT_NAMES } from './domain/events.ts'
import { subscribeInvalidation } from './invalidation.ts'
import { storeSessions } from './session-store.ts'
import errors from '../plugins/errors.ts'
import auth from '../plugins/auth.ts'
import db from '../plugins/db.ts'
import swagger from '../plugins/swagger.ts'
import redis from '../plugins/redis.ts'
import cache from '../plugins/cache.ts'
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

export interface AppOptions {
  /** Overrides of the environment's configuration. */
  config?: Partial<Config>
  /** A database the caller owns (tests); otherwise opened from the config and closed with the app. */
  database?: Database
  /** A cache store the caller owns (tests); otherwise built from the config. */
  store?: Store
  logger?: FastifyServerOptions['logger']
}

/** Builds the Gig Service: plugins first, then routes. The caller listens or injects. */
export async function buildApp (opts: AppOptions = {}): Promise<FastifyInstance> {
  const config: Config = { ...loadConfig(), ...opts.config }
  const app = Fastify({
    logger: opts.logger ?? { level: config.logLevel },
    // Reject unknown body fields instead of silently dropping them.
    ajv: { customOptions: { removeAdditional: false, allErrors: false } },
    // Ids in URLs are short; anything longer than this is not a request we serve.
    routerOptions: { maxParamLength: 200 }
  }).withTypeProvider<TypeBoxTypeProvider>()

  for (const schema of sharedSchemas) app.addSchema(schema)
  if (config.jwtSecretIsRandom && !opts.config?.jwtSecret) {
    app.log.warn('JWT_SECRET is not set: using a random development secret (tokens die with the process)')
  }

  const database = opts.database ?? await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir })

  await app.register(errors)
  await app.register(swagger)
  await app.register(auth, { secret: config.jwtSecret })

  let store = opts.store
  if (!store && config.redisUrl) {
    await app.register(redis, { url: config.redisUrl })
    store = new TieredStore({
      l1: new MemoryStore({ maxBytes: config.l1MaxBytes, clock: systemClock }),
      l2: new RedisStore({ client: app.redis, prefix: config.cachePrefix }),
      l1MaxTtlMs: config.l1TtlMs
    })
  }
  store ??= new MemoryStore({ maxBytes: config.l1MaxBytes, clock: systemClock })
  await app.register(db, {
    database,
    closeDatabase: !opts.database,
    seedDemo: config.seedDemo,
    sessionStore: storeSessions(store, TTL_CLASSES)
  })

  await app.register(cache, {
    store,
    ttl: TTL_CLASSES,
    knownEvents: DOMAIN_EVENT_NAMES,
    manager: { ttl: { entity: entityTtlClass, list: listTtlClass }, patternOf: patternOfKey }
  })
  app.domain.entities = app.cache
  subscribeInvalidation(app.events, app.cache, app.database.db, app.log)

  if (config.devLogin) await app.register(authRoutes)
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

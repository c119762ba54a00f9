import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Database } from '../src/db.ts'
import { DomainEvents } from '../src/domain/events.ts'
import { noEntityCache, type DomainContext, type SessionStore } from '../src/domain/context.ts'
import { Sessions } from '../src/domain/sessions.ts'
import { seedDemoIfEmpty } from '../drizzle/seed-data.ts'

declare module 'fastify' {
  interface FastifyInstance {
    database: Database
    events: DomainEvents
    /** What the domain modules receive: db, events, entity cache, session store. */
    domain: DomainContext
    sessions: Sessions
  }
  interface FastifyRequest {
    /** `app.domain` with entity-cache reads attributed to this request's route (for metrics). */
    readonly domain: DomainContext
  }
}

export interface DbPluginOptions {
  database: Database
  /** Close the database with the app (false when a test owns it). */
  closeDatabase?: boolean
  migrate?: boolean
  seedDemo?: boolean
  sessionStore: SessionStore
}

async function db (app: FastifyInstance, opts: DbPluginOptions): Promise<void> {
  const { database } = opts
  if (opts.migrate !== false) await database.migrate()
  if (opts.seedDemo) {
    if (await seedDemoIfEmpty(database.db)) app.log.info('empty database: demo dataset loaded')
  }
  const events = new DomainEvents((err, event) => {
    app.log.error({ err, event: event.name }, 'domain event listener failed')
  })
  const domain: DomainContext = { db: database.db, events, entities: noEntityCache, sessions: opts.sessionStore }
  app.decorate('database', database)
  app.decorate('events', events)
  app.decorate('domain', domain)
  // One context per route, built on first use (app.domain.entities is set after this plugin).
  const byRoute = new Map<string, { entities: DomainContext['entities'], ctx: DomainContext }>()
  app.decorateRequest('domain', {
    getter (this: FastifyRequest): DomainContext {
      const url = this.routeOptions.url
      if (url === undefined || domain.entities.attributedTo === undefined) return domain
      const route = `${this.method} ${url}`
      const known = byRoute.get(route)
      if (known !== undefined && known.entities === domain.entities) return known.ctx
      const ctx: DomainContext = { ...domain, entities: domain.entities.attributedTo(route) }
      byRoute.set(route, { entities: domain.entities, ctx })
      return ctx
    }
  })
  app.decorate('sessions', new Sessions(opts.sessionStore))
  if (opts.closeDatabase !== false) app.addHook('onClose', async () => { await database.close() })
}

export default fp(db, { name: 'db', fastify: '5.x' })

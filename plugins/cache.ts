import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions, onRequestHookHandler, onSendHookHandler, preHandlerHookHandler } from 'fastify'
import { compileKeyTemplate, type CompiledKeyTemplate } from '../src/cache/keys.ts'
import { CacheManager, type CacheEvent, type CacheManagerOptions } from '../src/cache/manager.ts'
import type { Store } from '../src/cache/store.ts'
import { resolveTtl, withJitter, type TtlTable } from '../src/cache/ttl.ts'
import { systemClock, type Clock } from '../src/cache/clock.ts'

/** Route-level response caching, declared in `config.cache`. */
export interface RouteCacheOptions<TtlName extends string = string> {
  /** Key template, e.g. `'gig:{params.id}'`; its literal head (`gig`) is the key pattern of metrics. */
  key: string
  /** A TTL class of the catalog (never a raw number). */
  ttl: TtlName
  /** Invalidation tags, templates like `key`. Default: the rendered key itself. */
  tags?: string[]
  /** `public` (default): shared by every anonymous caller. `user`: the caller's id joins the key. */
  scope?: 'public' | 'user'
  /** Query names that select the response; default every property of the querystring schema. */
  query?: string[]
}

/** Invalidation a write route performs before it replies (besides the domain events' cascade). */
export interface RouteInvalidateOptions {
  /** Domain events this route emits; documented in Swagger and checked against the cascade rules at boot. */
  events?: string[]
  /** Tag templates invalidated after a 2xx response, before it is sent. */
  tags?: string[]
}

declare module 'fastify' {
  interface FastifyContextConfig {
    cache?: RouteCacheOptions | false
    invalidate?: RouteInvalidateOptions
  }
  interface FastifyInstance {
    /** The LLD's CacheManager over the configured store. */
    cache: CacheManager
    cacheStore: Store
  }
  interface FastifyRequest {
    cacheState: CacheState | null
  }
}

export interface CachePluginOptions {
  store: Store
  /** TTL classes in seconds. */
  ttl: TtlTable
  /** Event names a route may list in `config.invalidate.events`. */
  knownEvents?: readonly string[]
  /** Responses larger than this are sent but not stored. */
  maxEntryBytes?: number
  clock?: Clock
  /** Manager options besides store, clock and ttl.table (cascade rules, TTL class per type…). */
  manager?: Omit<CacheManagerOptions, 'store' | 'clock' | 'ttl'> & { ttl?: Omit<CacheManagerOptions['ttl'], 'table'> }
  onEvent?: (e: CacheEvent & { route?: string }) => void
}

interface CompiledRoute {
  route: string
  key: CompiledKeyTemplate
  tags: CompiledKeyTemplate[]
  ttlMs: number
  scope: 'public' | 'user'
  cacheControl: string
}

interface CacheState {
  route: CompiledRoute
  key: string
  /** Set on a miss that may be stored: the tags and their tokens, read before the handler ran. */
  tags?: string[]
  tokens?: string[]
  startedAt: number
}

/** Why a route option is wrong, naming the route: thrown at boot. */
export class CacheConfigError extends Error {
  readonly code = 'CACHE_ERR_ROUTE_CONFIG'
}

const ETAG_META = '\n'

function etagOf (payload: string): string {
  return `"${createHash('sha1').update(payload).digest('base64url')}"`
}

// An entry's meta is "etag\ncontent-type"; entries written by the manager (write-through) have none.
function readMeta (entry: { value: string, meta: string }): { etag: string, contentType: string } {
  const i = entry.meta.indexOf(ETAG_META)
  if (i < 0) return { etag: etagOf(entry.value), contentType: 'application/json; charset=utf-8' }
  return { etag: entry.meta.slice(0, i), contentType: entry.meta.slice(i + 1) }
}

function etagMatches (header: string | undefined, etag: string): boolean {
  if (header === undefined) return false
  if (header.trim() === '*') return true
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag)
}

function queryNames (route: RouteOptions): string[] {
  const schema = route.schema?.querystring as { properties?: Record<string, unknown> } | undefined
  return schema?.properties ? Object.keys(schema.properties) : []
}

function compileRoute (route: RouteOptions, opts: RouteCacheOptions, ttl: TtlTable): CompiledRoute {
  const name = `${Array.isArray(route.method) ? route.method.join(',') : route.method} ${route.url}`
  const fail = (why: string): never => { throw new CacheConfigError(`config.cache of route ${name}: ${why}`) }
  if (typeof opts !== 'object' || opts === null) fail('must be an object or false')
  const scope = opts.scope ?? 'public'
  if (scope !== 'public' && scope !== 'user') fail(`scope must be 'public' or 'user', got ${String(scope)}`)
  const declared = queryNames(route)
  const allowedQuery = opts.query ?? declared
  for (const q of allowedQuery) if (!declared.includes(q)) fail(`query "${q}" is not in the route's querystring schema`)
  let ttlMs = 0
  let key: CompiledKeyTemplate | undefined
  let tags: CompiledKeyTemplate[] = []
  try {
    ttlMs = resolveTtl(ttl, opts.ttl)
    key = compileKeyTemplate(opts.key, { allowedQuery })
    tags = (opts.tags ?? [opts.key]).map((t) => compileKeyTemplate(t, { allowedQuery }))
  } catch (err) {
    fail((err as Error).message)
  }
  const compiled = key as CompiledKeyTemplate
  // A query value the key ignores would make two different responses share one entry.
  const wholeQuery = compiled.placeholders.includes('query') || compiled.placeholders.includes('hash')
  if (!wholeQuery) {
    const inKey = new Set(compiled.placeholders.filter((p) => p.startsWith('query.')).map((p) => p.slice(6)))
    const missing = allowedQuery.filter((q) => !inKey.has(q))
    if (missing.length > 0) fail(`query ${missing.join(', ')} can change the response but is not in key "${opts.key}" (use {query}, {hash} or {query.NAME})`)
  }
  const urlParams = new Set([...route.url.matchAll(/:([A-Za-z0-9_$]+)/g)].map((m) => m[1]))
  if (route.url.includes('*')) urlParams.add('*')
  for (const p of compiled.placeholders) {
    if (p.startsWith('params.') && !urlParams.has(p.slice(7))) fail(`placeholder {${p}} is not a parameter of the URL`)
  }
  if (scope === 'public' && compiled.usesUser) fail('{user.id} needs scope: \'user\'')
  const seconds = Math.round(ttlMs / 1000)
  return {
    route: name,
    key: compiled,
    tags,
    ttlMs,
    scope,
    cacheControl: `${scope === 'user' ? 'private' : 'public'}, max-age=${seconds}`
  }
}

function header (reply: FastifyReply, name: string): string {
  const v = reply.getHeader(name)
  return v === undefined ? '' : Array.isArray(v) ? v.join(',') : String(v)
}

async function cache (app: FastifyInstance, opts: CachePluginOptions): Promise<void> {
  const { store } = opts
  const clock = opts.clock ?? systemClock
  const maxEntryBytes = opts.maxEntryBytes ?? 1024 * 1024
  const emit = opts.onEvent ?? (() => {})
  const manager = new CacheManager({
    ...opts.manager,
    store,
    clock,
    ttl: { ...opts.manager?.ttl, table: opts.ttl },
    onEvent: (e) => { emit(e); opts.manager?.onEvent?.(e) }
  })
  app.decorate('cache', manager)
  app.decorate('cacheStore', store)
  app.decorateRequest('cacheState', null)

  const ctxOf = (request: FastifyRequest) => ({
    params: request.params as Record<string, unknown>,
    query: request.query as Record<string, unknown>,
    user: request.caller
  })

  function compiledLookup (c: CompiledRoute): onRequestHookHandler {
    return async function cacheLookup (request, reply) {
      const started = performance.now()
      if (c.scope === 'public' ? (request.headers.authorization !== undefined || request.headers.cookie !== undefined) : !request.caller) {
        // A signed-in caller's answer may be personal: the handler answers and nothing is stored.
        reply.header('x-cache', 'BYPASS')
        emit({ type: 'miss', pattern: c.key.pattern, route: c.route, op: 'get', stored: false })
        return
      }
      const rendered = c.key.render(ctxOf(request))
      // '@' never comes out of escaping, so no request value can reach another caller's entry.
      const key = c.scope === 'user' ? `${rendered}@${request.caller!.id}` : rendered
      request.cacheState = { route: c, key, startedAt: started }
      let entry
      try {
        entry = await store.get(key)
      } catch (err) {
        emit({ type: 'error', pattern: c.key.pattern, route: c.route, op: 'get', error: err })
        return
      }
      const now = clock.now()
      if (entry === undefined || now >= entry.freshUntil) return
      request.cacheState = null
      const meta = readMeta(entry)
      reply.header('x-cache', 'HIT')
        .header('age', String(Math.max(0, Math.floor((now - entry.storedAt) / 1000))))
        .header('etag', meta.etag)
        .header('cache-control', c.cacheControl)
      emit({ type: 'hit', pattern: c.key.pattern, route: c.route, durationMs: performance.now() - started })
      if (etagMatches(request.headers['if-none-match'], meta.etag)) return reply.code(304).send()
      return reply.header('content-type', meta.contentType).send(entry.value)
    }
  }

  function compiledTokens (c: CompiledRoute): preHandlerHookHandler {
    return async function cacheTokens (request) {
      const state = request.cacheState
      if (state === null || request.method !== 'GET') return
      // Rendered from validated (coerced) values, so `gig:01` and `gig:1` share the tag a write invalidates.
      const ctx = ctxOf(request)
      const tags = [...new Set(c.tags.map((t) => t.render(ctx)))]
      try {
        state.tokens = await store.tagTokens(tags)
        state.tags = tags
      } catch (err) {
        emit({ type: 'error', pattern: c.key.pattern, route: c.route, op: 'tagTokens', error: err })
      }
    }
  }

  function compiledStore (c: CompiledRoute): onSendHookHandler {
    return async function cacheStore (request, reply, payload) {
      const state = request.cacheState
      if (state === null) return payload
      request.cacheState = null
      reply.header('x-cache', 'MISS')
      emit({ type: 'miss', pattern: c.key.pattern, route: c.route, durationMs: performance.now() - state.startedAt })
      if (state.tokens === undefined || state.tags === undefined || reply.statusCode !== 200 || typeof payload !== 'string') return payload
      if (reply.getHeader('set-cookie') !== undefined) return payload
      const cc = header(reply, 'cache-control').toLowerCase()
      if (cc.includes('no-store') || (c.scope === 'public' && cc.includes('private'))) return payload
      if (header(reply, 'vary').includes('*')) return payload
      const bytes = Buffer.byteLength(payload)
      if (bytes > maxEntryBytes) return payload
      const etag = etagOf(payload)
      const contentType = header(reply, 'content-type') || 'application/json; charset=utf-8'
      reply.header('etag', etag).header('cache-control', c.cacheControl)
      const notModified = etagMatches(request.headers['if-none-match'], etag)
      try {
        const stored = await store.set(state.key, payload, etag + ETAG_META + contentType, {
          ttlMs: withJitter(c.ttlMs), tags: state.tags, tokens: state.tokens
        })
        emit({ type: 'set', pattern: c.key.pattern, route: c.route, bytes, stored })
      } catch (err) {
        emit({ type: 'error', pattern: c.key.pattern, route: c.route, op: 'set', error: err })
      }
      if (notModified) {
        // The client already holds these bytes (its entry outlived ours): confirm instead of resending.
        reply.code(304).removeHeader('content-type')
        return ''
      }
      return payload
    }
  }

  function compiledInvalidate (route: string, tags: CompiledKeyTemplate[]): onSendHookHandler {
    return async function cacheInvalidate (request, reply, payload) {
      if (reply.statusCode < 200 || reply.statusCode >= 300) return payload
      const ctx = ctxOf(request)
      const rendered = [...new Set(tags.map((t) => t.render(ctx)))]
      try {
        await manager.invalidateTags(rendered)
      } catch (err) {
        request.log.warn({ err, route, tags: rendered }, 'cache invalidation failed')
      }
      return payload
    }
  }

  const append = <T>(existing: T | T[] | undefined, hook: T): T[] =>
    existing === undefined ? [hook] : Array.isArray(existing) ? [...existing, hook] : [existing, hook]

  app.addHook('onRoute', (route) => {
    const name = `${String(route.method)} ${route.url}`
    const inv = route.config?.invalidate
    if (inv) {
      for (const e of inv.events ?? []) {
        if (opts.knownEvents && !opts.knownEvents.includes(e)) {
          throw new CacheConfigError(`config.invalidate of route ${name}: unknown event "${e}"`)
        }
      }
      if (inv.tags && inv.tags.length > 0) {
        let tags: CompiledKeyTemplate[] = []
        try {
          tags = inv.tags.map((t) => compileKeyTemplate(t, { allowedQuery: queryNames(route) }))
        } catch (err) {
          throw new CacheConfigError(`config.invalidate of route ${name}: ${(err as Error).message}`)
        }
        route.onSend = append(route.onSend, compiledInvalidate(name, tags))
      }
    }
    const options = route.config?.cache
    if (!options) return
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (methods.some((m) => m !== 'GET' && m !== 'HEAD')) {
      throw new CacheConfigError(`config.cache of route ${name}: only GET routes are cached`)
    }
    const compiled = compileRoute(route, options, opts.ttl)
    route.onRequest = append(route.onRequest, compiledLookup(compiled))
    route.preHandler = append(route.preHandler, compiledTokens(compiled))
    route.onSend = append(route.onSend, compiledStore(compiled))
  })
}

export default fp(cache, { name: 'cache', fastify: '5.x', dependencies: ['auth'] })

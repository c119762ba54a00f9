import { hash, randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions, onRequestHookHandler, onSendHookHandler, preHandlerHookHandler } from 'fastify'
import { compileKeyTemplate, escapeKeyPart, type CompiledKeyTemplate } from '../src/cache/keys.ts'
import { CacheManager, type CacheEvent, type CacheManagerOptions } from '../src/cache/manager.ts'
import { checkTags, type CacheEntry, type Store } from '../src/cache/store.ts'
import { resilienceOf, StoreUnavailableError, type BreakerState } from '../src/cache/resilient-store.ts'
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
  /**
   * Seconds after expiry during which the entry is still sent (`x-cache: STALE`) while one
   * background request refreshes it. Default: the plugin's `staleWhileRevalidate` (0: off).
   */
  staleWhileRevalidate?: number
  /**
   * Seconds after expiry during which the entry is sent (`x-cache: STALE`) instead of a 5xx
   * (database down). Default: the plugin's `staleIfError` (0: off).
   */
  staleIfError?: number
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
    /**
     * Makes the response being cached depend on more tags, known only inside the handler (e.g.
     * the ids on a listing page). Call it BEFORE reading the data those tags cover: their tokens
     * are read now, so a write that lands after this call makes the stored entry stale-on-arrival.
     * A no-op when the response will not be stored; if the tokens cannot be read, nothing is stored.
     * A function instead of tags is called only when the response will be stored (tags that cost
     * a query to find); if it throws, the response is not stored.
     */
    cacheDependsOn: (tags: string[] | (() => Promise<string[]> | string[])) => Promise<void>
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
  onEvent?: (e: PluginCacheEvent) => void
  /** Default `staleWhileRevalidate` of every cached route, in seconds (0: off). */
  staleWhileRevalidate?: number
  /** Default `staleIfError` of every cached route, in seconds (0: off). */
  staleIfError?: number
}

/**
 * Everything the plugin reports: the manager's events (with the route when a route caused them),
 * plus outcomes only HTTP caching has, and the store's circuit breaker when it has one.
 * - `stale`: an expired entry was sent, to revalidate in the background or instead of a 5xx;
 * - `bypass`: a signed-in request to a public route, answered by the handler and not stored;
 * - `revalidate`: a background refresh finished, with the handler's status (200: the entry is fresh again);
 * - `breaker`: the store's circuit changed state.
 */
export type PluginCacheEvent =
  | (CacheEvent & { route?: string })
  | { type: 'stale', pattern: string, route: string, reason: 'revalidate' | 'error', ageMs: number }
  | { type: 'bypass', pattern: string, route: string }
  | { type: 'revalidate', pattern: string, route: string, statusCode: number, durationMs: number }
  | { type: 'breaker', state: BreakerState, previous: BreakerState }

interface CompiledRoute {
  route: string
  key: CompiledKeyTemplate
  tags: CompiledKeyTemplate[]
  ttlMs: number
  scope: 'public' | 'user'
  cacheControl: string
  swrMs: number
  sieMs: number
}

interface CacheState {
  route: CompiledRoute
  key: string
  /** Set on a miss that may be stored: the tags and their tokens, read before the handler ran. */
  tags?: string[]
  tokens?: string[]
  startedAt: number
  /** An expired entry still inside its staleIfError window: sent if the handler fails with a 5xx. */
  stale?: Readonly<CacheEntry>
  /** Set when this request leads the fill of its key: wakes the requests waiting for it. */
  release?: () => void
}

// Followers never wait on a leader longer than this (a leader whose response never finishes).
const FILL_WAIT_MS = 2000

/** Why a route option is wrong, naming the route: thrown at boot. */
export class CacheConfigError extends Error {
  readonly code = 'CACHE_ERR_ROUTE_CONFIG'
}

const ETAG_META = '\n'

function etagOf (payload: string): string {
  // One-shot hash: no Hash object per stored response.
  return `"${hash('sha1', payload, 'base64url')}"`
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

/** The key a request's response is stored under; `user` scope appends the caller's id after `@`. */
export function requestKey (key: CompiledKeyTemplate, scope: 'public' | 'user', ctx: { params: Record<string, unknown>, query: Record<string, unknown>, user: { id: number | string } | null }): string {
  const rendered = key.render(ctx)
  // '@' never comes out of escaping, so no request value can reach another caller's entry.
  return scope === 'user' ? `${rendered}@${escapeKeyPart(String(ctx.user?.id))}` : rendered
}

function compileRoute (route: RouteOptions, opts: RouteCacheOptions, ttl: TtlTable, defaults: { swr: number, sie: number }): CompiledRoute {
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
  const window = (name: 'staleWhileRevalidate' | 'staleIfError', fallback: number): number => {
    const v = opts[name] ?? fallback
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(`${name} must be a non-negative number of seconds, got ${String(v)}`)
    return Math.round(v * 1000)
  }
  const swrMs = window('staleWhileRevalidate', defaults.swr)
  const sieMs = window('staleIfError', defaults.sie)
  const seconds = Math.round(ttlMs / 1000)
  return {
    route: name,
    key: compiled,
    tags,
    ttlMs,
    scope,
    cacheControl: `${scope === 'user' ? 'private' : 'public'}, max-age=${seconds}`,
    swrMs,
    sieMs
  }
}

// Headers a proxy uses to tell the app what the client asked for. Behind `trustProxy` they change
// request.host and request.protocol, which the key does not include: a response to a request whose
// host or protocol came from them is never stored, so a forged value cannot reach other callers.
function overridesOrigin (request: FastifyRequest): boolean {
  return request.host !== request.headers.host || (request.protocol !== 'http' && request.protocol !== 'https')
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
  const defaults = { swr: opts.staleWhileRevalidate ?? 0, sie: opts.staleIfError ?? 0 }
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
  app.decorateRequest('cacheDependsOn', async function (this: FastifyRequest, input: string[] | (() => Promise<string[]> | string[])): Promise<void> {
    const state = this.cacheState
    if (state === null || state.tags === undefined || state.tokens === undefined) return
    try {
      const tags = typeof input === 'function' ? await input() : input
      checkTags(tags)
      const known = new Set(state.tags)
      const added = [...new Set(tags)].filter((t) => !known.has(t))
      if (added.length === 0) return
      const tokens = await store.tagTokens(added)
      state.tags.push(...added)
      state.tokens.push(...tokens)
    } catch (err) {
      // Without these tokens the entry could outlive a write it depends on: do not store it.
      state.tokens = undefined
      emit({ type: 'error', pattern: state.route.key.pattern, route: state.route.route, op: 'tagTokens', error: err })
    }
  })
  const guard = resilienceOf(store)
  if (guard !== undefined) {
    const unsubscribe = guard.subscribe((e) => {
      if (e.type === 'breaker') emit({ type: 'breaker', state: e.state, previous: e.previous })
    })
    app.addHook('onClose', async () => { unsubscribe() })
  }

  // A background refresh is an internal request carrying this header; the secret dies with the
  // process, so no client can force a refresh (or skip the cache) by sending it.
  const revalidateSecret = randomBytes(16).toString('hex')
  // Route fills in progress in this process, by key: concurrent cold misses wait for one handler.
  const fills = new Map<string, Promise<void>>()
  const revalidating = new Set<string>()

  const ctxOf = (request: FastifyRequest) => ({
    params: request.params as Record<string, unknown>,
    query: request.query as Record<string, unknown>,
    user: request.caller
  })

  function ageOf (entry: Readonly<CacheEntry>, now: number): string {
    return String(Math.max(0, Math.floor((now - entry.storedAt) / 1000)))
  }

  function revalidate (request: FastifyRequest, c: CompiledRoute, key: string): void {
    // Once per key at a time: every other request inside the window keeps getting the stale entry.
    if (revalidating.has(key)) return
    revalidating.add(key)
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || name.startsWith('if-') || name === 'content-length') continue
      headers[name] = Array.isArray(value) ? value.join(', ') : value
    }
    headers['x-cache-revalidate'] = revalidateSecret
    const started = performance.now()
    setImmediate(() => {
      app.inject({ method: 'GET', url: request.url, headers })
        .then((res) => {
          emit({ type: 'revalidate', pattern: c.key.pattern, route: c.route, statusCode: res.statusCode, durationMs: performance.now() - started })
        }, (err: unknown) => {
          emit({ type: 'error', pattern: c.key.pattern, route: c.route, op: 'get', error: err })
        })
        .finally(() => { revalidating.delete(key) })
    })
  }

  // What a lookup found, sent: true when the request was answered (hit, stale, 304), false when
  // the handler must run (nothing usable, or an expired entry kept only for staleIfError).
  function answer (request: FastifyRequest, reply: FastifyReply, c: CompiledRoute, state: CacheState, entry: Readonly<CacheEntry>): boolean {
    const now = clock.now()
    let stale = false
    if (now >= entry.freshUntil) {
      if (now < entry.freshUntil + c.swrMs) {
        stale = true
        revalidate(request, c, state.key)
      } else {
        if (now < entry.freshUntil + c.sieMs) state.stale = entry
        return false
      }
    }
    request.cacheState = null
    const meta = readMeta(entry)
    reply.header('x-cache', stale ? 'STALE' : 'HIT')
      .header('age', ageOf(entry, now))
      .header('etag', meta.etag)
      .header('cache-control', c.cacheControl)
    if (stale) {
      emit({ type: 'stale', pattern: c.key.pattern, route: c.route, reason: 'revalidate', ageMs: now - entry.storedAt })
    } else {
      emit({ type: 'hit', pattern: c.key.pattern, route: c.route, durationMs: performance.now() - state.startedAt })
    }
    if (etagMatches(request.headers['if-none-match'], meta.etag)) reply.code(304).send()
    else reply.header('content-type', meta.contentType).send(entry.value)
    return true
  }

  // The store could not answer without I/O: ask it, and on a cold miss lead or join the fill.
  async function lookupAsync (request: FastifyRequest, reply: FastifyReply, c: CompiledRoute, state: CacheState): Promise<boolean> {
    const { key } = state
    let entry: Readonly<CacheEntry> | undefined
    try {
      entry = await store.get(key)
    } catch (err) {
      emit({ type: 'error', pattern: c.key.pattern, route: c.route, op: 'get', error: err })
      return false
    }
    if (entry === undefined && request.method === 'GET') {
      const pending = fills.get(key)
      if (pending === undefined) {
        // The first miss leads the fill; concurrent misses on this key wait for it below.
        // One timer per fill, not one per waiting request: a leader whose response never ends
        // releases its followers (and lets the next miss lead) after FILL_WAIT_MS.
        let wake!: () => void
        const fill = new Promise<void>((resolve) => { wake = resolve })
        const release = (): void => {
          clearTimeout(timer)
          if (fills.get(key) === fill) fills.delete(key)
          wake()
        }
        const timer = setTimeout(release, FILL_WAIT_MS)
        fills.set(key, fill)
        state.release = release
        return false
      }
      await pending
      // Looked up again rather than taken from the leader: the store only returns it if no
      // invalidation moved its tags since the leader's read, which keeps read-your-writes.
      try {
        entry = await store.get(key)
      } catch (err) {
        emit({ type: 'error', pattern: c.key.pattern, route: c.route, op: 'get', error: err })
        return false
      }
    }
    return entry !== undefined && answer(request, reply, c, state, entry)
  }

  function compiledLookup (c: CompiledRoute): onRequestHookHandler {
    // Callback style on purpose: a hit an in-process tier answers costs no promise and no microtask.
    return function cacheLookup (request, reply, done) {
      const started = performance.now()
      if (c.scope === 'public' ? (request.headers.authorization !== undefined || request.headers.cookie !== undefined) : !request.caller) {
        // A signed-in caller's answer may be personal: the handler answers and nothing is stored.
        reply.header('x-cache', 'BYPASS')
        emit({ type: 'bypass', pattern: c.key.pattern, route: c.route })
        done()
        return
      }
      const key = requestKey(c.key, c.scope, ctxOf(request))
      const state: CacheState = { route: c, key, startedAt: started }
      request.cacheState = state
      // The background refresh itself: straight to the handler, and store what it answers.
      if (request.headers['x-cache-revalidate'] === revalidateSecret) {
        done()
        return
      }
      let local: Readonly<CacheEntry> | undefined
      try {
        local = store.peek?.(key)
      } catch (err) {
        emit({ type: 'error', pattern: c.key.pattern, route: c.route, op: 'get', error: err })
        done()
        return
      }
      // Answered requests end here: the reply is sent, and done() must not run the route on.
      if (local !== undefined && answer(request, reply, c, state, local)) return
      if (local !== undefined) {
        done()
        return
      }
      lookupAsync(request, reply, c, state).then((answered) => { if (!answered) done() }, done)
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

  // The handler failed (database down) but an expired entry is inside its staleIfError window.
  function sendStale (request: FastifyRequest, reply: FastifyReply, c: CompiledRoute, entry: Readonly<CacheEntry>): string {
    const now = clock.now()
    const meta = readMeta(entry)
    reply.code(200)
      .header('x-cache', 'STALE')
      .header('age', ageOf(entry, now))
      .header('etag', meta.etag)
      .header('cache-control', c.cacheControl)
      .removeHeader('retry-after')
    emit({ type: 'stale', pattern: c.key.pattern, route: c.route, reason: 'error', ageMs: now - entry.storedAt })
    if (etagMatches(request.headers['if-none-match'], meta.etag)) {
      reply.code(304).removeHeader('content-type')
      return ''
    }
    reply.header('content-type', meta.contentType)
    return entry.value
  }

  function compiledStore (c: CompiledRoute): onSendHookHandler {
    // Callback style: on a hit (no state) it passes the payload on without a promise.
    return function cacheStore (request, reply, payload, done) {
      const state = request.cacheState
      if (state === null) {
        done(null, payload)
        return
      }
      request.cacheState = null
      storeResponse(request, reply, payload, c, state).then((out) => {
        state.release?.()
        // Fastify's own runner guards this call: a throw while the reply is written (a header
        // Node rejects) must become an error response, not an unhandled rejection.
        try {
          done(null, out)
        } catch (err) {
          done(err as Error)
        }
      }, (err: unknown) => {
        state.release?.()
        done(err as Error)
      })
    }
  }

  async function storeResponse (request: FastifyRequest, reply: FastifyReply, payload: unknown, c: CompiledRoute, state: CacheState): Promise<unknown> {
    if (reply.statusCode >= 500 && state.stale !== undefined && clock.now() < state.stale.freshUntil + c.sieMs) {
      return sendStale(request, reply, c, state.stale)
    }
    reply.header('x-cache', 'MISS')
    emit({ type: 'miss', pattern: c.key.pattern, route: c.route, durationMs: performance.now() - state.startedAt })
    if (state.tokens === undefined || state.tags === undefined || reply.statusCode !== 200 || typeof payload !== 'string') return payload
    if (reply.getHeader('set-cookie') !== undefined) return payload
    const cc = header(reply, 'cache-control').toLowerCase()
    if (cc.includes('no-store') || (c.scope === 'public' && cc.includes('private'))) return payload
    if (header(reply, 'vary').includes('*')) return payload
    if (overridesOrigin(request)) return payload
    const bytes = Buffer.byteLength(payload)
    if (bytes > maxEntryBytes) return payload
    const etag = etagOf(payload)
    const contentType = header(reply, 'content-type') || 'application/json; charset=utf-8'
    reply.header('etag', etag).header('cache-control', c.cacheControl)
    const notModified = etagMatches(request.headers['if-none-match'], etag)
    try {
      const stored = await store.set(state.key, payload, etag + ETAG_META + contentType, {
        ttlMs: withJitter(c.ttlMs),
        staleMs: Math.max(c.swrMs, c.sieMs),
        tags: state.tags,
        tokens: state.tokens
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

  function compiledInvalidate (route: string, tags: CompiledKeyTemplate[]): onSendHookHandler {
    return async function cacheInvalidate (request, reply, payload) {
      if (reply.statusCode < 200 || reply.statusCode >= 300) return payload
      const ctx = ctxOf(request)
      const rendered = [...new Set(tags.map((t) => t.render(ctx)))]
      try {
        await manager.invalidateTags(rendered)
      } catch (err) {
        // An unavailable store is logged once, by its breaker; the manager already emitted an error event.
        if (!(err instanceof StoreUnavailableError)) request.log.warn({ err, route, tags: rendered }, 'cache invalidation failed')
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
    const compiled = compileRoute(route, options, opts.ttl, defaults)
    route.onRequest = append(route.onRequest, compiledLookup(compiled))
    route.preHandler = append(route.preHandler, compiledTokens(compiled))
    route.onSend = append(route.onSend, compiledStore(compiled))
  })
}

export default fp(cache, { name: 'cache', fastify: '5.x', dependencies: ['auth'] })

import { readFileSync } from 'node:fs'
import { parse as parseQuery } from 'node:querystring'
import { Type, type Static, type TSchema } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { compileKeyTemplate } from '../src/cache/keys.ts'
import type { CacheEntry } from '../src/cache/store.ts'
import type { TieredStore } from '../src/cache/tiered-store.ts'
import { TTL_CLASSES } from '../src/catalog.ts'
import { unwrapStore } from '../plugins/metrics.ts'
import { bearer, errorResponses, Id, StringEnum } from './schemas.ts'

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])
const Ms = Type.Integer({ description: 'ms since the epoch' })

const Counts = {
  hits: Type.Integer(),
  misses: Type.Integer(),
  stale: Type.Integer({ description: 'expired entries sent (stale-while-revalidate, stale-if-error)' }),
  bypasses: Type.Integer({ description: 'requests that could not use the shared entry (e.g. signed in)' }),
  errors: Type.Integer({ description: 'backend errors, served as misses' })
}
const Latency = Type.Object({ count: Type.Integer(), meanMs: Nullable(Type.Number()), p95Ms: Nullable(Type.Number({ description: 'upper bound of the histogram bucket' })) })
const Rate = Nullable(Type.Number({ minimum: 0, maximum: 1 }))

const PatternStats = Type.Object({
  pattern: Type.String({ description: 'key pattern, e.g. gig, user_gigs, search' }),
  kind: StringEnum(['entity', 'list', 'session', 'other'], { description: 'which hit-rate threshold applies' }),
  ...Counts,
  sets: Type.Integer(),
  refusedSets: Type.Integer({ description: 'stores refused: a racing invalidation or an older version' }),
  hitRate: Rate,
  window: Type.Object({ hits: Type.Integer(), misses: Type.Integer(), hitRate: Rate }, { description: 'the sliding alert window' }),
  latency: Type.Object({
    hit: Latency,
    miss: Latency,
    speedup: Nullable(Type.Number({ description: 'mean miss / mean hit' })),
    savedMs: Nullable(Type.Number({ description: 'mean miss − mean hit' }))
  }),
  memory: Type.Object({
    bytes: Type.Integer(),
    source: StringEnum(['sampled', 'estimate', 'l1-scaled']),
    estimatedBytes: Type.Integer({ description: 'own accounting: bytes written and still within TTL' }),
    sampledBytes: Nullable(Type.Integer({ description: 'Redis MEMORY USAGE of sampled keys × keys' })),
    keys: Nullable(Type.Integer()),
    writtenBytes: Type.Integer()
  })
})

const RouteStats = Type.Object({
  route: Type.String({ description: 'method and URL pattern, e.g. GET /gigs/:id' }),
  ...Counts,
  hitRate: Rate,
  responseTime: Type.Object({
    all: Latency,
    hit: Latency,
    miss: Latency,
    speedup: Nullable(Type.Number({ description: 'mean MISS response / mean HIT response' })),
    window: Type.Object({ count: Type.Integer(), meanMs: Nullable(Type.Number()) }),
    baseline: Type.Object({ count: Type.Integer(), meanMs: Nullable(Type.Number()) })
  })
})

const InvalidationCount = { count: Type.Integer(), tags: Type.Integer() }

const AlertSchema = Type.Object({
  id: Type.String({ description: 'type:subject' }),
  type: StringEnum(['hit_rate', 'latency_regression', 'memory', 'breaker_open']),
  subject: Type.String({ description: 'pattern, route, tier (redis, l1) or breaker' }),
  value: Type.Number(),
  threshold: Type.Number(),
  since: Ms,
  message: Type.String()
})

const Stats = Type.Object({
  at: Ms,
  startedAt: Ms,
  windowMs: Type.Integer(),
  baselineMs: Type.Integer(),
  bucketMs: Type.Integer(),
  store: StringEnum(['off', 'memory', 'redis', 'tiered']),
  thresholds: Type.Object({
    entityHitRate: Type.Number(),
    listHitRate: Type.Number(),
    latencyRegression: Type.Number(),
    memoryRatio: Type.Number(),
    minSamples: Type.Integer(),
    breakerOpen: Type.Boolean()
  }),
  alerts: Type.Array(AlertSchema),
  breaker: Type.String({ description: 'closed, open, half-open, or unknown when no breaker reports' }),
  totals: Type.Object({ ...Counts, sets: Type.Integer(), hitRate: Rate }),
  patterns: Type.Array(PatternStats),
  routes: Type.Array(RouteStats),
  invalidations: Type.Object({
    byFamily: Type.Array(Type.Object({ family: Type.String(), ...InvalidationCount })),
    byEvent: Type.Array(Type.Object({ event: Type.String(), ...InvalidationCount })),
    perMinute: Type.Number({ description: 'invalidation calls per minute over the alert window' })
  }),
  l1: Nullable(Type.Object({ entries: Type.Integer(), bytes: Type.Integer(), maxBytes: Type.Integer() })),
  redis: Nullable(Type.Object({
    usedBytes: Type.Integer(),
    maxBytes: Nullable(Type.Integer({ description: 'maxmemory; null when Redis has no limit' })),
    sampledAt: Ms,
    scanComplete: Nullable(Type.Boolean()),
    scannedAt: Nullable(Ms)
  })),
  timeline: Type.Array(Type.Object({
    t: Ms,
    patterns: Type.Record(Type.String(), Type.Object({ hits: Type.Integer(), misses: Type.Integer() })),
    invalidations: Type.Integer(),
    domainEvents: Type.Integer()
  }))
}, { $id: 'CacheStats' })

const EntryInfo = Type.Object({
  fresh: Type.Boolean({ description: 'within its TTL (a stale entry is only sent inside a stale window)' }),
  ageSeconds: Type.Integer(),
  expiresInSeconds: Type.Integer({ description: 'until it stops being fresh; negative once expired' }),
  sizeBytes: Type.Integer(),
  storedAt: Ms,
  etag: Nullable(Type.String()),
  tiers: Nullable(Type.Object({ l1: Type.Boolean(), l2: Type.Boolean() }))
})

const Explain = Type.Object({
  url: Type.String(),
  method: Type.String(),
  route: Nullable(Type.String({ description: 'the route answering the URL, e.g. GET /gigs/:id' })),
  cacheable: Type.Boolean({ description: 'whether the route caches its responses' }),
  reason: Nullable(Type.String({ description: 'why nothing is or can be cached, when so' })),
  pattern: Nullable(Type.String()),
  key: Nullable(Type.String()),
  tags: Type.Array(Type.String()),
  ttl: Nullable(Type.Object({ class: Type.String(), seconds: Type.Integer() })),
  scope: Nullable(StringEnum(['public', 'user'])),
  cached: Type.Boolean({ description: 'a fresh entry is stored now' }),
  entry: Nullable(EntryInfo),
  error: Nullable(Type.String({ description: 'the store could not be read' }))
})

const ExplainQuery = Type.Object({
  url: Type.String({ minLength: 1, maxLength: 2048, pattern: '^/', description: 'a path with its query, e.g. /gigs/42' }),
  method: Type.Optional(StringEnum(['GET', 'HEAD'], { default: 'GET' })),
  as: Type.Optional({ ...Id, description: 'for scope-user routes: the caller whose entry to look at' })
}, { additionalProperties: false })

type ExplainBody = Static<typeof Explain>
type EntryBody = Static<typeof EntryInfo>

interface RouteCacheConfig { key: string, ttl: string, tags?: string[], scope?: 'public' | 'user', query?: string[] }

const DASHBOARD = readFileSync(new URL('../public/dashboard.html', import.meta.url), 'utf8')

function queryNames (schema: unknown): string[] {
  const props = (schema as { properties?: Record<string, unknown> } | undefined)?.properties
  return props === undefined ? [] : Object.keys(props)
}

/** Coerces and defaults `data` with the target route's schema, as Fastify would for that route. */
function validate (request: FastifyRequest, schema: unknown, data: Record<string, unknown>, part: 'params' | 'querystring'): string | null {
  if (schema === undefined || schema === null) return null
  const check = request.compileValidationSchema(schema as Record<string, unknown>, part)
  if (check(data)) return null
  return (check.errors ?? []).map((e) => `${part}${e.instancePath} ${e.message ?? 'is invalid'}`).join('; ') || `${part} is invalid`
}

function entryInfo (entry: CacheEntry, now: number): EntryBody {
  const nl = entry.meta.indexOf('\n')
  return {
    fresh: now < entry.freshUntil,
    ageSeconds: Math.max(0, Math.floor((now - entry.storedAt) / 1000)),
    expiresInSeconds: Math.floor((entry.freshUntil - now) / 1000),
    sizeBytes: Buffer.byteLength(entry.value),
    storedAt: entry.storedAt,
    etag: nl > 0 ? entry.meta.slice(0, nl) : null,
    tiers: null
  }
}

/** `/cache/stats`, `/cache/explain` (admin) and `/cache/dashboard`. */
const cacheAdminRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/cache/stats', {
    schema: {
      tags: ['cache'],
      summary: 'Cache figures per key pattern and route, invalidations, memory, breaker, and the LLD\'s alerts',
      description: 'Hit rates, latencies and memory per key pattern; counters and response times per route; ' +
        'invalidations per tag family and domain event; alerts evaluated on the sliding window. Labels are patterns and routes, never ids.',
      response: { 200: Stats }
    }
  }, async (_request, reply) => {
    const alerts = app.cacheAlerts.evaluate(app.cacheMetrics.alertInput())
    const snap = app.cacheMetrics.snapshot()
    reply.header('cache-control', 'no-store')
    return { ...snap, store: app.hasDecorator('cacheMode') ? app.cacheMode : app.cacheStore.kind, thresholds: app.cacheAlerts.thresholds, alerts }
  })

  app.get('/cache/explain', {
    onRequest: app.requireAdmin,
    schema: {
      tags: ['cache'],
      summary: 'Which route answers a URL, its cache key, tags, TTL class, and whether a fresh entry is stored now (admin)',
      security: bearer,
      querystring: ExplainQuery,
      response: { 200: Explain, ...errorResponses(400, 401, 403) }
    }
  }, async (request, reply) => {
    reply.header('cache-control', 'no-store')
    const method = request.query.method ?? 'GET'
    const q = request.query.url.indexOf('?')
    const path = q === -1 ? request.query.url : request.query.url.slice(0, q)
    const rawQuery = q === -1 ? '' : request.query.url.slice(q + 1)
    const out: ExplainBody = {
      url: request.query.url,
      method,
      route: null,
      cacheable: false,
      reason: null,
      pattern: null,
      key: null,
      tags: [],
      ttl: null,
      scope: null,
      cached: false,
      entry: null,
      error: null
    }
    const match = app.cacheRouteIndex.match(app, method, path)
    if (match === undefined) return { ...out, reason: 'no route answers this URL: the service replies 404 and caches nothing' }
    out.route = `${method} ${match.route.url}`
    const cfg = match.route.config?.cache as RouteCacheConfig | false | undefined
    if (!cfg) return { ...out, reason: 'the route does not cache its responses (no config.cache); services behind it may still cache entities' }
    out.cacheable = true
    const scope = cfg.scope ?? 'public'
    out.scope = scope
    const ttlSeconds = (TTL_CLASSES as Record<string, number>)[cfg.ttl]
    out.ttl = { class: cfg.ttl, seconds: ttlSeconds ?? 0 }

    const schema = match.route.schema as { params?: unknown, querystring?: unknown } | undefined
    // As the cache plugin does: the key from the request as received (its lookup runs before
    // validation), the tags from the validated, coerced values (what a write invalidates).
    const rawParams: Record<string, unknown> = { ...match.params }
    const rawQueryValues = { ...parseQuery(rawQuery) } as Record<string, unknown>
    const params = structuredClone(rawParams)
    const query = structuredClone(rawQueryValues)
    const invalid = validate(request, schema?.params, params, 'params') ?? validate(request, schema?.querystring, query, 'querystring')
    if (invalid !== null) return { ...out, reason: `the route answers 400 (${invalid}): errors are never cached` }

    const allowedQuery = cfg.query ?? queryNames(schema?.querystring)
    const key = compileKeyTemplate(cfg.key, { allowedQuery })
    out.pattern = key.pattern
    const as = request.query.as
    if (scope === 'user' && as === undefined) {
      return { ...out, reason: 'a scope-user route keeps one entry per caller: pass as=<userId> to see one' }
    }
    const user = as === undefined ? null : { id: as }
    const ctx = { params, query, user }
    const rendered = key.render({ params: rawParams, query: rawQueryValues, user })
    // The cache plugin's scope-user key: the caller's id after '@', which escaping never produces.
    out.key = scope === 'user' ? `${rendered}@${String(as)}` : rendered
    out.tags = [...new Set((cfg.tags ?? [cfg.key]).map((t) => compileKeyTemplate(t, { allowedQuery }).render(ctx)))]

    const store = unwrapStore(app.cacheStore)
    const now = app.cacheMetrics.now()
    try {
      if (store?.kind === 'tiered') {
        const tiered = store as TieredStore
        const [l1, l2] = await Promise.all([tiered.l1.get(out.key), tiered.l2.get(out.key)])
        const entry = l2 ?? l1
        if (entry !== undefined) out.entry = { ...entryInfo(entry, now), tiers: { l1: l1 !== undefined, l2: l2 !== undefined } }
      } else if (store !== undefined) {
        const entry = await store.get(out.key)
        if (entry !== undefined) out.entry = entryInfo(entry, now)
      }
    } catch (err) {
      out.error = (err as Error).message
    }
    out.cached = out.entry?.fresh === true
    if (!out.cached) out.reason = out.entry === null ? 'not stored now: the next request is a miss' : 'stored but expired: the next request is a miss unless a stale window applies'
    return out
  })

  app.get('/cache/dashboard', {
    schema: {
      tags: ['cache'],
      summary: 'Live dashboard: hit rate per pattern over time, hit vs miss latency, memory, invalidations, alerts, breaker',
      produces: ['text/html'],
      response: { 200: { type: 'string', description: 'one self-contained HTML page polling /cache/stats' } }
    }
  }, async (_request, reply) => {
    return reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      // Everything is inline; the page talks only to this origin.
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
      .send(DASHBOARD)
  })
}

export default cacheAdminRoutes

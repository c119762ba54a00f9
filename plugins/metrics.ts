import fp from 'fastify-plugin'
import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import type { FastifyInstance, RouteOptions, onResponseHookHandler } from 'fastify'
import { AlertMonitor, type AlertLogger, type AlertThresholds } from '../src/cache/alerts.ts'
import type { Clock } from '../src/cache/clock.ts'
import { CacheMetrics, LATENCY_BUCKETS_MS, type LatencyStat, type MemorySample, type PatternKind } from '../src/cache/metrics.ts'
import type { MemoryStore } from '../src/cache/memory-store.ts'
import type { RedisStore } from '../src/cache/redis-store.ts'
import { escapeGlob, type Store } from '../src/cache/store.ts'
import type { TieredStore } from '../src/cache/tiered-store.ts'
import { entityTtlClass, KEYS, patternOfKey, TTL_CLASSES, type TtlClass } from '../src/catalog.ts'
import { tagsFor } from '../src/invalidation.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The cache's metrics: feed it `CacheEvent`s (`record`), read `snapshot()`. */
    cacheMetrics: CacheMetrics
    /** The LLD's alert thresholds over the metrics' sliding window. */
    cacheAlerts: AlertMonitor
    /** Every route, so `/cache/explain` can tell which one answers a URL. */
    cacheRouteIndex: RouteIndex
    /** The Prometheus registry behind `GET /metrics`. */
    metricsRegistry: Registry
    /** Samples Redis now (`INFO memory`, then `MEMORY USAGE` by pattern): what the background timers do. */
    sampleCacheMemory: () => Promise<void>
  }
}

export interface MetricsPluginOptions {
  /** The cache store (for L1 size and, on Redis, memory sampling). */
  store?: Store
  thresholds?: Partial<AlertThresholds>
  clock?: Clock
  windowMs?: number
  baselineMs?: number
  bucketMs?: number
  /** Background alert evaluation, so alerts are logged without anyone reading stats. Default 5 s; 0 = off. */
  evaluateEveryMs?: number
  /** Redis `INFO memory` period. Default 30 s; 0 = off. */
  redisInfoEveryMs?: number
  /** `MEMORY USAGE` sampling period (SCAN under the prefix, a few keys per pattern). Default 5 min; 0 = off. */
  memoryScanEveryMs?: number
  /** Keys the sampling SCAN may visit, and keys measured per pattern. Defaults 10,000 and 5. */
  memoryScan?: { maxKeys?: number, perPattern?: number }
  /** URL prefixes whose responses are not timed per route: the service's own observability routes. */
  untimed?: string[]
  /** Alert class of a key pattern; default from the catalog's TTL classes. */
  kindOf?: (pattern: string) => PatternKind
  /** Pattern of a stored key, for the memory sample; default the catalog's. */
  patternOf?: (key: string) => string
  /** Process metrics of prom-client (CPU, heap, event loop, GC). Default true. */
  defaultMetrics?: boolean
}

/** A route as registered: what `/cache/explain` needs to render its key. */
export interface IndexedRoute {
  method: string
  url: string
  config: RouteOptions['config']
  schema: RouteOptions['schema']
}

/**
 * Which registered route answers a concrete URL. Fastify's `findRoute` runs the real router
 * (precedence, constraints) but hides the route; its params rebuild exactly one registered URL.
 */
export class RouteIndex {
  readonly #routes = new Map<string, IndexedRoute[]>()

  add (route: IndexedRoute): void {
    const list = this.#routes.get(route.method)
    if (list === undefined) this.#routes.set(route.method, [route])
    else list.push(route)
  }

  /** The route answering `method path`, with the router's (string) params; undefined for a 404. */
  match (app: FastifyInstance, method: string, path: string): { route: IndexedRoute, params: Record<string, string> } | undefined {
    const found = app.findRoute({ method: method as 'GET', url: path })
    if (found === null) return undefined
    const params = { ...(found.params as Record<string, string>) }
    const target = safeDecode(path)
    const candidates = this.#routes.get(method) ?? []
    const exact = candidates.find((r) => fill(r.url, params) === target)
    if (exact !== undefined) return { route: exact, params }
    // Decoding differences aside, the route whose parameters the router filled is the one.
    const names = Object.keys(params).sort().join('/')
    const same = candidates.find((r) => paramNames(r.url).sort().join('/') === names)
    return same === undefined ? undefined : { route: same, params }
  }
}

function paramNames (url: string): string[] {
  const names = [...url.matchAll(/:([A-Za-z0-9_$]+)/g)].map((m) => m[1] as string)
  if (url.includes('*')) names.push('*')
  return names
}

function fill (url: string, params: Record<string, string>): string {
  return url.replace(/:([A-Za-z0-9_$]+)/g, (_, n: string) => params[n] ?? `:${n}`).replace('*', params['*'] ?? '*')
}

function safeDecode (s: string): string {
  try {
    return decodeURI(s)
  } catch {
    return s
  }
}

const SESSION_CLASSES = new Set<TtlClass>(['viewHistory', 'searchHistory', 'draftAutosave'])
const ENTITY_CLASSES = new Set<TtlClass>(['entity', 'userProfile'])

/** Entity patterns answer to the LLD's 70% threshold, lists, queries and aggregates to 50%; session data to none. */
export function catalogKindOf (pattern: string): PatternKind {
  const entry = (KEYS as Record<string, { ttl: TtlClass } | undefined>)[pattern]
  if (entry === undefined) return 'other'
  if (ENTITY_CLASSES.has(entry.ttl)) return 'entity'
  return SESSION_CLASSES.has(entry.ttl) ? 'session' : 'list'
}

function catalogTtlMs (pattern: string): number {
  const entry = (KEYS as Record<string, { ttl: TtlClass } | undefined>)[pattern]
  return TTL_CLASSES[entry?.ttl ?? entityTtlClass(pattern)] * 1000
}

/** The store under any wrappers (a resilient store keeps the one it guards in `inner`). */
export function unwrapStore (store: Store | undefined): Store | undefined {
  let s = store
  for (let i = 0; i < 5 && s !== undefined; i++) {
    const inner = (s as { inner?: Store }).inner
    if (inner === undefined || typeof inner.get !== 'function') break
    s = inner
  }
  return s
}

interface MaybeGuarded { breakerState?: () => unknown, resilience?: MaybeGuarded, inner?: MaybeGuarded, l2?: MaybeGuarded }

/**
 * The circuit breaker's state wherever the store keeps it: on the store itself, on a guard it
 * carries (`resilience`), or on the Redis tier of a tiered store. Duck-typed on purpose: the
 * breaker is another module's, and its absence only means "unknown".
 */
function breakerOf (store: Store | undefined): string | undefined {
  const s = store as MaybeGuarded | undefined
  for (const c of [s, s?.resilience, s?.inner, s?.l2, s?.l2?.resilience, s?.inner?.l2?.resilience]) {
    if (typeof c?.breakerState !== 'function') continue
    const state = c.breakerState()
    if (typeof state === 'string') return state
  }
  return undefined
}

function l1Of (store: Store | undefined): MemoryStore | undefined {
  if (store?.kind === 'memory') return store as MemoryStore
  if (store?.kind === 'tiered') return (store as TieredStore).l1
  return undefined
}

function redisOf (store: Store | undefined): RedisStore | undefined {
  if (store?.kind === 'redis') return store as RedisStore
  if (store?.kind === 'tiered') return (store as TieredStore).l2
  return undefined
}

/** `used_memory` and `maxmemory` out of `INFO memory`. */
export function parseInfoMemory (info: string): { usedBytes: number, maxBytes: number } | undefined {
  const field = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:(\\d+)\\s*$`, 'm').exec(info)
    return m === null ? undefined : Number(m[1])
  }
  const used = field('used_memory')
  if (used === undefined) return undefined
  return { usedBytes: used, maxBytes: field('maxmemory') ?? 0 }
}

/**
 * Per-pattern memory of a Redis store, measured: SCAN the entry keys under the prefix (tags
 * skipped, at most `maxKeys`), count them by pattern, read `MEMORY USAGE` of the first few of each
 * and extrapolate. Costs one SCAN pass and one pipeline; run rarely and never on a request.
 */
export async function sampleRedisMemory (store: RedisStore, patternOf: (key: string) => string, opts: { maxKeys: number, perPattern: number }): Promise<{ samples: MemorySample[], complete: boolean } | undefined> {
  const client = store.client
  // MEMORY USAGE would get ioredis' keyPrefix added a second time to the names SCAN returns.
  if ((client.options.keyPrefix ?? '') !== '' || client.status !== 'ready') return undefined
  const head = `${store.prefix}:`
  const tagSpace = `${store.prefix}:tag:`
  const counts = new Map<string, { keys: number, sample: string[] }>()
  let cursor = '0'
  let seen = 0
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', escapeGlob(head) + '*', 'COUNT', 500)
    cursor = next
    for (const full of keys) {
      if (full.startsWith(tagSpace)) continue
      seen++
      const pattern = patternOf(full.slice(head.length))
      let c = counts.get(pattern)
      if (c === undefined) counts.set(pattern, (c = { keys: 0, sample: [] }))
      c.keys++
      if (c.sample.length < opts.perPattern) c.sample.push(full)
    }
  } while (cursor !== '0' && seen < opts.maxKeys)
  const pipeline = client.pipeline()
  const order: string[] = []
  for (const [pattern, c] of counts) {
    for (const key of c.sample) { pipeline.memory('USAGE', key); order.push(pattern) }
  }
  const replies = order.length === 0 ? [] : (await pipeline.exec()) ?? []
  const usage = new Map<string, { bytes: number, n: number }>()
  replies.forEach(([err, value], i) => {
    // A key that expired between SCAN and MEMORY USAGE answers null: it no longer counts.
    if (err !== null || typeof value !== 'number') return
    const pattern = order[i] as string
    const u = usage.get(pattern) ?? { bytes: 0, n: 0 }
    u.bytes += value
    u.n++
    usage.set(pattern, u)
  })
  const samples: MemorySample[] = []
  for (const [pattern, c] of counts) {
    const u = usage.get(pattern)
    samples.push({ pattern, keys: c.keys, sampledKeys: u?.n ?? 0, bytes: u === undefined || u.n === 0 ? 0 : Math.round((u.bytes / u.n) * c.keys) })
  }
  return { samples, complete: cursor === '0' }
}

const BUCKET_BOUNDS_S = LATENCY_BUCKETS_MS.map((ms) => ms / 1000)

interface HistogramSeries { labels: Record<string, string>, stat: Readonly<LatencyStat> }

/**
 * A Prometheus histogram exported from the aggregator's own bucket counts when scraped. The
 * aggregator already counts every latency into the same buckets; a prom-client `observe()` per
 * request on top (label hashing, an object per call) cost a cache hit more than the lookup did.
 */
function scrapedHistogram (name: string, help: string, series: () => Iterable<HistogramSeries>): Metric {
  const histogram = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get () {
      const values: Array<{ labels: Record<string, string | number>, value: number, metricName: string }> = []
      for (const { labels, stat } of series()) {
        let cumulative = 0
        BUCKET_BOUNDS_S.forEach((le, i) => {
          cumulative += stat.buckets[i] ?? 0
          values.push({ labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` })
        })
        values.push({ labels: { ...labels, le: '+Inf' }, value: stat.count, metricName: `${name}_bucket` })
        values.push({ labels, value: stat.sumMs / 1000, metricName: `${name}_sum` })
        values.push({ labels, value: stat.count, metricName: `${name}_count` })
      }
      return { name, help, type: 'histogram', aggregator: 'sum', values }
    },
    reset () {}
  }
  // prom-client's registry only calls get() and reset(); its Metric type also lists internals.
  return histogram as unknown as Metric
}

async function metrics (app: FastifyInstance, opts: MetricsPluginOptions): Promise<void> {
  const store = unwrapStore(opts.store)
  const l1 = l1Of(store)
  const redisStore = redisOf(store)
  const registry = new Registry()
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry })

  const cacheMetrics = new CacheMetrics({
    ...(opts.clock === undefined ? {} : { clock: opts.clock }),
    ...(opts.windowMs === undefined ? {} : { windowMs: opts.windowMs }),
    ...(opts.baselineMs === undefined ? {} : { baselineMs: opts.baselineMs }),
    ...(opts.bucketMs === undefined ? {} : { bucketMs: opts.bucketMs }),
    kindOf: opts.kindOf ?? catalogKindOf,
    ttlOf: catalogTtlMs,
    l1: l1 === undefined ? undefined : () => ({ ...l1.size(), maxBytes: l1.maxBytes }),
    // With no Redis, L1 is the whole cache: its measured size corrects the per-pattern estimates.
    scaleToL1: store?.kind === 'memory',
    // Another module owns the breaker (`closed`, `open`, `half-open`): read whichever it exposes;
    // its `{ type: 'breaker' }` events count too.
    breaker: () => {
      const b = (app as unknown as { cacheBreaker?: { state?: unknown } }).cacheBreaker
      return typeof b?.state === 'string' ? b.state : breakerOf(opts.store)
    }
  })
  const log: AlertLogger = {
    warn: (obj, msg) => app.log.warn(obj, msg),
    info: (obj, msg) => app.log.info(obj, msg)
  }
  const alerts = new AlertMonitor({
    ...(opts.thresholds === undefined ? {} : { thresholds: opts.thresholds }),
    ...(opts.clock === undefined ? {} : { clock: opts.clock }),
    log
  })
  const evaluate = (): void => { alerts.evaluate(cacheMetrics.alertInput()) }

  // Counters and histograms are read from the aggregator at scrape time: nothing but the
  // aggregator runs per event.
  registry.registerMetric(scrapedHistogram(
    'cache_lookup_duration_seconds',
    'Time of a cache lookup that hit, or of a miss including its load, by key pattern',
    function * () {
      for (const [pattern, p] of cacheMetrics.patternTotals()) {
        yield { labels: { pattern, result: 'hit' }, stat: p.hitLatency }
        yield { labels: { pattern, result: 'miss' }, stat: p.missLatency }
      }
    }))
  registry.registerMetric(scrapedHistogram(
    'http_request_duration_seconds',
    'Response time by route (method and URL pattern) and x-cache value (HIT, MISS, BYPASS, STALE, NONE)',
    function * () {
      for (const [route, r] of cacheMetrics.routeTotals()) {
        for (const [cache, stat] of r.responses) yield { labels: { route, cache }, stat }
      }
    }))
  registry.registerMetric(new Counter({
    name: 'cache_lookups_total',
    help: 'Cache lookups by key pattern, route (method and URL pattern; "none" outside a request) and result (hit, miss, stale, bypass)',
    labelNames: ['pattern', 'route', 'result'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const c of cacheMetrics.lookupsByPatternAndRoute()) {
        this.inc({ pattern: c.pattern, route: c.route, result: 'hit' }, c.hits)
        this.inc({ pattern: c.pattern, route: c.route, result: 'miss' }, c.misses)
        this.inc({ pattern: c.pattern, route: c.route, result: 'stale' }, c.stale)
        this.inc({ pattern: c.pattern, route: c.route, result: 'bypass' }, c.bypasses)
      }
    }
  }))
  registry.registerMetric(new Counter({
    name: 'cache_errors_total',
    help: 'Cache backend errors by key pattern and operation (served as misses)',
    labelNames: ['pattern', 'op'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [pattern, p] of cacheMetrics.patternTotals()) {
        for (const [op, n] of p.errorsByOp) this.inc({ pattern, op }, n)
      }
    }
  }))
  registry.registerMetric(new Counter({
    name: 'cache_sets_total',
    help: 'Cache stores by key pattern and outcome (stored, refused: a racing invalidation or an older version)',
    labelNames: ['pattern', 'outcome'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [pattern, p] of cacheMetrics.patternTotals()) {
        this.inc({ pattern, outcome: 'stored' }, p.sets)
        this.inc({ pattern, outcome: 'refused' }, p.refusedSets)
      }
    }
  }))
  registry.registerMetric(new Counter({
    name: 'cache_written_bytes_total',
    help: 'Bytes of the entries stored, by key pattern',
    labelNames: ['pattern'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [pattern, p] of cacheMetrics.patternTotals()) this.inc({ pattern }, p.writtenBytes)
    }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_hit_ratio',
    help: 'Hit rate by key pattern, (hits + stale) / (hits + stale + misses), since start (window="total") and over the alert window (window="sliding")',
    labelNames: ['pattern', 'window'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const p of cacheMetrics.snapshot().patterns) {
        if (p.hitRate !== null) this.set({ pattern: p.pattern, window: 'total' }, p.hitRate)
        if (p.window.hitRate !== null) this.set({ pattern: p.pattern, window: 'sliding' }, p.window.hitRate)
      }
    }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_memory_bytes',
    help: 'Memory by key pattern: source="sampled" (Redis MEMORY USAGE of sampled keys, extrapolated), "estimate" (own accounting on write, within TTL) or "l1-scaled" (estimate scaled to the in-process store\'s measured size)',
    labelNames: ['pattern', 'source'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [pattern, m] of cacheMetrics.memoryByPattern()) this.set({ pattern, source: m.source }, m.bytes)
    }
  }))
  registry.registerMetric(new Counter({
    name: 'cache_invalidations_total',
    help: 'Invalidation calls by tag family (the tag\'s text before its first ":")',
    labelNames: ['family'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [family, v] of cacheMetrics.invalidationsByFamily()) this.inc({ family }, v.count)
    }
  }))
  registry.registerMetric(new Counter({
    name: 'cache_invalidated_tags_total',
    help: 'Tags invalidated, by tag family',
    labelNames: ['family'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [family, v] of cacheMetrics.invalidationsByFamily()) this.inc({ family }, v.tags)
    }
  }))
  registry.registerMetric(new Counter({
    name: 'cache_domain_events_total',
    help: 'Domain events seen (each invalidates its cascade), by event',
    labelNames: ['event'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [event, v] of cacheMetrics.invalidationsByEvent()) this.inc({ event }, v.count)
    }
  }))
  registry.registerMetric(new Counter({
    name: 'cache_domain_event_tags_total',
    help: 'Tags the cascade rules invalidate, by domain event',
    labelNames: ['event'] as const,
    registers: [],
    collect () {
      this.reset()
      for (const [event, v] of cacheMetrics.invalidationsByEvent()) this.inc({ event }, v.tags)
    }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_l1_bytes',
    help: 'Bytes held by the in-process cache tier (entries and tag tokens)',
    registers: [],
    collect () { if (l1 !== undefined) this.set(l1.size().bytes) }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_l1_entries',
    help: 'Entries held by the in-process cache tier',
    registers: [],
    collect () { if (l1 !== undefined) this.set(l1.size().entries) }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_l1_max_bytes',
    help: 'Bound of the in-process cache tier',
    registers: [],
    collect () { if (l1 !== undefined) this.set(l1.maxBytes) }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_redis_used_memory_bytes',
    help: 'Redis used_memory (INFO memory), as last sampled',
    registers: [],
    collect () { const r = cacheMetrics.redisMemory(); if (r !== undefined) this.set(r.usedBytes) }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_redis_maxmemory_bytes',
    help: 'Redis maxmemory (INFO memory); absent when Redis has no limit',
    registers: [],
    collect () { const max = cacheMetrics.redisMemory()?.maxBytes; if (typeof max === 'number') this.set(max) }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_breaker_state',
    help: 'Circuit breaker state: 1 for the current one (closed, open, half-open, or unknown when no breaker reports)',
    labelNames: ['state'] as const,
    registers: [],
    collect () {
      this.reset()
      const current = cacheMetrics.breakerState()
      for (const state of new Set(['closed', 'open', 'half-open', current])) this.set({ state }, state === current ? 1 : 0)
    }
  }))
  registry.registerMetric(new Gauge({
    name: 'cache_alert_active',
    help: 'The LLD\'s alerts: 1 while active, by type (hit_rate, latency_regression, memory, breaker_open) and subject (pattern, route or tier)',
    labelNames: ['type', 'subject'] as const,
    registers: [],
    collect () {
      this.reset()
      evaluate()
      for (const a of alerts.active) this.set({ type: a.type, subject: a.subject }, 1)
    }
  }))

  app.decorate('cacheMetrics', cacheMetrics)
  app.decorate('cacheAlerts', alerts)
  app.decorate('metricsRegistry', registry)

  const untimed = opts.untimed ?? ['/metrics', '/cache/', '/docs']
  // Per route, with its label made once: no route lookup, string building or promise per response.
  app.addHook('onRoute', (route) => {
    if (untimed.some((p) => route.url === p || route.url.startsWith(p))) return
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    const labels = new Map(methods.map((m) => [m, `${m} ${route.url}`]))
    const timeResponse: onResponseHookHandler = (request, reply, done) => {
      const cache = reply.getHeader('x-cache')
      const label = labels.get(request.method) ?? `${request.method} ${route.url}`
      cacheMetrics.recordResponse(label, reply.elapsedTime, typeof cache === 'string' ? cache : undefined)
      done()
    }
    const existing = route.onResponse
    route.onResponse = existing === undefined ? [timeResponse] : [...(Array.isArray(existing) ? existing : [existing]), timeResponse]
  })

  const index = new RouteIndex()
  app.decorate('cacheRouteIndex', index)
  app.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      index.add({ method, url: route.url, config: route.config, schema: route.schema })
    }
  })

  if (app.hasDecorator('events')) {
    app.events.onAny((event) => { cacheMetrics.recordDomainEvent(event.name, tagsFor(event).length) })
  }

  const patternOf = opts.patternOf ?? patternOfKey
  const scanOpts = { maxKeys: opts.memoryScan?.maxKeys ?? 10_000, perPattern: opts.memoryScan?.perPattern ?? 5 }
  async function redisInfo (): Promise<void> {
    if (redisStore === undefined || redisStore.client.status !== 'ready') return
    const info = parseInfoMemory(await redisStore.client.info('memory'))
    if (info !== undefined) cacheMetrics.setRedisMemory(info.usedBytes, info.maxBytes)
  }
  async function memoryScan (): Promise<void> {
    if (redisStore === undefined) return
    const sample = await sampleRedisMemory(redisStore, patternOf, scanOpts)
    if (sample !== undefined) cacheMetrics.setSampledMemory(sample.samples, sample.complete)
  }
  async function sampleNow (): Promise<void> {
    await redisInfo()
    await memoryScan()
  }
  app.decorate('sampleCacheMemory', sampleNow)

  const timers: NodeJS.Timeout[] = []
  const every = (ms: number, fn: () => Promise<void> | void): void => {
    if (!(ms > 0)) return
    let running = false
    const t = setInterval(() => {
      // A slow Redis must not pile up samples.
      if (running) return
      running = true
      Promise.resolve().then(fn).catch((err: unknown) => {
        // Redis down is the breaker's and the redis plugin's news; here it only delays a sample.
        app.log.debug({ err }, 'cache metrics sampling failed')
      }).finally(() => { running = false })
    }, ms)
    t.unref()
    timers.push(t)
  }
  app.addHook('onReady', async () => {
    every(opts.evaluateEveryMs ?? 5000, evaluate)
    every(opts.redisInfoEveryMs ?? 30_000, redisInfo)
    every(opts.memoryScanEveryMs ?? 300_000, memoryScan)
    if (redisStore !== undefined) {
      // First figures soon after boot rather than after a whole period; not awaited: boot does not wait on Redis.
      setImmediate(() => { sampleNow().catch((err: unknown) => app.log.debug({ err }, 'cache metrics sampling failed')) }).unref()
    }
  })
  app.addHook('onClose', async () => { for (const t of timers) clearInterval(t) })

  app.get('/metrics', {
    schema: {
      tags: ['cache'],
      summary: 'Prometheus metrics: cache counters by key pattern and route, latency histograms, memory, alerts, process metrics',
      produces: ['text/plain'],
      response: { 200: { type: 'string', description: 'Prometheus text exposition format 0.0.4' } }
    }
  }, async (_request, reply) => {
    const body = await registry.metrics()
    return reply.header('content-type', registry.contentType).header('cache-control', 'no-store').send(body)
  })
}

export default fp(metrics, { name: 'metrics', fastify: '5.x' })

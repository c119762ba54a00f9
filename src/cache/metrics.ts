import { systemClock, type Clock } from './clock.ts'
import { CacheError } from './errors.ts'

/**
 * What the aggregator consumes: a `CacheEvent` of the manager, a route-level event of the cache
 * plugin (which adds `route`), or an event other modules may add later (`stale`, `bypass`,
 * `breaker`). Structural on purpose, so new event fields upstream never break it. `key` and `tags`
 * carry ids: they are counted, never used as labels.
 */
export interface MetricsEvent {
  type: string
  pattern?: string
  route?: string
  durationMs?: number
  bytes?: number
  stored?: boolean
  op?: string
  tags?: readonly string[]
  key?: string
  /** For `breaker`: the state entered. */
  state?: string
}

/** How a lookup ended. `bypass`: the request could not use the shared entry (e.g. signed in). */
export type LookupResult = 'hit' | 'miss' | 'stale' | 'bypass'

/** Which alert threshold a pattern answers to: the LLD's entity and list caches; others have none. */
export type PatternKind = 'entity' | 'list' | 'session' | 'other'

export interface LookupCounts {
  hits: number
  misses: number
  stale: number
  bypasses: number
  errors: number
}

/** Fixed-bucket latency histogram in milliseconds (`buckets[i]` counts values ≤ `LATENCY_BUCKETS_MS[i]`, last is +Inf). */
export interface LatencyStat {
  count: number
  sumMs: number
  buckets: number[]
}

export const LATENCY_BUCKETS_MS: readonly number[] = [0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500]

export interface PatternTotals extends LookupCounts {
  /** Stores accepted, and stores refused (a racing invalidation, an older version). */
  sets: number
  refusedSets: number
  /** Bytes of every accepted store, summed (own accounting on write). */
  writtenBytes: number
  errorsByOp: Map<string, number>
  hitLatency: LatencyStat
  missLatency: LatencyStat
}

export interface RouteTotals extends LookupCounts {
  /** Response times by `x-cache` value (`HIT`, `MISS`, `BYPASS`, `STALE`, `NONE`). */
  responses: Map<string, LatencyStat>
}

export interface InvalidationTotals {
  /** Invalidation calls that touched this tag family (or domain events of this name). */
  count: number
  /** Tags invalidated. */
  tags: number
}

export interface MemorySample {
  pattern: string
  /** Keys of the pattern seen by the scan. */
  keys: number
  /** Keys whose `MEMORY USAGE` was read. */
  sampledKeys: number
  /** keys × mean sampled usage. */
  bytes: number
}

export interface LatencySummary { count: number, meanMs: number | null, p95Ms: number | null }

export interface PatternSnapshot extends LookupCounts {
  pattern: string
  kind: PatternKind
  sets: number
  refusedSets: number
  /** (hits + stale) / (hits + stale + misses) since start; null before any lookup. */
  hitRate: number | null
  window: { hits: number, misses: number, hitRate: number | null }
  latency: {
    hit: LatencySummary
    miss: LatencySummary
    /** Mean miss time / mean hit time: how many times faster a hit is; null until both are seen. */
    speedup: number | null
    /** Mean miss time − mean hit time, in ms. */
    savedMs: number | null
  }
  memory: {
    /** What the dashboard shows: the sampled figure when there is one, else the (scaled) estimate. */
    bytes: number
    source: 'sampled' | 'estimate' | 'l1-scaled'
    /** Own accounting: bytes written and not yet past their TTL. */
    estimatedBytes: number
    sampledBytes: number | null
    keys: number | null
    writtenBytes: number
  }
}

export interface RouteSnapshot extends LookupCounts {
  route: string
  hitRate: number | null
  responseTime: {
    all: LatencySummary
    hit: LatencySummary
    miss: LatencySummary
    /** Mean MISS response / mean HIT response; null until both are seen. */
    speedup: number | null
    window: { count: number, meanMs: number | null }
    baseline: { count: number, meanMs: number | null }
  }
}

export interface TimelinePoint {
  /** Start of the bucket (ms epoch). */
  t: number
  patterns: Record<string, { hits: number, misses: number }>
  invalidations: number
  domainEvents: number
}

export interface MetricsSnapshot {
  at: number
  startedAt: number
  windowMs: number
  baselineMs: number
  bucketMs: number
  totals: LookupCounts & { sets: number, hitRate: number | null }
  patterns: PatternSnapshot[]
  routes: RouteSnapshot[]
  invalidations: {
    byFamily: Array<{ family: string } & InvalidationTotals>
    byEvent: Array<{ event: string } & InvalidationTotals>
    /** Invalidation calls in the current window, per minute. */
    perMinute: number
  }
  l1: { entries: number, bytes: number, maxBytes: number } | null
  redis: { usedBytes: number, maxBytes: number | null, sampledAt: number, scanComplete: boolean | null, scannedAt: number | null } | null
  breaker: string
  timeline: TimelinePoint[]
}

/** What the alert thresholds are evaluated on (see alerts.ts). */
export interface AlertInput {
  hitRates: Array<{ pattern: string, kind: PatternKind, hits: number, misses: number }>
  responseTimes: Array<{ route: string, current: { count: number, meanMs: number }, baseline: { count: number, meanMs: number } }>
  memory: Array<{ tier: 'l1' | 'redis', usedBytes: number, allocatedBytes: number | null }>
  breaker: string
}

/** A latency observation, for exporters with histograms of their own (Prometheus). */
export type Observation =
  | { kind: 'lookup', pattern: string, result: 'hit' | 'miss', ms: number }
  | { kind: 'response', route: string, cache: string, ms: number }

export interface CacheMetricsOptions {
  clock?: Clock
  /** Which alert threshold a pattern answers to. Default: `other` (none). */
  kindOf?: (pattern: string) => PatternKind
  /** TTL of a pattern's entries in ms, for the own-accounting memory estimate. Default 1 h. */
  ttlOf?: (pattern: string) => number
  /** The in-process tier: size and bound. */
  l1?: () => { entries: number, bytes: number, maxBytes: number } | undefined
  /** With no Redis, L1 is the whole cache: per-pattern estimates are scaled to its measured size. */
  scaleToL1?: boolean
  /** Breaker state from its owner, read on each snapshot; events of type `breaker` also count. */
  breaker?: () => string | undefined
  /** Sliding window of alert evaluation (default 60 s) and the baseline window before it (default 5 min). */
  windowMs?: number
  baselineMs?: number
  /** Granularity of the sliding windows and the timeline (default 5 s). */
  bucketMs?: number
  /** How far back the timeline goes (default 5 min). */
  timelineMs?: number
  /** Distinct patterns, routes, families or events kept; more are counted under `other`. Default 200. */
  maxLabels?: number
  onObserve?: (o: Observation) => void
  /** The route being served when an event without `route` is recorded (an embedder's own context). */
  currentRoute?: () => string | undefined
}

interface WindowCounts extends LookupCounts { hitMs: number, hitN: number, missMs: number, missN: number }
interface WindowBucket {
  idx: number
  patterns: Map<string, WindowCounts>
  routes: Map<string, { count: number, sumMs: number }>
  invalidations: number
  domainEvents: number
}
interface PatternState extends PatternTotals {
  /** Own accounting: bytes by the minute their TTL ends. */
  expiring: Map<number, number>
}

const ID_SEGMENT = /^(?:\d+|[0-9a-f]{16,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i
const MINUTE = 60_000
const OTHER = 'other'
/** Route label of lookups made outside any request (background work, tests driving the manager). */
export const NO_ROUTE = 'none'

/**
 * A metrics label with anything id-like replaced: digit-only, long hex and UUID segments (between
 * `:`, `/`, `@` or `,`) become `{id}`, and the label is capped at 100 characters. Patterns and
 * route URLs pass unchanged; a raw key that slipped through cannot leak an id into a label.
 */
export function safeLabel (value: string | undefined): string {
  if (value === undefined || value === '') return 'unknown'
  const cleaned = value.split(/([:/@,])/).map((part) => ID_SEGMENT.test(part) ? '{id}' : part).join('')
  return cleaned.length > 100 ? cleaned.slice(0, 100) : cleaned
}

const zeroCounts = (): LookupCounts => ({ hits: 0, misses: 0, stale: 0, bypasses: 0, errors: 0 })
const zeroLatency = (): LatencyStat => ({ count: 0, sumMs: 0, buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) })

function observe (stat: LatencyStat, ms: number): void {
  stat.count++
  stat.sumMs += ms
  let i = 0
  while (i < LATENCY_BUCKETS_MS.length && ms > (LATENCY_BUCKETS_MS[i] as number)) i++
  stat.buckets[i] = (stat.buckets[i] as number) + 1
}

function summarise (stat: LatencyStat | undefined): LatencySummary {
  if (stat === undefined || stat.count === 0) return { count: 0, meanMs: null, p95Ms: null }
  const rank = Math.ceil(stat.count * 0.95)
  let seen = 0
  let p95: number | null = null
  for (let i = 0; i < stat.buckets.length; i++) {
    seen += stat.buckets[i] as number
    if (seen >= rank) {
      // The bucket's upper bound: an upper estimate, honest about the histogram's resolution.
      p95 = LATENCY_BUCKETS_MS[i] ?? null
      break
    }
  }
  return { count: stat.count, meanMs: round(stat.sumMs / stat.count), p95Ms: p95 }
}

function round (n: number, digits = 3): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

function rate (hits: number, misses: number): number | null {
  return hits + misses === 0 ? null : round(hits / (hits + misses), 4)
}

function ratio (a: number | null, b: number | null): number | null {
  return a === null || b === null || b <= 0 ? null : round(a / b, 2)
}

/** Classifies an event into a lookup result, or undefined when it is not a lookup. */
function lookupResult (e: MetricsEvent): LookupResult | undefined {
  switch (e.type) {
    case 'hit': return 'hit'
    case 'stale': return 'stale'
    case 'bypass': return 'bypass'
    // The cache plugin reports a bypass as a miss that looked nothing up and will store nothing.
    case 'miss': return e.op === 'get' && e.stored === false ? 'bypass' : 'miss'
    default: return undefined
  }
}

function bump (c: LookupCounts, result: LookupResult): void {
  if (result === 'hit') c.hits++
  else if (result === 'miss') c.misses++
  else if (result === 'stale') c.stale++
  else c.bypasses++
}

function positive (name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new CacheError('CACHE_ERR_BAD_OPTION', `CacheMetrics: ${name} must be a positive number, got ${String(value)}`)
  return value
}

/**
 * Framework-free aggregator of cache events: counters per key pattern and per route, latency
 * histograms for hits and misses, bytes stored per pattern, invalidations per tag family and per
 * domain event, and a sliding window (driven by an injected clock) for alert evaluation. Labels
 * are patterns, routes, families and event names, never keys or ids; each dimension is capped.
 */
export class CacheMetrics {
  readonly #clock: Clock
  readonly #kindOf: (pattern: string) => PatternKind
  readonly #ttlOf: (pattern: string) => number
  readonly #l1: CacheMetricsOptions['l1']
  readonly #scaleToL1: boolean
  readonly #breakerOf: CacheMetricsOptions['breaker']
  readonly #maxLabels: number
  readonly #onObserve: CacheMetricsOptions['onObserve']
  readonly #currentRoute: CacheMetricsOptions['currentRoute']
  readonly windowMs: number
  readonly baselineMs: number
  readonly bucketMs: number
  readonly timelineMs: number
  readonly startedAt: number

  readonly #patterns = new Map<string, PatternState>()
  readonly #routes = new Map<string, RouteTotals>()
  /** Lookups by pattern, then route. */
  readonly #pairs = new Map<string, Map<string, LookupCounts>>()
  readonly #families = new Map<string, InvalidationTotals>()
  readonly #events = new Map<string, InvalidationTotals>()
  readonly #buckets = new Map<number, WindowBucket>()
  readonly #labels = new Map<string, string>()
  #newestBucket = -Infinity
  #breakerEvent: string | undefined
  #sampled: { at: number, complete: boolean, byPattern: Map<string, MemorySample> } | undefined
  #redis: { usedBytes: number, maxBytes: number | null, at: number } | undefined

  constructor (opts: CacheMetricsOptions = {}) {
    this.#clock = opts.clock ?? systemClock
    this.#kindOf = opts.kindOf ?? (() => 'other')
    this.#ttlOf = opts.ttlOf ?? (() => 3_600_000)
    this.#l1 = opts.l1
    this.#scaleToL1 = opts.scaleToL1 ?? false
    this.#breakerOf = opts.breaker
    this.#maxLabels = opts.maxLabels ?? 200
    this.#onObserve = opts.onObserve
    this.#currentRoute = opts.currentRoute
    this.windowMs = positive('windowMs', opts.windowMs ?? 60_000)
    this.baselineMs = positive('baselineMs', opts.baselineMs ?? 300_000)
    this.bucketMs = positive('bucketMs', opts.bucketMs ?? 5_000)
    this.timelineMs = positive('timelineMs', opts.timelineMs ?? 300_000)
    if (this.windowMs < this.bucketMs) throw new CacheError('CACHE_ERR_BAD_OPTION', 'CacheMetrics: windowMs must be at least bucketMs')
    this.startedAt = this.#clock.now()
  }

  /** The injected clock's time: what the windows and the timeline are measured against. */
  now (): number {
    return this.#clock.now()
  }

  // Recording ------------------------------------------------------------------------------------

  /** Counts one cache event. Never throws: a metrics bug must not break caching. */
  record (e: MetricsEvent): void {
    try {
      this.#record(e, e.route ?? this.#currentRoute?.())
    } catch {
      // Deliberately silent: the request path must not fail because of metrics.
    }
  }

  #record (e: MetricsEvent, rawRoute: string | undefined): void {
    if (e.type === 'breaker') {
      if (typeof e.state === 'string') this.#breakerEvent = normaliseState(e.state)
      return
    }
    const pattern = this.#label(this.#patterns, e.pattern)
    const now = this.#clock.now()
    if (e.type === 'invalidate') {
      this.#countInvalidation(this.#families, pattern, e.tags?.length ?? 0)
      this.#bucket(now).invalidations++
      return
    }
    const p = this.#pattern(pattern)
    const route = rawRoute === undefined ? undefined : this.#label(this.#routes, rawRoute)
    const result = lookupResult(e)
    if (result !== undefined) {
      bump(p, result)
      const w = this.#windowCounts(now, pattern)
      bump(w, result)
      if (route !== undefined) bump(this.#route(route), result)
      bump(this.#pair(pattern, route ?? NO_ROUTE), result)
      if (e.durationMs !== undefined && Number.isFinite(e.durationMs) && (result === 'hit' || result === 'miss')) {
        const ms = Math.max(0, e.durationMs)
        if (result === 'hit') { observe(p.hitLatency, ms); w.hitMs += ms; w.hitN++ } else { observe(p.missLatency, ms); w.missMs += ms; w.missN++ }
        this.#onObserve?.({ kind: 'lookup', pattern, result, ms })
      }
      return
    }
    if (e.type === 'set') {
      if (e.stored === false) { p.refusedSets++; return }
      p.sets++
      const bytes = e.bytes !== undefined && Number.isFinite(e.bytes) ? Math.max(0, e.bytes) : 0
      p.writtenBytes += bytes
      const until = Math.ceil((now + this.#ttlOf(pattern)) / MINUTE)
      p.expiring.set(until, (p.expiring.get(until) ?? 0) + bytes)
      return
    }
    if (e.type === 'error') {
      p.errors++
      const op = safeLabel(e.op ?? 'unknown')
      p.errorsByOp.set(op, (p.errorsByOp.get(op) ?? 0) + 1)
      this.#windowCounts(now, pattern).errors++
      if (route !== undefined) this.#route(route).errors++
      this.#pair(pattern, route ?? NO_ROUTE).errors++
    }
  }

  /** One HTTP response: its route (method + URL pattern), time and `x-cache` value. */
  recordResponse (rawRoute: string, ms: number, cache: string | undefined): void {
    if (!Number.isFinite(ms)) return
    const route = this.#label(this.#routes, rawRoute)
    const label = normaliseCacheHeader(cache)
    const r = this.#route(route)
    let stat = r.responses.get(label)
    if (stat === undefined) r.responses.set(label, (stat = zeroLatency()))
    const t = Math.max(0, ms)
    observe(stat, t)
    const b = this.#bucket(this.#clock.now())
    const w = b.routes.get(route)
    if (w === undefined) b.routes.set(route, { count: 1, sumMs: t })
    else { w.count++; w.sumMs += t }
    this.#onObserve?.({ kind: 'response', route, cache: label, ms: t })
  }

  /** One domain event and the number of tags its cascade invalidates. */
  recordDomainEvent (name: string, tags: number): void {
    this.#countInvalidation(this.#events, this.#label(this.#events, name), tags)
    this.#bucket(this.#clock.now()).domainEvents++
  }

  /** Redis `INFO memory`: used_memory and maxmemory (0 = no limit). */
  setRedisMemory (usedBytes: number, maxBytes: number): void {
    this.#redis = { usedBytes, maxBytes: maxBytes > 0 ? maxBytes : null, at: this.#clock.now() }
  }

  /** Per-pattern memory measured on Redis (`MEMORY USAGE` of sampled keys); replaces the previous sample. */
  setSampledMemory (samples: MemorySample[], complete: boolean): void {
    const byPattern = new Map<string, MemorySample>()
    for (const s of samples) {
      const pattern = this.#label(this.#patterns, s.pattern)
      this.#pattern(pattern)
      const prev = byPattern.get(pattern)
      byPattern.set(pattern, prev === undefined
        ? { ...s, pattern }
        : { pattern, keys: prev.keys + s.keys, sampledKeys: prev.sampledKeys + s.sampledKeys, bytes: prev.bytes + s.bytes })
    }
    this.#sampled = { at: this.#clock.now(), complete, byPattern }
  }

  // Reading --------------------------------------------------------------------------------------

  /** Cumulative figures per pattern (for exporters). */
  patternTotals (): ReadonlyMap<string, Readonly<PatternTotals>> {
    return this.#patterns
  }

  routeTotals (): ReadonlyMap<string, Readonly<RouteTotals>> {
    return this.#routes
  }

  /** Redis memory as last sampled by `setRedisMemory`. */
  redisMemory (): { usedBytes: number, maxBytes: number | null } | undefined {
    return this.#redis === undefined ? undefined : { usedBytes: this.#redis.usedBytes, maxBytes: this.#redis.maxBytes }
  }

  /** Lookups per (pattern, route); route `none` for events outside any request. */
  lookupsByPatternAndRoute (): Array<{ pattern: string, route: string } & Readonly<LookupCounts>> {
    return [...this.#pairs].flatMap(([pattern, routes]) => [...routes].map(([route, c]) => ({ pattern, route, ...c })))
  }

  invalidationsByFamily (): ReadonlyMap<string, Readonly<InvalidationTotals>> {
    return this.#families
  }

  invalidationsByEvent (): ReadonlyMap<string, Readonly<InvalidationTotals>> {
    return this.#events
  }

  /** Breaker state: from its owner when it exposes one, else the last `breaker` event, else `unknown`. */
  breakerState (): string {
    let owned: string | undefined
    try {
      owned = this.#breakerOf?.()
    } catch {
      owned = undefined
    }
    return typeof owned === 'string' ? normaliseState(owned) : this.#breakerEvent ?? 'unknown'
  }

  /** Memory per pattern: `MEMORY USAGE` sample when present, else own accounting (scaled to L1 when it is the whole cache). */
  memoryByPattern (): Map<string, PatternSnapshot['memory']> {
    const now = this.#clock.now()
    const estimates = new Map<string, number>()
    let total = 0
    for (const [pattern, p] of this.#patterns) {
      const live = liveBytes(p.expiring, now)
      estimates.set(pattern, live)
      total += live
    }
    const l1 = this.#scaleToL1 ? this.#l1Size() : undefined
    const scale = l1 !== undefined && total > 0 ? l1.bytes / total : undefined
    const out = new Map<string, PatternSnapshot['memory']>()
    for (const [pattern, p] of this.#patterns) {
      const estimatedBytes = estimates.get(pattern) ?? 0
      const sample = this.#sampled?.byPattern.get(pattern)
      const sampledBytes = sample === undefined ? (this.#sampled === undefined ? null : 0) : Math.round(sample.bytes)
      const keys = sample === undefined ? (this.#sampled === undefined ? null : 0) : sample.keys
      let bytes = estimatedBytes
      let source: PatternSnapshot['memory']['source'] = 'estimate'
      if (sampledBytes !== null) { bytes = sampledBytes; source = 'sampled' } else if (scale !== undefined) { bytes = Math.round(estimatedBytes * scale); source = 'l1-scaled' }
      out.set(pattern, { bytes, source, estimatedBytes, sampledBytes, keys, writtenBytes: p.writtenBytes })
    }
    return out
  }

  /** Figures of the current window (and the baseline before it) that the alert thresholds read. */
  alertInput (): AlertInput {
    const now = this.#clock.now()
    const current = this.#sum(now - this.windowMs, now)
    const baseline = this.#sum(now - this.windowMs - this.baselineMs, now - this.windowMs)
    const hitRates = [...current.patterns].map(([pattern, c]) => ({
      pattern, kind: this.#kindOf(pattern), hits: c.hits + c.stale, misses: c.misses
    }))
    const responseTimes: AlertInput['responseTimes'] = []
    for (const [route, c] of current.routes) {
      const b = baseline.routes.get(route)
      if (b === undefined) continue
      responseTimes.push({
        route,
        current: { count: c.count, meanMs: c.sumMs / c.count },
        baseline: { count: b.count, meanMs: b.sumMs / b.count }
      })
    }
    const memory: AlertInput['memory'] = []
    const l1 = this.#l1Size()
    if (l1 !== undefined) memory.push({ tier: 'l1', usedBytes: l1.bytes, allocatedBytes: l1.maxBytes })
    if (this.#redis !== undefined) memory.push({ tier: 'redis', usedBytes: this.#redis.usedBytes, allocatedBytes: this.#redis.maxBytes })
    return { hitRates, responseTimes, memory, breaker: this.breakerState() }
  }

  /** Everything, JSON-ready: what `GET /cache/stats` serves (plus alerts and store details). */
  snapshot (): MetricsSnapshot {
    const now = this.#clock.now()
    const current = this.#sum(now - this.windowMs, now)
    const baseline = this.#sum(now - this.windowMs - this.baselineMs, now - this.windowMs)
    const memory = this.memoryByPattern()
    const totals = { ...zeroCounts(), sets: 0, hitRate: null as number | null }
    const patterns: PatternSnapshot[] = []
    for (const [pattern, p] of [...this.#patterns].sort((a, b) => a[0].localeCompare(b[0]))) {
      totals.hits += p.hits; totals.misses += p.misses; totals.stale += p.stale
      totals.bypasses += p.bypasses; totals.errors += p.errors; totals.sets += p.sets
      const w = current.patterns.get(pattern)
      const hit = summarise(p.hitLatency)
      const miss = summarise(p.missLatency)
      patterns.push({
        pattern,
        kind: this.#kindOf(pattern),
        hits: p.hits,
        misses: p.misses,
        stale: p.stale,
        bypasses: p.bypasses,
        errors: p.errors,
        sets: p.sets,
        refusedSets: p.refusedSets,
        hitRate: rate(p.hits + p.stale, p.misses),
        window: { hits: (w?.hits ?? 0) + (w?.stale ?? 0), misses: w?.misses ?? 0, hitRate: w === undefined ? null : rate(w.hits + w.stale, w.misses) },
        latency: {
          hit,
          miss,
          speedup: ratio(miss.meanMs, hit.meanMs),
          savedMs: hit.meanMs === null || miss.meanMs === null ? null : round(miss.meanMs - hit.meanMs)
        },
        memory: memory.get(pattern) ?? { bytes: 0, source: 'estimate', estimatedBytes: 0, sampledBytes: null, keys: null, writtenBytes: 0 }
      })
    }
    totals.hitRate = rate(totals.hits + totals.stale, totals.misses)

    const routes: RouteSnapshot[] = []
    for (const [route, r] of [...this.#routes].sort((a, b) => a[0].localeCompare(b[0]))) {
      const all = zeroLatency()
      for (const s of r.responses.values()) {
        all.count += s.count
        all.sumMs += s.sumMs
        s.buckets.forEach((n, i) => { all.buckets[i] = (all.buckets[i] as number) + n })
      }
      const hit = summarise(r.responses.get('HIT'))
      const miss = summarise(r.responses.get('MISS'))
      const cw = current.routes.get(route)
      const bw = baseline.routes.get(route)
      routes.push({
        route,
        hits: r.hits,
        misses: r.misses,
        stale: r.stale,
        bypasses: r.bypasses,
        errors: r.errors,
        hitRate: rate(r.hits + r.stale, r.misses),
        responseTime: {
          all: summarise(all),
          hit,
          miss,
          speedup: ratio(miss.meanMs, hit.meanMs),
          window: { count: cw?.count ?? 0, meanMs: cw === undefined ? null : round(cw.sumMs / cw.count) },
          baseline: { count: bw?.count ?? 0, meanMs: bw === undefined ? null : round(bw.sumMs / bw.count) }
        }
      })
    }

    const sorted = (m: Map<string, InvalidationTotals>): Array<[string, InvalidationTotals]> =>
      [...m].sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]))
    const l1 = this.#l1Size()
    return {
      at: now,
      startedAt: this.startedAt,
      windowMs: this.windowMs,
      baselineMs: this.baselineMs,
      bucketMs: this.bucketMs,
      totals,
      patterns,
      routes,
      invalidations: {
        byFamily: sorted(this.#families).map(([family, v]) => ({ family, ...v })),
        byEvent: sorted(this.#events).map(([event, v]) => ({ event, ...v })),
        perMinute: round(current.invalidations / (this.windowMs / MINUTE), 2)
      },
      l1: l1 ?? null,
      redis: this.#redis === undefined
        ? null
        : { usedBytes: this.#redis.usedBytes, maxBytes: this.#redis.maxBytes, sampledAt: this.#redis.at, scanComplete: this.#sampled?.complete ?? null, scannedAt: this.#sampled?.at ?? null },
      breaker: this.breakerState(),
      timeline: this.#timeline(now)
    }
  }

  // Internals ------------------------------------------------------------------------------------

  #l1Size (): { entries: number, bytes: number, maxBytes: number } | undefined {
    try {
      return this.#l1?.()
    } catch {
      return undefined
    }
  }

  /** The label for a dimension, sanitised; past the cap, new values count as `other`. */
  #label (dimension: Map<string, unknown>, raw: string | undefined): string {
    // Sanitising is a split and a regex per segment: remember the answers for the hot path.
    let label = raw === undefined ? undefined : this.#labels.get(raw)
    if (label === undefined) {
      label = safeLabel(raw)
      if (raw !== undefined && this.#labels.size < 10_000) this.#labels.set(raw, label)
    }
    if (dimension.has(label) || dimension.size < this.#maxLabels) return label
    return OTHER
  }

  #pattern (pattern: string): PatternState {
    let p = this.#patterns.get(pattern)
    if (p === undefined) {
      p = { ...zeroCounts(), sets: 0, refusedSets: 0, writtenBytes: 0, errorsByOp: new Map(), hitLatency: zeroLatency(), missLatency: zeroLatency(), expiring: new Map() }
      this.#patterns.set(pattern, p)
    }
    return p
  }

  #route (route: string): RouteTotals {
    let r = this.#routes.get(route)
    if (r === undefined) this.#routes.set(route, (r = { ...zeroCounts(), responses: new Map() }))
    return r
  }

  #pair (pattern: string, route: string): LookupCounts {
    let routes = this.#pairs.get(pattern)
    if (routes === undefined) this.#pairs.set(pattern, (routes = new Map()))
    let c = routes.get(route)
    if (c === undefined) routes.set(route, (c = zeroCounts()))
    return c
  }

  #countInvalidation (m: Map<string, InvalidationTotals>, label: string, tags: number): void {
    const v = m.get(label)
    if (v === undefined) m.set(label, { count: 1, tags })
    else { v.count++; v.tags += tags }
  }

  #bucket (now: number): WindowBucket {
    const idx = Math.floor(now / this.bucketMs)
    let b = this.#buckets.get(idx)
    if (b === undefined) {
      b = { idx, patterns: new Map(), routes: new Map(), invalidations: 0, domainEvents: 0 }
      this.#buckets.set(idx, b)
      if (idx > this.#newestBucket) {
        this.#newestBucket = idx
        const keep = Math.ceil(Math.max(this.windowMs + this.baselineMs, this.timelineMs) / this.bucketMs) + 1
        for (const old of this.#buckets.keys()) if (old <= idx - keep) this.#buckets.delete(old)
      }
    }
    return b
  }

  #windowCounts (now: number, pattern: string): WindowCounts {
    const b = this.#bucket(now)
    let w = b.patterns.get(pattern)
    if (w === undefined) b.patterns.set(pattern, (w = { ...zeroCounts(), hitMs: 0, hitN: 0, missMs: 0, missN: 0 }))
    return w
  }

  /** Sums the buckets whose start lies in (from, to]: whole buckets, so a window is at most one bucket short. */
  #sum (from: number, to: number): { patterns: Map<string, WindowCounts>, routes: Map<string, { count: number, sumMs: number }>, invalidations: number } {
    const lo = Math.floor(from / this.bucketMs)
    const hi = Math.floor(to / this.bucketMs)
    const patterns = new Map<string, WindowCounts>()
    const routes = new Map<string, { count: number, sumMs: number }>()
    let invalidations = 0
    for (const b of this.#buckets.values()) {
      if (b.idx <= lo || b.idx > hi) continue
      invalidations += b.invalidations
      for (const [pattern, c] of b.patterns) {
        const s = patterns.get(pattern)
        if (s === undefined) { patterns.set(pattern, { ...c }); continue }
        s.hits += c.hits; s.misses += c.misses; s.stale += c.stale; s.bypasses += c.bypasses; s.errors += c.errors
        s.hitMs += c.hitMs; s.hitN += c.hitN; s.missMs += c.missMs; s.missN += c.missN
      }
      for (const [route, c] of b.routes) {
        const s = routes.get(route)
        if (s === undefined) routes.set(route, { ...c })
        else { s.count += c.count; s.sumMs += c.sumMs }
      }
    }
    return { patterns, routes, invalidations }
  }

  #timeline (now: number): TimelinePoint[] {
    const hi = Math.floor(now / this.bucketMs)
    const lo = hi - Math.ceil(this.timelineMs / this.bucketMs) + 1
    const out: TimelinePoint[] = []
    for (let idx = Math.max(lo, Math.floor(this.startedAt / this.bucketMs)); idx <= hi; idx++) {
      const b = this.#buckets.get(idx)
      const patterns: TimelinePoint['patterns'] = {}
      for (const [pattern, c] of b?.patterns ?? []) patterns[pattern] = { hits: c.hits + c.stale, misses: c.misses }
      out.push({ t: idx * this.bucketMs, patterns, invalidations: b?.invalidations ?? 0, domainEvents: b?.domainEvents ?? 0 })
    }
    return out
  }
}

function liveBytes (expiring: Map<number, number>, now: number): number {
  const current = Math.floor(now / MINUTE)
  let sum = 0
  for (const [minute, bytes] of expiring) {
    if (minute <= current) expiring.delete(minute)
    else sum += bytes
  }
  return sum
}

function normaliseState (state: string): string {
  return safeLabel(state.toLowerCase().replace(/_/g, '-'))
}

function normaliseCacheHeader (value: string | undefined): string {
  const v = value?.toUpperCase()
  return v === 'HIT' || v === 'MISS' || v === 'STALE' || v === 'BYPASS' ? v : 'NONE'
}

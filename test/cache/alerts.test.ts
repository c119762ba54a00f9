import t from 'tap'
import { AlertMonitor, DEFAULT_THRESHOLDS, resolveThresholds, type AlertLogger, type AlertThresholds } from '../../src/cache/alerts.ts'
import { ManualClock } from '../../src/cache/clock.ts'
import { CacheMetrics, type PatternKind } from '../../src/cache/metrics.ts'

const KINDS: Record<string, PatternKind> = { gig: 'entity', user: 'entity', user_gigs: 'list', search: 'list', 'session:gig_views': 'session' }
const WINDOW = 60_000

interface Logged { level: 'warn' | 'info', obj: Record<string, unknown>, msg: string }

/** Metrics and alerts on one manual clock, with a logger that keeps what it is told. */
function setup (opts: { thresholds?: Partial<AlertThresholds>, l1?: { bytes: number, maxBytes: number } } = {}) {
  const clock = new ManualClock()
  const l1 = opts.l1
  const metrics = new CacheMetrics({
    clock,
    windowMs: WINDOW,
    baselineMs: 5 * WINDOW,
    bucketMs: 5000,
    kindOf: (p) => KINDS[p] ?? 'other',
    ...(l1 === undefined ? {} : { l1: () => ({ entries: 1, ...l1 }) })
  })
  const logged: Logged[] = []
  const log: AlertLogger = {
    warn: (obj, msg) => { logged.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }) },
    info: (obj, msg) => { logged.push({ level: 'info', obj: obj as Record<string, unknown>, msg }) }
  }
  const alerts = new AlertMonitor({ clock, log, ...(opts.thresholds === undefined ? {} : { thresholds: opts.thresholds }) })
  const lookups = (pattern: string, hits: number, misses: number): void => {
    for (let i = 0; i < hits; i++) metrics.record({ type: 'hit', pattern, durationMs: 1 })
    for (let i = 0; i < misses; i++) metrics.record({ type: 'miss', pattern, durationMs: 5 })
  }
  const evaluate = () => alerts.evaluate(metrics.alertInput())
  return { clock, metrics, alerts, logged, lookups, evaluate }
}

t.test('the defaults are the LLD\'s thresholds', async (t) => {
  t.match(DEFAULT_THRESHOLDS, { entityHitRate: 0.7, listHitRate: 0.5, latencyRegression: 0.2, memoryRatio: 0.8 })
})

t.test('an entity pattern at exactly 70% does not alert; at 65% it does', async (t) => {
  const { lookups, evaluate, clock } = setup()
  lookups('gig', 14, 6)
  t.same(evaluate(), [], '14/20 = 70% is not below 70%')
  clock.advance(WINDOW + 5000)
  lookups('gig', 13, 7)
  const [alert, ...rest] = evaluate()
  t.same(rest, [])
  t.match(alert, { id: 'hit_rate:gig', type: 'hit_rate', subject: 'gig', threshold: 0.7, value: 0.65 })
  t.match(alert?.message, /hit rate of entity pattern "gig" is 65% \(13\/20\), below 70%/)
})

t.test('a list pattern answers to 50%: 10/20 is fine, 9/20 alerts', async (t) => {
  const { lookups, evaluate, clock } = setup()
  lookups('user_gigs', 10, 10)
  t.same(evaluate(), [])
  clock.advance(WINDOW + 5000)
  lookups('user_gigs', 9, 11)
  t.match(evaluate(), [{ id: 'hit_rate:user_gigs', threshold: 0.5, value: 0.45 }])
})

t.test('session and unknown patterns have no hit-rate threshold', async (t) => {
  const { lookups, evaluate } = setup()
  lookups('session:gig_views', 0, 50)
  lookups('mystery', 0, 50)
  t.same(evaluate(), [])
})

t.test('fewer lookups than minSamples prove nothing: 19 misses do not alert, 20 do', async (t) => {
  const { lookups, evaluate } = setup()
  lookups('gig', 0, 19)
  t.same(evaluate(), [])
  lookups('gig', 0, 1)
  t.match(evaluate(), [{ id: 'hit_rate:gig', value: 0 }])
})

t.test('an alert is logged once when it starts and once when it clears, as the window slides', async (t) => {
  const { lookups, evaluate, clock, logged } = setup()
  const start = clock.now()
  lookups('gig', 2, 18)
  evaluate()
  evaluate()
  t.equal(logged.length, 1, 'one line however often it is evaluated')
  t.match(logged[0], { level: 'warn', obj: { alert: 'hit_rate:gig', type: 'hit_rate', subject: 'gig', value: 0.1, threshold: 0.7 }, msg: /^cache alert started: hit rate of entity pattern "gig" is 10%/ })

  clock.advance(30_000)
  lookups('gig', 20, 0)
  t.match(evaluate(), [{ id: 'hit_rate:gig', since: start }], 'still below: 22/40 in the window; it keeps its start time')
  t.equal(logged.length, 1)

  clock.advance(WINDOW - 30_000 + 5000)
  lookups('gig', 20, 0)
  t.same(evaluate(), [], 'the misses left the window')
  t.equal(logged.length, 2)
  t.match(logged[1], { level: 'info', obj: { alert: 'hit_rate:gig', durationMs: WINDOW + 5000 }, msg: 'cache alert cleared: hit_rate on gig' })
})

t.test('a route whose mean response time regresses by more than 20% against its baseline alerts', async (t) => {
  const { metrics, evaluate, clock, logged } = setup()
  for (let i = 0; i < 20; i++) metrics.recordResponse('GET /gigs/:id', 10, 'HIT')
  clock.advance(WINDOW + 5000)
  for (let i = 0; i < 20; i++) metrics.recordResponse('GET /gigs/:id', 12, 'HIT')
  t.same(evaluate(), [], 'exactly 20% slower is not more than 20%')

  clock.advance(WINDOW + 5000)
  // Baseline is now the 20 × 10 ms and 20 × 12 ms (mean 11 ms); 20 × 13.5 ms is 22.7% slower.
  for (let i = 0; i < 20; i++) metrics.recordResponse('GET /gigs/:id', 13.5, 'MISS')
  const [alert] = evaluate()
  t.match(alert, { id: 'latency_regression:GET /gigs/:id', type: 'latency_regression', subject: 'GET /gigs/:id', threshold: 0.2 })
  t.ok(alert !== undefined && Math.abs(alert.value - (13.5 / 11 - 1)) < 1e-9, 'regression measured against the baseline mean')
  t.match(logged, [{ level: 'warn', msg: /GET \/gigs\/:id responds in 13\.50 ms on average, 22\.7% slower than its baseline 11\.00 ms/ }])

  clock.advance(WINDOW + 5000)
  for (let i = 0; i < 20; i++) metrics.recordResponse('GET /gigs/:id', 11, 'HIT')
  t.same(evaluate(), [], 'back to normal: cleared')
  t.match(logged[1], { level: 'info', msg: 'cache alert cleared: latency_regression on GET /gigs/:id' })
})

t.test('no regression is judged without a baseline of enough responses', async (t) => {
  const { metrics, evaluate, clock } = setup()
  for (let i = 0; i < 5; i++) metrics.recordResponse('GET /search', 1, 'HIT')
  clock.advance(WINDOW + 5000)
  for (let i = 0; i < 50; i++) metrics.recordResponse('GET /search', 100, 'MISS')
  t.same(evaluate(), [])
})

t.test('memory above 80% of the L1 bound alerts; exactly 80% does not', async (t) => {
  const at80 = setup({ l1: { bytes: 800, maxBytes: 1000 } })
  t.same(at80.evaluate(), [])
  const at81 = setup({ l1: { bytes: 810, maxBytes: 1000 } })
  t.match(at81.evaluate(), [{ id: 'memory:l1', type: 'memory', subject: 'l1', value: 0.81, threshold: 0.8 }])
})

t.test('Redis memory alerts against maxmemory, and never when Redis has no limit', async (t) => {
  const { metrics, evaluate, logged } = setup()
  metrics.setRedisMemory(900, 0)
  t.same(evaluate(), [], 'maxmemory 0: nothing is allocated, so no share to judge')
  metrics.setRedisMemory(900, 1000)
  t.match(evaluate(), [{ id: 'memory:redis', value: 0.9 }])
  metrics.setRedisMemory(500, 1000)
  t.same(evaluate(), [])
  t.same(logged.map((l) => l.level), ['warn', 'info'])
})

t.test('an open circuit breaker is an alert until it closes', async (t) => {
  const { metrics, evaluate } = setup()
  metrics.record({ type: 'breaker', state: 'open' })
  t.match(evaluate(), [{ id: 'breaker_open:breaker', subject: 'breaker' }])
  metrics.record({ type: 'breaker', state: 'half-open' })
  t.same(evaluate(), [])
})

t.test('thresholds are configurable', async (t) => {
  const { lookups, evaluate } = setup({ thresholds: { entityHitRate: 0.9, minSamples: 5 } })
  lookups('gig', 17, 3)
  t.match(evaluate(), [{ id: 'hit_rate:gig', threshold: 0.9, value: 0.85 }])
})

t.test('a nonsense threshold fails at once', async (t) => {
  t.throws(() => resolveThresholds({ entityHitRate: 1.5 }), { code: 'CACHE_ERR_BAD_OPTION' })
  t.throws(() => resolveThresholds({ minSamples: 0 }), { code: 'CACHE_ERR_BAD_OPTION' })
  t.throws(() => resolveThresholds({ memoryRatio: Number.NaN }), { code: 'CACHE_ERR_BAD_OPTION' })
  t.match(resolveThresholds({ listHitRate: undefined }), { listHitRate: 0.5 }, 'undefined keeps the default')
})

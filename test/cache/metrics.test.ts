import t from 'tap'
import { ManualClock } from '../../src/cache/clock.ts'
import { CacheMetrics, safeLabel } from '../../src/cache/metrics.ts'

function setup (over: ConstructorParameters<typeof CacheMetrics>[0] = {}) {
  const clock = new ManualClock()
  const metrics = new CacheMetrics({ clock, windowMs: 60_000, bucketMs: 5000, ...over })
  return { clock, metrics }
}

const pattern = (m: CacheMetrics, name: string) => m.snapshot().patterns.find((p) => p.pattern === name)
const route = (m: CacheMetrics, name: string) => m.snapshot().routes.find((r) => r.route === name)

t.test('lookups are counted per pattern and per route, with hit rate and latency by outcome', async (t) => {
  const { metrics } = setup()
  metrics.record({ type: 'miss', pattern: 'gig', route: 'GET /gigs/:id', durationMs: 8 })
  metrics.record({ type: 'hit', pattern: 'gig', route: 'GET /gigs/:id', durationMs: 1 })
  metrics.record({ type: 'hit', pattern: 'gig', route: 'GET /gigs/:id', durationMs: 3 })
  metrics.record({ type: 'stale', pattern: 'gig', route: 'GET /gigs/:id' })
  metrics.record({ type: 'bypass', pattern: 'gig', route: 'GET /gigs/:id' })
  metrics.record({ type: 'miss', pattern: 'gig', route: 'GET /gigs/:id', op: 'get', stored: false })
  metrics.record({ type: 'error', pattern: 'gig', route: 'GET /gigs/:id', op: 'get' })
  metrics.record({ type: 'hit', pattern: 'user', durationMs: 0.1 })

  t.match(pattern(metrics, 'gig'), {
    hits: 2,
    misses: 1,
    stale: 1,
    bypasses: 2,
    errors: 1,
    hitRate: 0.75,
    latency: { hit: { count: 2, meanMs: 2 }, miss: { count: 1, meanMs: 8 }, speedup: 4, savedMs: 6 }
  }, 'a stale serve counts as served from cache; bypasses are not lookups')
  t.match(route(metrics, 'GET /gigs/:id'), { hits: 2, misses: 1, stale: 1, bypasses: 2, errors: 1 })
  t.same(metrics.lookupsByPatternAndRoute().map((c) => [c.pattern, c.route, c.hits]), [['gig', 'GET /gigs/:id', 2], ['user', 'none', 1]])
  t.match(metrics.snapshot().totals, { hits: 3, misses: 1, stale: 1, bypasses: 2, errors: 1 })
})

t.test('a lookup without a route is attributed to the route being served', async (t) => {
  let current: string | undefined = 'GET /users/:id'
  const { metrics } = setup({ currentRoute: () => current })
  metrics.record({ type: 'miss', pattern: 'user' })
  current = undefined
  metrics.record({ type: 'hit', pattern: 'user' })
  t.same(metrics.lookupsByPatternAndRoute().map((c) => [c.route, c.hits, c.misses]), [['GET /users/:id', 0, 1], ['none', 1, 0]])
})

t.test('no id ever becomes a label', async (t) => {
  t.equal(safeLabel('gig'), 'gig')
  t.equal(safeLabel('GET /gigs/:id'), 'GET /gigs/:id')
  t.equal(safeLabel('stats:gigs:daily'), 'stats:gigs:daily')
  t.equal(safeLabel('gig:42'), 'gig:{id}')
  t.equal(safeLabel('GET /gigs/42/applications'), 'GET /gigs/{id}/applications')
  t.equal(safeLabel('user_drafts:7@3'), 'user_drafts:{id}@{id}')
  t.equal(safeLabel('search:0123456789abcdef0123'), 'search:{id}')
  t.equal(safeLabel('123'), '{id}')

  const { metrics } = setup()
  metrics.record({ type: 'miss', pattern: '98765', route: 'GET /gigs/98765' })
  metrics.record({ type: 'invalidate', pattern: 'gig', tags: ['gig:98765'] })
  metrics.recordDomainEvent('gig.updated', 3)
  const labels = JSON.stringify([...metrics.patternTotals().keys(), ...metrics.routeTotals().keys(), ...metrics.invalidationsByFamily().keys()])
  t.notMatch(labels, /98765/)
})

t.test('past the label cap, new patterns are counted under "other"', async (t) => {
  const { metrics } = setup({ maxLabels: 3 })
  for (const p of ['a', 'b', 'c', 'd', 'e']) metrics.record({ type: 'miss', pattern: p })
  metrics.record({ type: 'hit', pattern: 'a' })
  t.same([...metrics.patternTotals().keys()], ['a', 'b', 'c', 'other'])
  t.equal(pattern(metrics, 'other')?.misses, 2)
})

t.test('invalidations are counted per tag family and per domain event', async (t) => {
  const { metrics } = setup()
  metrics.record({ type: 'invalidate', pattern: 'gig', tags: ['gig:1'] })
  metrics.record({ type: 'invalidate', pattern: 'user_gigs', tags: ['user_gigs:1', 'user_gigs:2'] })
  metrics.record({ type: 'invalidate', pattern: 'gig', tags: ['gig:2'] })
  metrics.recordDomainEvent('gig.updated', 9)
  metrics.recordDomainEvent('gig.updated', 7)
  const snap = metrics.snapshot()
  t.same(snap.invalidations.byFamily, [{ family: 'gig', count: 2, tags: 2 }, { family: 'user_gigs', count: 1, tags: 2 }])
  t.same(snap.invalidations.byEvent, [{ event: 'gig.updated', count: 2, tags: 16 }])
  t.equal(snap.invalidations.perMinute, 3)
})

t.test('bytes stored are accounted per pattern until their TTL passes', async (t) => {
  const { metrics, clock } = setup({ ttlOf: (p) => p === 'search' ? 300_000 : 3_600_000 })
  metrics.record({ type: 'set', pattern: 'gig', bytes: 400, stored: true })
  metrics.record({ type: 'set', pattern: 'search', bytes: 1000, stored: true })
  metrics.record({ type: 'set', pattern: 'search', bytes: 999, stored: false })
  t.match(pattern(metrics, 'search'), { sets: 1, refusedSets: 1, memory: { bytes: 1000, source: 'estimate', writtenBytes: 1000 } })
  clock.advance(6 * 60_000)
  t.match(pattern(metrics, 'search')?.memory, { bytes: 0, estimatedBytes: 0, writtenBytes: 1000 }, 'search TTL (5 min) has passed')
  t.match(pattern(metrics, 'gig')?.memory, { bytes: 400 })
})

t.test('a Redis MEMORY USAGE sample replaces the estimate', async (t) => {
  const { metrics } = setup()
  metrics.record({ type: 'set', pattern: 'gig', bytes: 400, stored: true })
  metrics.setSampledMemory([{ pattern: 'gig', keys: 10, sampledKeys: 5, bytes: 6000 }], true)
  t.match(pattern(metrics, 'gig')?.memory, { bytes: 6000, source: 'sampled', estimatedBytes: 400, sampledBytes: 6000, keys: 10 })
})

t.test('with the in-process store as the whole cache, estimates are scaled to its measured size', async (t) => {
  const { metrics } = setup({ scaleToL1: true, l1: () => ({ entries: 2, bytes: 3000, maxBytes: 10_000 }) })
  metrics.record({ type: 'set', pattern: 'gig', bytes: 500, stored: true })
  metrics.record({ type: 'set', pattern: 'user', bytes: 1000, stored: true })
  t.match(pattern(metrics, 'gig')?.memory, { bytes: 1000, source: 'l1-scaled', estimatedBytes: 500 })
  t.match(pattern(metrics, 'user')?.memory, { bytes: 2000, source: 'l1-scaled' })
})

t.test('the window forgets what is older than it; the totals do not', async (t) => {
  const { metrics, clock } = setup()
  metrics.record({ type: 'miss', pattern: 'gig' })
  clock.advance(65_000)
  metrics.record({ type: 'hit', pattern: 'gig' })
  t.match(pattern(metrics, 'gig'), { hits: 1, misses: 1, hitRate: 0.5, window: { hits: 1, misses: 0, hitRate: 1 } })
  t.same(metrics.alertInput().hitRates, [{ pattern: 'gig', kind: 'other', hits: 1, misses: 0 }])
})

t.test('the timeline has one point per bucket since start, with lookups per pattern', async (t) => {
  const { metrics, clock } = setup()
  metrics.record({ type: 'hit', pattern: 'gig' })
  clock.advance(5000)
  clock.advance(5000)
  metrics.record({ type: 'miss', pattern: 'gig' })
  metrics.record({ type: 'invalidate', pattern: 'gig', tags: ['gig:1'] })
  const tl = metrics.snapshot().timeline
  t.equal(tl.length, 3)
  t.same(tl.map((p) => p.patterns), [{ gig: { hits: 1, misses: 0 } }, {}, { gig: { hits: 0, misses: 1 } }])
  t.same(tl.map((p) => p.invalidations), [0, 0, 1])
})

t.test('the breaker state comes from its owner, else from breaker events, else is unknown', async (t) => {
  const { metrics } = setup()
  t.equal(metrics.breakerState(), 'unknown')
  metrics.record({ type: 'breaker', state: 'half_open' })
  t.equal(metrics.breakerState(), 'half-open')
  const owned = setup({ breaker: () => 'open' })
  owned.metrics.record({ type: 'breaker', state: 'closed' })
  t.equal(owned.metrics.breakerState(), 'open')
})

t.test('response times are kept per route and x-cache value', async (t) => {
  const { metrics } = setup()
  metrics.recordResponse('GET /gigs/:id', 20, 'MISS')
  metrics.recordResponse('GET /gigs/:id', 2, 'HIT')
  metrics.recordResponse('GET /gigs/:id', 4, 'HIT')
  metrics.recordResponse('GET /gigs/:id', 5, undefined)
  t.match(route(metrics, 'GET /gigs/:id')?.responseTime, {
    all: { count: 4, meanMs: 7.75 }, hit: { count: 2, meanMs: 3 }, miss: { count: 1, meanMs: 20 }, speedup: 6.67, window: { count: 4 }
  })
})

t.test('a failing exporter never throws into the cache', async (t) => {
  const { metrics } = setup({ onObserve: () => { throw new Error('exporter bug') } })
  t.doesNotThrow(() => metrics.record({ type: 'hit', pattern: 'gig', durationMs: 1 }))
})

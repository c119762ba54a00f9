import { once } from 'node:events'
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { authAs, build, json, USERS } from '../helpers/build.ts'
import { startRedisServer } from '../helpers/redis-server.ts'

interface Sample { name: string, labels: Record<string, string>, value: number }

/** Prometheus text format, one sample per line (HELP/TYPE skipped). */
function parse (text: string): Sample[] {
  const out: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string
    out.push({ name: m[1] as string, labels, value: Number(m[3]) })
  }
  return out
}

async function scrape (app: FastifyInstance): Promise<Sample[]> {
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  return parse(res.body)
}

/** The value of the one sample with exactly these labels (0 when absent, like Prometheus). */
function value (samples: Sample[], name: string, labels: Record<string, string>): number {
  const hits = samples.filter((s) => s.name === name && Object.keys(labels).length === Object.keys(s.labels).filter((k) => k !== 'le').length &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} is ambiguous`)
  return hits[0]?.value ?? 0
}

t.test('after a known sequence of requests, /metrics counts hits, misses and bypasses by pattern and route', async (t) => {
  const app = await build(t)
  const seq: Array<[string, Record<string, string>?]> = [
    ['/gigs/1'], ['/gigs/1'], ['/gigs/1'], // miss, hit, hit
    ['/gigs/2'], // miss
    ['/gigs/999999'], // miss (404, not stored)
    ['/gigs/1', authAs(app, USERS.bob)], // bypass: a signed-in caller on a public route
    ['/users/2'], ['/users/2'], // getEntity('user') behind an uncached route: miss, hit
    ['/featured'], ['/featured'] // miss, hit
  ]
  for (const [url, headers] of seq) await app.inject({ url, ...(headers === undefined ? {} : { headers }) })
  const s = await scrape(app)
  const lookups = (pattern: string, route: string, result: string) => value(s, 'cache_lookups_total', { pattern, route, result })
  t.equal(lookups('gig', 'GET /gigs/:id', 'hit'), 2)
  t.equal(lookups('gig', 'GET /gigs/:id', 'miss'), 3)
  t.equal(lookups('gig', 'GET /gigs/:id', 'bypass'), 1)
  t.equal(lookups('user', 'GET /users/:id', 'miss'), 1, 'a service lookup is attributed to the route it served')
  t.equal(lookups('user', 'GET /users/:id', 'hit'), 1)
  t.equal(lookups('featured_gigs', 'GET /featured', 'miss'), 1)
  t.equal(lookups('featured_gigs', 'GET /featured', 'hit'), 1)
  t.equal(value(s, 'cache_sets_total', { pattern: 'gig', outcome: 'stored' }), 2, 'the 404 was not stored')
  t.equal(value(s, 'cache_hit_ratio', { pattern: 'gig', window: 'total' }), 0.4)
  t.equal(value(s, 'http_request_duration_seconds_count', { route: 'GET /gigs/:id', cache: 'HIT' }), 2)
  t.equal(value(s, 'http_request_duration_seconds_count', { route: 'GET /gigs/:id', cache: 'MISS' }), 3)
  t.equal(value(s, 'http_request_duration_seconds_count', { route: 'GET /gigs/:id', cache: 'BYPASS' }), 1)
  t.equal(value(s, 'cache_lookup_duration_seconds_count', { pattern: 'gig', result: 'hit' }), 2)
  t.ok(value(s, 'cache_written_bytes_total', { pattern: 'gig' }) > 0)
  t.ok(value(s, 'cache_memory_bytes', { pattern: 'gig', source: 'l1-scaled' }) > 0, 'memory by pattern, scaled to the memory store')
  t.ok(value(s, 'cache_l1_entries', {}) >= 4)
})

t.test('/metrics includes the process\'s default metrics', async (t) => {
  const app = await build(t)
  const names = new Set((await scrape(app)).map((s) => s.name))
  for (const n of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
    t.ok(names.has(n), n)
  }
})

t.test('a write counts its domain event and every tag its cascade invalidates, by family', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: authAs(app, USERS.alice), payload: { title: 'A fresher title' } })
  t.equal(res.statusCode, 200)
  const s = await scrape(app)
  t.equal(value(s, 'cache_domain_events_total', { event: 'gig.updated' }), 1)
  const eventTags = value(s, 'cache_domain_event_tags_total', { event: 'gig.updated' })
  const familyTags = s.filter((x) => x.name === 'cache_invalidated_tags_total').reduce((n, x) => n + x.value, 0)
  t.ok(eventTags >= 9, `the gig.updated cascade names many tags (${eventTags})`)
  t.equal(familyTags, eventTags, 'each tag of the cascade was invalidated once')
  for (const family of ['gig', 'user_gigs', 'gig_applications', 'search_term', 'search_any', 'featured_gigs']) {
    t.equal(value(s, 'cache_invalidations_total', { family }), 1, family)
  }
})

t.test('no label carries a raw key or id', async (t) => {
  const app = await build(t)
  const bob = authAs(app, USERS.bob)
  for (const url of ['/gigs/1', '/gigs/2', '/gigs/3', '/gigs/424242', '/users/1/gigs', '/users/2/stats', '/users/3', '/search?q=logo',
    '/gigs?status=open&page=2', '/categories', '/leaderboards/creators', '/stats/daily']) {
    await app.inject(url)
    await app.inject(url)
  }
  await app.inject({ url: '/users/2/applications', headers: bob })
  await app.inject({ url: '/me/recent-views', headers: bob })
  await app.inject({ method: 'PATCH', url: '/gigs/2', headers: authAs(app, USERS.alice), payload: { title: 'Another title' } })
  await app.inject({ method: 'POST', url: '/gigs/1/applications', headers: bob, payload: { coverLetter: 'I can do this well.', proposedBudget: 100 } })

  const res = await app.inject('/metrics')
  const samples = parse(res.body).filter((x) => x.name.startsWith('cache_') || x.name.startsWith('http_'))
  const values = new Set(samples.flatMap((x) => Object.entries(x.labels).filter(([k]) => k !== 'le').map(([, v]) => v)))
  t.ok(values.has('gig') && values.has('GET /gigs/:id') && values.has('gig.updated'), 'patterns, routes and events are there')
  for (const v of values) {
    const segments = v.split(/[\s:/@,?=&]+/)
    t.notOk(segments.some((seg) => /^\d+$/.test(seg)), `label "${v}" has no digit-only segment`)
    t.notOk(/[0-9a-f]{16,}/i.test(v), `label "${v}" has no hash`)
  }
  const stats = json<{ patterns: Array<{ pattern: string }>, routes: Array<{ route: string }> }>(await app.inject('/cache/stats'))
  for (const label of [...stats.patterns.map((p) => p.pattern), ...stats.routes.map((r) => r.route)]) {
    t.notOk(label.split(/[\s:/@,]+/).some((seg) => /^\d+$/.test(seg)), `stats label "${label}" has no id`)
  }
})

t.test('on Redis, memory by pattern is measured with MEMORY USAGE and Redis memory is reported', async (t) => {
  const app = await build(t, { redis: true })
  for (const url of ['/gigs/1', '/gigs/2', '/gigs/3', '/users/1/gigs']) await app.inject(url)
  await app.sampleCacheMemory()
  const stats = json<{ patterns: Array<{ pattern: string, memory: Record<string, unknown> }>, redis: Record<string, unknown> | null }>(await app.inject('/cache/stats'))
  const gig = stats.patterns.find((p) => p.pattern === 'gig')
  t.match(gig?.memory, { source: 'sampled', keys: 3 }, 'three gig entries under our prefix')
  t.ok((gig?.memory.sampledBytes as number) > 0)
  t.match(stats.patterns.find((p) => p.pattern === 'user_gigs')?.memory, { source: 'sampled', keys: 1 })
  t.match(stats.redis, { usedBytes: Number, scanComplete: true })
  const s = await scrape(app)
  t.equal(value(s, 'cache_memory_bytes', { pattern: 'gig', source: 'sampled' }), gig?.memory.bytes)
  t.ok(value(s, 'cache_redis_used_memory_bytes', {}) > 0)
})

t.test('the breaker state of the Redis tier is reported, closed while Redis answers', async (t) => {
  const app = await build(t, { redis: true })
  await app.inject('/gigs/1')
  const s = await scrape(app)
  t.equal(value(s, 'cache_breaker_state', { state: 'closed' }), 1)
  t.equal(value(s, 'cache_breaker_state', { state: 'open' }), 0)
})

t.test('Redis above 80% of its maxmemory raises the memory alert', async (t) => {
  // Our own server: a fresh redis-server already uses most of a 1 MiB maxmemory.
  const redis = await startRedisServer(['--maxmemory', '1mb'])
  t.teardown(() => redis.stop())
  const app = await build(t, { redis: true, config: { redisUrl: redis.url } })
  await app.sampleCacheMemory()
  const s = json<{ redis: { usedBytes: number, maxBytes: number }, alerts: Array<{ id: string, value: number }> }>(await app.inject('/cache/stats'))
  t.equal(s.redis.maxBytes, 1024 * 1024)
  t.ok(s.redis.usedBytes / s.redis.maxBytes > 0.8, `used ${s.redis.usedBytes} bytes`)
  t.match(s.alerts, [{ id: 'memory:redis', value: s.redis.usedBytes / s.redis.maxBytes }])
  t.equal(value(await scrape(app), 'cache_alert_active', { type: 'memory', subject: 'redis' }), 1)
})

t.test('an open circuit breaker is shown in the stats and raised as an alert', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const app = await build(t, { redis: true, config: { redisUrl: redis.url, cacheBreakerFailures: 2, cacheBreakerBackoffMs: 60_000, cacheBreakerBackoffMaxMs: 60_000 } })
  await app.inject('/gigs/1')
  t.equal(json<{ breaker: string }>(await app.inject('/cache/stats')).breaker, 'closed')
  await redis.kill()
  for (const id of [2, 3, 4, 5, 1]) t.equal((await app.inject(`/gigs/${id}`)).statusCode, 200, 'served from the database')
  const s = json<{ breaker: string, alerts: Array<{ id: string }> }>(await app.inject('/cache/stats'))
  t.equal(s.breaker, 'open')
  t.match(s.alerts, [{ id: 'breaker_open:breaker' }])
  const samples = await scrape(app)
  t.equal(value(samples, 'cache_breaker_state', { state: 'open' }), 1)
  t.ok(value(samples, 'cache_errors_total', { pattern: 'gig', op: 'get' }) > 0, 'the failed lookups are counted as errors')
  // Closing the app with Redis down throws (@fastify/redis quits a dead client): let it come back first.
  await redis.restart()
  if (app.redis.status !== 'ready') await once(app.redis, 'ready')
})

import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { ManualClock } from '../../src/cache/clock.ts'
import { authAs, build, json, USERS } from '../helpers/build.ts'

interface Stats {
  store: string
  alerts: Array<{ id: string, type: string, subject: string, value: number, threshold: number, since: number, message: string }>
  thresholds: Record<string, number | boolean>
  totals: Record<string, number | null>
  patterns: Array<Record<string, unknown> & { pattern: string }>
  routes: Array<Record<string, unknown> & { route: string }>
  l1: Record<string, number> | null
  redis: unknown
  breaker: string
  timeline: Array<{ t: number, patterns: Record<string, { hits: number, misses: number }> }>
}

const stats = async (app: FastifyInstance): Promise<Stats> => {
  const res = await app.inject('/cache/stats')
  if (res.statusCode !== 200) throw new Error(`/cache/stats: ${res.statusCode} ${res.body}`)
  return json<Stats>(res)
}
const admin = (app: FastifyInstance) => authAs(app, USERS.admin, 'admin')
const explain = async (app: FastifyInstance, url: string, extra = '') =>
  json(await app.inject({ url: `/cache/explain?url=${encodeURIComponent(url)}${extra}`, headers: admin(app) }))

t.test('/cache/stats gives exact per-pattern and per-route figures after a known sequence', async (t) => {
  const app = await build(t)
  for (const url of ['/gigs/1', '/gigs/1', '/gigs/2', '/featured', '/featured', '/featured']) await app.inject(url)
  const s = await stats(app)
  t.equal(s.store, 'memory')
  t.same(s.alerts, [], 'six lookups are too few to judge')
  t.match(s.thresholds, { entityHitRate: 0.7, listHitRate: 0.5, latencyRegression: 0.2, memoryRatio: 0.8, minSamples: 20 })
  t.match(s.totals, { hits: 3, misses: 3, sets: 3, hitRate: 0.5 })
  t.match(s.patterns.find((p) => p.pattern === 'gig'), {
    kind: 'entity',
    hits: 1,
    misses: 2,
    sets: 2,
    hitRate: 0.3333,
    window: { hits: 1, misses: 2 },
    latency: { hit: { count: 1 }, miss: { count: 2 } },
    memory: { source: 'l1-scaled' }
  })
  t.match(s.patterns.find((p) => p.pattern === 'featured_gigs'), { kind: 'list', hits: 2, misses: 1, hitRate: 0.6667 })
  t.match(s.routes.find((r) => r.route === 'GET /gigs/:id'), {
    hits: 1, misses: 2, responseTime: { all: { count: 3 }, hit: { count: 1 }, miss: { count: 2 }, window: { count: 3 } }
  })
  t.match(s.l1, { entries: Number, bytes: Number, maxBytes: 64 * 1024 * 1024 })
  t.equal(s.redis, null)
  t.equal(s.breaker, 'unknown', 'the memory store has no breaker')
  const last = s.timeline.at(-1)
  t.match(last?.patterns, { gig: { hits: 1, misses: 2 }, featured_gigs: { hits: 2, misses: 1 } })
  t.equal((await app.inject('/cache/stats')).headers['cache-control'], 'no-store')
})

t.test('a forced low hit rate raises its alert in /cache/stats, logged when it starts and when it clears', async (t) => {
  const lines: Array<{ msg: string, alert?: string }> = []
  const clock = new ManualClock()
  const app = await build(t, {
    clock,
    config: { cacheAlerts: { minSamples: 5 } },
    logger: { level: 'info', stream: { write: (l: string) => { lines.push(JSON.parse(l) as { msg: string }) } } }
  })
  for (let id = 1; id <= 5; id++) await app.inject(`/gigs/${id}`)
  let s = await stats(app)
  t.match(s.alerts, [{ id: 'hit_rate:gig', type: 'hit_rate', subject: 'gig', value: 0, threshold: 0.7, message: /entity pattern "gig" is 0% \(0\/5\), below 70%/ }])
  t.match(lines.filter((l) => l.alert !== undefined), [{ alert: 'hit_rate:gig', msg: /^cache alert started/ }])

  clock.advance(65_000)
  for (let i = 0; i < 5; i++) await app.inject('/gigs/1')
  s = await stats(app)
  t.same(s.alerts, [], 'five hits in the new window: 100%')
  t.match(lines.filter((l) => l.alert !== undefined).map((l) => l.msg), [/^cache alert started/, 'cache alert cleared: hit_rate on gig'])
})

t.test('/cache/explain is for admins only', async (t) => {
  const app = await build(t)
  t.equal((await app.inject('/cache/explain?url=/gigs/1')).statusCode, 401)
  t.equal((await app.inject({ url: '/cache/explain?url=/gigs/1', headers: authAs(app, USERS.bob) })).statusCode, 403)
  t.equal((await app.inject({ url: '/cache/explain?url=gigs', headers: admin(app) })).statusCode, 400, 'the url must be a path')
})

t.test('/cache/explain tells the route, key, tags and TTL class of a URL, and whether it is cached now', async (t) => {
  const app = await build(t)
  const before = await explain(app, '/gigs/1')
  t.match(before, {
    url: '/gigs/1',
    method: 'GET',
    route: 'GET /gigs/:id',
    cacheable: true,
    pattern: 'gig',
    key: 'gig:1',
    tags: ['gig:1'],
    ttl: { class: 'entity', seconds: 3600 },
    scope: 'public',
    cached: false,
    entry: null,
    reason: /not stored now/
  })
  const res = await app.inject('/gigs/1')
  const after = await explain(app, '/gigs/1')
  t.match(after, { cached: true, reason: null, entry: { fresh: true, ageSeconds: 0, sizeBytes: Buffer.byteLength(res.body), etag: res.headers.etag } })
  t.ok((after.entry as { expiresInSeconds: number }).expiresInSeconds > 3500)
})

t.test('/cache/explain renders the key a list request is stored under', async (t) => {
  const app = await build(t)
  await app.inject('/gigs?status=open&category=design')
  const e = await explain(app, '/gigs?category=design&status=open')
  t.match(e, { route: 'GET /gigs', pattern: 'gig_list', key: /^gig_list:[0-9a-f]{32}$/, tags: ['gig_list'], ttl: { class: 'search' }, cached: true })
  t.match(await explain(app, '/gigs?status=completed'), { key: /^gig_list:/, cached: false })
})

t.test('/cache/explain says why nothing is cached: no route, no cache config, a 400, a per-user entry', async (t) => {
  const app = await build(t)
  t.match(await explain(app, '/nowhere'), { route: null, cacheable: false, reason: /404/ })
  t.match(await explain(app, '/users/1'), { route: 'GET /users/:id', cacheable: false, reason: /no config\.cache/ })
  t.match(await explain(app, '/gigs/abc'), { route: 'GET /gigs/:id', key: null, reason: /400 \(params\/id must be integer\)/ })
  t.match(await explain(app, '/users/1/drafts'), { route: 'GET /users/:id/drafts', scope: 'user', key: null, reason: /as=<userId>/ })
  await app.inject({ url: '/users/1/drafts', headers: authAs(app, USERS.alice) })
  t.match(await explain(app, '/users/1/drafts', `&as=${USERS.alice}`), { key: `user_drafts:1@${USERS.alice}`, tags: ['user_drafts:1'], cached: true })
})

t.test('/cache/explain on Redis shows which tiers hold the entry', async (t) => {
  const app = await build(t, { redis: true })
  await app.inject('/gigs/3')
  t.match(await explain(app, '/gigs/3'), { key: 'gig:3', cached: true, entry: { tiers: { l2: true } } })
})

t.test('/cache/dashboard is one self-contained page', async (t) => {
  const app = await build(t)
  const res = await app.inject('/cache/dashboard')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.headers['content-security-policy'], /default-src 'none'.*connect-src 'self'/)
  t.match(res.body, /fetch\('\/cache\/stats'/)
  t.notMatch(res.body, /<script[^>]+src=/i, 'no external script')
  t.notMatch(res.body, /<link[^>]+href=/i, 'no external stylesheet')
  t.notMatch(res.body, /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'nothing fetched from another origin')
})

t.test('Swagger documents /cache/stats with its schema', async (t) => {
  const app = await build(t)
  const spec = json<{ paths: Record<string, { get: { responses: Record<string, { content: Record<string, { schema: { properties?: Record<string, unknown> } }> }> } }> }>(await app.inject('/docs/json'))
  const schema = spec.paths['/cache/stats']?.get.responses['200']?.content['application/json']?.schema
  t.ok(schema?.properties?.alerts, 'alerts')
  t.ok(schema?.properties?.patterns, 'patterns')
  t.ok(spec.paths['/cache/explain'], 'explain')
})

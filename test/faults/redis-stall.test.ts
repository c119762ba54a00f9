import { Socket } from 'node:net'
import t from 'tap'
import { startRedisServer } from '../helpers/redis-server.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'
import { adminClient, buildOnRedis, eventually, guardOf, load, LogLines, percentile, type App } from './helpers.ts'

// A stalled Redis answers nothing and closes nothing: the worst case for a client. Every request
// must still be answered, from the database, while the stall lasts; nothing may pile up.

const URLS = ['/gigs/2', '/gigs/3', '/gigs/4', '/categories', '/skills/popular', '/users/2', '/gigs/5', '/leaderboards/creators']
const CONCURRENCY = 200
const TOTAL = 2000
// L1 would answer these hits without asking Redis: a 1 ms L1 makes every request go to Redis.
const L2_ONLY = { l1TtlMs: 1 }

async function expectedBodies (app: App): Promise<Map<string, string>> {
  const expected = new Map<string, string>()
  for (const url of URLS) expected.set(url, (await app.inject(url)).body)
  return expected
}

/** A PING on a connection of its own: answered only once a CLIENT PAUSE is over. */
function pingAnswered (port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = new Socket()
    s.once('error', reject)
    s.once('data', () => { s.destroy(); resolve() })
    s.connect(port, '127.0.0.1', () => { s.write('PING\r\n') })
  })
}

async function stalledLoad (t: Tap, app: App, expected: Map<string, string>, stillStalled: () => boolean, total = TOTAL): Promise<void> {
  const guard = guardOf(app)
  let maxPending = 0
  const sampler = setInterval(() => { maxPending = Math.max(maxPending, guard.stats().pending) }, 5)
  const heapBefore = process.memoryUsage().heapUsed
  const results = await load(CONCURRENCY, total, (i) => app.inject(URLS[i % URLS.length]!))
  clearInterval(sampler)
  t.ok(stillStalled(), 'every request was answered while Redis was still stalled')
  const wrong = results.filter(({ i, res }) => res.statusCode !== 200 || res.body !== expected.get(URLS[i % URLS.length]!))
  t.equal(wrong.length, 0, `all ${results.length} answered 200 with the right body`)
  t.equal(guard.breakerState(), 'open', 'the circuit opened')
  // Bounded by what was in flight when the circuit opened, not by the number of requests.
  t.ok(maxPending <= CONCURRENCY * 2, `at most ${maxPending} cache operations pending at once`)
  const ms = results.map((r) => r.ms)
  t.comment(`${results.length} requests at ${CONCURRENCY} concurrent: p50 ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(0)} ms; ` +
    `max pending ${maxPending}; heap ${((process.memoryUsage().heapUsed - heapBefore) / 1048576).toFixed(1)} MiB more`)
}

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

t.test('a paused Redis (CLIENT PAUSE): every request is answered from the database while it lasts, then the cache is back', async (t) => {
  const redis = await startRedisServer()
  const logs = new LogLines()
  const app = await buildOnRedis(t, redis.url, L2_ONLY, logs)
  t.teardown(() => redis.stop())
  const expected = await expectedBodies(app)
  t.equal((await app.inject(URLS[0]!)).headers['x-cache'], 'HIT')

  // A pause cannot be lifted early (CLIENT UNPAUSE waits too): long enough for the load on a busy machine.
  await adminClient(t, redis.url).call('CLIENT', 'PAUSE', '12000', 'ALL')
  let paused = true
  const unpaused = pingAnswered(redis.port).then(() => { paused = false })
  await stalledLoad(t, app, expected, () => paused, 1000)
  await unpaused

  const guard = guardOf(app)
  t.ok(await eventually(async () => (await app.inject(URLS[1]!)).headers['x-cache'] === 'HIT'), 'HIT again after the pause')
  t.equal(guard.breakerState(), 'closed')
  t.ok(await eventually(() => guard.stats().pending === 0, 5000), 'nothing left pending')
  t.equal(logs.count(/^cache circuit open/), guard.stats().opened, 'one log line per opening')
})

t.test('a blackholed Redis (packets vanish): every request is answered from the database, nothing piles up, then the cache is back', async (t) => {
  const redis = await startRedisServer()
  const proxy = await startTcpProxy({ port: redis.port })
  const app = await buildOnRedis(t, `redis://127.0.0.1:${proxy.port}`, L2_ONLY)
  t.teardown(async () => { await proxy.close(); await redis.stop() })
  const expected = await expectedBodies(app)
  t.equal((await app.inject(URLS[0]!)).headers['x-cache'], 'HIT')

  await proxy.setMode('blackhole')
  await stalledLoad(t, app, expected, () => proxy.mode === 'blackhole')
  const guard = guardOf(app)
  // ioredis destroys a socket that answers nothing (socketTimeout): what was on it dies with it.
  t.ok(await eventually(() => guard.stats().pending === 0, 5000), 'the stalled commands were abandoned with their socket')
  await proxy.setMode('pass')
  t.ok(await eventually(async () => (await app.inject(URLS[1]!)).headers['x-cache'] === 'HIT'), 'HIT again once the network heals')
  t.equal(guard.breakerState(), 'closed')
})

t.test('a slow Redis (every packet 300 ms late) is treated like a stalled one: answers come from the database', async (t) => {
  const redis = await startRedisServer()
  const proxy = await startTcpProxy({ port: redis.port })
  const app = await buildOnRedis(t, `redis://127.0.0.1:${proxy.port}`, L2_ONLY)
  t.teardown(async () => { await proxy.close(); await redis.stop() })
  const expected = await expectedBodies(app)
  await proxy.setMode('latency', { latencyMs: 300 })
  const results = await load(50, 200, (i) => app.inject(URLS[i % URLS.length]!))
  t.equal(results.filter(({ i, res }) => res.body !== expected.get(URLS[i % URLS.length]!)).length, 0, 'every body right')
  t.equal(guardOf(app).breakerState(), 'open', 'timeouts opened the circuit')
  t.equal(proxy.mode, 'latency', 'all answered while Redis was still slow')
  t.comment(`max ${Math.max(...results.map((r) => r.ms)).toFixed(0)} ms`)
})

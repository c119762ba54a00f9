import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { authAs, json, USERS } from '../helpers/build.ts'
import { startRedisServer } from '../helpers/redis-server.ts'
import { buildOnRedis, eventually, guardOf, LogLines, percentile } from './helpers.ts'

// Bodies that no write in this test changes; gig 1 is the one being written.
const READS = ['/gigs/2', '/gigs/3', '/gigs/4', '/gigs/5', '/categories', '/skills/popular', '/users/2', '/leaderboards/creators']
const CONCURRENCY = 200

t.test('Redis killed for 5 s under 200 concurrent requests: no 5xx, every body correct, no stale read once it is back', async (t) => {
  const redis = await startRedisServer()
  const logs = new LogLines()
  const app = await buildOnRedis(t, redis.url, {}, logs)
  t.teardown(() => redis.stop())
  const alice = authAs(app, USERS.alice)

  const expected = new Map<string, string>()
  for (const url of READS) expected.set(url, (await app.inject(url)).body)
  t.equal((await app.inject(READS[0]!)).headers['x-cache'], 'HIT', 'warm before the fault')

  // Gig 1's title carries the number of the write that set it; a read that starts after write n
  // was acknowledged must show n or later.
  let acknowledged = 0
  const writeOf = (body: string): number => Number(/^title (\d+)$/.exec(json<{ title: string }>({ body } as never).title)?.[1] ?? 0)
  const problems: string[] = []
  const fivexx: string[] = []
  let phase: 'before' | 'down' | 'after' = 'before'
  const latencies = { before: [] as number[], down: [] as number[], after: [] as number[] }
  const run = { stop: false }

  const reader = async (w: number): Promise<void> => {
    for (let n = w; !run.stop; n += CONCURRENCY) {
      const gig1 = n % 4 === 0
      const url = gig1 ? '/gigs/1' : READS[n % READS.length]!
      const floor = acknowledged
      const started = performance.now()
      const res = await app.inject(url)
      // Figures for the README: reads of unchanging data (gig 1's reads also wait on its writes).
      if (!gig1) latencies[phase].push(performance.now() - started)
      if (res.statusCode >= 500) fivexx.push(`${url} ${res.statusCode} ${res.body}`)
      else if (gig1 && writeOf(res.body) < floor) problems.push(`GET /gigs/1 showed write ${writeOf(res.body)} after write ${floor} was acknowledged (${String(res.headers['x-cache'])})`)
      else if (!gig1 && res.body !== expected.get(url)) problems.push(`GET ${url}: ${res.statusCode} ${res.body.slice(0, 120)}`)
    }
  }
  let writes = 0
  let writesWhileDown = 0
  const writer = async (): Promise<void> => {
    while (!run.stop) {
      const n = ++writes
      const res = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: alice, payload: { title: `title ${n}` } })
      if (res.statusCode >= 500) fivexx.push(`PATCH ${res.statusCode} ${res.body}`)
      else if (res.statusCode !== 200) problems.push(`PATCH ${res.statusCode} ${res.body}`)
      else {
        acknowledged = n
        if (phase === 'down') writesWhileDown++
      }
      await sleep(20)
    }
  }

  const running = Promise.all([writer(), ...Array.from({ length: CONCURRENCY - 1 }, (_, w) => reader(w))])
  await sleep(1000)
  phase = 'down'
  await redis.kill()
  await sleep(5000)
  await redis.start()
  phase = 'after'
  const guard = guardOf(app)
  const back = await eventually(async () => guard.breakerState() === 'closed' && (await app.inject(READS[1]!)).headers['x-cache'] === 'HIT', 15_000)
  await sleep(500)
  run.stop = true
  await running

  t.ok(back, 'the cache is used again once Redis is back')
  t.same(fivexx, [], 'no 5xx')
  t.same(problems.slice(0, 10), [], 'every body correct, gig 1 never older than an acknowledged write')
  t.ok(writesWhileDown > 0, `${writesWhileDown} of ${writes} writes acknowledged while Redis was down`)
  const final = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: alice, payload: { title: 'title 999999' } })
  t.equal(final.statusCode, 200)
  for (let i = 0; i < 3; i++) t.equal(json<{ title: string }>(await app.inject('/gigs/1')).title, 'title 999999', 'read after the restart is fresh')

  const opened = guard.stats().opened
  t.ok(opened >= 1, `the circuit opened ${opened} time(s)`)
  t.equal(logs.count(/^cache circuit open/), opened, 'one log line per opening, not one per request')
  const total = latencies.before.length + latencies.down.length + latencies.after.length
  const fmt = (xs: number[]): string => `${xs.length} requests, p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(0)} ms`
  t.comment(`${total} reads measured at ${CONCURRENCY} concurrent, ${writes} writes; warn+ log lines: ${logs.lines.filter((l) => l.level >= 40).length}`)
  t.comment(`before: ${fmt(latencies.before)}`)
  t.comment(`Redis down: ${fmt(latencies.down)}`)
  t.comment(`after: ${fmt(latencies.after)}`)
  t.comment(`log lines: ${[...new Set(logs.lines.filter((l) => l.level >= 40).map((l) => l.msg))].join(' | ')}`)
})

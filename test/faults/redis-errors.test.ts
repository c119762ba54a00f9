import t from 'tap'
import { authAs, json, USERS } from '../helpers/build.ts'
import { freePort, startRedisServer } from '../helpers/redis-server.ts'
import { adminClient, buildOnRedis, eventually, guardOf } from './helpers.ts'

// Redis answering, but with an error: out of memory, read-only (a replica), or without the
// scripts (restarted). Every request is served as a miss from the database; no 5xx; a write's
// invalidation that Redis refused never lets its old entry be served.

// A 1 ms L1 makes every read ask Redis, so its errors are what the test sees.
const L2_ONLY = { l1TtlMs: 1 }
const READS = ['/gigs/2', '/gigs/3', '/categories', '/users/2']

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

async function setup (t: Tap) {
  const redis = await startRedisServer()
  const app = await buildOnRedis(t, redis.url, L2_ONLY)
  t.teardown(() => redis.stop())
  const admin = adminClient(t, redis.url)
  const expected = new Map<string, string>()
  for (const url of READS) expected.set(url, (await app.inject(url)).body)
  t.equal((await app.inject(READS[0]!)).headers['x-cache'], 'HIT', 'warm')
  return { redis, app, admin, expected }
}

async function readsAreRight (t: Tap, app: Awaited<ReturnType<typeof setup>>['app'], expected: Map<string, string>): Promise<void> {
  for (let round = 0; round < 3; round++) {
    for (const [url, body] of expected) {
      const res = await app.inject(url)
      t.equal(res.statusCode, 200, `${url} answered`)
      t.equal(res.body, body, `${url} body right (${String(res.headers['x-cache'])})`)
    }
  }
}

async function writeThenRead (t: Tap, app: Awaited<ReturnType<typeof setup>>['app'], title: string): Promise<void> {
  const patch = await app.inject({ method: 'PATCH', url: '/gigs/2', headers: authAs(app, USERS.alice), payload: { title } })
  t.equal(patch.statusCode, 200, 'a write succeeds')
  for (let i = 0; i < 3; i++) {
    const res = await app.inject('/gigs/2')
    t.equal(json<{ title: string }>(res).title, title, `the next read shows it (${String(res.headers['x-cache'])})`)
  }
}

t.test('Redis out of memory (maxmemory with noeviction): served as misses, no 5xx, writes go through, then back to hits', async (t) => {
  const { app, admin, expected } = await setup(t)
  await admin.config('SET', 'maxmemory-policy', 'noeviction')
  await admin.config('SET', 'maxmemory', '1')
  const refused = await admin.set('probe', 'x').catch((e: Error) => e.message)
  t.match(String(refused), /OOM/, 'Redis refuses writes')
  await readsAreRight(t, app, expected)
  await writeThenRead(t, app, 'Written while Redis was out of memory')
  expected.delete('/gigs/2')
  await admin.config('SET', 'maxmemory', '0')
  t.ok(await eventually(async () => (await app.inject('/gigs/3')).headers['x-cache'] === 'HIT'), 'hits again once memory is back')
  t.equal(json<{ title: string }>(await app.inject('/gigs/2')).title, 'Written while Redis was out of memory', 'never the pre-write entry')
})

t.test('Redis turned read-only (a replica): reads served, a write\'s refused invalidation never lets the old entry out', async (t) => {
  const { app, admin, expected } = await setup(t)
  const gig2 = await app.inject('/gigs/2')
  t.equal(gig2.headers['x-cache'], 'HIT', 'gig 2 is cached')
  // A replica of a master that does not exist keeps its data and refuses every write.
  await admin.call('REPLICAOF', '127.0.0.1', String(await freePort()))
  const refused = await admin.set('probe', 'x').catch((e: Error) => e.message)
  t.match(String(refused), /READONLY/, 'Redis refuses writes')
  expected.delete('/gigs/2')
  await readsAreRight(t, app, expected)
  // Redis still holds gig 2's entry and cannot be told it changed.
  await writeThenRead(t, app, 'Written while Redis was read-only')
  await admin.call('REPLICAOF', 'NO', 'ONE')
  const guard = guardOf(app)
  t.ok(await eventually(async () => { await app.inject('/gigs/3'); return guard.stats().lost === 0 }), 'the refused invalidation is replayed once Redis takes writes')
  for (let i = 0; i < 3; i++) t.equal(json<{ title: string }>(await app.inject('/gigs/2')).title, 'Written while Redis was read-only')
})

t.test('Redis restarted without the scripts (NOSCRIPT): served as misses, then hits again with the scripts reloaded', async (t) => {
  const { redis, app, admin, expected } = await setup(t)
  await redis.restart()
  t.equal(await admin.call('SCRIPT', 'EXISTS', '0000000000000000000000000000000000000000').then(() => 'ok'), 'ok')
  t.ok(await eventually(async () => {
    const res = await app.inject('/gigs/3')
    t.equal(res.statusCode, 200)
    return res.headers['x-cache'] === 'HIT'
  }), 'hits again on the restarted server')
  await readsAreRight(t, app, expected)
})

t.test('session data with Redis gone: a signed-in read still answers, history reads empty, a draft autosave is a 503', async (t) => {
  const redis = await startRedisServer()
  const app = await buildOnRedis(t, redis.url)
  t.teardown(() => redis.stop())
  const alice = authAs(app, USERS.alice)
  await app.inject({ url: '/gigs/1', headers: alice })
  t.equal(json<unknown[]>(await app.inject({ url: '/me/recent-views', headers: alice })).length, 1, 'a view is recorded while Redis is up')
  await redis.kill()
  const gig = await app.inject({ url: '/gigs/2', headers: alice })
  t.equal(gig.statusCode, 200, 'recording the view is skipped, the gig is served')
  const views = await app.inject({ url: '/me/recent-views', headers: alice })
  t.equal(views.statusCode, 200)
  t.same(json(views), [], 'the history reads empty')
  const draft = await app.inject({ method: 'PUT', url: '/me/drafts/6/autosave', headers: alice, payload: { data: { title: 'x' } } })
  t.equal(draft.statusCode, 503, 'a draft exists only in the cache: 503, not a pretend success')
  t.match(json(draft), { statusCode: 503, code: 'SERVICE_UNAVAILABLE' })
})

import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import type { CacheEntry } from '../../src/cache/store.ts'
import type { TieredStore } from '../../src/cache/tiered-store.ts'
import { TTL_CLASSES } from '../../src/catalog.ts'
import { authAs, build, deletePrefix, json, REDIS_URL, USERS } from '../helpers/build.ts'
import { bareCacheApp, both, testStore, uniquePrefix, type Tap } from '../helpers/cache-app.ts'

type App = Awaited<ReturnType<typeof build>>

const JITTER = 1.05

/** The Gig Service with a key prefix of our own, so the test can look into Redis. */
async function buildWithPrefix (t: Tap, redis: boolean): Promise<{ app: App, prefix: string }> {
  const prefix = uniquePrefix('plugin')
  if (redis) t.teardown(() => deletePrefix(REDIS_URL, prefix))
  const app = await build(t, { redis, config: { cachePrefix: prefix } })
  return { app, prefix }
}

/** The entry as the authoritative tier holds it: L2 for the tiered store (L1 caps its own copy). */
async function storedEntry (app: App, key: string): Promise<CacheEntry | undefined> {
  const store = app.cacheStore
  return store.kind === 'tiered' ? await (store as TieredStore).l2.get(key) : await store.get(key)
}

async function scan (client: Redis, prefix: string): Promise<string[]> {
  const out: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500)
    cursor = next
    out.push(...keys)
  } while (cursor !== '0')
  return out
}

const anon = (app: FastifyInstance, url: string): Promise<LightMyRequestResponse> => app.inject({ url })
const as = (app: FastifyInstance, user: number, url: string): Promise<LightMyRequestResponse> =>
  app.inject({ url, headers: authAs(app, user) })

// Through the Gig Service -------------------------------------------------------------------------

both('a repeated GET /gigs/1 is served from the cache with the same bytes, etag and headers', async (t, redis) => {
  const app = await build(t, { redis })
  const first = await anon(app, '/gigs/1')
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-cache'], 'MISS')
  t.match(first.headers['content-type'], /^application\/json/)
  t.equal(first.headers['cache-control'], 'public, max-age=3600', 'entity TTL class')
  t.type(first.headers.etag, 'string')
  t.notOk('age' in first.headers, 'a fresh answer has no age')

  const second = await anon(app, '/gigs/1')
  t.equal(second.statusCode, 200)
  t.equal(second.headers['x-cache'], 'HIT')
  t.equal(second.body, first.body, 'byte-identical body')
  t.equal(second.headers.etag, first.headers.etag)
  t.match(second.headers.age, /^\d+$/)
  t.equal(second.headers['cache-control'], 'public, max-age=3600')
  t.match(second.headers['content-type'], /^application\/json/)
})

both('If-None-Match with the stored etag is a 304 with an empty body', async (t, redis) => {
  const app = await build(t, { redis })
  const first = await anon(app, '/gigs/1')
  const etag = first.headers.etag as string
  const res = await app.inject({ url: '/gigs/1', headers: { 'if-none-match': etag } })
  t.equal(res.statusCode, 304)
  t.equal(res.body, '')
  t.equal(res.headers.etag, etag)
  const weak = await app.inject({ url: '/gigs/1', headers: { 'if-none-match': `"other", W/${etag}` } })
  t.equal(weak.statusCode, 304, 'a weak etag in a list matches too')
  const other = await app.inject({ url: '/gigs/1', headers: { 'if-none-match': '"not-it"' } })
  t.equal(other.statusCode, 200, 'another etag gets the body')
  t.equal(other.body, first.body)
})

both('If-None-Match with a still-current etag is a 304 even when the entry was dropped', async (t, redis) => {
  const app = await build(t, { redis })
  const first = await anon(app, '/gigs/1')
  await app.cache.invalidateTags(['gig:1'])
  const res = await app.inject({ url: '/gigs/1', headers: { 'if-none-match': first.headers.etag as string } })
  t.equal(res.statusCode, 304)
  t.equal(res.body, '')
})

both('HEAD after a GET is a HIT with the headers and no body', async (t, redis) => {
  const app = await build(t, { redis })
  const get = await anon(app, '/gigs/1')
  const head = await app.inject({ method: 'HEAD', url: '/gigs/1' })
  t.equal(head.statusCode, 200)
  t.equal(head.headers['x-cache'], 'HIT')
  t.equal(head.headers.etag, get.headers.etag)
  t.equal(head.body, '')
})

both('a HEAD on a cold entry never leaves an empty body for the next GET', async (t, redis) => {
  const app = await build(t, { redis })
  const head = await app.inject({ method: 'HEAD', url: '/gigs/1' })
  t.equal(head.statusCode, 200)
  t.equal(head.body, '')
  const get = await anon(app, '/gigs/1')
  t.equal(get.statusCode, 200)
  t.match(json(get), { id: 1, status: 'open' })
})

both('a 404 is never stored', async (t, redis) => {
  const app = await build(t, { redis })
  for (let i = 0; i < 2; i++) {
    const res = await anon(app, '/gigs/999999')
    t.equal(res.statusCode, 404)
    t.not(res.headers['x-cache'], 'HIT')
    t.equal(json(res).code, 'NOT_FOUND')
  }
})

both('a 400 for a malformed id is never stored', async (t, redis) => {
  const app = await build(t, { redis })
  for (let i = 0; i < 2; i++) {
    const res = await anon(app, '/gigs/abc')
    t.equal(res.statusCode, 400)
    t.not(res.headers['x-cache'], 'HIT')
    t.equal(json(res).code, 'VALIDATION_ERROR')
  }
})

both('a signed-in GET of a public route is answered by the handler and stores nothing', async (t, redis) => {
  const app = await build(t, { redis })
  const authed = await as(app, USERS.bob, '/gigs/1')
  t.equal(authed.statusCode, 200)
  t.equal(authed.headers['x-cache'], 'BYPASS')
  const anonymous = await anon(app, '/gigs/1')
  t.equal(anonymous.headers['x-cache'], 'MISS', 'the signed-in answer was not stored')
  t.equal(anonymous.body, authed.body)
  const again = await as(app, USERS.bob, '/gigs/1')
  t.equal(again.headers['x-cache'], 'BYPASS', 'a stored entry is not served to a signed-in caller either')
})

both('a request carrying a cookie bypasses a public route\'s cache', async (t, redis) => {
  const app = await build(t, { redis })
  await anon(app, '/gigs/1')
  t.equal((await anon(app, '/gigs/1')).headers['x-cache'], 'HIT')
  const withCookie = await app.inject({ url: '/gigs/1', headers: { cookie: 'sid=abc' } })
  t.equal(withCookie.statusCode, 200)
  t.equal(withCookie.headers['x-cache'], 'BYPASS')
})

both('a draft fetched by its poster is never served to an anonymous caller', async (t, redis) => {
  const app = await build(t, { redis })
  const poster = await as(app, USERS.alice, '/gigs/6')
  t.equal(poster.statusCode, 200)
  t.equal(json(poster).status, 'draft')
  for (let i = 0; i < 2; i++) {
    const res = await anon(app, '/gigs/6')
    t.equal(res.statusCode, 404)
    t.notMatch(res.body, /Kubernetes migration plan/)
  }
})

both('a user-scoped list is cached per caller with private cache-control', async (t, redis) => {
  const app = await build(t, { redis })
  const first = await as(app, USERS.bob, '/users/2/applications')
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-cache'], 'MISS')
  const second = await as(app, USERS.bob, '/users/2/applications')
  t.equal(second.headers['x-cache'], 'HIT')
  t.equal(second.body, first.body)
  t.equal(second.headers['cache-control'], 'private, max-age=600')
  t.ok(json<unknown[]>(second).length > 0)
})

both('another user asking for a user-scoped list is refused and never gets the owner\'s entry', async (t, redis) => {
  const app = await build(t, { redis })
  const bob = await as(app, USERS.bob, '/users/2/applications')
  t.equal((await as(app, USERS.bob, '/users/2/applications')).headers['x-cache'], 'HIT')
  for (let i = 0; i < 2; i++) {
    const carol = await as(app, USERS.carol, '/users/2/applications')
    t.equal(carol.statusCode, 403)
    t.not(carol.headers['x-cache'], 'HIT')
    t.not(carol.body, bob.body)
  }
})

both('a gig\'s applications are cached for its poster and refused to anyone else', async (t, redis) => {
  const app = await build(t, { redis })
  const first = await as(app, USERS.alice, '/gigs/1/applications')
  t.equal(first.statusCode, 200)
  t.equal(first.headers['x-cache'], 'MISS')
  const second = await as(app, USERS.alice, '/gigs/1/applications')
  t.equal(second.headers['x-cache'], 'HIT')
  t.equal(second.headers['cache-control'], 'private, max-age=600')
  for (let i = 0; i < 2; i++) {
    const bob = await as(app, USERS.bob, '/gigs/1/applications')
    t.equal(bob.statusCode, 403)
    t.not(bob.headers['x-cache'], 'HIT')
  }
})

both('an entry stored on a MISS lives for its TTL class plus at most 5% jitter', async (t, redis) => {
  const { app, prefix } = await buildWithPrefix(t, redis)
  await anon(app, '/gigs/1')
  await as(app, USERS.bob, '/users/2/applications')
  await anon(app, '/users/2')
  const expected: Array<[string, number]> = [
    ['gig:1', TTL_CLASSES.entity],
    ['user_applications:2@2', TTL_CLASSES.userLists],
    ['user:2', TTL_CLASSES.userProfile]
  ]
  const client = redis ? new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }) : undefined
  t.teardown(() => { client?.disconnect() })
  for (const [key, seconds] of expected) {
    const entry = await storedEntry(app, key)
    t.ok(entry, `${key} is stored`)
    const lifetime = entry!.freshUntil - entry!.storedAt
    t.ok(lifetime >= seconds * 1000 && lifetime <= seconds * 1000 * JITTER, `${key} fresh for ${lifetime} ms`)
    if (client) {
      const pttl = await client.pttl(`${prefix}:${key}`)
      t.ok(pttl > (seconds - 60) * 1000 && pttl <= seconds * 1000 * JITTER, `${key} PTTL ${pttl} within ${seconds} s + 5%`)
    }
  }
})

both('nothing the cache writes is kept forever', async (t, redis) => {
  const { app, prefix } = await buildWithPrefix(t, redis)
  // entries, tag tokens, per-caller entries, session data and invalidation tokens
  await anon(app, '/gigs/1')
  await anon(app, '/gigs?category=design')
  await anon(app, '/users/2')
  await as(app, USERS.bob, '/users/2/applications')
  await as(app, USERS.bob, '/gigs/1')
  for (const key of ['gig:1', 'user:2', 'user_applications:2@2']) {
    const entry = await storedEntry(app, key)
    t.ok(entry && Number.isFinite(entry.staleUntil), `${key} expires`)
  }
  const patch = await app.inject({ method: 'PATCH', url: '/users/2', headers: authAs(app, USERS.bob), payload: { headline: 'x' } })
  t.equal(patch.statusCode, 200)
  if (!redis) return
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const keys = await scan(client, prefix)
  t.ok(keys.length >= 5, `${keys.length} keys under the prefix`)
  t.ok(keys.includes(`${prefix}:gig:1`))
  for (const key of keys) {
    const pttl = await client.pttl(key)
    t.ok(pttl > 0, `${key.slice(prefix.length)} has a TTL (${pttl} ms)`)
  }
})

both('a path id holding a glob (1* or *) is a 400 and never stored', async (t, redis) => {
  const { app, prefix } = await buildWithPrefix(t, redis)
  for (const url of ['/gigs/1%2A', '/gigs/*']) {
    for (let i = 0; i < 2; i++) {
      const res = await anon(app, url)
      t.equal(res.statusCode, 400, url)
      t.not(res.headers['x-cache'], 'HIT', url)
    }
  }
  t.equal(await app.cacheStore.get('gig:1%2A'), undefined)
  t.equal(await app.cacheStore.get('gig:%2A'), undefined)
  if (redis) {
    const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
    t.teardown(() => { client.disconnect() })
    t.same((await scan(client, prefix)).filter((k) => k.slice(prefix.length).includes('*')), [], 'no key holds a glob')
  }
})

both('a category holding & = * : is rejected by the schema and never stored', async (t, redis) => {
  const app = await build(t, { redis })
  const url = `/gigs?category=${encodeURIComponent('design&status=open*:x')}`
  for (let i = 0; i < 2; i++) {
    const res = await anon(app, url)
    t.equal(res.statusCode, 400)
    t.not(res.headers['x-cache'], 'HIT')
    t.match(json(res).message, /category/)
  }
})

both('distinct /gigs query strings are distinct entries', async (t, redis) => {
  const app = await build(t, { redis })
  const design = await anon(app, '/gigs?category=design')
  const writing = await anon(app, '/gigs?category=writing')
  t.equal(design.headers['x-cache'], 'MISS')
  t.equal(writing.headers['x-cache'], 'MISS', 'another query is not served the first one\'s entry')
  t.not(design.body, writing.body)
  const design2 = await anon(app, '/gigs?category=design')
  const writing2 = await anon(app, '/gigs?category=writing')
  t.equal(design2.headers['x-cache'], 'HIT')
  t.equal(writing2.headers['x-cache'], 'HIT')
  t.equal(design2.body, design.body)
  t.equal(writing2.body, writing.body)
})

both('a query value that spells another query string never shares its entry', async (t, redis) => {
  const app = await build(t, { redis })
  const real = await anon(app, '/gigs?skill=typescript&status=open')
  t.ok(json<{ total: number }>(real).total > 0)
  const forged = await anon(app, `/gigs?skill=${encodeURIComponent('typescript&status=open')}`)
  t.equal(forged.statusCode, 200)
  t.equal(forged.headers['x-cache'], 'MISS')
  t.equal(json<{ total: number }>(forged).total, 0, 'no gig lists the skill "typescript&status=open"')
  const forgedAgain = await anon(app, `/gigs?skill=${encodeURIComponent('typescript&status=open')}`)
  t.equal(forgedAgain.headers['x-cache'], 'HIT')
  t.equal(forgedAgain.body, forged.body)
  const glob = await anon(app, `/gigs?skill=${encodeURIComponent('*:ty=pe')}`)
  t.equal(glob.statusCode, 200)
  t.equal(json<{ total: number }>(glob).total, 0, 'a glob in a value matches nothing else')
})

both('distinct /search queries get distinct answers, each repeatable', async (t, redis) => {
  const app = await build(t, { redis })
  const caching = await anon(app, '/search?q=caching')
  const video = await anon(app, '/search?q=video')
  t.equal(caching.statusCode, 200)
  t.equal(video.statusCode, 200)
  t.not(caching.body, video.body)
  const caching2 = await anon(app, '/search?q=caching')
  const video2 = await anon(app, '/search?q=video')
  t.equal(caching2.body, caching.body)
  t.equal(video2.body, video.body)
  if (caching.headers['x-cache'] !== undefined) {
    t.equal(video.headers['x-cache'], 'MISS')
    t.equal(caching2.headers['x-cache'], 'HIT')
    t.equal(video2.headers['x-cache'], 'HIT')
  }
})

// A tiny app of our own, for what no Gig Service route does ----------------------------------------

interface Tiny { app: FastifyInstance, calls: () => number }

async function tinyApp (t: Tap, redis: boolean, reply: (set: (name: string, value: string) => void) => unknown, opts: { maxEntryBytes?: number } = {}): Promise<Tiny> {
  const { app } = await bareCacheApp(t, testStore(t, redis, 'tiny'), opts)
  let calls = 0
  app.get('/things/:id', {
    config: { cache: { key: 'thing:{params.id}', ttl: 'entity' } },
    schema: { params: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] } }
  }, async (request, res) => {
    calls++
    const body = reply((name, value) => { res.header(name, value) })
    return body ?? { id: (request.params as { id: number }).id, calls }
  })
  await app.ready()
  return { app, calls: () => calls }
}

async function twice (tiny: Tiny): Promise<[LightMyRequestResponse, LightMyRequestResponse]> {
  const a = await tiny.app.inject('/things/1')
  const b = await tiny.app.inject('/things/1')
  return [a, b]
}

both('a plain 200 of a cached route is stored (the tiny app caches)', async (t, redis) => {
  const tiny = await tinyApp(t, redis, () => undefined)
  const [a, b] = await twice(tiny)
  t.equal(a.headers['x-cache'], 'MISS')
  t.equal(b.headers['x-cache'], 'HIT')
  t.equal(b.body, a.body)
  t.equal(tiny.calls(), 1)
})

both('a header Node rejects on a cached miss is a 500 in the error shape, not a hung request', async (t, redis) => {
  const tiny = await tinyApp(t, redis, (set) => { set('x-bad', 'caf\u0100') })
  const res = await tiny.app.inject('/things/1')
  t.equal(res.statusCode, 500)
  t.match(res.json(), { statusCode: 500, error: 'Internal Server Error' })
})

both('a response that sets a cookie is not stored', async (t, redis) => {
  const tiny = await tinyApp(t, redis, (set) => { set('set-cookie', 'sid=secret; HttpOnly') })
  const [a, b] = await twice(tiny)
  t.equal(a.statusCode, 200)
  t.not(b.headers['x-cache'], 'HIT')
  t.equal(tiny.calls(), 2)
  t.match(b.headers['set-cookie'], /sid=secret/)
})

both('a response marked cache-control: no-store is not stored', async (t, redis) => {
  const tiny = await tinyApp(t, redis, (set) => { set('cache-control', 'no-store') })
  const [a, b] = await twice(tiny)
  t.equal(a.statusCode, 200)
  t.not(b.headers['x-cache'], 'HIT')
  t.equal(tiny.calls(), 2)
  t.equal(b.headers['cache-control'], 'no-store', 'the handler\'s cache-control is kept')
})

both('a response marked cache-control: private on a public route is not stored', async (t, redis) => {
  const tiny = await tinyApp(t, redis, (set) => { set('cache-control', 'private, max-age=60') })
  const [a, b] = await twice(tiny)
  t.equal(a.statusCode, 200)
  t.not(b.headers['x-cache'], 'HIT')
  t.equal(tiny.calls(), 2)
})

both('a response with Vary: * is not stored', async (t, redis) => {
  const tiny = await tinyApp(t, redis, (set) => { set('vary', '*') })
  const [a, b] = await twice(tiny)
  t.equal(a.statusCode, 200)
  t.not(b.headers['x-cache'], 'HIT')
  t.equal(tiny.calls(), 2)
})

both('a body larger than maxEntryBytes is sent whole but not stored', async (t, redis) => {
  const big = 'x'.repeat(5000)
  const tiny = await tinyApp(t, redis, () => ({ big }), { maxEntryBytes: 4096 })
  const [a, b] = await twice(tiny)
  t.equal(a.statusCode, 200)
  t.equal(json<{ big: string }>(a).big.length, 5000, 'the client gets the whole body')
  t.not(b.headers['x-cache'], 'HIT')
  t.equal(tiny.calls(), 2)
})

both('a body just under maxEntryBytes is stored', async (t, redis) => {
  const tiny = await tinyApp(t, redis, () => ({ big: 'x'.repeat(3000) }), { maxEntryBytes: 4096 })
  const [, b] = await twice(tiny)
  t.equal(b.headers['x-cache'], 'HIT')
  t.equal(tiny.calls(), 1)
})

both('a concurrent miss whose leader never finishes is answered by its own handler after the fill wait', async (t, redis) => {
  const { app } = await bareCacheApp(t, testStore(t, redis, 'stuck'))
  let calls = 0
  let unstick!: () => void
  const stuck = new Promise<void>((resolve) => { unstick = resolve })
  let entered!: () => void
  const leaderIn = new Promise<void>((resolve) => { entered = resolve })
  app.get('/slow/:id', { config: { cache: { key: 'slow:{params.id}', ttl: 'entity' } } }, async () => {
    calls++
    if (calls === 1) {
      entered()
      await stuck
    }
    return { calls }
  })
  const leader = app.inject('/slow/1')
  // The leader is inside its handler before the follower arrives.
  await leaderIn
  const follower = await app.inject('/slow/1')
  t.equal(follower.statusCode, 200)
  t.same(follower.json(), { calls: 2 }, 'the follower ran the handler itself')
  unstick()
  t.equal((await leader).statusCode, 200)
})

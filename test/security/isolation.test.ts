import { connect } from 'node:net'
import t from 'tap'
import { Redis } from 'ioredis'
import { authAs, build, json, REDIS_URL, USERS } from '../helpers/build.ts'

// Nobody sees another's data: a caller's entries are keyed by the caller, a signed-in request to a
// public route is never stored, odd spellings of a path never reach someone else's entry, error
// responses are never stored, and everything written to Redis expires. Run on the shared Redis
// under a prefix of this file's own.

const PREFIX = `test:security:${process.pid}:${Date.now().toString(36)}`

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

async function app (t: Tap, n: number) {
  return await build(t, { redis: true, config: { cachePrefix: `${PREFIX}:${n}` } })
}

// Spellings of one path that routers, proxies and CDNs have been known to treat as the same.
function variants (path: string): string[] {
  const [head, ...rest] = path.split('/').filter(Boolean)
  const tail = rest.join('/')
  return [
    path, `${path}/`, `${path};x.css`, `${path}.css`, `${path}%3Bx.css`, `${path}?x=.css`, `${path}#x`,
    path.toUpperCase(), `/${head!.toUpperCase()}/${tail}`, `/${head}%2F${tail}`, `/${head}/${encodeURIComponent(tail).replaceAll('%2F', '/')}`,
    `//${head}/${tail}`, `/${head}/./${tail}`, `/x/../${head}/${tail}`, `${path}%00`, `${path}%20`, `/${head}/${tail.replace(/\d+/, (d) => '0' + d)}`
  ]
}

t.test('a user-scoped list never reaches another caller, whatever the spelling of its path', async (t) => {
  const a = await app(t, 1)
  const alice = authAs(a, USERS.alice)
  const own = await a.inject({ url: '/users/1/drafts', headers: alice })
  t.equal(own.statusCode, 200)
  t.equal((await a.inject({ url: '/users/1/drafts', headers: alice })).headers['x-cache'], 'HIT', "alice's entry is stored")
  for (const who of [{ name: 'bob', headers: authAs(a, USERS.bob) }, { name: 'anonymous', headers: {} }]) {
    for (const url of variants('/users/1/drafts')) {
      const res = await a.inject({ url, headers: who.headers })
      t.ok(res.statusCode !== 200 || res.body !== own.body, `${who.name} ${url} → ${res.statusCode}, never alice's drafts`)
      t.not(res.headers['x-cache'], 'HIT', `${who.name} ${url} is not a hit`)
    }
  }
})

t.test("user A's recent views never reach user B, whatever the spelling of the path", async (t) => {
  const a = await app(t, 2)
  const alice = authAs(a, USERS.alice)
  const bob = authAs(a, USERS.bob)
  await a.inject({ url: '/gigs/1', headers: alice })
  await a.inject({ url: '/gigs/2', headers: alice })
  await a.inject({ url: '/gigs/3', headers: bob })
  const mine = json<Array<{ gigId: number }>>(await a.inject({ url: '/me/recent-views', headers: alice }))
  t.same(mine.map((v) => v.gigId), [2, 1])
  for (const url of variants('/me/recent-views')) {
    const res = await a.inject({ url, headers: bob })
    if (res.statusCode !== 200) continue
    const views = JSON.parse(res.body) as Array<{ gigId: number }>
    t.same(views.map((v) => v.gigId), [3], `bob ${url} sees only his own view`)
  }
})

t.test('a signed-in request to a public route is answered by the handler and never stored', async (t) => {
  const a = await app(t, 3)
  const res = await a.inject({ url: '/gigs/4', headers: authAs(a, USERS.carol) })
  t.equal(res.headers['x-cache'], 'BYPASS')
  t.equal(await a.cacheStore.get('gig:4'), undefined, 'nothing stored')
  t.equal((await a.inject('/gigs/4')).headers['x-cache'], 'MISS', 'the next anonymous caller gets a fresh answer')
})

t.test('error responses are never stored: bad input, unknown ids, an oversized header, an overlong URL', async (t) => {
  const a = await app(t, 4)
  t.equal((await a.inject('/gigs/abc')).statusCode, 400)
  t.equal((await a.inject('/gigs/99999')).statusCode, 404)
  t.equal((await a.inject(`/gigs/${'1'.repeat(300)}`)).statusCode, 414)
  await a.listen({ port: 0, host: '127.0.0.1' })
  const port = (a.server.address() as { port: number }).port
  const status = await new Promise<string>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET /gigs/5 HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\nConnection: close\r\n\r\n`)
    })
    let buf = ''
    s.on('data', (d) => { buf += d.toString() })
    s.on('end', () => resolve(buf.split('\r\n')[0] ?? ''))
    s.on('error', reject)
  })
  t.match(status, /^HTTP\/1\.1 431/, 'an oversized header is refused')
  const after = await fetch(`http://127.0.0.1:${port}/gigs/5`)
  t.equal(after.status, 200)
  t.equal(after.headers.get('x-cache'), 'MISS', 'the refused request left nothing behind')
  for (const key of ['gig:abc', 'gig:99999']) t.equal(await a.cacheStore.get(key), undefined, `${key} not stored`)
  t.equal((await fetch(`http://127.0.0.1:${port}/gigs/5`)).headers.get('x-cache'), 'HIT')
})

t.test('every key the service wrote to Redis under this prefix has a TTL', async (t) => {
  const a = await app(t, 5)
  const alice = authAs(a, USERS.alice)
  // entries of each kind, tag tokens, per-caller entries, session data, invalidations, write-through
  for (const url of ['/gigs/1', '/gigs?status=open', '/featured', '/categories', '/search?q=design', '/users/2', '/stats/daily', '/leaderboards/creators']) await a.inject(url)
  await a.inject({ url: '/users/1/drafts', headers: alice })
  await a.inject({ url: '/gigs/2', headers: alice })
  t.equal((await a.inject({ method: 'PUT', url: '/me/drafts/6/autosave', headers: alice, payload: { data: { title: 'x' } } })).statusCode, 200, 'a draft autosaved')
  t.equal((await a.inject({ method: 'PATCH', url: '/gigs/1', headers: alice, payload: { title: 'Renamed for the TTL check' } })).statusCode, 200)
  await a.inject({ method: 'POST', url: '/gigs/1/status', headers: alice, payload: { status: 'cancelled' } })
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  t.teardown(() => { client.disconnect() })
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, found] = await client.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000)
    cursor = next
    keys.push(...found)
  } while (cursor !== '0')
  t.ok(keys.length >= 15, `${keys.length} keys written`)
  const forever = []
  for (const key of keys) if (await client.pttl(key) < 0) forever.push(key)
  t.same(forever, [], 'none without a TTL')
})

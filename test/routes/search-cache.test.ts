import t from 'tap'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { lexemesOfTsquery } from '../../src/domain/search.ts'
import { authAs, build, USERS } from '../helpers/build.ts'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

interface Page { items: Array<{ id: number, title: string, budgetMax: number }>, total: number }

// Demo data: gig 1 "Build a caching layer for our Fastify API" (the only match for "caching"),
// gig 2 "Landing page redesign" (design), gig 12 "Newsletter copy" (writing); alice posted all three.
function both (name: string, fn: (t: Tap, app: FastifyInstance) => Promise<void>): void {
  for (const redis of [false, true]) {
    t.test(`${name} (${redis ? 'redis' : 'memory'})`, async (t) => { await fn(t, await build(t, { redis })) })
  }
}

async function edit (app: FastifyInstance, gigId: number, patch: Record<string, unknown>): Promise<void> {
  const res = await app.inject({ method: 'PATCH', url: `/gigs/${gigId}`, headers: authAs(app, USERS.alice), payload: patch })
  if (res.statusCode !== 200) throw new Error(`PATCH /gigs/${gigId}: ${res.statusCode} ${res.body}`)
}

async function cached (app: FastifyInstance, url: string): Promise<LightMyRequestResponse> {
  await app.inject(url)
  const again = await app.inject(url)
  if (again.headers['x-cache'] !== 'HIT') throw new Error(`${url} was not cached: ${String(again.headers['x-cache'])}`)
  return again
}

const ids = (res: LightMyRequestResponse): number[] => res.json<Page>().items.map((g) => g.id).sort((a, b) => a - b)

both('an edit of a gig sharing no word with a query leaves its cached results alone', async (t, app) => {
  await cached(app, '/search?q=caching')
  await edit(app, 12, { title: 'Newsletter copy for spring' })
  const res = await app.inject('/search?q=caching')
  t.equal(res.headers['x-cache'], 'HIT')
  t.same(ids(res), [1])
})

both('an edit that makes a gig match a query shows it in that query\'s next answer', async (t, app) => {
  await cached(app, '/search?q=caching')
  await edit(app, 12, { title: 'Newsletter about caching' })
  const res = await app.inject('/search?q=caching')
  t.equal(res.headers['x-cache'], 'MISS')
  t.same(ids(res), [1, 12])
})

both('an edit that makes a gig stop matching a query drops it from that query\'s next answer', async (t, app) => {
  await cached(app, '/search?q=caching')
  await edit(app, 1, { title: 'Build a layer for our Fastify API', description: 'Add Redis to a Fastify 5 service.' })
  const res = await app.inject('/search?q=caching')
  t.equal(res.headers['x-cache'], 'MISS')
  t.same(ids(res), [])
})

both('an edit of a gig a query shows (its budget) refreshes the query\'s answer', async (t, app) => {
  await cached(app, '/search?q=caching')
  await edit(app, 1, { budgetMax: 3500 })
  const res = await app.inject('/search?q=caching')
  t.equal(res.headers['x-cache'], 'MISS')
  t.equal(res.json<Page>().items[0]?.budgetMax, 3500)
})

both('a query with an excluded word is refreshed by any gig edit', async (t, app) => {
  await cached(app, '/search?q=caching%20-postgres')
  await edit(app, 2, { title: 'Landing page refresh' })
  t.equal((await app.inject('/search?q=caching%20-postgres')).headers['x-cache'], 'MISS')
})

both('a search without text is refreshed by any gig edit', async (t, app) => {
  await cached(app, '/search?category=writing')
  await edit(app, 2, { title: 'Landing page refresh' })
  t.equal((await app.inject('/search?category=writing')).headers['x-cache'], 'MISS')
})

t.test('a query\'s lexemes come from its tsquery text; none when it is empty or negates', async (t) => {
  t.same(lexemesOfTsquery("'api' & 'cach'"), ['api', 'cach'])
  t.same(lexemesOfTsquery("'fastifi' <-> 'api' | 'redi'"), ['api', 'fastifi', 'redi'])
  t.same(lexemesOfTsquery("'it''s' & 'it''s'"), ["it's"], 'quotes undoubled, duplicates once')
  t.equal(lexemesOfTsquery("'api' & !'cach'"), undefined)
  t.equal(lexemesOfTsquery(''), undefined)
})

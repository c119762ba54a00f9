import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { authAs, build, json, USERS } from '../helpers/build.ts'

interface GigItem { id: number, status: string, category: string, skills: string[], budgetMin: number, budgetMax: number }
interface SearchPage { items: GigItem[], page: number, pageSize: number, total: number }

async function search (app: FastifyInstance, query: string, headers: Record<string, string> = {}): Promise<SearchPage> {
  const res = await app.inject({ url: `/search?${query}`, headers })
  if (res.statusCode !== 200) throw new Error(`GET /search?${query}: ${res.statusCode} ${res.body}`)
  return json<SearchPage>(res)
}

const ids = (page: SearchPage): number[] => page.items.map((g) => g.id)

async function postGig (app: FastifyInstance, userId: number, payload: Record<string, unknown>): Promise<number> {
  const res = await app.inject({
    method: 'POST', url: '/gigs', headers: authAs(app, userId), payload: { category: 'writing', budgetMin: 100, budgetMax: 200, ...payload }
  })
  if (res.statusCode !== 201) throw new Error(`POST /gigs: ${res.statusCode} ${res.body}`)
  return json<{ id: number }>(res).id
}

t.test('a gig with the words in its title ranks above one with them in its description', async (t) => {
  const app = await build(t)
  // gig 3 has Postgres in its title; gig 10 (and this newer gig) only in the description
  const newer = await postGig(app, USERS.bob, { title: 'Nightly backups', description: 'Back up our Postgres database every night.', status: 'open' })
  const ranked = await search(app, 'q=postgres')
  t.equal(ranked.items[0]?.id, 3)
  t.same(ids(ranked).sort((a, b) => a - b), [3, 10, newer])
  t.equal(ranked.total, 3)
  const newest = await search(app, 'q=postgres&sort=newest')
  t.equal(newest.items[0]?.id, newer, 'sort=newest orders by creation instead')
})

t.test('results are gigs without the search vector, in a page', async (t) => {
  const app = await build(t)
  const page = await search(app, 'q=caching')
  t.same(ids(page), [1])
  t.match(page, { page: 1, pageSize: 20, total: 1 })
  t.match(page.items[0], { id: 1, status: 'open', title: 'Build a caching layer for our Fastify API' })
  t.notOk('search' in page.items[0]!, 'the search vector is never sent')
})

t.test('web-search syntax works: a quoted phrase and an excluded word', async (t) => {
  const app = await build(t)
  t.same(ids(await search(app, `q=${encodeURIComponent('"query tuning"')}`)), [3])
  t.same(ids(await search(app, `q=${encodeURIComponent('postgres -pandas')}`)), [3])
})

t.test('without q every open gig is listed, newest first', async (t) => {
  const app = await build(t)
  const created = await postGig(app, USERS.bob, { title: 'Brand new gig', status: 'open' })
  const page = await search(app, 'pageSize=100')
  t.equal(page.items[0]?.id, created)
  t.ok(page.items.every((g) => g.status === 'open'), 'only open gigs')
  t.equal(page.total, 9)
})

t.test('drafts never appear in search results', async (t) => {
  const app = await build(t)
  const draft = await postGig(app, USERS.bob, { title: 'Secret zeppelin project' })
  t.equal((await search(app, 'q=zeppelin')).total, 0)
  t.equal((await search(app, 'q=kubernetes', authAs(app, USERS.alice))).total, 0, 'not even for their poster')
  t.notOk(ids(await search(app, 'pageSize=100')).includes(draft))
})

t.test('gigs that are no longer open are not found', async (t) => {
  const app = await build(t)
  t.equal((await search(app, 'q=swiftui')).total, 0, 'in progress')
  t.equal((await search(app, 'q=rust')).total, 0, 'cancelled')
})

t.test('category filters results', async (t) => {
  const app = await build(t)
  t.same(ids(await search(app, 'category=data-science')).sort((a, b) => a - b), [3, 10])
  t.same(ids(await search(app, 'q=postgres&category=data-science&sort=relevance')), [3, 10])
})

t.test('skills match gigs listing any of them, comma-separated or repeated', async (t) => {
  const app = await build(t)
  t.same(ids(await search(app, 'skills=redis')), [1])
  const comma = ids(await search(app, 'skills=redis,figma')).sort((a, b) => a - b)
  const repeated = ids(await search(app, 'skills=figma&skills=redis')).sort((a, b) => a - b)
  t.same(comma, [1, 2])
  t.same(repeated, [1, 2])
})

t.test('budget filters keep gigs whose range overlaps', async (t) => {
  const app = await build(t)
  const cheap = await search(app, 'maxBudget=450&pageSize=100')
  t.same(ids(cheap).sort((a, b) => a - b), [7, 12])
  const rich = await search(app, 'minBudget=2500&pageSize=100')
  t.same(ids(rich).sort((a, b) => a - b), [1, 8])
  const both = await search(app, 'minBudget=1000&maxBudget=1000&pageSize=100')
  t.ok(both.items.every((g) => g.budgetMin <= 1000 && g.budgetMax >= 1000))
})

t.test('sort=budget lists the highest budget first', async (t) => {
  const app = await build(t)
  const page = await search(app, 'sort=budget&pageSize=3')
  t.same(ids(page), [1, 8, 10])
})

t.test('pages hold pageSize items and the total counts every match', async (t) => {
  const app = await build(t)
  const first = await search(app, 'pageSize=3')
  const second = await search(app, 'pageSize=3&page=2')
  t.equal(first.items.length, 3)
  t.equal(second.items.length, 3)
  t.equal(second.page, 2)
  t.equal(first.total, 8)
  t.same(ids(first).filter((id) => ids(second).includes(id)), [], 'pages do not overlap')
})

t.test('a query of stop words only finds nothing instead of failing', async (t) => {
  const app = await build(t)
  t.equal((await search(app, 'q=the')).total, 0)
})

t.test('an unknown sort is a 400 naming query.sort', async (t) => {
  const app = await build(t)
  const res = await app.inject('/search?sort=cheapest')
  t.equal(res.statusCode, 400)
  t.match(json(res), { code: 'VALIDATION_ERROR', message: /query\.sort/ })
})

t.test('a pageSize over 100 is a 400 naming query.pageSize', async (t) => {
  const app = await build(t)
  const res = await app.inject('/search?pageSize=1000')
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /query\.pageSize/)
})

t.test('a malformed skill is a 400 naming query.skills', async (t) => {
  const app = await build(t)
  const res = await app.inject('/search?skills=Not%20A%20Slug')
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /query\.skills/)
})

t.test('more than 20 skills, however they are written, is a 400 naming query.skills', async (t) => {
  const app = await build(t)
  const skills = Array.from({ length: 21 }, (_, i) => `s${i}`).join(',')
  const res = await app.inject(`/search?skills=${skills}`)
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /query\.skills/)
})

t.test('minBudget above maxBudget is a 400', async (t) => {
  const app = await build(t)
  const res = await app.inject('/search?minBudget=500&maxBudget=100')
  t.equal(res.statusCode, 400)
  t.match(json(res), { code: 'BUDGET_RANGE', message: /query\.minBudget/ })
})

t.test('a signed-in search is remembered in its normalised form', async (t) => {
  const app = await build(t)
  await search(app, `q=${encodeURIComponent('  Postgres   TUNING ')}&skills=sql,postgres&page=1`, authAs(app, USERS.bob))
  const history = json<Array<{ query: unknown, searchedAt: string }>>(
    await app.inject({ url: '/me/search-history', headers: authAs(app, USERS.bob) }))
  t.equal(history.length, 1)
  t.same(history[0]!.query, { q: 'postgres tuning', skills: ['postgres', 'sql'], sort: 'relevance' })
  t.type(history[0]!.searchedAt, 'string')
})

t.test('an anonymous search is not remembered anywhere', async (t) => {
  const app = await build(t)
  await search(app, 'q=postgres')
  const history = json(await app.inject({ url: '/me/search-history', headers: authAs(app, USERS.bob) }))
  t.same(history, [])
})

t.test('a search still answers when its history cannot be recorded, and says so in the log', async (t) => {
  const lines: string[] = []
  const app = await build(t, { logger: { level: 'warn', stream: { write: (line: string) => { lines.push(line) } } } })
  app.sessions.recordSearch = async () => { throw new Error('session store down') }
  const res = await app.inject({ url: '/search?q=postgres', headers: authAs(app, USERS.bob) })
  t.equal(res.statusCode, 200)
  t.equal(json<SearchPage>(res).items[0]?.id, 3)
  const warned = lines.map((l) => JSON.parse(l) as { level: number, msg: string, err?: { message: string } })
    .filter((l) => l.msg === 'search history not recorded')
  t.equal(warned.length, 1)
  t.match(warned[0], { level: 40, err: { message: 'session store down' } })
})

t.test('an invalid token on a search is a 401', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/search?q=postgres', headers: { authorization: 'Bearer nope' } })
  t.equal(res.statusCode, 401)
})

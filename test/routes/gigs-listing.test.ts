import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { ALL_GIG_LISTINGS } from '../../src/catalog.ts'
import { tagsFor } from '../../src/invalidation.ts'
import type { DomainEventMap } from '../../src/domain/events.ts'
import { authAs, build, json, USERS } from '../helpers/build.ts'

// GET /gigs pages depend on the gig_list tag (which gigs they hold, in which order) and on the
// gig:{id} tag of every gig they show (what those gigs say). These tests pin down which writes
// reach which pages, on the in-memory store and on the shared Redis.
//
// Demo data: gigs 1–12 share one created_at, so listings run by id, newest first; gig 6 is a
// draft. /gigs?pageSize=2 shows gigs 12 and 11.

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]
type App = Awaited<ReturnType<typeof build>>
interface GigItem { id: number, title: string, category: string }
interface GigPage { items: GigItem[], total: number }

const { alice } = USERS

function both (name: string, fn: (t: Tap, app: App) => Promise<void>): void {
  for (const redis of [false, true]) {
    t.test(`${name} (${redis ? 'redis' : 'memory'})`, async (t) => { await fn(t, await build(t, { redis })) })
  }
}

/** Reads a page twice: the second read must be a cache hit. */
async function warm (t: Tap, app: App, url: string): Promise<GigPage> {
  await app.inject(url)
  const res = await app.inject(url)
  t.equal(res.headers['x-cache'], 'HIT', `${url} is cached before the write`)
  return json<GigPage>(res)
}

async function read (app: App, url: string): Promise<{ res: LightMyRequestResponse, page: GigPage }> {
  const res = await app.inject(url)
  return { res, page: json<GigPage>(res) }
}

async function write (t: Tap, app: App, method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object): Promise<GigItem> {
  const res = await app.inject({ method, url, headers: authAs(app, alice), ...(payload === undefined ? {} : { payload }) })
  t.ok(res.statusCode >= 200 && res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`)
  return res.body === '' ? { id: 0, title: '', category: '' } : json<GigItem>(res)
}

const ids = (page: GigPage): number[] => page.items.map((g) => g.id)

both('a listing page lists its gigs newest first, each as GET /gigs/:id shows it', async (t, app) => {
  const { page } = await read(app, '/gigs')
  t.same(ids(page), [12, 11, 10, 9, 8, 7, 5, 4, 3, 2, 1])
  t.equal(page.total, 11)
  for (const item of page.items) t.same(item, json(await app.inject(`/gigs/${item.id}`)), `gig ${item.id}`)
})

both('a title edit of a gig on a cached page: the next read is a miss showing the new title, then a hit', async (t, app) => {
  const before = await warm(t, app, '/gigs?pageSize=2')
  await write(t, app, 'PATCH', '/gigs/12', { title: 'Newsletter copy, now weekly' })
  const after = await read(app, '/gigs?pageSize=2')
  t.equal(after.res.headers['x-cache'], 'MISS')
  t.same(ids(after.page), ids(before))
  t.equal(after.page.items[0]?.title, 'Newsletter copy, now weekly')
  const again = await app.inject('/gigs?pageSize=2')
  t.equal(again.headers['x-cache'], 'HIT')
  t.equal(again.body, after.res.body)
})

both('a title edit of a gig on no cached page leaves those pages, the category counts and the skill ranking cached', async (t, app) => {
  const first = await warm(t, app, '/gigs?pageSize=2')
  const design = await warm(t, app, '/gigs?category=design')
  await warm(t, app, '/categories')
  await warm(t, app, '/skills/popular')
  t.notOk([...ids(first), ...ids(design)].includes(1))
  await write(t, app, 'PATCH', '/gigs/1', { title: 'A title nobody lists', description: 'Nor this.' })
  for (const url of ['/gigs?pageSize=2', '/gigs?category=design', '/categories', '/skills/popular']) {
    t.equal((await app.inject(url)).headers['x-cache'], 'HIT', url)
  }
  const page2 = await read(app, '/gigs?pageSize=2&page=6')
  t.same(page2.page.items.map((g) => [g.id, g.title]), [[1, 'A title nobody lists']], 'the page that shows it is fresh')
})

both('a title edit reaches /featured only when the gig is featured', async (t, app) => {
  await warm(t, app, '/featured')
  await write(t, app, 'PATCH', '/gigs/12', { title: 'Not featured, still edited' })
  t.equal((await app.inject('/featured')).headers['x-cache'], 'HIT', 'gig 12 is not featured')
  await write(t, app, 'PATCH', '/gigs/1', { title: 'Featured and edited' })
  const featured = json<GigItem[]>(await app.inject('/featured'))
  t.equal(featured.find((g) => g.id === 1)?.title, 'Featured and edited')
})

both('a category change re-reads the listings of the old and the new category', async (t, app) => {
  const writing = await warm(t, app, '/gigs?category=writing')
  const design = await warm(t, app, '/gigs?category=design')
  t.same(ids(writing), [12, 5])
  await write(t, app, 'PATCH', '/gigs/12', { category: 'design' })
  const oldCategory = (await read(app, '/gigs?category=writing')).page
  t.same(ids(oldCategory), [5])
  t.equal(oldCategory.total, writing.total - 1)
  const newCategory = (await read(app, '/gigs?category=design')).page
  t.same(ids(newCategory), [12, ...ids(design)])
  t.equal(newCategory.total, design.total + 1)
})

both('a budget change re-reads listings filtered by budget, even ones that showed nothing', async (t, app) => {
  t.same(ids(await warm(t, app, '/gigs?minBudget=3500')), [])
  await write(t, app, 'PATCH', '/gigs/12', { budgetMax: 5000 })
  t.same(ids((await read(app, '/gigs?minBudget=3500')).page), [12])
})

both('a skills change re-reads listings filtered by skill', async (t, app) => {
  t.same(ids(await warm(t, app, '/gigs?skill=go')), [])
  await write(t, app, 'PATCH', '/gigs/12', { skills: ['go', 'copywriting'] })
  t.same(ids((await read(app, '/gigs?skill=go')).page), [12])
})

both('a new open gig heads the first page right after POST /gigs', async (t, app) => {
  const before = await warm(t, app, '/gigs?pageSize=2')
  const gig = await write(t, app, 'POST', '/gigs', { title: 'Brand new gig', category: 'writing', budgetMin: 1, budgetMax: 2, status: 'open' })
  const after = (await read(app, '/gigs?pageSize=2')).page
  t.same(ids(after), [gig.id, 12])
  t.equal(after.total, before.total + 1)
})

both('deleting a gig another page shows still updates the total of a cached page', async (t, app) => {
  const before = await warm(t, app, '/gigs?pageSize=2')
  await write(t, app, 'DELETE', '/gigs/3')
  const after = (await read(app, '/gigs?pageSize=2')).page
  t.same(ids(after), ids(before))
  t.equal(after.total, before.total - 1)
})

both('a status change moves the gig between the listings that filter on status', async (t, app) => {
  t.same(ids(await warm(t, app, '/gigs?category=devops')), [], 'gig 6 is a draft')
  t.ok(ids(await warm(t, app, '/gigs?status=open')).includes(12))
  await write(t, app, 'POST', '/gigs/6/status', { status: 'open' })
  t.same(ids((await read(app, '/gigs?category=devops')).page), [6])
  await write(t, app, 'POST', '/gigs/12/status', { status: 'cancelled' })
  t.notOk(ids((await read(app, '/gigs?status=open')).page).includes(12))
})

t.test('gig.updated says whether the edit changed a field listings filter on', async (t) => {
  const app = await build(t)
  const seen: boolean[] = []
  app.events.on('gig.updated', (p) => { seen.push(p.listingChanged === true) })
  const edits: Array<[object, boolean]> = [
    [{ title: 'Only the title' }, false],
    [{ description: 'Only the description', currency: 'EUR' }, false],
    [{ category: 'writing' }, false], // its category already
    [{ category: 'design' }, true],
    [{ skills: ['copywriting', 'seo'] }, true],
    [{ budgetMin: 250 }, true],
    [{ featured: true }, false] // reaches /featured through its own flag
  ]
  for (const [payload] of edits) await write(t, app, 'PATCH', '/gigs/12', payload)
  t.same(seen, edits.map(([, changed]) => changed))
})

t.test('a gig.updated event without listingChanged (an outbox row older than it) invalidates every listing', async (t) => {
  const base: DomainEventMap['gig.updated'] = { gigId: 1, postedById: 1, version: 2, featured: false, category: 'design', applicantIds: [] }
  t.ok(tagsFor({ name: 'gig.updated', payload: base }).includes(ALL_GIG_LISTINGS))
  t.ok(tagsFor({ name: 'gig.updated', payload: { ...base, listingChanged: true } }).includes(ALL_GIG_LISTINGS))
  const titleOnly = tagsFor({ name: 'gig.updated', payload: { ...base, listingChanged: false } })
  t.notOk(titleOnly.includes(ALL_GIG_LISTINGS))
  t.ok(titleOnly.includes('gig:1') && titleOnly.includes('search'), 'the gig and the search results still go')
})

import t from 'tap'
import type { LightMyRequestResponse } from 'fastify'
import { CASCADE } from '../src/catalog.ts'
import { findAssignment } from '../src/domain/assignments.ts'
import { findGig } from '../src/domain/gigs.ts'
import { authAs, build, json, USERS } from './helpers/build.ts'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]
type App = Awaited<ReturnType<typeof build>>
// Response bodies are read loosely: each test names the fields it needs.
type Body = any

const { alice, bob, carol, dave, erin } = USERS

/** A read a cascade must keep fresh: a URL, read anonymously or as a user. */
interface Read { url: string, as?: number }

/** The cascade rules this file proves, one test each; checked against the catalog at the end. */
const covered = new Set<string>()

/** Every behaviour is specified twice: on the in-memory store and on the shared Redis. */
function both (name: string, fn: (t: Tap, app: App) => Promise<void>, extra: { todo?: string } = {}): void {
  for (const redis of [false, true]) {
    t.test(`${name} (${redis ? 'redis' : 'memory'})`, extra, async (t) => { await fn(t, await build(t, { redis })) })
  }
}

function rule (event: keyof typeof CASCADE, name: string, fn: (t: Tap, app: App) => Promise<void>): void {
  covered.add(event)
  both(`${event}: ${name}`, fn)
}

function label (r: Read): string {
  return r.as === undefined ? r.url : `${r.url} as user ${r.as}`
}

function read (app: App, r: Read): Promise<LightMyRequestResponse> {
  return app.inject({ url: r.url, headers: r.as === undefined ? {} : authAs(app, r.as) })
}

/**
 * Reads twice and proves the second answer came from a cache: `x-cache: HIT` where the route caches
 * responses, or no database query at all where the domain caches the entity (GET /users/:id,
 * /applications/:id, /assignments/:id). Routes without either are read twice all the same.
 */
async function warm (t: Tap, app: App, r: Read, entity = false): Promise<Body> {
  const first = await read(app, r)
  t.equal(first.statusCode, 200, `${label(r)} answers before the write`)
  const queries = app.testDatabase.queries
  const second = await read(app, r)
  const xCache = second.headers['x-cache']
  if (xCache !== undefined) t.equal(xCache, 'HIT', `${label(r)} is cached before the write`)
  if (entity) t.equal(app.testDatabase.queries - queries, 0, `${label(r)} is served from the entity cache`)
  t.equal(second.body, first.body)
  return json(second)
}

/** The read right after the write's response arrived. */
async function fresh (t: Tap, app: App, r: Read, status = 200): Promise<Body> {
  const res = await read(app, r)
  t.equal(res.statusCode, status, `${label(r)} is ${status} after the write`)
  return json(res)
}

async function write (t: Tap, app: App, method: 'POST' | 'PATCH' | 'DELETE', url: string, user: number, payload?: object, status = 200): Promise<Body> {
  const res = await app.inject({ method, url, headers: authAs(app, user), ...(payload === undefined ? {} : { payload }) })
  t.equal(res.statusCode, status, `${method} ${url}: ${res.body}`)
  return res.body === '' ? undefined : json(res)
}

const ids = (items: Array<{ id: number }>): number[] => items.map((i) => i.id)
const byId = (items: Array<{ id: number }>, id: number): Body => items.find((i) => i.id === id)
const countOf = (rows: Array<{ skill: string, openGigs: number }>, skill: string): number => rows.find((r) => r.skill === skill)?.openGigs ?? 0
const category = (rows: Array<{ slug: string, openGigs: number }>, slug: string): number => rows.find((r) => r.slug === slug)?.openGigs ?? 0
const ranked = (rows: Array<{ userId: number }>, userId: number): Body => rows.find((r) => r.userId === userId)
const today = (days: Array<{ created: number }>): number => days[days.length - 1]!.created

/** The UTC day a seeded gig was created on (the demo data is as old as the test template). */
async function createdDay (app: App, gigId: number): Promise<string> {
  return (await findGig(app.testDatabase.db, gigId))!.createdAt.toISOString().slice(0, 10)
}

/** The daily count of `day` moved by `delta`, when that day is still inside the window. */
function checkDay (t: Tap, before: Array<{ day: string, created: number }>, after: Array<{ day: string, created: number }>, day: string, delta: number): void {
  const was = before.find((d) => d.day === day)
  if (was === undefined) {
    t.comment(`${day} is outside the daily stats window: nothing to compare`)
    return
  }
  t.equal(after.find((d) => d.day === day)?.created, was.created + delta, `daily stats of ${day} moved by ${delta}`)
}

// One test per cascade rule ------------------------------------------------------------------------

rule('gig.created', 'a new gig shows in every listing, count and board right after POST /gigs', async (t, app) => {
  const before = {
    list: await warm(t, app, { url: '/gigs' }),
    open: await warm(t, app, { url: '/gigs?status=open' }),
    featured: await warm(t, app, { url: '/featured' }),
    mine: await warm(t, app, { url: '/users/1/gigs' }),
    stats: await warm(t, app, { url: '/users/1/stats' }),
    search: await warm(t, app, { url: '/search?q=zebracorn' }),
    categories: await warm(t, app, { url: '/categories' }),
    skills: await warm(t, app, { url: '/skills/popular' }),
    creators: await warm(t, app, { url: '/leaderboards/creators' }),
    daily: await warm(t, app, { url: '/stats/daily?days=1' }, true)
  }
  const gig = await write(t, app, 'POST', '/gigs', alice, {
    title: 'Zebracorn telemetry pipeline',
    description: 'Ship our metrics to a new backend.',
    category: 'devops',
    skills: ['go', 'kubernetes'],
    budgetMin: 100,
    budgetMax: 200,
    featured: true,
    status: 'open'
  }, 201)

  const list = await fresh(t, app, { url: '/gigs' })
  t.equal(list.items[0].id, gig.id, '/gigs lists it first')
  t.equal(list.total, before.list.total + 1)
  t.ok(ids((await fresh(t, app, { url: '/gigs?status=open' })).items).includes(gig.id), '/gigs?status=open lists it')
  t.ok(ids(await fresh(t, app, { url: '/featured' })).includes(gig.id), '/featured lists it')
  t.ok(ids(await fresh(t, app, { url: '/users/1/gigs' })).includes(gig.id), "the poster's gigs list it")
  t.equal((await fresh(t, app, { url: '/users/1/stats' })).gigs.open, before.stats.gigs.open + 1)
  t.same(ids((await fresh(t, app, { url: '/search?q=zebracorn' })).items), [gig.id], 'search finds it')
  t.equal(before.search.total, 0)
  t.equal(category(await fresh(t, app, { url: '/categories' }), 'devops'), category(before.categories, 'devops') + 1)
  t.equal(countOf(await fresh(t, app, { url: '/skills/popular' }), 'go'), countOf(before.skills, 'go') + 1)
  t.equal(ranked(await fresh(t, app, { url: '/leaderboards/creators' }), alice)!.gigsPosted,
    ranked(before.creators, alice)!.gigsPosted + 1)
  t.equal(today((await fresh(t, app, { url: '/stats/daily?days=1' })).gigs), today(before.daily.gigs) + 1)

  // a draft goes to its poster's drafts
  const drafts = await warm(t, app, { url: '/users/1/drafts', as: alice })
  const draft = await write(t, app, 'POST', '/gigs', alice, { title: 'Zebracorn draft', category: 'devops', budgetMin: 1, budgetMax: 2 }, 201)
  const after = await fresh(t, app, { url: '/users/1/drafts', as: alice })
  t.same(ids(after), [draft.id, ...ids(drafts)], "the poster's drafts list it first")
})

rule('gig.updated', 'an edit shows in the gig, every list holding it and the applicants\' lists right after PATCH', async (t, app) => {
  await warm(t, app, { url: '/gigs/1' })
  await warm(t, app, { url: '/gigs' })
  await warm(t, app, { url: '/featured' })
  await warm(t, app, { url: '/users/1/gigs' })
  await warm(t, app, { url: '/search?q=quokka' })
  await warm(t, app, { url: '/users/2/applications', as: bob })
  await warm(t, app, { url: '/users/3/applications', as: carol })
  const categories = await warm(t, app, { url: '/categories' })
  const skills = await warm(t, app, { url: '/skills/popular' })
  const title = 'Quokka cache rewrite'
  await write(t, app, 'PATCH', '/gigs/1', alice, { title, category: 'design', skills: ['go'] })

  t.match(await fresh(t, app, { url: '/gigs/1' }), { id: 1, title, category: 'design', skills: ['go'], version: 2 })
  t.equal(byId((await fresh(t, app, { url: '/gigs' })).items, 1)?.title, title)
  t.equal(byId(await fresh(t, app, { url: '/featured' }), 1)?.title, title)
  t.equal(byId(await fresh(t, app, { url: '/users/1/gigs' }), 1)?.title, title)
  t.same(ids((await fresh(t, app, { url: '/search?q=quokka' })).items), [1])
  for (const applicant of [bob, carol]) {
    const mine: Array<{ gigId: number, gigTitle: string }> = await fresh(t, app, { url: `/users/${applicant}/applications`, as: applicant })
    t.equal(mine.find((a) => a.gigId === 1)?.gigTitle, title, `user ${applicant}'s applications show the new title`)
  }
  const cats = await fresh(t, app, { url: '/categories' })
  t.equal(category(cats, 'design'), category(categories, 'design') + 1)
  t.equal(category(cats, 'web-development'), category(categories, 'web-development') - 1)
  t.equal(countOf(await fresh(t, app, { url: '/skills/popular' }), 'go'), countOf(skills, 'go') + 1)

  // a draft's edit reaches its poster's drafts
  await warm(t, app, { url: '/users/1/drafts', as: alice })
  await write(t, app, 'PATCH', '/gigs/6', alice, { title: 'Quokka draft' })
  t.equal(byId(await fresh(t, app, { url: '/users/1/drafts', as: alice }), 6)?.title, 'Quokka draft')
})

rule('gig.deleted', 'a deleted gig and its applications vanish from every read right after DELETE', async (t, app) => {
  await warm(t, app, { url: '/gigs/1' })
  const list = await warm(t, app, { url: '/gigs' })
  await warm(t, app, { url: '/featured' })
  await warm(t, app, { url: '/users/1/gigs' })
  const posterStats = await warm(t, app, { url: '/users/1/stats' })
  const bobStats = await warm(t, app, { url: '/users/2/stats' })
  await warm(t, app, { url: '/users/2/applications', as: bob })
  await warm(t, app, { url: '/users/3/applications', as: carol })
  await warm(t, app, { url: '/gigs/1/applications', as: alice })
  await warm(t, app, { url: '/search?q=caching' })
  const categories = await warm(t, app, { url: '/categories' })
  const skills = await warm(t, app, { url: '/skills/popular' })
  const creators = await warm(t, app, { url: '/leaderboards/creators' })
  const daily = await warm(t, app, { url: '/stats/daily?days=90' }, true)
  const createdOn = await createdDay(app, 1)
  await write(t, app, 'DELETE', '/gigs/1', alice, undefined, 204)

  await fresh(t, app, { url: '/gigs/1' }, 404)
  const after = await fresh(t, app, { url: '/gigs' })
  t.notOk(ids(after.items).includes(1))
  t.equal(after.total, list.total - 1)
  t.notOk(ids(await fresh(t, app, { url: '/featured' })).includes(1))
  t.notOk(ids(await fresh(t, app, { url: '/users/1/gigs' })).includes(1))
  t.equal((await fresh(t, app, { url: '/users/1/stats' })).gigs.open, posterStats.gigs.open - 1)
  t.equal((await fresh(t, app, { url: '/users/2/stats' })).applications.pending, bobStats.applications.pending - 1)
  for (const applicant of [bob, carol]) {
    const mine: Array<{ gigId: number }> = await fresh(t, app, { url: `/users/${applicant}/applications`, as: applicant })
    t.notOk(mine.some((a) => a.gigId === 1), `user ${applicant}'s applications drop it`)
  }
  await fresh(t, app, { url: '/gigs/1/applications', as: alice }, 404)
  t.notOk(ids((await fresh(t, app, { url: '/search?q=caching' })).items).includes(1))
  t.equal(category(await fresh(t, app, { url: '/categories' }), 'web-development'), category(categories, 'web-development') - 1)
  t.equal(countOf(await fresh(t, app, { url: '/skills/popular' }), 'redis'), countOf(skills, 'redis') - 1)
  t.equal(ranked(await fresh(t, app, { url: '/leaderboards/creators' }), alice)!.gigsPosted, ranked(creators, alice)!.gigsPosted - 1)
  checkDay(t, daily.gigs, (await fresh(t, app, { url: '/stats/daily?days=90' })).gigs, createdOn, -1)
})

both('gig.deleted: an application of the deleted gig read before the delete is a 404 after it', async (t, app) => {
  await warm(t, app, { url: '/applications/1', as: bob }, true)
  await warm(t, app, { url: '/applications/2', as: carol }, true)
  await write(t, app, 'DELETE', '/gigs/1', alice, undefined, 204)
  await fresh(t, app, { url: '/applications/1', as: bob }, 404)
  await fresh(t, app, { url: '/applications/2', as: carol }, 404)
})

rule('gig.status_changed', 'a status change shows in the gig, every list filtering by status and the counts', async (t, app) => {
  await warm(t, app, { url: '/gigs/1' })
  await warm(t, app, { url: '/gigs?status=open' })
  await warm(t, app, { url: '/gigs?status=cancelled' })
  await warm(t, app, { url: '/featured' })
  await warm(t, app, { url: '/users/1/gigs' })
  const stats = await warm(t, app, { url: '/users/1/stats' })
  await warm(t, app, { url: '/search?q=caching' })
  const categories = await warm(t, app, { url: '/categories' })
  const skills = await warm(t, app, { url: '/skills/popular' })
  await write(t, app, 'POST', '/gigs/1/status', alice, { status: 'cancelled' })

  t.match(await fresh(t, app, { url: '/gigs/1' }), { id: 1, status: 'cancelled', version: 2 })
  t.notOk(ids((await fresh(t, app, { url: '/gigs?status=open' })).items).includes(1))
  t.ok(ids((await fresh(t, app, { url: '/gigs?status=cancelled' })).items).includes(1))
  t.notOk(ids(await fresh(t, app, { url: '/featured' })).includes(1))
  t.equal(byId(await fresh(t, app, { url: '/users/1/gigs' }), 1)?.status, 'cancelled')
  const after = await fresh(t, app, { url: '/users/1/stats' })
  t.equal(after.gigs.open, stats.gigs.open - 1)
  t.equal(after.gigs.cancelled, stats.gigs.cancelled + 1)
  t.notOk(ids((await fresh(t, app, { url: '/search?q=caching' })).items).includes(1), 'search holds open gigs only')
  t.equal(category(await fresh(t, app, { url: '/categories' }), 'web-development'), category(categories, 'web-development') - 1)
  t.equal(countOf(await fresh(t, app, { url: '/skills/popular' }), 'redis'), countOf(skills, 'redis') - 1)

  // publishing a draft: it leaves the drafts and joins the published lists and the board
  await warm(t, app, { url: '/users/1/drafts', as: alice })
  await warm(t, app, { url: '/users/1/gigs' })
  await warm(t, app, { url: '/search?q=kubernetes' })
  const creators = await warm(t, app, { url: '/leaderboards/creators' })
  const daily = await warm(t, app, { url: '/stats/daily?days=90' }, true)
  const createdOn = await createdDay(app, 6)
  await fresh(t, app, { url: '/gigs/6' }, 404)
  await write(t, app, 'POST', '/gigs/6/status', alice, { status: 'open' })
  t.notOk(ids(await fresh(t, app, { url: '/users/1/drafts', as: alice })).includes(6))
  t.ok(ids(await fresh(t, app, { url: '/users/1/gigs' })).includes(6))
  t.ok(ids((await fresh(t, app, { url: '/search?q=kubernetes' })).items).includes(6))
  t.equal(ranked(await fresh(t, app, { url: '/leaderboards/creators' }), alice)!.gigsPosted, ranked(creators, alice)!.gigsPosted + 1)
  t.match(await fresh(t, app, { url: '/gigs/6' }), { id: 6, status: 'open' })
  checkDay(t, daily.gigs, (await fresh(t, app, { url: '/stats/daily?days=90' })).gigs, createdOn, +1)
})

both('gig.status_changed: a gig moved back to draft is a 404 for anonymous callers right after', async (t, app) => {
  await warm(t, app, { url: '/gigs/12' })
  await write(t, app, 'POST', '/gigs/12/status', alice, { status: 'draft' })
  for (let i = 0; i < 2; i++) await fresh(t, app, { url: '/gigs/12' }, 404)
  t.equal(await app.cacheStore.get('gig:12'), undefined, 'a draft is never written through')
  t.match(await fresh(t, app, { url: '/gigs/12', as: alice }), { status: 'draft' }, 'its poster still reads it')
})

rule('application.created', 'a new application shows in the gig\'s and the applicant\'s lists and counts', async (t, app) => {
  await warm(t, app, { url: '/gigs/7/applications', as: dave })
  await warm(t, app, { url: '/users/2/applications', as: bob })
  const stats = await warm(t, app, { url: '/users/2/stats' })
  const daily = await warm(t, app, { url: '/stats/daily?days=1' }, true)
  const application = await write(t, app, 'POST', '/gigs/7/applications', bob, { proposedBudget: 700, coverLetter: 'SEO too.' }, 201)

  t.equal((await fresh(t, app, { url: '/gigs/7/applications', as: dave }))[0]?.id, application.id, "the gig's applications list it first")
  const mine = await fresh(t, app, { url: '/users/2/applications', as: bob })
  t.match(mine[0], { id: application.id, gigId: 7, gigTitle: 'SEO audit for a SaaS blog', status: 'pending' })
  const after = await fresh(t, app, { url: '/users/2/stats' })
  t.equal(after.applications.pending, stats.applications.pending + 1)
  t.equal(after.applications.total, stats.applications.total + 1)
  t.equal(today((await fresh(t, app, { url: '/stats/daily?days=1' })).applications), today(daily.applications) + 1)
})

rule('application.updated', 'an edited or withdrawn application shows in the entity, both lists and the counts', async (t, app) => {
  await warm(t, app, { url: '/applications/1', as: bob }, true)
  await warm(t, app, { url: '/gigs/1/applications', as: alice })
  await warm(t, app, { url: '/users/2/applications', as: bob })
  await write(t, app, 'PATCH', '/applications/1', bob, { proposedBudget: 2600 })
  for (const user of [bob, alice]) {
    t.match(await fresh(t, app, { url: '/applications/1', as: user }), { id: 1, proposedBudget: 2600, version: 2 })
  }
  t.equal(byId(await fresh(t, app, { url: '/gigs/1/applications', as: alice }), 1)?.proposedBudget, 2600)
  t.equal(byId(await fresh(t, app, { url: '/users/2/applications', as: bob }), 1)?.proposedBudget, 2600)

  // withdrawing is an update too
  await warm(t, app, { url: '/applications/1', as: bob }, true)
  await warm(t, app, { url: '/gigs/1/applications', as: alice })
  await warm(t, app, { url: '/users/2/applications', as: bob })
  const stats = await warm(t, app, { url: '/users/2/stats' })
  await write(t, app, 'POST', '/applications/1/withdraw', bob)
  t.match(await fresh(t, app, { url: '/applications/1', as: bob }), { id: 1, status: 'withdrawn', version: 3 })
  t.equal(byId(await fresh(t, app, { url: '/gigs/1/applications', as: alice }), 1)?.status, 'withdrawn')
  t.equal(byId(await fresh(t, app, { url: '/users/2/applications', as: bob }), 1)?.status, 'withdrawn')
  const after = await fresh(t, app, { url: '/users/2/stats' })
  t.equal(after.applications.pending, stats.applications.pending - 1)
  t.equal(after.applications.withdrawn, stats.applications.withdrawn + 1)
})

rule('application.accepted', 'an acceptance shows in both applications, all lists, the gig, the counts and the board', async (t, app) => {
  await warm(t, app, { url: '/applications/1', as: bob }, true)
  await warm(t, app, { url: '/applications/2', as: carol }, true)
  await warm(t, app, { url: '/gigs/1/applications', as: alice })
  await warm(t, app, { url: '/users/2/applications', as: bob })
  await warm(t, app, { url: '/users/3/applications', as: carol })
  const bobStats = await warm(t, app, { url: '/users/2/stats' })
  const carolStats = await warm(t, app, { url: '/users/3/stats' })
  const aliceStats = await warm(t, app, { url: '/users/1/stats' })
  const applicants = await warm(t, app, { url: '/leaderboards/applicants' })
  await warm(t, app, { url: '/gigs/1' })
  await warm(t, app, { url: '/featured' })
  await warm(t, app, { url: '/gigs?status=open' })
  await warm(t, app, { url: '/gigs/1/submissions', as: alice })
  const { assignment } = await write(t, app, 'POST', '/applications/1/accept', alice)

  t.match(await fresh(t, app, { url: '/applications/1', as: bob }), { id: 1, status: 'accepted' })
  t.match(await fresh(t, app, { url: '/applications/2', as: carol }), { id: 2, status: 'rejected' }, 'the other pending one is rejected')
  const forGig: Array<{ id: number, status: string }> = await fresh(t, app, { url: '/gigs/1/applications', as: alice })
  t.same(forGig.map((a) => [a.id, a.status]).sort(), [[1, 'accepted'], [2, 'rejected']])
  t.equal(byId(await fresh(t, app, { url: '/users/2/applications', as: bob }), 1)?.status, 'accepted')
  t.equal(byId(await fresh(t, app, { url: '/users/3/applications', as: carol }), 2)?.status, 'rejected')
  const bobAfter = await fresh(t, app, { url: '/users/2/stats' })
  t.equal(bobAfter.applications.accepted, bobStats.applications.accepted + 1)
  t.equal(bobAfter.applications.pending, bobStats.applications.pending - 1)
  t.equal((await fresh(t, app, { url: '/users/3/stats' })).applications.rejected, carolStats.applications.rejected + 1)
  const aliceAfter = await fresh(t, app, { url: '/users/1/stats' })
  t.equal(aliceAfter.gigs.open, aliceStats.gigs.open - 1)
  t.equal(aliceAfter.gigs.in_progress, aliceStats.gigs.in_progress + 1)
  t.equal(ranked(applicants, bob), undefined)
  t.match(ranked(await fresh(t, app, { url: '/leaderboards/applicants' }), bob), { acceptedApplications: 1 })
  t.match(await fresh(t, app, { url: '/gigs/1' }), { id: 1, status: 'in_progress' })
  t.notOk(ids(await fresh(t, app, { url: '/featured' })).includes(1))
  t.notOk(ids((await fresh(t, app, { url: '/gigs?status=open' })).items).includes(1))
  t.same(await fresh(t, app, { url: '/gigs/1/submissions', as: alice }), [])
  t.match(await fresh(t, app, { url: `/assignments/${assignment.id}`, as: bob }), { workerId: bob, paymentStatus: 'unpaid' })
})

rule('application.rejected', 'a rejection shows in the application, both lists and the applicant\'s counts', async (t, app) => {
  await warm(t, app, { url: '/applications/2', as: carol }, true)
  await warm(t, app, { url: '/gigs/1/applications', as: alice })
  await warm(t, app, { url: '/users/3/applications', as: carol })
  const stats = await warm(t, app, { url: '/users/3/stats' })
  const applicants = await warm(t, app, { url: '/leaderboards/applicants' })
  await write(t, app, 'POST', '/applications/2/reject', alice)

  for (const user of [carol, alice]) {
    t.match(await fresh(t, app, { url: '/applications/2', as: user }), { id: 2, status: 'rejected', version: 2 })
  }
  t.equal(byId(await fresh(t, app, { url: '/gigs/1/applications', as: alice }), 2)?.status, 'rejected')
  t.equal(byId(await fresh(t, app, { url: '/users/3/applications', as: carol }), 2)?.status, 'rejected')
  const after = await fresh(t, app, { url: '/users/3/stats' })
  t.equal(after.applications.rejected, stats.applications.rejected + 1)
  t.equal(after.applications.pending, stats.applications.pending - 1)
  t.same(await fresh(t, app, { url: '/leaderboards/applicants' }), applicants, 'a rejection wins nobody a place')
})

rule('submission.created', 'a submission shows in the gig\'s submissions for its poster and its worker', async (t, app) => {
  await warm(t, app, { url: '/gigs/4/submissions', as: alice })
  await warm(t, app, { url: '/gigs/4/submissions', as: carol })
  const submission = await write(t, app, 'POST', '/gigs/4/submissions', carol, { content: 'Second batch: PR #13.' }, 201)
  for (const user of [alice, carol]) {
    const list = await fresh(t, app, { url: '/gigs/4/submissions', as: user })
    t.match(list[0], { id: submission.id, status: 'submitted', content: 'Second batch: PR #13.' }, `user ${user} sees it first`)
  }
  t.match(await fresh(t, app, { url: `/submissions/${submission.id}`, as: alice }), { id: submission.id })
})

rule('submission.reviewed', 'a review shows in the submission and the gig\'s submissions for both parties', async (t, app) => {
  const submission = await write(t, app, 'POST', '/gigs/4/submissions', carol, { content: 'Final batch.' }, 201)
  for (const user of [alice, carol]) {
    await warm(t, app, { url: `/submissions/${submission.id}`, as: user }, true)
    await warm(t, app, { url: '/gigs/4/submissions', as: user })
  }
  await write(t, app, 'POST', `/submissions/${submission.id}/review`, alice, { status: 'approved', notes: 'Ship it.' })
  for (const user of [alice, carol]) {
    t.match(await fresh(t, app, { url: `/submissions/${submission.id}`, as: user }), { status: 'approved', reviewNotes: 'Ship it.' })
    const list = await fresh(t, app, { url: '/gigs/4/submissions', as: user })
    t.match(byId(list, submission.id), { status: 'approved', reviewNotes: 'Ship it.' })
  }
})

rule('assignment.payment_updated', 'a payment shows in the assignment for both parties and in their totals', async (t, app) => {
  await warm(t, app, { url: '/assignments/1', as: alice }, true)
  await warm(t, app, { url: '/assignments/1', as: carol }, true)
  const worker = await warm(t, app, { url: '/users/3/stats' })
  const poster = await warm(t, app, { url: '/users/1/stats' })
  await write(t, app, 'POST', '/assignments/1/payment', alice, { status: 'paid' })
  for (const user of [alice, carol]) {
    t.match(await fresh(t, app, { url: '/assignments/1', as: user }), { id: 1, paymentStatus: 'paid', version: 2 })
  }
  t.equal((await fresh(t, app, { url: '/users/3/stats' })).totalEarned, worker.totalEarned + 1000)
  t.equal((await fresh(t, app, { url: '/users/1/stats' })).totalSpent, poster.totalSpent + 1000)
})

rule('user.updated', 'a profile edit shows in the profile and on both leaderboards', async (t, app) => {
  await warm(t, app, { url: '/users/5' }, true)
  await warm(t, app, { url: '/leaderboards/creators' })
  await warm(t, app, { url: '/leaderboards/applicants' })
  await warm(t, app, { url: '/users/5/stats' })
  await write(t, app, 'PATCH', '/users/5', erin, { name: 'Erin Renamed', headline: 'Editor in chief' })
  t.match(await fresh(t, app, { url: '/users/5' }), { id: 5, name: 'Erin Renamed', headline: 'Editor in chief', version: 2 })
  t.equal(ranked(await fresh(t, app, { url: '/leaderboards/creators' }), erin)?.name, 'Erin Renamed')
  t.equal(ranked(await fresh(t, app, { url: '/leaderboards/applicants' }), erin)?.name, 'Erin Renamed')
  t.equal((await fresh(t, app, { url: '/users/5/stats' })).userId, erin)
})

t.test('every cascade rule of the catalog has its test here', async (t) => {
  t.same([...covered].sort(), Object.keys(CASCADE).sort())
})

// Write-through ordering --------------------------------------------------------------------------

const roundTrip = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

both('write-through: two status changes in a row leave the cached gig equal to the database', async (t, app) => {
  await write(t, app, 'POST', '/gigs/6/status', alice, { status: 'open' })
  await write(t, app, 'POST', '/gigs/6/status', alice, { status: 'cancelled' })
  const inDb = roundTrip(await findGig(app.testDatabase.db, 6))
  t.match(inDb, { status: 'cancelled', version: 3 })
  const entry = await app.cacheStore.get('gig:6')
  t.ok(entry, 'the last write is in the cache')
  t.same(JSON.parse(entry!.value), inDb)
  const res = await app.inject('/gigs/6')
  t.equal(res.headers['x-cache'], 'HIT', 'GET /gigs/6 is served the written-through entry')
  t.same(json(res), inDb)
})

both('write-through: an older version never replaces a newer cached gig', async (t, app) => {
  await write(t, app, 'PATCH', '/gigs/1', alice, { title: 'Version two' })
  await write(t, app, 'POST', '/gigs/1/status', alice, { status: 'cancelled' })
  const current = roundTrip(await findGig(app.testDatabase.db, 1)) as Record<string, unknown>
  t.match(current, { status: 'cancelled', version: 3 })
  t.equal(await app.cache.setEntity('gig', 1, { ...current, status: 'open', title: 'Stale', version: 1 }, undefined, 1), false)
  t.equal(await app.cache.setEntity('gig', 1, { ...current, status: 'open', title: 'Stale', version: 3 }, undefined, 3), false, 'nor the same version')
  const res = await app.inject('/gigs/1')
  t.equal(res.statusCode, 200)
  t.same(json(res), current)
})

both('write-through: two payment moves in a row leave the cached assignment equal to the database', async (t, app) => {
  const { assignment } = await write(t, app, 'POST', '/applications/1/accept', alice)
  await warm(t, app, { url: `/assignments/${assignment.id}`, as: bob }, true)
  await write(t, app, 'POST', `/assignments/${assignment.id}/payment`, alice, { status: 'escrowed' })
  await write(t, app, 'POST', `/assignments/${assignment.id}/payment`, alice, { status: 'paid' })
  const inDb = roundTrip(await findAssignment(app.testDatabase.db, assignment.id))
  t.match(inDb, { assignment: { paymentStatus: 'paid', version: 3 } })
  const entry = await app.cacheStore.get(`assignment:${assignment.id}`)
  t.ok(entry, 'the last write is in the cache')
  t.same(JSON.parse(entry!.value), inDb)
  const queries = app.testDatabase.queries
  t.match(await fresh(t, app, { url: `/assignments/${assignment.id}`, as: bob }), { paymentStatus: 'paid', version: 3 })
  t.equal(app.testDatabase.queries - queries, 0, 'served from the written-through entry')
})

both('write-through: a write-through after an edit and a fresh read still lands', async (t, app) => {
  await write(t, app, 'POST', '/gigs/6/status', alice, { status: 'open' })
  await write(t, app, 'PATCH', '/gigs/6', alice, { title: 'Edited between two status changes' })
  t.match(await fresh(t, app, { url: '/gigs/6' }), { title: 'Edited between two status changes', version: 3 })
  t.equal((await read(app, { url: '/gigs/6' })).headers['x-cache'], 'HIT')
  await write(t, app, 'POST', '/gigs/6/status', alice, { status: 'cancelled' })
  const inDb = roundTrip(await findGig(app.testDatabase.db, 6))
  t.match(inDb, { status: 'cancelled', version: 4 })
  const res = await read(app, { url: '/gigs/6' })
  t.equal(res.headers['x-cache'], 'HIT', 'served the written-through entry')
  t.same(json(res), inDb)
})

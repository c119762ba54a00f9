import t from 'tap'
import { authAs, build, json, USERS } from './helpers/build.ts'

// Smoke suite on embedded PGlite: the service runs without a Postgres server.

t.test('the service boots on PGlite and serves a gig', async (t) => {
  const app = await build(t, { embedded: true })
  t.equal(app.testDatabase.kind, 'pglite')
  const res = await app.inject('/gigs/1')
  t.equal(res.statusCode, 200)
  t.match(json(res), { id: 1, title: 'Build a caching layer for our Fastify API', status: 'open' })
})

t.test('a gig created on PGlite can be read back', async (t) => {
  const app = await build(t, { embedded: true })
  const headers = authAs(app, USERS.bob)
  const created = await app.inject({
    method: 'POST', url: '/gigs', headers, payload: { title: 'Embedded gig', category: 'writing', budgetMin: 10, budgetMax: 20, status: 'open' }
  })
  t.equal(created.statusCode, 201)
  const id = json<{ id: number }>(created).id
  const read = await app.inject({ url: `/gigs/${id}`, headers })
  t.equal(read.statusCode, 200)
  t.match(json(read), { id, title: 'Embedded gig', postedBy: USERS.bob })
})

t.test('full-text search ranks on PGlite', async (t) => {
  const app = await build(t, { embedded: true })
  const res = await app.inject('/search?q=postgres')
  t.equal(res.statusCode, 200)
  const page = json<{ items: Array<{ id: number }>, total: number }>(res)
  t.equal(page.total, 2)
  t.same(page.items.map((g) => g.id), [3, 10])
})

t.test('daily statistics cover every day on PGlite', async (t) => {
  const app = await build(t, { embedded: true })
  const res = await app.inject('/stats/daily?days=3')
  t.equal(res.statusCode, 200)
  const daily = json<{ gigs: Array<{ day: string }> }>(res)
  t.same(daily.gigs.map((d) => d.day).slice(-1), [new Date().toISOString().slice(0, 10)])
  t.equal(daily.gigs.length, 3)
})

t.test('categories, popular skills and leaderboards answer on PGlite', async (t) => {
  const app = await build(t, { embedded: true })
  const categories = json<Array<{ slug: string, openGigs: number }>>(await app.inject('/categories'))
  t.equal(categories.find((c) => c.slug === 'web-development')?.openGigs, 2)
  const skills = json<Array<{ skill: string, openGigs: number }>>(await app.inject('/skills/popular'))
  t.same(skills[0], { skill: 'copywriting', openGigs: 2 })
  const creators = json<Array<{ userId: number }>>(await app.inject('/leaderboards/creators'))
  t.equal(creators[0]?.userId, USERS.alice)
  const applicants = json<Array<{ userId: number }>>(await app.inject('/leaderboards/applicants'))
  t.same(applicants.map((a) => a.userId), [USERS.carol, USERS.erin])
})

t.test('a submission is reviewed on PGlite', async (t) => {
  const app = await build(t, { embedded: true })
  const created = await app.inject({
    method: 'POST', url: '/gigs/4/submissions', headers: authAs(app, USERS.carol), payload: { content: 'Fixed on PGlite too.' }
  })
  t.equal(created.statusCode, 201)
  const reviewed = await app.inject({
    method: 'POST', url: `/submissions/${json<{ id: number }>(created).id}/review`, headers: authAs(app, USERS.alice), payload: { status: 'approved' }
  })
  t.equal(reviewed.statusCode, 200)
  t.match(json(reviewed), { status: 'approved', version: 2 })
})

t.test('/docs/json lists the routes', async (t) => {
  const app = await build(t, { embedded: true })
  const res = await app.inject('/docs/json')
  t.equal(res.statusCode, 200)
  const paths = Object.keys(json<{ paths: Record<string, unknown> }>(res).paths)
  for (const path of [
    '/gigs', '/gigs/{id}', '/gigs/{id}/submissions', '/submissions/{id}', '/submissions/{id}/review', '/search',
    '/categories', '/skills/popular', '/stats/daily', '/leaderboards/creators', '/leaderboards/applicants',
    '/me/recent-views', '/me/search-history', '/me/drafts/{gigId}/autosave'
  ]) {
    t.ok(paths.includes(path), path)
  }
})

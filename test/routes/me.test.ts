import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { authAs, build, json, USERS } from '../helpers/build.ts'

// Demo data: gig 6 is alice's draft; gig 1 is alice's open gig.

interface Autosave { gigId: number, data: Record<string, unknown>, savedAt: string }

function view (app: FastifyInstance, userId: number, gigId: number) {
  return app.inject({ url: `/gigs/${gigId}`, headers: authAs(app, userId) })
}

async function recentViews (app: FastifyInstance, userId: number): Promise<number[]> {
  const res = await app.inject({ url: '/me/recent-views', headers: authAs(app, userId) })
  if (res.statusCode !== 200) throw new Error(`GET /me/recent-views: ${res.statusCode}`)
  return json<Array<{ gigId: number }>>(res).map((v) => v.gigId)
}

function autosave (app: FastifyInstance, userId: number, gigId: number, payload: unknown = { data: { title: 'Kubernetes migration plan v2' } }) {
  return app.inject({ method: 'PUT', url: `/me/drafts/${gigId}/autosave`, headers: authAs(app, userId), payload: payload as Record<string, unknown> })
}

t.test('every /me route needs a token', async (t) => {
  const app = await build(t)
  const routes: Array<['GET' | 'PUT' | 'DELETE', string]> = [
    ['GET', '/me/recent-views'], ['GET', '/me/search-history'],
    ['PUT', '/me/drafts/6/autosave'], ['GET', '/me/drafts/6/autosave'], ['DELETE', '/me/drafts/6/autosave']
  ]
  for (const [method, url] of routes) {
    const res = await app.inject({ method, url, ...(method === 'PUT' ? { payload: { data: {} } } : {}) })
    t.equal(res.statusCode, 401, `${method} ${url}`)
    t.equal(json(res).code, 'UNAUTHORIZED')
  }
})

t.test('gigs a signed-in user views are listed most recent first, without repeats', async (t) => {
  const app = await build(t)
  for (const id of [1, 2, 1]) t.equal((await view(app, USERS.alice, id)).statusCode, 200)
  const res = await app.inject({ url: '/me/recent-views', headers: authAs(app, USERS.alice) })
  t.equal(res.statusCode, 200)
  const views = json<Array<{ gigId: number, viewedAt: string }>>(res)
  t.same(views.map((v) => v.gigId), [1, 2])
  t.ok(views.every((v) => !Number.isNaN(Date.parse(v.viewedAt))))
})

t.test('a user never sees another user\'s recent views', async (t) => {
  const app = await build(t)
  await view(app, USERS.alice, 1)
  await view(app, USERS.bob, 3)
  t.same(await recentViews(app, USERS.alice), [1])
  t.same(await recentViews(app, USERS.bob), [3])
  t.same(await recentViews(app, USERS.carol), [])
})

t.test('anonymous views are not recorded for anyone', async (t) => {
  const app = await build(t)
  await app.inject('/gigs/1')
  t.same(await recentViews(app, USERS.alice), [])
})

t.test('the search history lists a user\'s own searches, most recent first', async (t) => {
  const app = await build(t)
  await app.inject({ url: '/search?q=postgres', headers: authAs(app, USERS.bob) })
  await app.inject({ url: '/search?category=design', headers: authAs(app, USERS.bob) })
  await app.inject({ url: '/search?q=redis', headers: authAs(app, USERS.carol) })
  const res = await app.inject({ url: '/me/search-history', headers: authAs(app, USERS.bob) })
  t.equal(res.statusCode, 200)
  t.same(json<Array<{ query: unknown }>>(res).map((h) => h.query), [
    { category: 'design', sort: 'newest' },
    { q: 'postgres', sort: 'relevance' }
  ])
})

t.test('an autosave of one\'s own draft round-trips and can be discarded', async (t) => {
  const app = await build(t)
  const data = { title: 'Kubernetes migration plan v2', skills: ['kubernetes'], nested: { step: 2, done: false } }
  const saved = await autosave(app, USERS.alice, 6, { data })
  t.equal(saved.statusCode, 200)
  const body = json<Autosave>(saved)
  t.same(body.data, data)
  t.equal(body.gigId, 6)
  t.ok(!Number.isNaN(Date.parse(body.savedAt)))

  const read = await app.inject({ url: '/me/drafts/6/autosave', headers: authAs(app, USERS.alice) })
  t.equal(read.statusCode, 200)
  t.same(json(read), body)

  const del = await app.inject({ method: 'DELETE', url: '/me/drafts/6/autosave', headers: authAs(app, USERS.alice) })
  t.equal(del.statusCode, 204)
  t.equal(del.body, '')
  t.equal((await app.inject({ url: '/me/drafts/6/autosave', headers: authAs(app, USERS.alice) })).statusCode, 404)
})

t.test('a later autosave replaces the earlier one', async (t) => {
  const app = await build(t)
  await autosave(app, USERS.alice, 6, { data: { title: 'first' } })
  await autosave(app, USERS.alice, 6, { data: { title: 'second' } })
  const read = json<Autosave>(await app.inject({ url: '/me/drafts/6/autosave', headers: authAs(app, USERS.alice) }))
  t.same(read.data, { title: 'second' })
})

t.test('reading an autosave that was never made is a 404', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/me/drafts/6/autosave', headers: authAs(app, USERS.alice) })
  t.equal(res.statusCode, 404)
  t.equal(json(res).code, 'NOT_FOUND')
})

t.test('one user\'s autosave is invisible to another', async (t) => {
  const app = await build(t)
  await autosave(app, USERS.alice, 6)
  t.equal((await app.inject({ url: '/me/drafts/6/autosave', headers: authAs(app, USERS.bob) })).statusCode, 404)
})

t.test('discarding an autosave that does not exist is still a 204', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'DELETE', url: '/me/drafts/6/autosave', headers: authAs(app, USERS.alice) })
  t.equal(res.statusCode, 204)
})

t.test('autosaving someone else\'s draft is a 404 and saves nothing', async (t) => {
  const app = await build(t)
  const res = await autosave(app, USERS.bob, 6)
  t.equal(res.statusCode, 404)
  t.equal((await app.inject({ url: '/me/drafts/6/autosave', headers: authAs(app, USERS.bob) })).statusCode, 404)
})

t.test('autosaving someone else\'s published gig is a 403', async (t) => {
  const app = await build(t)
  const res = await autosave(app, USERS.bob, 1)
  t.equal(res.statusCode, 403)
  t.equal(json(res).code, 'FORBIDDEN')
})

t.test('autosaving one\'s own gig once published is a 409', async (t) => {
  const app = await build(t)
  const res = await autosave(app, USERS.alice, 1)
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'GIG_NOT_DRAFT')
  t.equal((await app.inject({ url: '/me/drafts/1/autosave', headers: authAs(app, USERS.alice) })).statusCode, 404)
})

t.test('autosaving an unknown gig is a 404', async (t) => {
  const app = await build(t)
  t.equal((await autosave(app, USERS.alice, 999999)).statusCode, 404)
})

t.test('the autosave is checked against the database: a draft published since is refused', async (t) => {
  const app = await build(t)
  t.equal((await autosave(app, USERS.alice, 6)).statusCode, 200)
  const publish = await app.inject({ method: 'POST', url: '/gigs/6/status', headers: authAs(app, USERS.alice), payload: { status: 'open' } })
  t.equal(publish.statusCode, 200)
  t.equal((await autosave(app, USERS.alice, 6)).statusCode, 409)
})

t.test('an autosave without data is a 400 naming body.data', async (t) => {
  const app = await build(t)
  for (const payload of [{}, { data: [1, 2] }, { data: 'text' }]) {
    const res = await autosave(app, USERS.alice, 6, payload)
    t.equal(res.statusCode, 400, JSON.stringify(payload))
    t.match(json(res), { code: 'VALIDATION_ERROR', message: /body\.data|body must have required property 'data'/ })
  }
})

t.test('a non-numeric gig id is a 400 naming params.gigId', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/me/drafts/abc/autosave', headers: authAs(app, USERS.alice) })
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /params\.gigId/)
})

t.test('an autosave over 64 KiB is refused with 413', async (t) => {
  const app = await build(t)
  const res = await autosave(app, USERS.alice, 6, { data: { description: 'x'.repeat(70 * 1024) } })
  t.equal(res.statusCode, 413)
  t.equal(json(res).statusCode, 413)
  t.equal((await app.inject({ url: '/me/drafts/6/autosave', headers: authAs(app, USERS.alice) })).statusCode, 404)
})

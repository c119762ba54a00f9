import t from 'tap'
import { authAs, build, json, USERS } from '../helpers/build.ts'

t.test('GET /gigs/:id returns an open gig to anyone', async (t) => {
  const app = await build(t)
  const res = await app.inject('/gigs/1')
  t.equal(res.statusCode, 200)
  const gig = json(res)
  t.match(gig, { id: 1, status: 'open', postedBy: USERS.alice, version: 1 })
  t.type(gig.createdAt, 'string')
  t.notOk('search' in gig, 'the search vector is never sent')
})

t.test('GET /gigs/abc is a 400 naming the param', async (t) => {
  const app = await build(t)
  const res = await app.inject('/gigs/abc')
  t.equal(res.statusCode, 400)
  t.match(json(res), { statusCode: 400, code: 'VALIDATION_ERROR', error: 'Bad Request', message: /params\.id/ })
})

t.test('GET /gigs/999999999 is a 404 in the common shape', async (t) => {
  const app = await build(t)
  const res = await app.inject('/gigs/999999999')
  t.equal(res.statusCode, 404)
  t.same(Object.keys(json(res)).sort(), ['code', 'error', 'message', 'statusCode'])
})

t.test('a draft is a 404 for others and visible to its poster', async (t) => {
  const app = await build(t)
  t.equal((await app.inject('/gigs/6')).statusCode, 404)
  t.equal((await app.inject({ url: '/gigs/6', headers: authAs(app, USERS.bob) })).statusCode, 404)
  t.equal((await app.inject({ url: '/gigs/6', headers: authAs(app, USERS.alice) })).statusCode, 200)
})

t.test('POST /gigs needs a token', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/gigs', payload: {} })
  t.equal(res.statusCode, 401)
  t.equal(json(res).code, 'UNAUTHORIZED')
})

t.test('a malformed token is a 401', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/gigs/1', headers: { authorization: 'Bearer nope' } })
  t.equal(res.statusCode, 401)
})

t.test('POST /gigs with a bad body is a 400 naming the field', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST', url: '/gigs', headers: authAs(app, USERS.bob), payload: { title: 'x', category: 'design', budgetMin: 1, budgetMax: 2 }
  })
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /body\.title/)
})

t.test('POST /gigs creates a draft owned by the caller and emits gig.created once', async (t) => {
  const app = await build(t)
  const seen: string[] = []
  app.events.onAny((e) => { seen.push(e.name) })
  const res = await app.inject({
    method: 'POST',
    url: '/gigs',
    headers: authAs(app, USERS.bob),
    payload: { title: 'Port our API to Fastify', category: 'web-development', budgetMin: 100, budgetMax: 200, skills: ['node'] }
  })
  t.equal(res.statusCode, 201)
  t.match(json(res), { status: 'draft', postedBy: USERS.bob, version: 1, currency: 'USD' })
  t.same(seen, ['gig.created'])
})

t.test('an unknown category is a 409 and nothing is stored or emitted', async (t) => {
  const app = await build(t)
  const seen: string[] = []
  app.events.onAny((e) => { seen.push(e.name) })
  const res = await app.inject({
    method: 'POST', url: '/gigs', headers: authAs(app, USERS.bob), payload: { title: 'Nope nope', category: 'no-such', budgetMin: 1, budgetMax: 2 }
  })
  t.equal(res.statusCode, 409)
  t.same(seen, [])
  const list = json<{ total: number }>(await app.inject('/gigs?postedBy=2'))
  t.equal(list.total, 0)
})

t.test('PATCH /gigs/:id by its poster bumps the version and emits gig.updated', async (t) => {
  const app = await build(t)
  const seen: unknown[] = []
  app.events.on('gig.updated', (p) => { seen.push(p) })
  const res = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: authAs(app, USERS.alice), payload: { title: 'New title here' } })
  t.equal(res.statusCode, 200)
  t.match(json(res), { title: 'New title here', version: 2 })
  t.match(seen, [{ gigId: 1, postedById: USERS.alice, version: 2 }])
})

t.test('PATCH /gigs/:id by someone else is a 403', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: authAs(app, USERS.bob), payload: { title: 'Hijacked!' } })
  t.equal(res.statusCode, 403)
  t.equal(json(await app.inject('/gigs/1')).title, 'Build a caching layer for our Fastify API')
})

t.test('PATCH with a stale If-Match is a 409 and changes nothing', async (t) => {
  const app = await build(t)
  const headers = authAs(app, USERS.alice)
  t.equal((await app.inject({ method: 'PATCH', url: '/gigs/1', headers: { ...headers, 'if-match': '"1"' }, payload: { title: 'First edit' } })).statusCode, 200)
  const res = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: { ...headers, 'if-match': '"1"' }, payload: { title: 'Lost update' } })
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'VERSION_MISMATCH')
  t.equal(json(await app.inject('/gigs/1')).title, 'First edit')
})

t.test('PATCH with an unknown field is a 400', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: authAs(app, USERS.alice), payload: { postedBy: 2 } })
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /postedBy/)
})

t.test('status moves follow the lifecycle and emit gig.status_changed', async (t) => {
  const app = await build(t)
  const headers = authAs(app, USERS.alice)
  const seen: unknown[] = []
  app.events.on('gig.status_changed', (p) => { seen.push(p) })
  const ok = await app.inject({ method: 'POST', url: '/gigs/6/status', headers, payload: { status: 'open' } })
  t.equal(ok.statusCode, 200)
  t.equal(json(ok).status, 'open')
  t.match(seen, [{ gigId: 6, from: 'draft', to: 'open' }])
  const illegal = await app.inject({ method: 'POST', url: '/gigs/6/status', headers, payload: { status: 'completed' } })
  t.equal(illegal.statusCode, 409)
  t.equal(json(illegal).code, 'ILLEGAL_TRANSITION')
  t.equal(seen.length, 1)
})

t.test('DELETE removes a gig and its applications; a gig with an assignment is kept', async (t) => {
  const app = await build(t)
  const headers = authAs(app, USERS.alice)
  const seen: unknown[] = []
  app.events.on('gig.deleted', (p) => { seen.push(p) })
  t.equal((await app.inject({ method: 'DELETE', url: '/gigs/1', headers })).statusCode, 204)
  t.equal((await app.inject('/gigs/1')).statusCode, 404)
  t.match(seen, [{ gigId: 1, postedById: USERS.alice, applicantIds: [USERS.bob, USERS.carol] }])
  const kept = await app.inject({ method: 'DELETE', url: '/gigs/4', headers })
  t.equal(kept.statusCode, 409)
  t.equal(json(kept).code, 'GIG_HAS_ASSIGNMENT')
})

t.test('GET /gigs filters and paginates', async (t) => {
  const app = await build(t)
  const all = json<{ items: Array<{ status: string }>, total: number }>(await app.inject('/gigs?pageSize=100'))
  t.ok(all.items.every((g) => g.status !== 'draft'), 'no drafts in public listings')
  const open = json<{ items: Array<{ id: number }>, total: number }>(await app.inject('/gigs?status=open&category=web-development'))
  t.same(open.items.map((g) => g.id).sort(), [1, 9])
  const bySkill = json<{ items: Array<{ id: number }> }>(await app.inject('/gigs?skill=redis'))
  t.same(bySkill.items.map((g) => g.id), [1])
  const page = json<{ items: unknown[], page: number, pageSize: number }>(await app.inject('/gigs?pageSize=2&page=2'))
  t.equal(page.items.length, 2)
  t.equal(page.page, 2)
})

t.test('GET /featured lists open featured gigs', async (t) => {
  const app = await build(t)
  const ids = json<Array<{ id: number }>>(await app.inject('/featured')).map((g) => g.id).sort()
  t.same(ids, [1, 2, 7])
})

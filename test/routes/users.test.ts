import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { authAs, build, json, USERS } from '../helpers/build.ts'
import type { DomainEvent } from '../../src/domain/events.ts'

type Row = Record<string, unknown>

function recordEvents (app: FastifyInstance): DomainEvent[] {
  const seen: DomainEvent[] = []
  app.events.onAny((e) => { seen.push(e) })
  return seen
}

t.test('GET /users/:id returns the public profile and never the email or role', async (t) => {
  const app = await build(t)
  const res = await app.inject('/users/2')
  t.equal(res.statusCode, 200)
  const user = json(res)
  t.match(user, { id: USERS.bob, name: 'Bob Builder', headline: 'Full-stack TypeScript developer', skills: ['typescript', 'node', 'postgres', 'redis'], rating: 4.6, version: 1 })
  t.same(Object.keys(user).sort(), ['createdAt', 'headline', 'id', 'name', 'rating', 'skills', 'updatedAt', 'version'])
})

t.test('GET /users/:id reads the profile through the entity cache', async (t) => {
  const app = await build(t)
  const asked: Array<[string, string | number]> = []
  app.domain.entities = {
    getEntity: (type, id, loader) => { asked.push([type, id]); return loader() },
    getList: (_key, loader) => loader()
  }
  t.equal((await app.inject('/users/3')).statusCode, 200)
  t.equal((await app.inject('/users/999999')).statusCode, 404)
  t.same(asked, [['user', 3], ['user', 999999]])
})

t.test('GET /users/:id answers from the entity cache when it holds the profile', async (t) => {
  const app = await build(t)
  const cached = { id: 3, name: 'Cached Carol', headline: '', skills: [], rating: 5, version: 7, createdAt: new Date(0), updatedAt: new Date(0) }
  app.domain.entities = { getEntity: async <T>() => cached as T, getList: (_key, loader) => loader() }
  t.match(json(await app.inject('/users/3')), { name: 'Cached Carol', version: 7 })
})

t.test('GET /users/:id of an unknown user is a 404 in the common shape', async (t) => {
  const app = await build(t)
  const res = await app.inject('/users/999999')
  t.equal(res.statusCode, 404)
  t.match(json(res), { statusCode: 404, code: 'NOT_FOUND', error: 'Not Found', message: /user 999999/ })
})

t.test('GET /users/abc is a 400 naming the param', async (t) => {
  const app = await build(t)
  const res = await app.inject('/users/abc')
  t.equal(res.statusCode, 400)
  t.match(json(res), { code: 'VALIDATION_ERROR', message: /params\.id/ })
})

t.test('PATCH /users/:id lets users edit their own profile, bumps the version and emits user.updated', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const before = json(await app.inject('/users/2'))
  const res = await app.inject({
    method: 'PATCH', url: '/users/2', headers: authAs(app, USERS.bob), payload: { name: 'Robert Builder', headline: 'Fastify person', skills: ['node'] }
  })
  t.equal(res.statusCode, 200)
  t.match(json(res), { id: USERS.bob, name: 'Robert Builder', headline: 'Fastify person', skills: ['node'], version: 2 })
  t.notOk('email' in json(res), 'the reply is the public profile')
  t.same(seen.map((e) => e.name), ['user.updated'])
  t.match(seen[0]?.payload, { userId: USERS.bob, version: 2 })
  const after = json(await app.inject('/users/2'))
  t.match(after, { name: 'Robert Builder', version: 2 })
  t.ok(Date.parse(after.updatedAt as string) > Date.parse(before.updatedAt as string), 'updatedAt moves forward')
})

t.test('PATCH /users/:id keeps the fields the body leaves out', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'PATCH', url: '/users/2', headers: authAs(app, USERS.bob), payload: { headline: 'Only the headline' } })
  t.equal(res.statusCode, 200)
  t.match(json(res), { name: 'Bob Builder', headline: 'Only the headline', skills: ['typescript', 'node', 'postgres', 'redis'] })
})

t.test("PATCH /users/:id of someone else's profile is a 403 and changes nothing", async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await app.inject({ method: 'PATCH', url: '/users/3', headers: authAs(app, USERS.bob), payload: { name: 'Hijacked' } })
  t.equal(res.statusCode, 403)
  t.equal(json(res).code, 'FORBIDDEN')
  t.match(json(await app.inject('/users/3')), { name: 'Carol Coder', version: 1 })
  t.same(seen, [])
})

t.test('PATCH /users/:id without a token is a 401, even with an invalid body', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'PATCH', url: '/users/2', payload: { nope: true } })
  t.equal(res.statusCode, 401)
  t.equal(json(res).code, 'UNAUTHORIZED')
})

t.test('PATCH /users/:id with an invalid field is a 400 naming it and changes nothing', async (t) => {
  const app = await build(t)
  const headers = authAs(app, USERS.bob)
  const empty = await app.inject({ method: 'PATCH', url: '/users/2', headers, payload: { name: '' } })
  t.equal(empty.statusCode, 400)
  t.match(json(empty).message, /body\.name/)
  const skills = await app.inject({ method: 'PATCH', url: '/users/2', headers, payload: { skills: ['Not A Slug'] } })
  t.equal(skills.statusCode, 400)
  t.match(json(skills).message, /body\.skills/)
  const extra = await app.inject({ method: 'PATCH', url: '/users/2', headers, payload: { email: 'x@y.z' } })
  t.equal(extra.statusCode, 400)
  t.match(json(extra).message, /body\.email is not an allowed property/)
  const nothing = await app.inject({ method: 'PATCH', url: '/users/2', headers, payload: {} })
  t.equal(nothing.statusCode, 400)
  t.match(json(await app.inject('/users/2')), { name: 'Bob Builder', version: 1 })
})

t.test('PATCH /users/:id for a signed-in user that no longer exists is a 404 and emits nothing', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await app.inject({ method: 'PATCH', url: '/users/999', headers: authAs(app, 999), payload: { name: 'Ghost' } })
  t.equal(res.statusCode, 404)
  t.same(seen, [])
})

t.test("GET /users/:id/gigs lists a user's published gigs, newest first, without drafts", async (t) => {
  const app = await build(t)
  const res = await app.inject('/users/1/gigs')
  t.equal(res.statusCode, 200)
  const gigs = json<Array<{ id: number, status: string, postedBy: number }>>(res)
  t.same(gigs.map((g) => g.id).sort((a, b) => a - b), [1, 2, 3, 4, 5, 12])
  t.ok(gigs.every((g) => g.postedBy === USERS.alice && g.status !== 'draft'))
  t.same(json(await app.inject('/users/6/gigs')), [], 'a user without gigs has an empty list')
})

t.test('GET /users/:id/gigs of an unknown user is a 404', async (t) => {
  const app = await build(t)
  t.equal((await app.inject('/users/999999/gigs')).statusCode, 404)
})

t.test('GET /users/:id/drafts shows users their own drafts', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/users/1/drafts', headers: authAs(app, USERS.alice) })
  t.equal(res.statusCode, 200)
  t.same(json<Array<{ id: number }>>(res).map((g) => g.id), [6])
})

t.test("GET /users/:id/drafts is a 401 without a token and a 403 for someone else's", async (t) => {
  const app = await build(t)
  t.equal((await app.inject('/users/1/drafts')).statusCode, 401)
  const res = await app.inject({ url: '/users/1/drafts', headers: authAs(app, USERS.bob) })
  t.equal(res.statusCode, 403)
  t.equal(json(res).code, 'FORBIDDEN')
})

t.test('GET /users/:id/applications lists your applications, newest first, with gig titles', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/users/2/applications', headers: authAs(app, USERS.bob) })
  t.equal(res.statusCode, 200)
  t.match(json<Row[]>(res), [
    { id: 5, gigId: 4, applicantId: USERS.bob, status: 'rejected', gigTitle: 'iOS app bug fixes' },
    { id: 1, gigId: 1, applicantId: USERS.bob, status: 'pending', gigTitle: 'Build a caching layer for our Fastify API' }
  ])
  t.equal(json<Row[]>(res).length, 2)
})

t.test('a new application comes first in GET /users/:id/applications', async (t) => {
  const app = await build(t)
  const headers = authAs(app, USERS.bob)
  t.equal((await app.inject({ method: 'POST', url: '/gigs/3/applications', headers, payload: { proposedBudget: 1200 } })).statusCode, 201)
  const list = json<Row[]>(await app.inject({ url: '/users/2/applications', headers }))
  t.match(list[0], { gigId: 3, gigTitle: 'Postgres query tuning' })
})

t.test("GET /users/:id/applications is a 401 without a token and a 403 for someone else's", async (t) => {
  const app = await build(t)
  t.equal((await app.inject('/users/2/applications')).statusCode, 401)
  t.equal((await app.inject({ url: '/users/2/applications', headers: authAs(app, USERS.alice) })).statusCode, 403)
})

t.test("GET /users/:id/stats counts a poster's gigs by status and what they spent", async (t) => {
  const app = await build(t)
  const res = await app.inject('/users/1/stats')
  t.equal(res.statusCode, 200)
  t.same(json(res), {
    userId: USERS.alice,
    gigs: { open: 4, in_progress: 1, completed: 1, cancelled: 0, total: 6 },
    applications: { pending: 0, accepted: 0, rejected: 0, withdrawn: 0, total: 0 },
    accepted: 0,
    totalEarned: 0,
    totalSpent: 600
  })
})

t.test("GET /users/:id/stats counts a worker's applications by status and what they earned", async (t) => {
  const app = await build(t)
  t.same(json(await app.inject('/users/5/stats')), {
    userId: USERS.erin,
    gigs: { open: 2, in_progress: 0, completed: 0, cancelled: 0, total: 2 },
    applications: { pending: 1, accepted: 1, rejected: 0, withdrawn: 0, total: 2 },
    accepted: 1,
    totalEarned: 600,
    totalSpent: 0
  })
  t.match(json(await app.inject('/users/3/stats')), {
    applications: { pending: 1, accepted: 1, total: 2 }, accepted: 1, totalEarned: 0
  }, 'escrowed money is not earned yet')
})

t.test('GET /users/:id/stats counts a payment once it is paid', async (t) => {
  const app = await build(t)
  const paid = await app.inject({ method: 'POST', url: '/assignments/1/payment', headers: authAs(app, USERS.alice), payload: { status: 'paid' } })
  t.equal(paid.statusCode, 200)
  t.match(json(await app.inject('/users/3/stats')), { totalEarned: 1000 })
  t.match(json(await app.inject('/users/1/stats')), { totalSpent: 1600 })
})

t.test('GET /users/:id/stats of an unknown user is a 404', async (t) => {
  const app = await build(t)
  t.equal((await app.inject('/users/999999/stats')).statusCode, 404)
})

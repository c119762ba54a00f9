import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { authAs, build, json, USERS } from '../helpers/build.ts'
import type { DomainEvent } from '../../src/domain/events.ts'

// Demo data: assignment 1 is gig 4 (alice's), worker carol, escrowed; assignment 2 is gig 5 (alice's), worker erin, paid.

function recordEvents (app: FastifyInstance): DomainEvent[] {
  const seen: DomainEvent[] = []
  app.events.onAny((e) => { seen.push(e) })
  return seen
}

const pay = (app: FastifyInstance, id: number | string, userId: number, payload: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: `/assignments/${id}/payment`, headers: authAs(app, userId), payload })

const read = async (app: FastifyInstance, id: number) =>
  json(await app.inject({ url: `/assignments/${id}`, headers: authAs(app, USERS.alice) }))

// GET /assignments/:id

t.test("the gig's poster and the worker read an assignment", async (t) => {
  const app = await build(t)
  for (const reader of [USERS.alice, USERS.carol]) {
    const res = await app.inject({ url: '/assignments/1', headers: authAs(app, reader) })
    t.equal(res.statusCode, 200)
    t.match(json(res), { id: 1, gigId: 4, applicationId: 4, workerId: USERS.carol, agreedAmount: 1000, paymentStatus: 'escrowed', version: 1 })
  }
})

t.test('anyone else reading an assignment gets a 403; without a token a 401', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/assignments/1', headers: authAs(app, USERS.bob) })
  t.equal(res.statusCode, 403)
  t.equal(json(res).code, 'FORBIDDEN')
  t.equal((await app.inject('/assignments/1')).statusCode, 401)
})

t.test('reading an unknown assignment is a 404 and a bad id a 400 naming the param', async (t) => {
  const app = await build(t)
  const headers = authAs(app, USERS.alice)
  t.equal((await app.inject({ url: '/assignments/999999', headers })).statusCode, 404)
  const bad = await app.inject({ url: '/assignments/abc', headers })
  t.equal(bad.statusCode, 400)
  t.match(json(bad).message, /params\.id/)
})

// POST /assignments/:id/payment

t.test('the poster releases escrowed money: paid, a new version and assignment.payment_updated', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await pay(app, 1, USERS.alice, { status: 'paid' })
  t.equal(res.statusCode, 200)
  t.match(json(res), { id: 1, paymentStatus: 'paid', version: 2 })
  t.same(seen.map((e) => e.name), ['assignment.payment_updated'])
  t.match(seen[0]?.payload, { assignmentId: 1, gigId: 4, workerId: USERS.carol, postedById: USERS.alice, from: 'escrowed', to: 'paid', version: 2 })
  t.match(await read(app, 1), { paymentStatus: 'paid', version: 2 })
})

t.test('the poster refunds escrowed money', async (t) => {
  const app = await build(t)
  const res = await pay(app, 1, USERS.alice, { status: 'refunded' })
  t.equal(res.statusCode, 200)
  t.match(json(res), { paymentStatus: 'refunded', version: 2 })
})

t.test('a new assignment goes unpaid → escrowed → paid', async (t) => {
  const app = await build(t)
  const accepted = await app.inject({ method: 'POST', url: '/applications/1/accept', headers: authAs(app, USERS.alice) })
  const id = json<{ assignment: { id: number } }>(accepted).assignment.id
  const seen = recordEvents(app)
  const escrowed = await pay(app, id, USERS.alice, { status: 'escrowed' })
  t.equal(escrowed.statusCode, 200)
  t.match(json(escrowed), { paymentStatus: 'escrowed', version: 2 })
  const paid = await pay(app, id, USERS.alice, { status: 'paid' })
  t.equal(paid.statusCode, 200)
  t.match(json(paid), { paymentStatus: 'paid', version: 3 })
  t.match(seen.map((e) => e.payload), [
    { assignmentId: id, gigId: 1, workerId: USERS.bob, from: 'unpaid', to: 'escrowed', version: 2 },
    { assignmentId: id, gigId: 1, workerId: USERS.bob, from: 'escrowed', to: 'paid', version: 3 }
  ])
})

t.test('an unpaid assignment can be neither paid nor refunded before it is escrowed (409)', async (t) => {
  const app = await build(t)
  const accepted = await app.inject({ method: 'POST', url: '/applications/1/accept', headers: authAs(app, USERS.alice) })
  const id = json<{ assignment: { id: number } }>(accepted).assignment.id
  const seen = recordEvents(app)
  for (const status of ['paid', 'refunded', 'unpaid']) {
    const res = await pay(app, id, USERS.alice, { status })
    t.equal(res.statusCode, 409, status)
    t.equal(json(res).code, 'ILLEGAL_TRANSITION')
  }
  t.same(seen, [])
  t.match(await read(app, id), { paymentStatus: 'unpaid', version: 1 })
})

t.test('a paid assignment is final: every further move is a 409 and changes nothing', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  for (const status of ['unpaid', 'escrowed', 'paid', 'refunded']) {
    const res = await pay(app, 2, USERS.alice, { status })
    t.equal(res.statusCode, 409, status)
    t.equal(json(res).code, 'ILLEGAL_TRANSITION')
  }
  t.same(seen, [])
  t.match(await read(app, 2), { paymentStatus: 'paid', version: 1 })
})

t.test('escrowed money cannot go back to unpaid (409)', async (t) => {
  const app = await build(t)
  const res = await pay(app, 1, USERS.alice, { status: 'unpaid' })
  t.equal(res.statusCode, 409)
  t.match(await read(app, 1), { paymentStatus: 'escrowed', version: 1 })
})

t.test('only the poster moves a payment: the worker gets a 403 and nothing changes', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await pay(app, 1, USERS.carol, { status: 'paid' })
  t.equal(res.statusCode, 403)
  t.equal(json(res).code, 'FORBIDDEN')
  t.equal((await pay(app, 1, USERS.bob, { status: 'paid' })).statusCode, 403)
  t.same(seen, [])
  t.match(await read(app, 1), { paymentStatus: 'escrowed', version: 1 })
})

t.test('moving a payment without a token is a 401, even with an invalid body', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/assignments/1/payment', payload: { status: 'free' } })
  t.equal(res.statusCode, 401)
  t.equal(json(res).code, 'UNAUTHORIZED')
})

t.test('moving a payment with an invalid body is a 400 naming the field and changes nothing', async (t) => {
  const app = await build(t)
  const unknown = await pay(app, 1, USERS.alice, { status: 'free' })
  t.equal(unknown.statusCode, 400)
  t.match(json(unknown), { code: 'VALIDATION_ERROR', message: /body\.status/ })
  const missing = await pay(app, 1, USERS.alice, {})
  t.equal(missing.statusCode, 400)
  t.match(json(missing).message, /status/)
  const extra = await pay(app, 1, USERS.alice, { status: 'paid', amount: 5 })
  t.equal(extra.statusCode, 400)
  t.match(json(extra).message, /body\.amount is not an allowed property/)
  t.match(await read(app, 1), { paymentStatus: 'escrowed', version: 1 })
})

t.test('moving the payment of an unknown assignment is a 404; a bad id a 400', async (t) => {
  const app = await build(t)
  t.equal((await pay(app, 999999, USERS.alice, { status: 'paid' })).statusCode, 404)
  const bad = await pay(app, 'x', USERS.alice, { status: 'paid' })
  t.equal(bad.statusCode, 400)
  t.match(json(bad).message, /params\.id/)
})

t.test('two simultaneous payment moves from escrowed: one wins, the other is a 409', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const results = await Promise.all([pay(app, 1, USERS.alice, { status: 'paid' }), pay(app, 1, USERS.alice, { status: 'refunded' })])
  t.same(results.map((r) => r.statusCode).sort(), [200, 409])
  t.equal(seen.length, 1)
  t.match(await read(app, 1), { version: 2 })
})

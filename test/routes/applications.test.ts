import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { asc } from 'drizzle-orm'
import { authAs, build, json, USERS } from '../helpers/build.ts'
import type { DomainEvent } from '../../src/domain/events.ts'
import type { Database } from '../../src/db.ts'
import { applications, assignments, gigs } from '../../drizzle/schema.ts'

type Row = Record<string, unknown>
type TestApp = FastifyInstance & { testDatabase: Database }

function recordEvents (app: FastifyInstance): DomainEvent[] {
  const seen: DomainEvent[] = []
  app.events.onAny((e) => { seen.push(e) })
  return seen
}

/** Every row a write of this module could touch, to show that a refused write changed nothing. */
async function snapshot (app: TestApp): Promise<unknown> {
  const db = app.testDatabase.db
  return {
    gigs: await db.select({ id: gigs.id, status: gigs.status, version: gigs.version, updatedAt: gigs.updatedAt }).from(gigs).orderBy(asc(gigs.id)),
    applications: await db.select().from(applications).orderBy(asc(applications.id)),
    assignments: await db.select().from(assignments).orderBy(asc(assignments.id))
  }
}

const apply = (app: FastifyInstance, gigId: number | string, userId: number, payload: Row = { proposedBudget: 2000, coverLetter: 'Pick me.' }) =>
  app.inject({ method: 'POST', url: `/gigs/${gigId}/applications`, headers: authAs(app, userId), payload })

const act = (app: FastifyInstance, id: number | string, action: 'accept' | 'reject' | 'withdraw', userId: number) =>
  app.inject({ method: 'POST', url: `/applications/${id}/${action}`, headers: authAs(app, userId) })

// POST /gigs/:id/applications

t.test('applying to an open gig creates a pending application and emits application.created', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await apply(app, 1, USERS.dave, { proposedBudget: 2000, coverLetter: 'Redis is my thing.' })
  t.equal(res.statusCode, 201)
  const created = json(res)
  t.match(created, { gigId: 1, applicantId: USERS.dave, proposedBudget: 2000, coverLetter: 'Redis is my thing.', status: 'pending', version: 1 })
  t.same(seen.map((e) => e.name), ['application.created'])
  t.match(seen[0]?.payload, { applicationId: created.id, gigId: 1, applicantId: USERS.dave, postedById: USERS.alice })
  const list = json<Row[]>(await app.inject({ url: '/gigs/1/applications', headers: authAs(app, USERS.alice) }))
  t.ok(list.some((a) => a.id === created.id), "the poster sees it among the gig's applications")
})

t.test('the cover letter of an application is optional', async (t) => {
  const app = await build(t)
  const res = await apply(app, 1, USERS.dave, { proposedBudget: 1800 })
  t.equal(res.statusCode, 201)
  t.equal(json(res).coverLetter, '')
})

t.test('applying without a token is a 401, even with an invalid body', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/gigs/1/applications', payload: { proposedBudget: 'lots' } })
  t.equal(res.statusCode, 401)
  t.equal(json(res).code, 'UNAUTHORIZED')
})

t.test('applying with an invalid body is a 400 naming the field and stores nothing', async (t) => {
  const app = await build(t)
  const before = await snapshot(app)
  const negative = await apply(app, 1, USERS.dave, { proposedBudget: -1 })
  t.equal(negative.statusCode, 400)
  t.match(json(negative), { code: 'VALIDATION_ERROR', message: /body\.proposedBudget/ })
  const missing = await apply(app, 1, USERS.dave, { coverLetter: 'no budget' })
  t.equal(missing.statusCode, 400)
  t.match(json(missing).message, /proposedBudget/)
  const extra = await apply(app, 1, USERS.dave, { proposedBudget: 10, status: 'accepted' })
  t.equal(extra.statusCode, 400)
  t.match(json(extra).message, /body\.status is not an allowed property/)
  t.same(await snapshot(app), before)
})

t.test('applying to a gig id that is not a number is a 400 naming the param', async (t) => {
  const app = await build(t)
  const res = await apply(app, 'abc', USERS.dave)
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /params\.id/)
})

t.test('applying to an unknown gig or a draft is a 404', async (t) => {
  const app = await build(t)
  t.equal((await apply(app, 999999, USERS.dave)).statusCode, 404)
  const draft = await apply(app, 6, USERS.dave)
  t.equal(draft.statusCode, 404)
  t.equal(json(draft).code, 'NOT_FOUND')
})

t.test('posters cannot apply to their own gig (403) and nothing is stored or emitted', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const before = await snapshot(app)
  const res = await apply(app, 1, USERS.alice)
  t.equal(res.statusCode, 403)
  t.equal(json(res).code, 'FORBIDDEN')
  t.same(seen, [])
  t.same(await snapshot(app), before)
})

t.test('applying to a gig that is not open is a 409 GIG_NOT_OPEN and changes nothing', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const before = await snapshot(app)
  for (const gigId of [4, 5, 11]) {
    const res = await apply(app, gigId, USERS.bob)
    t.equal(res.statusCode, 409, `gig ${gigId}`)
    t.equal(json(res).code, 'GIG_NOT_OPEN')
  }
  t.same(seen, [])
  t.same(await snapshot(app), before)
})

t.test('applying twice to the same gig is a 409 DUPLICATE_APPLICATION and changes nothing', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const before = await snapshot(app)
  const res = await apply(app, 1, USERS.bob)
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'DUPLICATE_APPLICATION')
  t.same(seen, [])
  t.same(await snapshot(app), before)
})

t.test('a withdrawn application still counts: applying again is a 409 DUPLICATE_APPLICATION', async (t) => {
  const app = await build(t)
  t.equal((await act(app, 1, 'withdraw', USERS.bob)).statusCode, 200)
  const res = await apply(app, 1, USERS.bob)
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'DUPLICATE_APPLICATION')
})

t.test('two simultaneous applications by one user to one gig store one', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const codes = (await Promise.all([apply(app, 3, USERS.erin), apply(app, 3, USERS.erin)])).map((r) => r.statusCode).sort()
  t.same(codes, [201, 409])
  t.same(seen.map((e) => e.name), ['application.created'])
  const list = json<Row[]>(await app.inject({ url: '/gigs/3/applications', headers: authAs(app, USERS.alice) }))
  t.equal(list.filter((a) => a.applicantId === USERS.erin).length, 1)
})

// GET /gigs/:id/applications

t.test("the poster reads a gig's applications, newest first", async (t) => {
  const app = await build(t)
  const first = await app.inject({ url: '/gigs/1/applications', headers: authAs(app, USERS.alice) })
  t.equal(first.statusCode, 200)
  t.same(json<Row[]>(first).map((a) => a.id), [2, 1])
  const created = json(await apply(app, 1, USERS.dave))
  const after = json<Row[]>(await app.inject({ url: '/gigs/1/applications', headers: authAs(app, USERS.alice) }))
  t.same(after.map((a) => a.id), [created.id, 2, 1])
})

t.test("only the poster reads a gig's applications: 401 without a token, 403 for others", async (t) => {
  const app = await build(t)
  t.equal((await app.inject('/gigs/1/applications')).statusCode, 401)
  const res = await app.inject({ url: '/gigs/1/applications', headers: authAs(app, USERS.bob) })
  t.equal(res.statusCode, 403)
  t.equal(json(res).code, 'FORBIDDEN')
})

t.test("a gig's applications are a 404 for an unknown gig and for someone else's draft", async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ url: '/gigs/999999/applications', headers: authAs(app, USERS.alice) })).statusCode, 404)
  t.equal((await app.inject({ url: '/gigs/6/applications', headers: authAs(app, USERS.bob) })).statusCode, 404)
  t.same(json(await app.inject({ url: '/gigs/6/applications', headers: authAs(app, USERS.alice) })), [], 'the poster sees their draft has none')
})

// GET /applications/:id

t.test('the applicant and the poster read an application', async (t) => {
  const app = await build(t)
  for (const reader of [USERS.bob, USERS.alice]) {
    const res = await app.inject({ url: '/applications/1', headers: authAs(app, reader) })
    t.equal(res.statusCode, 200)
    t.match(json(res), { id: 1, gigId: 1, applicantId: USERS.bob, proposedBudget: 2500, status: 'pending', version: 1 })
  }
})

t.test('anyone else reading an application gets a 403; without a token a 401', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ url: '/applications/1', headers: authAs(app, USERS.carol) })).statusCode, 403)
  t.equal((await app.inject('/applications/1')).statusCode, 401)
})

t.test('reading an unknown application is a 404 and a bad id a 400', async (t) => {
  const app = await build(t)
  const headers = authAs(app, USERS.alice)
  t.equal((await app.inject({ url: '/applications/999999', headers })).statusCode, 404)
  const bad = await app.inject({ url: '/applications/0', headers })
  t.equal(bad.statusCode, 400)
  t.match(json(bad).message, /params\.id/)
})

// PATCH /applications/:id

t.test('the applicant edits a pending application: the version bumps and application.updated is emitted', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await app.inject({
    method: 'PATCH', url: '/applications/1', headers: authAs(app, USERS.bob), payload: { proposedBudget: 2400, coverLetter: 'Cheaper now.' }
  })
  t.equal(res.statusCode, 200)
  t.match(json(res), { id: 1, proposedBudget: 2400, coverLetter: 'Cheaper now.', status: 'pending', version: 2 })
  t.same(seen.map((e) => e.name), ['application.updated'])
  t.match(seen[0]?.payload, { applicationId: 1, gigId: 1, applicantId: USERS.bob, postedById: USERS.alice, status: 'pending', version: 2 })
  t.match(json(await app.inject({ url: '/applications/1', headers: authAs(app, USERS.alice) })), { proposedBudget: 2400, version: 2 })
})

t.test('only the applicant edits an application: the poster gets a 403 and nothing changes', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const before = await snapshot(app)
  const res = await app.inject({ method: 'PATCH', url: '/applications/1', headers: authAs(app, USERS.alice), payload: { proposedBudget: 1 } })
  t.equal(res.statusCode, 403)
  t.same(seen, [])
  t.same(await snapshot(app), before)
})

t.test('editing an application that is no longer pending is a 409 and changes nothing', async (t) => {
  const app = await build(t)
  const before = await snapshot(app)
  const res = await app.inject({ method: 'PATCH', url: '/applications/5', headers: authAs(app, USERS.bob), payload: { proposedBudget: 1 } })
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'APPLICATION_NOT_EDITABLE')
  t.same(await snapshot(app), before)
})

t.test('editing an application: 401 without a token, 400 naming a bad field, 404 when unknown', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'PATCH', url: '/applications/1', payload: {} })).statusCode, 401)
  const headers = authAs(app, USERS.bob)
  const bad = await app.inject({ method: 'PATCH', url: '/applications/1', headers, payload: { proposedBudget: 'cheap' } })
  t.equal(bad.statusCode, 400)
  t.match(json(bad).message, /body\.proposedBudget/)
  t.equal((await app.inject({ method: 'PATCH', url: '/applications/1', headers, payload: {} })).statusCode, 400)
  t.equal((await app.inject({ method: 'PATCH', url: '/applications/999999', headers, payload: { proposedBudget: 1 } })).statusCode, 404)
})

// POST /applications/:id/accept

t.test('accepting an application assigns the work, starts the gig and rejects the other applicants', async (t) => {
  const app = await build(t)
  const res = await act(app, 1, 'accept', USERS.alice)
  t.equal(res.statusCode, 200)
  const body = json<{ application: Row, assignment: Row }>(res)
  t.match(body.application, { id: 1, status: 'accepted', version: 2 })
  t.match(body.assignment, { gigId: 1, applicationId: 1, workerId: USERS.bob, agreedAmount: 2500, paymentStatus: 'unpaid', version: 1 })
  t.match(json(await app.inject('/gigs/1')), { status: 'in_progress', version: 2 })
  t.match(json(await app.inject({ url: '/applications/2', headers: authAs(app, USERS.carol) })), { status: 'rejected', version: 2 })
  const assignment = await app.inject({ url: `/assignments/${body.assignment.id as number}`, headers: authAs(app, USERS.bob) })
  t.equal(assignment.statusCode, 200, 'the worker reads the new assignment')
})

t.test('accepting emits application.accepted, gig.status_changed and application.rejected for each other applicant', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await act(app, 1, 'accept', USERS.alice)
  t.equal(res.statusCode, 200)
  const assignmentId = json<{ assignment: { id: number } }>(res).assignment.id
  t.same(seen.map((e) => e.name), ['application.accepted', 'gig.status_changed', 'application.rejected'])
  t.match(seen.map((e) => e.payload), [
    { applicationId: 1, gigId: 1, applicantId: USERS.bob, postedById: USERS.alice, assignmentId, version: 2 },
    { gigId: 1, postedById: USERS.alice, from: 'open', to: 'in_progress', version: 2 },
    { applicationId: 2, gigId: 1, applicantId: USERS.carol, postedById: USERS.alice, version: 2 }
  ])
})

t.test('accepting leaves applications that were not pending as they were', async (t) => {
  const app = await build(t)
  t.equal((await act(app, 2, 'withdraw', USERS.carol)).statusCode, 200)
  const seen = recordEvents(app)
  t.equal((await act(app, 1, 'accept', USERS.alice)).statusCode, 200)
  t.same(seen.map((e) => e.name), ['application.accepted', 'gig.status_changed'])
  t.match(json(await app.inject({ url: '/applications/2', headers: authAs(app, USERS.carol) })), { status: 'withdrawn' })
})

t.test('only the poster accepts: the applicant gets a 403, no token a 401, and nothing changes', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const before = await snapshot(app)
  const res = await act(app, 1, 'accept', USERS.bob)
  t.equal(res.statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/applications/1/accept' })).statusCode, 401)
  t.same(seen, [])
  t.same(await snapshot(app), before)
})

t.test('accepting an application that is not pending is a 409 ILLEGAL_TRANSITION and changes nothing', async (t) => {
  const app = await build(t)
  const before = await snapshot(app)
  for (const id of [4, 5]) {
    const res = await act(app, id, 'accept', USERS.alice)
    t.equal(res.statusCode, 409, `application ${id}`)
    t.equal(json(res).code, 'ILLEGAL_TRANSITION')
  }
  t.same(await snapshot(app), before)
})

t.test('accepting an application of a gig that is not open is a 409 GIG_NOT_OPEN and changes nothing', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ method: 'POST', url: '/gigs/3/status', headers: authAs(app, USERS.alice), payload: { status: 'cancelled' } })).statusCode, 200)
  const seen = recordEvents(app)
  const before = await snapshot(app)
  const res = await act(app, 3, 'accept', USERS.alice)
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'GIG_NOT_OPEN')
  t.same(seen, [])
  t.same(await snapshot(app), before)
})

t.test('an accept that fails midway rolls back every write it made', async (t) => {
  const app = await build(t)
  // An assignment already on the gig makes the accept fail after the application was set accepted.
  await app.testDatabase.db.insert(assignments).values({ gigId: 1, applicationId: 2, workerId: USERS.carol, agreedAmount: 1 })
  const seen = recordEvents(app)
  const before = await snapshot(app)
  const res = await act(app, 1, 'accept', USERS.alice)
  t.equal(res.statusCode, 409)
  t.same(seen, [], 'a rolled-back accept emits nothing')
  t.same(await snapshot(app), before, 'the application is still pending and the gig still open')
})

t.test('two simultaneous accepts on one gig: one wins, the other is a 409, one assignment exists', async (t) => {
  const app = await build(t)
  const results = await Promise.all([act(app, 1, 'accept', USERS.alice), act(app, 2, 'accept', USERS.alice)])
  t.same(results.map((r) => r.statusCode).sort(), [200, 409])
  const rows = await app.testDatabase.db.select().from(assignments)
  t.equal(rows.filter((a) => a.gigId === 1).length, 1)
})

t.test('accepting an unknown application is a 404 and a bad id a 400', async (t) => {
  const app = await build(t)
  t.equal((await act(app, 999999, 'accept', USERS.alice)).statusCode, 404)
  const bad = await act(app, 'x', 'accept', USERS.alice)
  t.equal(bad.statusCode, 400)
  t.match(json(bad).message, /params\.id/)
})

// POST /applications/:id/reject

t.test('the poster rejects a pending application and application.rejected is emitted', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await act(app, 1, 'reject', USERS.alice)
  t.equal(res.statusCode, 200)
  t.match(json(res), { id: 1, status: 'rejected', version: 2 })
  t.same(seen.map((e) => e.name), ['application.rejected'])
  t.match(seen[0]?.payload, { applicationId: 1, gigId: 1, applicantId: USERS.bob, postedById: USERS.alice, version: 2 })
  t.match(json(await app.inject('/gigs/1')), { status: 'open', version: 1 }, 'the gig stays open')
})

t.test('only the poster rejects: the applicant gets a 403, no token a 401, and nothing changes', async (t) => {
  const app = await build(t)
  const before = await snapshot(app)
  t.equal((await act(app, 1, 'reject', USERS.bob)).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/applications/1/reject' })).statusCode, 401)
  t.same(await snapshot(app), before)
})

t.test('rejecting an application that is not pending is a 409 and changes nothing', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const before = await snapshot(app)
  const res = await act(app, 4, 'reject', USERS.alice)
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'ILLEGAL_TRANSITION')
  t.same(seen, [])
  t.same(await snapshot(app), before)
})

t.test('rejecting an unknown application is a 404', async (t) => {
  const app = await build(t)
  t.equal((await act(app, 999999, 'reject', USERS.alice)).statusCode, 404)
})

// POST /applications/:id/withdraw

t.test('the applicant withdraws a pending application and application.updated is emitted', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await act(app, 1, 'withdraw', USERS.bob)
  t.equal(res.statusCode, 200)
  t.match(json(res), { id: 1, status: 'withdrawn', version: 2 })
  t.same(seen.map((e) => e.name), ['application.updated'])
  t.match(seen[0]?.payload, { applicationId: 1, gigId: 1, applicantId: USERS.bob, postedById: USERS.alice, status: 'withdrawn', version: 2 })
})

t.test('a withdrawn application can no longer be accepted', async (t) => {
  const app = await build(t)
  t.equal((await act(app, 1, 'withdraw', USERS.bob)).statusCode, 200)
  const res = await act(app, 1, 'accept', USERS.alice)
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'ILLEGAL_TRANSITION')
  t.match(json(await app.inject('/gigs/1')), { status: 'open' })
})

t.test('only the applicant withdraws: the poster gets a 403, no token a 401, and nothing changes', async (t) => {
  const app = await build(t)
  const before = await snapshot(app)
  t.equal((await act(app, 1, 'withdraw', USERS.alice)).statusCode, 403)
  t.equal((await app.inject({ method: 'POST', url: '/applications/1/withdraw' })).statusCode, 401)
  t.same(await snapshot(app), before)
})

t.test('withdrawing an application that is not pending is a 409 and changes nothing', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const before = await snapshot(app)
  const res = await act(app, 5, 'withdraw', USERS.bob)
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'ILLEGAL_TRANSITION')
  t.same(seen, [])
  t.same(await snapshot(app), before)
})

t.test('withdrawing an unknown application is a 404', async (t) => {
  const app = await build(t)
  t.equal((await act(app, 999999, 'withdraw', USERS.bob)).statusCode, 404)
})

import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { authAs, build, json, USERS } from '../helpers/build.ts'

// Demo data: gig 4 (alice's, in progress) has assignment 1 for carol and submission 1
// (changes_requested); gig 5 (alice's, completed) has assignment 2 for erin and submission 2 (approved).

interface SubmissionBody { id: number, gigId: number, assignmentId: number, submitterId: number, status: string, version: number, reviewNotes: string | null }

function recordEvents (app: FastifyInstance): Array<{ name: string, payload: unknown }> {
  const seen: Array<{ name: string, payload: unknown }> = []
  app.events.onAny((e) => { seen.push({ name: e.name, payload: e.payload }) })
  return seen
}

function submit (app: FastifyInstance, userId: number, gigId: number, content = 'Second batch: PR #13 with the login crash test.') {
  return app.inject({ method: 'POST', url: `/gigs/${gigId}/submissions`, headers: authAs(app, userId), payload: { content } })
}

function review (app: FastifyInstance, userId: number, id: number, payload: Record<string, unknown>) {
  return app.inject({ method: 'POST', url: `/submissions/${id}/review`, headers: authAs(app, userId), payload })
}

async function gigSubmissionIds (app: FastifyInstance, gigId: number): Promise<number[]> {
  const res = await app.inject({ url: `/gigs/${gigId}/submissions`, headers: authAs(app, USERS.alice) })
  return json<SubmissionBody[]>(res).map((s) => s.id)
}

t.test('the assigned worker submits work and the submission is created once', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await submit(app, USERS.carol, 4)
  t.equal(res.statusCode, 201)
  const body = json<SubmissionBody>(res)
  t.match(body, { gigId: 4, assignmentId: 1, submitterId: USERS.carol, status: 'submitted', reviewNotes: null, version: 1 })
  t.type((body as unknown as { createdAt: unknown }).createdAt, 'string')
  t.same(seen.map((e) => e.name), ['submission.created'])
  t.match(seen[0]!.payload, { submissionId: body.id, gigId: 4, assignmentId: 1, submitterId: USERS.carol, postedById: USERS.alice })
  t.same(await gigSubmissionIds(app, 4), [body.id, 1], 'listed newest first')
})

t.test('submitting work needs a token', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/gigs/4/submissions', payload: { content: 'x' } })
  t.equal(res.statusCode, 401)
  t.equal(json(res).code, 'UNAUTHORIZED')
})

t.test('anyone but the assigned worker is refused with 403 and nothing is stored', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  for (const user of [USERS.alice, USERS.bob]) {
    const res = await submit(app, user, 4)
    t.equal(res.statusCode, 403, `user ${user}`)
    t.equal(json(res).code, 'FORBIDDEN')
  }
  t.same(seen, [])
  t.same(await gigSubmissionIds(app, 4), [1])
})

t.test('work for a gig that is not in progress is a 409 and nothing is stored', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await submit(app, USERS.erin, 5)
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'GIG_NOT_IN_PROGRESS')
  t.same(seen, [])
  t.same(await gigSubmissionIds(app, 5), [2])
})

t.test('a second submission while one awaits review is a 409', async (t) => {
  const app = await build(t)
  const first = await submit(app, USERS.carol, 4)
  t.equal(first.statusCode, 201)
  const seen = recordEvents(app)
  const second = await submit(app, USERS.carol, 4, 'Another try')
  t.equal(second.statusCode, 409)
  t.equal(json(second).code, 'SUBMISSION_PENDING')
  t.same(seen, [])
  t.same(await gigSubmissionIds(app, 4), [json<SubmissionBody>(first).id, 1])
})

t.test('submitting to an unknown gig is a 404', async (t) => {
  const app = await build(t)
  const res = await submit(app, USERS.carol, 999999)
  t.equal(res.statusCode, 404)
  t.equal(json(res).code, 'NOT_FOUND')
})

t.test('submitting to someone else\'s draft is a 404', async (t) => {
  const app = await build(t)
  t.equal((await submit(app, USERS.bob, 6)).statusCode, 404)
})

t.test('an empty submission is a 400 naming body.content', async (t) => {
  const app = await build(t)
  const res = await submit(app, USERS.carol, 4, '')
  t.equal(res.statusCode, 400)
  t.match(json(res), { code: 'VALIDATION_ERROR', message: /body\.content/ })
})

t.test('an unknown body field is a 400 naming it', async (t) => {
  const app = await build(t)
  const res = await app.inject({
    method: 'POST', url: '/gigs/4/submissions', headers: authAs(app, USERS.carol), payload: { content: 'x', status: 'approved' }
  })
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /body\.status is not an allowed property/)
})

t.test('a non-numeric gig id is a 400 naming params.id', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/gigs/abc/submissions', headers: authAs(app, USERS.carol), payload: { content: 'x' } })
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /params\.id/)
})

t.test('without a token the 401 comes before validation', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/gigs/abc/submissions', payload: {} })
  t.equal(res.statusCode, 401)
})

t.test('the poster and the worker read a gig\'s submissions', async (t) => {
  const app = await build(t)
  for (const user of [USERS.alice, USERS.carol]) {
    const res = await app.inject({ url: '/gigs/4/submissions', headers: authAs(app, user) })
    t.equal(res.statusCode, 200, `user ${user}`)
    t.match(json(res), [{ id: 1, gigId: 4, status: 'changes_requested', reviewNotes: 'Please add a test for the login crash.' }])
  }
})

t.test('a poster sees an empty list for a gig without submissions', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/gigs/1/submissions', headers: authAs(app, USERS.alice) })
  t.equal(res.statusCode, 200)
  t.same(json(res), [])
})

t.test('others may not read a gig\'s submissions', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/gigs/4/submissions', headers: authAs(app, USERS.bob) })
  t.equal(res.statusCode, 403)
  t.equal((await app.inject({ url: '/gigs/4/submissions' })).statusCode, 401)
})

t.test('the submissions of an unknown gig are a 404', async (t) => {
  const app = await build(t)
  const res = await app.inject({ url: '/gigs/999999/submissions', headers: authAs(app, USERS.alice) })
  t.equal(res.statusCode, 404)
})

t.test('the poster and the submitter read one submission', async (t) => {
  const app = await build(t)
  for (const user of [USERS.alice, USERS.erin]) {
    const res = await app.inject({ url: '/submissions/2', headers: authAs(app, user) })
    t.equal(res.statusCode, 200, `user ${user}`)
    t.match(json(res), { id: 2, gigId: 5, assignmentId: 2, submitterId: USERS.erin, status: 'approved', reviewNotes: 'Great work.' })
  }
})

t.test('others may not read a submission', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ url: '/submissions/2', headers: authAs(app, USERS.carol) })).statusCode, 403)
  t.equal((await app.inject({ url: '/submissions/2' })).statusCode, 401)
})

t.test('an unknown submission is a 404 and a bad id a 400', async (t) => {
  const app = await build(t)
  t.equal((await app.inject({ url: '/submissions/999999', headers: authAs(app, USERS.alice) })).statusCode, 404)
  const bad = await app.inject({ url: '/submissions/0', headers: authAs(app, USERS.alice) })
  t.equal(bad.statusCode, 400)
  t.match(json(bad).message, /params\.id/)
})

t.test('the poster approves a submitted piece of work once', async (t) => {
  const app = await build(t)
  const created = json<SubmissionBody>(await submit(app, USERS.carol, 4))
  const seen = recordEvents(app)
  const res = await review(app, USERS.alice, created.id, { status: 'approved', notes: 'Looks good.' })
  t.equal(res.statusCode, 200)
  t.match(json(res), { id: created.id, status: 'approved', reviewNotes: 'Looks good.', version: 2 })
  t.same(seen.map((e) => e.name), ['submission.reviewed'])
  t.match(seen[0]!.payload, {
    submissionId: created.id, gigId: 4, assignmentId: 1, submitterId: USERS.carol, postedById: USERS.alice, status: 'approved', version: 2
  })
  const read = json<SubmissionBody>(await app.inject({ url: `/submissions/${created.id}`, headers: authAs(app, USERS.carol) }))
  t.match(read, { status: 'approved', version: 2 })
})

t.test('requested changes let the worker submit again', async (t) => {
  const app = await build(t)
  const created = json<SubmissionBody>(await submit(app, USERS.carol, 4))
  const res = await review(app, USERS.alice, created.id, { status: 'changes_requested' })
  t.equal(res.statusCode, 200)
  t.match(json(res), { status: 'changes_requested', reviewNotes: null })
  t.equal((await submit(app, USERS.carol, 4, 'Third batch')).statusCode, 201)
})

t.test('a submission already reviewed cannot be reviewed again (409) and is unchanged', async (t) => {
  const app = await build(t)
  const seen = recordEvents(app)
  const res = await review(app, USERS.alice, 1, { status: 'approved' })
  t.equal(res.statusCode, 409)
  t.equal(json(res).code, 'ILLEGAL_TRANSITION')
  t.same(seen, [])
  t.match(json(await app.inject({ url: '/submissions/1', headers: authAs(app, USERS.alice) })), { status: 'changes_requested', version: 1 })
})

t.test('only the poster reviews: the submitter is refused with 403 and nothing changes', async (t) => {
  const app = await build(t)
  const created = json<SubmissionBody>(await submit(app, USERS.carol, 4))
  const seen = recordEvents(app)
  const res = await review(app, USERS.carol, created.id, { status: 'approved' })
  t.equal(res.statusCode, 403)
  t.same(seen, [])
  t.match(json(await app.inject({ url: `/submissions/${created.id}`, headers: authAs(app, USERS.carol) })), { status: 'submitted', version: 1 })
})

t.test('a review needs a token', async (t) => {
  const app = await build(t)
  const res = await app.inject({ method: 'POST', url: '/submissions/1/review', payload: { status: 'approved' } })
  t.equal(res.statusCode, 401)
})

t.test('a review with an unknown status is a 400 naming body.status', async (t) => {
  const app = await build(t)
  const created = json<SubmissionBody>(await submit(app, USERS.carol, 4))
  const res = await review(app, USERS.alice, created.id, { status: 'submitted' })
  t.equal(res.statusCode, 400)
  t.match(json(res).message, /body\.status/)
})

t.test('reviewing an unknown submission is a 404', async (t) => {
  const app = await build(t)
  const res = await review(app, USERS.alice, 999999, { status: 'approved' })
  t.equal(res.statusCode, 404)
})

t.test('two submissions racing for one gig: one is created, the other is a 409', async (t) => {
  const app = await build(t)
  const results = await Promise.all([submit(app, USERS.carol, 4, 'A'), submit(app, USERS.carol, 4, 'B')])
  t.same(results.map((r) => r.statusCode).sort(), [201, 409])
  t.equal((await gigSubmissionIds(app, 4)).length, 2)
})

t.test('two reviews racing for one submission: one applies, the other is a 409', async (t) => {
  const app = await build(t)
  const created = json<SubmissionBody>(await submit(app, USERS.carol, 4))
  const seen = recordEvents(app)
  const results = await Promise.all([
    review(app, USERS.alice, created.id, { status: 'approved' }),
    review(app, USERS.alice, created.id, { status: 'changes_requested' })
  ])
  t.same(results.map((r) => r.statusCode).sort(), [200, 409])
  t.same(seen.map((e) => e.name), ['submission.reviewed'])
  const winner = json<SubmissionBody>(results.find((r) => r.statusCode === 200)!)
  t.match(json(await app.inject({ url: `/submissions/${created.id}`, headers: authAs(app, USERS.alice) })), { status: winner.status, version: 2 })
})

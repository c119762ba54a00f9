import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { authAs, build, json, USERS } from '../helpers/build.ts'

interface DayCount { day: string, created: number }
interface Daily { gigs: DayCount[], applications: DayCount[] }

async function postGig (app: FastifyInstance, userId: number, payload: Record<string, unknown> = {}): Promise<number> {
  const res = await app.inject({
    method: 'POST', url: '/gigs', headers: authAs(app, userId), payload: { title: 'A fresh gig', category: 'video', skills: ['rust'], budgetMin: 1, budgetMax: 2, ...payload }
  })
  if (res.statusCode !== 201) throw new Error(`POST /gigs: ${res.statusCode} ${res.body}`)
  return json<{ id: number }>(res).id
}

const utcToday = (): string => new Date().toISOString().slice(0, 10)

function today (series: DayCount[]): number {
  const last = series[series.length - 1]!
  if (last.day !== utcToday()) throw new Error(`the last day is ${last.day}, not today`)
  return last.created
}

t.test('GET /categories lists every category with its open gigs', async (t) => {
  const app = await build(t)
  const res = await app.inject('/categories')
  t.equal(res.statusCode, 200)
  const bySlug = Object.fromEntries(json<Array<{ slug: string, name: string, openGigs: number }>>(res).map((c) => [c.slug, c]))
  t.equal(Object.keys(bySlug).length, 8, 'every category, empty ones too')
  t.same(bySlug['web-development'], { slug: 'web-development', name: 'Web development', openGigs: 2 })
  t.equal(bySlug['data-science']?.openGigs, 2)
  t.equal(bySlug['mobile-apps']?.openGigs, 0, 'a gig in progress is not open')
  t.equal(bySlug.devops?.openGigs, 0, 'a draft is not open')
})

t.test('a newly opened gig counts in its category', async (t) => {
  const app = await build(t)
  await postGig(app, USERS.bob, { status: 'open' })
  const video = json<Array<{ slug: string, openGigs: number }>>(await app.inject('/categories')).find((c) => c.slug === 'video')
  t.equal(video?.openGigs, 2)
})

t.test('GET /skills/popular ranks skills by the open gigs listing them', async (t) => {
  const app = await build(t)
  const res = await app.inject('/skills/popular')
  t.equal(res.statusCode, 200)
  const skills = json<Array<{ skill: string, openGigs: number }>>(res)
  t.same(skills.slice(0, 3), [
    { skill: 'copywriting', openGigs: 2 }, { skill: 'postgres', openGigs: 2 }, { skill: 'typescript', openGigs: 2 }
  ])
  const names = skills.map((s) => s.skill)
  t.notOk(names.includes('kubernetes'), 'skills of drafts do not count')
  t.notOk(names.includes('swift'), 'skills of gigs in progress do not count')
  t.ok(skills.length <= 20)
})

t.test('GET /skills/popular returns at most 20 skills', async (t) => {
  const app = await build(t)
  const many = Array.from({ length: 20 }, (_, i) => `skill-${String(i).padStart(2, '0')}`)
  await postGig(app, USERS.bob, { status: 'open', skills: many })
  for (let i = 0; i < 3; i++) await postGig(app, USERS.bob, { status: 'open', skills: ['rust'] })
  const skills = json<Array<{ skill: string, openGigs: number }>>(await app.inject('/skills/popular'))
  t.equal(skills.length, 20)
  t.same(skills[0], { skill: 'rust', openGigs: 3 }, 'the cancelled gig listing rust does not count')
})

t.test('GET /stats/daily covers the last 7 days by default, today last, zeros included', async (t) => {
  const app = await build(t)
  const res = await app.inject('/stats/daily')
  t.equal(res.statusCode, 200)
  const daily = json<Daily>(res)
  for (const series of [daily.gigs, daily.applications]) {
    t.equal(series.length, 7)
    t.equal(series[6]!.day, utcToday())
    const days = series.map((d) => Date.parse(`${d.day}T00:00:00Z`))
    t.ok(days.every((d, i) => i === 0 || d - days[i - 1]! === 86400000), 'consecutive days, oldest first')
    t.ok(series.every((d) => Number.isInteger(d.created) && d.created >= 0))
  }
})

t.test('a gig published today shows up in today\'s count; a draft does not', async (t) => {
  const app = await build(t)
  const before = today(json<Daily>(await app.inject('/stats/daily?days=1')).gigs)
  await postGig(app, USERS.bob, { status: 'open' })
  await postGig(app, USERS.bob)
  const after = json<Daily>(await app.inject('/stats/daily?days=1'))
  t.equal(after.gigs.length, 1)
  t.equal(today(after.gigs), before + 1)
})

t.test('an application made today shows up in today\'s count', async (t) => {
  const app = await build(t)
  const before = today(json<Daily>(await app.inject('/stats/daily?days=2')).applications)
  const applied = await app.inject({ method: 'POST', url: '/gigs/2/applications', headers: authAs(app, USERS.bob), payload: { coverLetter: 'Happy to help.', proposedBudget: 900 } })
  t.equal(applied.statusCode, 201)
  t.equal(today(json<Daily>(await app.inject('/stats/daily?days=2')).applications), before + 1)
})

t.test('GET /stats/daily?days=90 returns 90 days', async (t) => {
  const app = await build(t)
  const daily = json<Daily>(await app.inject('/stats/daily?days=90'))
  t.equal(daily.gigs.length, 90)
  t.equal(daily.applications.length, 90)
})

t.test('days outside 1..90 is a 400 naming query.days', async (t) => {
  const app = await build(t)
  for (const days of ['0', '91', 'week']) {
    const res = await app.inject(`/stats/daily?days=${days}`)
    t.equal(res.statusCode, 400, `days=${days}`)
    t.match(json(res), { code: 'VALIDATION_ERROR', message: /query\.days/ })
  }
})

t.test('GET /leaderboards/creators ranks users by published gigs', async (t) => {
  const app = await build(t)
  const res = await app.inject('/leaderboards/creators')
  t.equal(res.statusCode, 200)
  t.same(json(res), [
    { userId: USERS.alice, name: 'Alice Poster', gigsPosted: 6 },
    { userId: USERS.dave, name: 'Dave Data', gigsPosted: 3 },
    { userId: USERS.erin, name: 'Erin Editor', gigsPosted: 2 }
  ])
})

t.test('drafts do not count on the creators leaderboard', async (t) => {
  const app = await build(t)
  await postGig(app, USERS.bob)
  let board = json<Array<{ userId: number }>>(await app.inject('/leaderboards/creators'))
  t.notOk(board.some((r) => r.userId === USERS.bob))
  await postGig(app, USERS.bob, { status: 'open' })
  board = json<Array<{ userId: number }>>(await app.inject('/leaderboards/creators'))
  t.match(board[board.length - 1], { userId: USERS.bob, gigsPosted: 1 })
})

t.test('GET /leaderboards/applicants ranks users by accepted applications', async (t) => {
  const app = await build(t)
  const res = await app.inject('/leaderboards/applicants')
  t.equal(res.statusCode, 200)
  t.same(json(res), [
    { userId: USERS.carol, name: 'Carol Coder', acceptedApplications: 1 },
    { userId: USERS.erin, name: 'Erin Editor', acceptedApplications: 1 }
  ])
})

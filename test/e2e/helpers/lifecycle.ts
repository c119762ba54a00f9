import { authAs, USERS } from '../../helpers/build.ts'
import { checkFresh, label, type App, type Read, type Tap } from './fresh.ts'

// Response bodies are read loosely: each expectation names the fields it needs, and the full body
// has already been compared with the database.
type Body = any

const { alice, bob, carol, dave, erin } = USERS

/** What part 4 plugs into the walk: Redis stopped and restarted between steps. */
export interface WalkHooks {
  /** Runs before the step of that name (outside its subtest). */
  before?: (step: string) => Promise<void>
  /** Whether the cache is expected to answer right now (false while Redis is down). */
  cacheUp: () => boolean
  /** A known bug (tap todo) for a freshness check of one read in one step, if any. */
  todo?: (step: string, read: Read) => string | undefined
}

/** The names of the walk's steps, in order: part 4 stops Redis before one and restarts it before another. */
export const STEPS = {
  baseline: 'before anything happens, every read equals the database and the second fetch comes from the cache',
  draft: 'a poster saves a draft: it is in her drafts and nowhere public',
  autosave: 'she autosaves the draft form and gets the same form back',
  saveDraft: 'she saves the autosaved form with If-Match: her drafts show the edit',
  publish: 'publishing puts the gig in featured, search, her gigs, the category counts and her stats at once',
  view: 'freelancers view the gig and find it first in their recent views',
  apply: 'three freelancers apply: each sees their application, counts and daily stats move at once',
  duplicate: 'applying twice to the same gig is refused (409) and changes nothing',
  edit: 'the poster edits the open gig with If-Match: applicants see the new title in their applications',
  stalePatch: 'a PATCH with a stale If-Match is refused (409) and changes nothing',
  list: 'the poster lists the applications, newest first',
  reject: 'rejecting one: its applicant sees it rejected at once, the others stay pending',
  accept: 'accepting one creates the assignment, moves the gig to in progress and rejects the rest',
  acceptAgain: 'accepting again on a gig no longer open is refused (409) and changes nothing',
  workerView: 'the worker opens the gig he now works on',
  notAssigned: 'a submission by anyone but the assigned worker is refused (403)',
  secondGig: 'a second gig is published at once and gets two applications',
  withdraw: 'an applicant withdraws: her list and stats show it at once',
  cancel: 'the poster cancels the second gig',
  acceptCancelled: 'accepting an application of a cancelled gig is refused (409)',
  deleteWithApplications: 'deleting a gig with applications removes the applications too',
  submit: 'the worker submits work: poster and worker see it',
  submitAgain: 'a second submission while one awaits review is refused (409)',
  requestChanges: 'the poster requests changes: the worker sees the notes',
  resubmit: 'the worker resubmits after the requested changes',
  approve: 'the poster approves the resubmission; a reviewed submission cannot be reviewed again (409)',
  payOutOfOrder: 'a payment out of order (unpaid → paid) is refused (409)',
  escrow: 'the poster escrows the payment: the assignment shows it, totals do not move yet',
  pay: 'releasing the payment raises the worker\'s earnings and the poster\'s spending at once',
  refundAfterPaid: 'a paid payment cannot be refunded (409)',
  complete: 'the poster completes the gig: her stats and lists show it completed',
  deleteWithWork: 'a gig with accepted work cannot be deleted (409) and stays everywhere',
  rename: 'a profile update changes the poster\'s name everywhere it is shown'
} as const

export type StepName = keyof typeof STEPS

/**
 * The whole gig lifecycle over HTTP, as several signed-in users. After every step, every read the
 * walk knows of (it grows as ids appear) is fetched twice and compared with the database; steps
 * then assert what a user observes, against the values of the step before where it moves.
 */
export async function walkLifecycle (t: Tap, app: App, hooks: WalkHooks): Promise<void> {
  const reads: Read[] = [
    { url: '/gigs' },
    { url: '/gigs?status=open' },
    { url: '/gigs?status=completed' },
    { url: '/featured' },
    { url: '/search?q=quokka' },
    { url: '/categories' },
    { url: '/skills/popular' },
    { url: '/users/1' },
    { url: '/users/1/gigs' },
    { url: '/users/1/drafts', as: alice },
    ...[alice, bob, carol, dave, erin].map((id) => ({ url: `/users/${id}/stats` })),
    ...[bob, carol, dave, erin].map((id) => ({ url: `/users/${id}/applications`, as: id })),
    { url: '/stats/daily?days=1' },
    { url: '/stats/daily' },
    { url: '/leaderboards/creators' },
    { url: '/leaderboards/applicants' }
  ]
  let before = new Map<string, Body>()
  let now = new Map<string, Body>()
  const was = (url: string, as?: number): Body => got(before, url, as)
  const is = (url: string, as?: number): Body => got(now, url, as)

  async function step (name: StepName, act: (t: Tap) => Promise<void>, expect?: (t: Tap) => void): Promise<void> {
    await hooks.before?.(name)
    await t.test(STEPS[name], async (t) => {
      await act(t)
      before = now
      now = new Map()
      for (const read of reads) {
        now.set(label(read), await checkFresh(t, app, read, { cacheUp: hooks.cacheUp(), todo: hooks.todo?.(name, read) }))
      }
      expect?.(t)
    })
  }

  async function send (t: Tap, method: 'POST' | 'PATCH' | 'PUT' | 'DELETE', url: string, as: number, status: number,
    payload?: object, headers: Record<string, string> = {}): Promise<Body> {
    const res = await app.inject({ method, url, headers: { ...authAs(app, as), ...headers }, ...(payload === undefined ? {} : { payload }) })
    t.equal(res.statusCode, status, `${method} ${url} as user ${as} answers ${status}: ${res.body.slice(0, 200)}`)
    return res.body === '' ? undefined : JSON.parse(res.body)
  }

  const ids = (items: Array<{ id: number }>): number[] => items.map((i) => i.id)
  const openIn = (rows: Array<{ slug: string, openGigs: number }>, slug: string): number | undefined => rows.find((r) => r.slug === slug)?.openGigs
  const rank = (rows: Array<{ userId: number }>, userId: number): Body => rows.find((r) => r.userId === userId)
  const todayOf = (days: Array<{ created: number }>): number => days.at(-1)!.created
  const status = (id: number) => (apps: Array<{ id: number, status: string }>) => apps.find((a) => a.id === id)?.status

  let gig = 0
  let gig2 = 0
  const app1 = { bob: 0, carol: 0, dave: 0 }
  const app2 = { carol: 0, erin: 0 }
  let assignment = 0
  let firstSubmission = 0
  let secondSubmission = 0
  const title = 'Quokka habitat survey app'
  const editedTitle = 'Quokka habitat survey apps for iOS and Android'

  await step('baseline', async () => {})

  await step('draft', async (t) => {
    const draft = await send(t, 'POST', '/gigs', alice, 201, {
      title,
      description: 'Map quokka sightings on Rottnest Island, offline first.',
      category: 'mobile-apps',
      skills: ['swift', 'kotlin'],
      budgetMin: 700,
      budgetMax: 1400,
      featured: true
    })
    t.equal(draft.status, 'draft')
    gig = draft.id
    reads.push({ url: `/gigs/${gig}` }, { url: `/gigs/${gig}/applications`, as: alice }, { url: `/gigs/${gig}/submissions`, as: alice })
  }, (t) => {
    t.equal(is('/users/1/drafts', alice)[0].id, gig, 'her drafts list it first')
    t.equal(is(`/gigs/${gig}`).code, 'NOT_FOUND', 'the public does not see a draft')
    t.notOk(ids(is('/users/1/gigs')).includes(gig), 'her public gigs do not list it')
    t.notOk(ids(is('/featured')).includes(gig), 'featured does not list it')
    t.equal(is('/search?q=quokka').total, 0, 'search does not find it')
    t.strictSame(is('/users/1/stats'), was('/users/1/stats'), 'her stats do not count drafts')
  })

  const form = { title: editedTitle, budgetMax: 1600 }
  await step('autosave', async (t) => {
    const saved = await send(t, 'PUT', `/me/drafts/${gig}/autosave`, alice, 200, { data: form })
    for (const attempt of ['', ' again']) {
      const res = await app.inject({ url: `/me/drafts/${gig}/autosave`, headers: authAs(app, alice) })
      t.equal(res.statusCode, 200, `GET her autosave${attempt}`)
      t.strictSame(JSON.parse(res.body), saved, `her autosave${attempt} is the form she saved`)
    }
    await send(t, 'PUT', `/me/drafts/${gig}/autosave`, bob, 404, { data: { title: 'not mine' } })
  })

  await step('saveDraft', async (t) => {
    const res = await app.inject({ url: `/me/drafts/${gig}/autosave`, headers: authAs(app, alice) })
    t.equal(res.statusCode, 200)
    const restored = JSON.parse(res.body).data
    const draft = await send(t, 'PATCH', `/gigs/${gig}`, alice, 200, restored, { 'if-match': '"1"' })
    t.equal(draft.version, 2)
    await send(t, 'DELETE', `/me/drafts/${gig}/autosave`, alice, 204)
    const gone = await app.inject({ url: `/me/drafts/${gig}/autosave`, headers: authAs(app, alice) })
    t.equal(gone.statusCode, 404, 'the autosave is gone once saved')
  }, (t) => {
    const draft = is('/users/1/drafts', alice)[0]
    t.equal(draft.title, editedTitle, 'her drafts show the saved title')
    t.equal(draft.budgetMax, 1600)
  })

  await step('publish', async (t) => {
    const open = await send(t, 'POST', `/gigs/${gig}/status`, alice, 200, { status: 'open' })
    t.equal(open.status, 'open')
  }, (t) => {
    t.equal(is(`/gigs/${gig}`).status, 'open', 'the public sees it')
    t.ok(ids(is('/featured')).includes(gig), 'featured lists it')
    t.strictSame(ids(is('/search?q=quokka').items), [gig], 'search finds it')
    t.equal(is('/users/1/gigs')[0].id, gig, 'her gigs list it first')
    t.notOk(ids(is('/users/1/drafts', alice)).includes(gig), 'it left her drafts')
    t.equal(openIn(is('/categories'), 'mobile-apps'), openIn(was('/categories'), 'mobile-apps')! + 1, 'its category counts it')
    // the aggregates the LLD's rules invalidate on a status change (README: at once)
    t.equal(is('/users/1/stats').gigs.open, was('/users/1/stats').gigs.open + 1, 'her stats count it at once')
    t.equal(todayOf(is('/stats/daily?days=1').gigs), todayOf(was('/stats/daily?days=1').gigs) + 1, 'daily stats count it at once')
    t.equal(rank(is('/leaderboards/creators'), alice).gigsPosted, rank(was('/leaderboards/creators'), alice).gigsPosted + 1,
      'the creators leaderboard counts it at once')
  })

  const views = async (t: Tap, as: number, expected: number[]): Promise<void> => {
    for (const attempt of ['', ' again']) {
      const res = await app.inject({ url: '/me/recent-views', headers: authAs(app, as) })
      if (!hooks.cacheUp()) {
        // Views live only in the cache store: with Redis down they may be missing, never a 5xx.
        t.ok(res.statusCode < 500, `GET /me/recent-views as user ${as}${attempt} is not a server error (${res.statusCode})`)
        continue
      }
      t.equal(res.statusCode, 200)
      t.strictSame(JSON.parse(res.body).map((v: { gigId: number }) => v.gigId), expected, `user ${as}'s recent views${attempt}`)
    }
  }
  const signedInView = async (t: Tap, as: number, id: number, todo?: string): Promise<void> => {
    const res = await app.inject({ url: `/gigs/${id}`, headers: authAs(app, as) })
    const extra = todo === undefined ? {} : { todo }
    t.equal(res.statusCode, 200, `GET /gigs/${id} as user ${as}: ${res.body.slice(0, 200)}`, extra)
    if (res.statusCode === 200) t.equal(JSON.parse(res.body).id, id)
  }

  await step('view', async (t) => {
    await signedInView(t, bob, 1)
    await signedInView(t, bob, gig)
    await signedInView(t, carol, gig)
    await views(t, bob, [gig, 1])
    await views(t, carol, [gig])
  })

  await step('apply', async (t) => {
    for (const [who, id, budget] of [['bob', bob, 1200], ['carol', carol, 1300], ['dave', dave, 1000]] as const) {
      const a = await send(t, 'POST', `/gigs/${gig}/applications`, id, 201, { proposedBudget: budget, coverLetter: `${who} would love to map quokkas` })
      app1[who] = a.id
      reads.push({ url: `/applications/${a.id}`, as: id }, { url: `/applications/${a.id}`, as: alice })
    }
  }, (t) => {
    t.strictSame(ids(is(`/gigs/${gig}/applications`, alice)), [app1.dave, app1.carol, app1.bob], 'the poster sees three, newest first')
    for (const [id, a] of [[bob, app1.bob], [carol, app1.carol], [dave, app1.dave]] as const) {
      const mine = is(`/users/${id}/applications`, id)[0]
      t.equal(mine.id, a, `user ${id} sees the application first`)
      t.equal(mine.gigTitle, editedTitle)
      t.equal(is(`/users/${id}/stats`).applications.pending, was(`/users/${id}/stats`).applications.pending + 1,
        `user ${id}'s stats count it at once`)
    }
    t.equal(todayOf(is('/stats/daily?days=1').applications), todayOf(was('/stats/daily?days=1').applications) + 3,
      'daily application stats count them at once')
  })

  await step('duplicate', async (t) => {
    const res = await send(t, 'POST', `/gigs/${gig}/applications`, bob, 409, { proposedBudget: 1100 })
    t.equal(res.code, 'DUPLICATE_APPLICATION')
  }, (t) => {
    t.equal(is(`/gigs/${gig}/applications`, alice).length, 3)
  })

  let seenVersion = 0
  await step('edit', async (t) => {
    // during a step's action, `is` still holds what the step before read
    seenVersion = is(`/gigs/${gig}`).version
    const version = seenVersion
    const edited = await send(t, 'PATCH', `/gigs/${gig}`, alice, 200, { title: `${editedTitle}!` }, { 'if-match': `"${version}"` })
    t.equal(edited.version, version + 1)
  }, (t) => {
    for (const id of [bob, carol, dave]) t.equal(is(`/users/${id}/applications`, id)[0].gigTitle, `${editedTitle}!`, `user ${id} sees the new title`)
    t.equal(is(`/gigs/${gig}`).title, `${editedTitle}!`)
    t.strictSame(ids(is('/search?q=quokka').items), [gig], 'search still finds it')
  })

  await step('stalePatch', async (t) => {
    const res = await send(t, 'PATCH', `/gigs/${gig}`, alice, 409, { title: 'An edit made on an old copy' }, { 'if-match': `"${seenVersion}"` })
    t.equal(res.code, 'VERSION_MISMATCH')
  }, (t) => {
    t.equal(is(`/gigs/${gig}`).title, `${editedTitle}!`, 'the gig keeps its title')
  })

  await step('list', async () => {}, (t) => {
    const list = is(`/gigs/${gig}/applications`, alice)
    t.strictSame(list.map((a: Body) => a.status), ['pending', 'pending', 'pending'])
    t.strictSame(list.map((a: Body) => a.proposedBudget), [1000, 1300, 1200])
  })

  await step('reject', async (t) => {
    t.equal((await send(t, 'POST', `/applications/${app1.dave}/reject`, alice, 200)).status, 'rejected')
  }, (t) => {
    t.equal(is(`/applications/${app1.dave}`, dave).status, 'rejected', 'dave sees it rejected')
    t.equal(status(app1.dave)(is('/users/4/applications', dave)), 'rejected')
    t.equal(is('/users/4/stats').applications.rejected, was('/users/4/stats').applications.rejected + 1, 'his stats count it at once')
    t.strictSame(is(`/gigs/${gig}/applications`, alice).map((a: Body) => a.status), ['rejected', 'pending', 'pending'])
  })

  await step('accept', async (t) => {
    const res = await send(t, 'POST', `/applications/${app1.bob}/accept`, alice, 200)
    t.equal(res.application.status, 'accepted')
    t.equal(res.assignment.paymentStatus, 'unpaid')
    t.equal(res.assignment.agreedAmount, 1200)
    assignment = res.assignment.id
    reads.push({ url: `/assignments/${assignment}`, as: alice }, { url: `/assignments/${assignment}`, as: bob },
      { url: `/gigs/${gig}/submissions`, as: bob })
  }, (t) => {
    t.equal(is(`/gigs/${gig}`).status, 'in_progress', 'the gig is in progress')
    t.equal(is(`/assignments/${assignment}`, bob).workerId, bob, 'the worker sees his assignment')
    t.equal(is(`/applications/${app1.carol}`, carol).status, 'rejected', 'the other pending application is rejected')
    t.notOk(ids(is('/featured')).includes(gig), 'featured no longer lists it')
    t.equal(is('/search?q=quokka').total, 0, 'search no longer finds it')
    t.equal(openIn(is('/categories'), 'mobile-apps'), openIn(was('/categories'), 'mobile-apps')! - 1)
    t.equal(is('/users/1/stats').gigs.in_progress, was('/users/1/stats').gigs.in_progress + 1, 'her stats at once')
    t.equal(is('/users/2/stats').accepted, was('/users/2/stats').accepted + 1, 'the worker\'s stats at once')
    t.equal(is('/users/3/stats').applications.rejected, was('/users/3/stats').applications.rejected + 1)
    t.equal(rank(is('/leaderboards/applicants'), bob).acceptedApplications,
      (rank(was('/leaderboards/applicants'), bob)?.acceptedApplications ?? 0) + 1, 'the applicants leaderboard at once')
  })

  await step('acceptAgain', async (t) => {
    t.equal((await send(t, 'POST', `/applications/${app1.carol}/accept`, alice, 409)).code, 'ILLEGAL_TRANSITION')
    t.equal((await send(t, 'POST', `/applications/${app1.bob}/accept`, alice, 409)).code, 'ILLEGAL_TRANSITION')
  }, (t) => {
    t.equal(is(`/gigs/${gig}`).status, 'in_progress')
  })

  await step('workerView', async (t) => {
    await signedInView(t, bob, gig, hooks.todo?.('workerView', { url: `/gigs/${gig}`, as: bob }))
    await views(t, bob, [gig, 1])
  })

  await step('notAssigned', async (t) => {
    for (const who of [dave, carol, alice]) {
      t.equal((await send(t, 'POST', `/gigs/${gig}/submissions`, who, 403, { content: 'work I was not asked for' })).code, 'FORBIDDEN')
    }
  }, (t) => {
    t.strictSame(is(`/gigs/${gig}/submissions`, alice), [], 'no submission exists')
  })

  await step('secondGig', async (t) => {
    const second = await send(t, 'POST', '/gigs', alice, 201, {
      title: 'Wombat burrow census', category: 'data-science', skills: ['python'], budgetMin: 300, budgetMax: 600, status: 'open'
    })
    gig2 = second.id
    reads.push({ url: `/gigs/${gig2}` }, { url: `/gigs/${gig2}/applications`, as: alice })
    for (const [who, id] of [['carol', carol], ['erin', erin]] as const) {
      const a = await send(t, 'POST', `/gigs/${gig2}/applications`, id, 201, { proposedBudget: 500 })
      app2[who] = a.id
      reads.push({ url: `/applications/${a.id}`, as: id })
    }
  }, (t) => {
    t.equal(is('/gigs?status=open').items[0].id, gig2, 'open gigs list it first')
    t.equal(is('/users/1/gigs')[0].id, gig2)
    t.equal(is('/users/5/applications', erin)[0].gigTitle, 'Wombat burrow census')
    t.equal(is('/users/1/stats').gigs.open, was('/users/1/stats').gigs.open + 1, 'her stats count it at once')
    t.equal(todayOf(is('/stats/daily?days=1').gigs), todayOf(was('/stats/daily?days=1').gigs) + 1, 'daily stats count it at once')
    t.equal(rank(is('/leaderboards/creators'), alice).gigsPosted, rank(was('/leaderboards/creators'), alice).gigsPosted + 1,
      'the creators leaderboard counts it at once')
  })

  await step('withdraw', async (t) => {
    t.equal((await send(t, 'POST', `/applications/${app2.erin}/withdraw`, erin, 200)).status, 'withdrawn')
  }, (t) => {
    t.equal(status(app2.erin)(is('/users/5/applications', erin)), 'withdrawn', 'her list shows it withdrawn')
    t.equal(is('/users/5/stats').applications.withdrawn, was('/users/5/stats').applications.withdrawn + 1, 'her stats at once')
    t.equal(is('/users/5/stats').applications.pending, was('/users/5/stats').applications.pending - 1)
  })

  await step('cancel', async (t) => {
    t.equal((await send(t, 'POST', `/gigs/${gig2}/status`, alice, 200, { status: 'cancelled' })).status, 'cancelled')
  }, (t) => {
    t.equal(is(`/gigs/${gig2}`).status, 'cancelled')
    t.notOk(ids(is('/gigs?status=open').items).includes(gig2), 'open gigs no longer list it')
    t.equal(is('/users/1/stats').gigs.cancelled, was('/users/1/stats').gigs.cancelled + 1, 'her stats at once')
  })

  await step('acceptCancelled', async (t) => {
    t.equal((await send(t, 'POST', `/applications/${app2.carol}/accept`, alice, 409)).code, 'GIG_NOT_OPEN')
  }, (t) => {
    t.equal(is(`/applications/${app2.carol}`, carol).status, 'pending', 'the application stays pending')
  })

  await step('deleteWithApplications', async (t) => {
    await send(t, 'DELETE', `/gigs/${gig2}`, alice, 204)
  }, (t) => {
    t.equal(is(`/gigs/${gig2}`).code, 'NOT_FOUND', 'the gig is gone')
    t.equal(is(`/applications/${app2.erin}`, erin).code, 'NOT_FOUND', 'its applications are gone')
    t.notOk(ids(is('/users/3/applications', carol)).includes(app2.carol), 'the applicant\'s list no longer shows it')
    t.equal(is('/users/5/stats').applications.total, was('/users/5/stats').applications.total - 1, 'the applicant\'s stats at once')
    t.equal(is('/users/1/stats').gigs.cancelled, was('/users/1/stats').gigs.cancelled - 1, 'the poster\'s stats at once')
    t.equal(todayOf(is('/stats/daily?days=1').gigs), todayOf(was('/stats/daily?days=1').gigs) - 1, 'daily gig stats at once')
    t.equal(rank(is('/leaderboards/creators'), alice).gigsPosted, rank(was('/leaderboards/creators'), alice).gigsPosted - 1,
      'the creators leaderboard at once')
    t.equal(todayOf(is('/stats/daily?days=1').applications), todayOf(was('/stats/daily?days=1').applications) - 2,
      'daily application stats at once')
  })

  const submissionReads = (id: number): Read[] => [{ url: `/submissions/${id}`, as: alice }, { url: `/submissions/${id}`, as: bob }]

  await step('submit', async (t) => {
    const s = await send(t, 'POST', `/gigs/${gig}/submissions`, bob, 201, { content: 'Survey app beta: TestFlight and Play links.' })
    t.equal(s.status, 'submitted')
    firstSubmission = s.id
    reads.push(...submissionReads(firstSubmission))
  }, (t) => {
    t.strictSame(ids(is(`/gigs/${gig}/submissions`, alice)), [firstSubmission], 'the poster sees it')
    t.strictSame(ids(is(`/gigs/${gig}/submissions`, bob)), [firstSubmission], 'the worker sees it')
  })

  await step('submitAgain', async (t) => {
    t.equal((await send(t, 'POST', `/gigs/${gig}/submissions`, bob, 409, { content: 'impatient' })).code, 'SUBMISSION_PENDING')
  })

  await step('requestChanges', async (t) => {
    await send(t, 'POST', `/submissions/${firstSubmission}/review`, alice, 200, { status: 'changes_requested', notes: 'Add offline sync.' })
  }, (t) => {
    const s = is(`/submissions/${firstSubmission}`, bob)
    t.equal(s.status, 'changes_requested')
    t.equal(s.reviewNotes, 'Add offline sync.', 'the worker sees the notes')
    t.equal(is(`/gigs/${gig}/submissions`, bob)[0].status, 'changes_requested')
  })

  await step('resubmit', async (t) => {
    const s = await send(t, 'POST', `/gigs/${gig}/submissions`, bob, 201, { content: 'Beta 2 with offline sync.' })
    secondSubmission = s.id
    reads.push(...submissionReads(secondSubmission))
  }, (t) => {
    t.strictSame(ids(is(`/gigs/${gig}/submissions`, alice)), [secondSubmission, firstSubmission], 'newest first')
  })

  await step('approve', async (t) => {
    await send(t, 'POST', `/submissions/${secondSubmission}/review`, alice, 200, { status: 'approved' })
    t.equal((await send(t, 'POST', `/submissions/${firstSubmission}/review`, alice, 409, { status: 'approved' })).code, 'ILLEGAL_TRANSITION')
  }, (t) => {
    t.equal(is(`/submissions/${secondSubmission}`, bob).status, 'approved')
    t.strictSame(is(`/gigs/${gig}/submissions`, bob).map((s: Body) => s.status), ['approved', 'changes_requested'])
  })

  await step('payOutOfOrder', async (t) => {
    t.equal((await send(t, 'POST', `/assignments/${assignment}/payment`, alice, 409, { status: 'paid' })).code, 'ILLEGAL_TRANSITION')
  }, (t) => {
    t.equal(is(`/assignments/${assignment}`, bob).paymentStatus, 'unpaid')
  })

  await step('escrow', async (t) => {
    t.equal((await send(t, 'POST', `/assignments/${assignment}/payment`, alice, 200, { status: 'escrowed' })).paymentStatus, 'escrowed')
  }, (t) => {
    t.equal(is(`/assignments/${assignment}`, bob).paymentStatus, 'escrowed', 'the worker sees the money escrowed')
    t.equal(is('/users/2/stats').totalEarned, was('/users/2/stats').totalEarned, 'escrow is not earnings')
  })

  await step('pay', async (t) => {
    t.equal((await send(t, 'POST', `/assignments/${assignment}/payment`, alice, 200, { status: 'paid' })).paymentStatus, 'paid')
  }, (t) => {
    t.equal(is(`/assignments/${assignment}`, bob).paymentStatus, 'paid')
    t.equal(is('/users/2/stats').totalEarned, was('/users/2/stats').totalEarned + 1200, 'the worker\'s earnings at once')
    t.equal(is('/users/1/stats').totalSpent, was('/users/1/stats').totalSpent + 1200, 'the poster\'s spending at once')
  })

  await step('refundAfterPaid', async (t) => {
    t.equal((await send(t, 'POST', `/assignments/${assignment}/payment`, alice, 409, { status: 'refunded' })).code, 'ILLEGAL_TRANSITION')
    t.equal((await send(t, 'POST', `/assignments/${assignment}/payment`, alice, 409, { status: 'escrowed' })).code, 'ILLEGAL_TRANSITION')
  })

  await step('complete', async (t) => {
    t.equal((await send(t, 'POST', `/gigs/${gig}/status`, alice, 200, { status: 'completed' })).status, 'completed')
  }, (t) => {
    t.equal(is(`/gigs/${gig}`).status, 'completed')
    t.equal(is('/gigs?status=completed').items[0].id, gig, 'completed gigs list it first')
    t.equal(is('/users/1/stats').gigs.completed, was('/users/1/stats').gigs.completed + 1, 'her stats at once')
    t.equal(is('/users/1/stats').gigs.in_progress, was('/users/1/stats').gigs.in_progress - 1)
  })

  await step('deleteWithWork', async (t) => {
    t.equal((await send(t, 'DELETE', `/gigs/${gig}`, alice, 409)).code, 'GIG_HAS_ASSIGNMENT')
  }, (t) => {
    t.equal(is(`/gigs/${gig}`).status, 'completed', 'the gig is still there')
    t.equal(is(`/assignments/${assignment}`, bob).paymentStatus, 'paid', 'and so is the worker\'s record')
  })

  const name = 'Alice Quokka-Poster'
  await step('rename', async (t) => {
    t.equal((await send(t, 'PATCH', `/users/${alice}`, alice, 200, { name })).name, name)
  }, (t) => {
    t.equal(is('/users/1').name, name, 'her profile shows the new name')
    t.equal(rank(is('/leaderboards/creators'), alice).name, name, 'the creators leaderboard shows the new name at once')
  })
}

function got (map: Map<string, Body>, url: string, as?: number): Body {
  const key = label({ url, as })
  if (!map.has(key)) throw new Error(`${key} is not one of the walk's reads`)
  return map.get(key)
}

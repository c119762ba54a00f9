import type { LightMyRequestResponse } from 'fastify'
import type t from 'tap'
import { DomainEvents } from '../../../src/domain/events.ts'
import { noEntityCache, type Caller, type DomainContext, type SessionStore } from '../../../src/domain/context.ts'
import { DomainError } from '../../../src/domain/errors.ts'
import { featuredGigs, getGig, listGigs, userDrafts, type GigFilters } from '../../../src/domain/gigs.ts'
import { getUser, gigsOfUser, userApplications, userStats } from '../../../src/domain/users.ts'
import { getApplication, gigApplications } from '../../../src/domain/applications.ts'
import { getAssignment } from '../../../src/domain/assignments.ts'
import { getSubmission, gigSubmissions } from '../../../src/domain/submissions.ts'
import { normaliseSearch, searchGigs, type SearchSort } from '../../../src/domain/search.ts'
import { categoriesWithCounts, dailyStats, popularSkills, topApplicants, topCreators } from '../../../src/domain/stats.ts'
import { authAs, type build } from '../../helpers/build.ts'

export type Tap = Parameters<Parameters<typeof t.test>[0]>[0]
export type App = Awaited<ReturnType<typeof build>>

/**
 * How a route uses the cache, so the second of two fetches can prove it did:
 * `public` — anonymous callers share one entry (`x-cache: HIT`); `user` — the caller's own entry
 * (`x-cache: HIT`); `entity` — the domain caches what it loads (the second fetch sends no SQL).
 */
export type CacheUse = 'public' | 'user' | 'entity'

/** A read a user makes: a URL, anonymous or as a signed-in user. */
export interface Read { url: string, as?: number | undefined }

/** What a read answers: the body on 200, the error code otherwise. */
export interface Answer { status: number, body: unknown }

type Loader = (ctx: DomainContext, ids: number[], q: URLSearchParams, caller: Caller | null) => Promise<unknown>

interface Route { pattern: RegExp, cache: CacheUse, signedIn: boolean, load: Loader }

const int = (q: URLSearchParams, name: string, fallback?: number): number | undefined => {
  const v = q.get(name)
  return v === null ? fallback : Number(v)
}
const str = (q: URLSearchParams, name: string): string | undefined => q.get(name) ?? undefined
const me = (caller: Caller | null): Caller => caller as Caller

// The route's own query, made by the same domain function the handler calls, but with no cache
// anywhere in between: what a read must answer if the cache is right.
const ROUTES: Route[] = [
  { pattern: /^\/gigs$/, cache: 'public', signedIn: false, load: (ctx, _, q) => listGigs(ctx, gigFilters(q)) },
  { pattern: /^\/featured$/, cache: 'public', signedIn: false, load: (ctx) => featuredGigs(ctx) },
  { pattern: /^\/gigs\/(\d+)$/, cache: 'public', signedIn: false, load: (ctx, [id], _, caller) => getGig(ctx, id!, caller) },
  { pattern: /^\/gigs\/(\d+)\/applications$/, cache: 'user', signedIn: true, load: (ctx, [id], _, c) => gigApplications(ctx, me(c), id!) },
  { pattern: /^\/gigs\/(\d+)\/submissions$/, cache: 'user', signedIn: true, load: (ctx, [id], _, c) => gigSubmissions(ctx, me(c), id!) },
  { pattern: /^\/search$/, cache: 'public', signedIn: false, load: (ctx, _, q) => search(ctx, q) },
  { pattern: /^\/users\/(\d+)$/, cache: 'entity', signedIn: false, load: (ctx, [id]) => getUser(ctx, id!) },
  { pattern: /^\/users\/(\d+)\/gigs$/, cache: 'public', signedIn: false, load: (ctx, [id]) => gigsOfUser(ctx, id!) },
  { pattern: /^\/users\/(\d+)\/drafts$/, cache: 'user', signedIn: true, load: (ctx, [id], _, c) => userDrafts(ctx, id!, me(c)) },
  { pattern: /^\/users\/(\d+)\/applications$/, cache: 'user', signedIn: true, load: (ctx, [id], _, c) => userApplications(ctx, me(c), id!) },
  { pattern: /^\/users\/(\d+)\/stats$/, cache: 'public', signedIn: false, load: (ctx, [id]) => userStats(ctx, id!) },
  { pattern: /^\/applications\/(\d+)$/, cache: 'entity', signedIn: true, load: (ctx, [id], _, c) => getApplication(ctx, me(c), id!) },
  { pattern: /^\/assignments\/(\d+)$/, cache: 'entity', signedIn: true, load: (ctx, [id], _, c) => getAssignment(ctx, me(c), id!) },
  { pattern: /^\/submissions\/(\d+)$/, cache: 'entity', signedIn: true, load: (ctx, [id], _, c) => getSubmission(ctx, me(c), id!) },
  { pattern: /^\/categories$/, cache: 'public', signedIn: false, load: (ctx) => categoriesWithCounts(ctx) },
  { pattern: /^\/skills\/popular$/, cache: 'public', signedIn: false, load: (ctx) => popularSkills(ctx) },
  { pattern: /^\/stats\/daily$/, cache: 'entity', signedIn: false, load: (ctx, _, q) => dailyStats(ctx, int(q, 'days', 7)!) },
  { pattern: /^\/leaderboards\/creators$/, cache: 'public', signedIn: false, load: (ctx) => topCreators(ctx) },
  { pattern: /^\/leaderboards\/applicants$/, cache: 'public', signedIn: false, load: (ctx) => topApplicants(ctx) }
]

function gigFilters (q: URLSearchParams): GigFilters {
  return {
    status: str(q, 'status') as GigFilters['status'],
    category: str(q, 'category'),
    skill: str(q, 'skill'),
    minBudget: int(q, 'minBudget'),
    maxBudget: int(q, 'maxBudget'),
    postedBy: int(q, 'postedBy'),
    page: int(q, 'page', 1)!,
    pageSize: int(q, 'pageSize', 20)!
  }
}

function search (ctx: DomainContext, q: URLSearchParams): Promise<unknown> {
  const criteria = normaliseSearch({
    q: str(q, 'q'),
    category: str(q, 'category'),
    skills: q.getAll('skills').length > 0 ? q.getAll('skills') : undefined,
    minBudget: int(q, 'minBudget'),
    maxBudget: int(q, 'maxBudget'),
    sort: str(q, 'sort') as SearchSort | undefined,
    page: int(q, 'page', 1)!,
    pageSize: int(q, 'pageSize', 20)!
  })
  return searchGigs(ctx, criteria, int(q, 'page', 1)!, int(q, 'pageSize', 20)!)
}

// The reads below never touch session data; a call to it would mean a route was mapped wrongly.
const noSessions: SessionStore = {
  get: () => Promise.reject(new Error('database reads use no session data')),
  set: () => Promise.reject(new Error('database reads use no session data')),
  delete: () => Promise.reject(new Error('database reads use no session data'))
}

function routeOf (url: string): { route: Route, ids: number[], query: URLSearchParams } {
  const [path = '', qs = ''] = url.split('?')
  for (const route of ROUTES) {
    const m = route.pattern.exec(path)
    if (m) return { route, ids: m.slice(1).map(Number), query: new URLSearchParams(qs) }
  }
  throw new Error(`no database computation for ${url}: add its route to ROUTES`)
}

/** How the route behind a URL caches. */
export function cacheUseOf (url: string): CacheUse {
  return routeOf(url).route.cache
}

/** The answer a read must give, computed straight from the database (domain functions, no cache). */
export async function fromDatabase (app: App, read: Read): Promise<Answer> {
  const { route, ids, query } = routeOf(read.url)
  const caller: Caller | null = read.as === undefined ? null : { id: read.as, role: 'user' }
  if (route.signedIn && caller === null) return { status: 401, body: { code: 'UNAUTHORIZED' } }
  const ctx: DomainContext = { db: app.testDatabase.db, events: new DomainEvents(), entities: noEntityCache, sessions: noSessions }
  try {
    // The HTTP body is JSON: dates become ISO strings, undefined fields vanish.
    return { status: 200, body: JSON.parse(JSON.stringify(await route.load(ctx, ids, query, caller))) }
  } catch (err) {
    if (err instanceof DomainError) return { status: err.statusCode, body: { code: err.code } }
    throw err
  }
}

/** An HTTP response in the shape of `Answer`. */
export function answerOf (res: LightMyRequestResponse): Answer {
  const body: unknown = res.body === '' ? undefined : JSON.parse(res.body)
  if (res.statusCode === 200) return { status: 200, body }
  return { status: res.statusCode, body: { code: (body as { code?: unknown } | undefined)?.code } }
}

export function label (read: Read): string {
  return read.as === undefined ? `GET ${read.url}` : `GET ${read.url} as user ${read.as}`
}

export function fetchRead (app: App, read: Read): Promise<LightMyRequestResponse> {
  return app.inject({ url: read.url, headers: read.as === undefined ? {} : authAs(app, read.as) })
}

export interface CheckOptions {
  /** The cache is expected to answer the second fetch (false while Redis is down). */
  cacheUp: boolean
  /** Marks the equality assertions as a known bug (tap todo) instead of failing. */
  todo?: string | undefined
}

/** A fetch and the number of SQL statements the app sent meanwhile. */
async function counted (app: App, read: Read): Promise<{ res: LightMyRequestResponse, queries: number }> {
  const before = app.testDatabase.queries
  const res = await fetchRead(app, read)
  return { res, queries: app.testDatabase.queries - before }
}

// Work the app does in the background (the outbox dispatcher polls the database; after Redis
// comes back it replays missed invalidations) can make one fetch look uncached: a SELECT of its
// poll lands in the count, a replayed invalidation turns a HIT into a MISS. A read the cache
// really answers shows it again at once; one it never answers fails every time.
const CACHE_TRIES = 4

/**
 * Fetches a read twice and compares both answers with the database: equal, and the second came
 * from the cache where the route caches (`x-cache: HIT`, or no SQL for domain-cached entities).
 * Returns the body of the second fetch.
 */
export async function checkFresh (t: Tap, app: App, read: Read, opts: CheckOptions): Promise<unknown> {
  const first = await fetchRead(app, read)
  let again = await counted(app, read)
  const expected = await fromDatabase(app, read)
  const todo = opts.todo === undefined ? {} : { todo: opts.todo }
  t.strictSame(answerOf(first), expected, `${label(read)} equals the database`, todo)
  t.strictSame(answerOf(again.res), expected, `${label(read)} fetched again equals the database`, todo)
  const use = cacheUseOf(read.url)
  if (!opts.cacheUp || expected.status !== 200 || (use === 'public' && read.as !== undefined)) return answerOf(again.res).body
  const cached = (f: typeof again): boolean => use === 'entity' ? f.queries === 0 : f.res.headers['x-cache'] === 'HIT'
  for (let tries = 1; tries < CACHE_TRIES && !cached(again); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    again = await counted(app, read)
    t.strictSame(answerOf(again.res), expected, `${label(read)} fetched once more equals the database`, todo)
  }
  t.ok(cached(again), use === 'entity'
    ? `${label(read)} fetched again is served from the entity cache (no SQL)`
    : `${label(read)} fetched again is a cache HIT`, { queries: again.queries, xCache: again.res.headers['x-cache'] })
  return answerOf(again.res).body
}

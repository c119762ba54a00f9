import { createHmac } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { mulberry32 } from '../drizzle/seed-data.ts'

/** A request of a workload file: one line, `METHOD\tPATH\tBEARER\tBODY` (empty fields allowed). */
export interface BenchRequest { method: string, path: string, token?: string, body?: string }

/** Deterministic PRNG: the same seed gives the same request lists on every run. */
export const prng = mulberry32

/** Draws ranks 0..n-1 with P(rank r) ∝ 1/(r+1)^s, by binary search over the cumulative weights. */
export function zipf (n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let i = 0; i < n; i++) {
    sum += 1 / Math.pow(i + 1, s)
    cdf[i] = sum
  }
  return () => {
    const u = rand() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((cdf[mid] as number) < u) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** Fisher–Yates with the given PRNG, so popularity is not correlated with id (age) order. */
export function shuffled<T> (items: readonly T[], rand: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    const tmp = out[i] as T
    out[i] = out[j] as T
    out[j] = tmp
  }
  return out
}

/** Zipf(s) over the items: the most popular item is a random one, not the first. */
export function zipfOver<T> (items: readonly T[], s: number, rand: () => number): () => T {
  if (items.length === 0) throw new Error('zipfOver: no items')
  const order = shuffled(items, rand)
  const rank = zipf(order.length, s, rand)
  return () => order[rank()] as T
}

/** An HS256 bearer token the service's auth plugin accepts when it runs with the same secret. */
export function signToken (secret: string, userId: number): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: String(userId), role: 'user', iat: now, exp: now + 86400 })}`
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`
}

/** What the workloads draw from, read once from the benchmark database. */
export interface Dataset {
  /** Gigs an anonymous caller can read (every status but draft). */
  publicGigs: number[]
  /** Open gigs with their poster: the targets of writes (only the poster may edit). */
  openGigs: Array<{ id: number, postedBy: number }>
  /** Users with at least one published gig (their lists and stats are not empty). */
  posters: number[]
  categories: string[]
}

export async function loadDataset (url: string): Promise<Dataset> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const pub = await client.query<{ id: number }>("select id from gigs where status <> 'draft' order by id")
    const open = await client.query<{ id: number, posted_by: number }>("select id, posted_by from gigs where status = 'open' order by id")
    const posters = await client.query<{ id: number }>("select distinct posted_by as id from gigs where status <> 'draft' order by 1")
    const cats = await client.query<{ slug: string }>('select slug from categories order by slug')
    return {
      publicGigs: pub.rows.map((r) => r.id),
      openGigs: open.rows.map((r) => ({ id: r.id, postedBy: r.posted_by })),
      posters: posters.rows.map((r) => r.id),
      categories: cats.rows.map((r) => r.slug)
    }
  } finally {
    await client.end()
  }
}

// The seed's title/description vocabulary (drizzle/seed-data.ts), so searches find something.
const WORDS = ['api', 'cache', 'dashboard', 'mobile', 'landing', 'report', 'pipeline', 'design', 'migration', 'audit',
  'integration', 'video', 'newsletter', 'redesign', 'chatbot', 'analytics', 'checkout', 'search', 'onboarding', 'billing']

/** The distinct searches users make: single words, word pairs, a word within a category. */
function searchPaths (categories: string[]): string[] {
  const out: string[] = []
  for (const w of WORDS) out.push(`/search?q=${w}`)
  for (let i = 0; i < WORDS.length; i++) out.push(`/search?q=${WORDS[i]}+${WORDS[(i + 7) % WORDS.length]}`)
  for (const w of WORDS) for (const c of categories) out.push(`/search?q=${w}&category=${c}`)
  return out
}

/** Browsing pages: the first pages of the listing, unfiltered and per category. */
function listingPaths (categories: string[]): string[] {
  const out: string[] = []
  for (let p = 1; p <= 5; p++) out.push(`/gigs?page=${p}`)
  for (const c of categories) for (let p = 1; p <= 5; p++) out.push(`/gigs?category=${c}&page=${p}`)
  return out
}

export interface WorkloadFiles {
  /** GET /gigs/:id, ids Zipf(s) over every public gig. */
  gigs: string
  /** The same, shorter (the LLD's table runs at low concurrency and needs fewer requests). */
  lldGigs: string
  /** GET /users/:id/gigs, users Zipf(s) over posters. */
  userGigs: string
  /** GET /search, Zipf(s) over a few hundred distinct searches. */
  search: string
  /** GET /users/:id/stats, users Zipf(s) over posters (the dashboard's aggregate). */
  dashboard: string
  /** 90% reads (gigs, user lists, listings, search; Zipf) / 10% PATCH /gigs/:id by the gig's poster (uniform). */
  mixed: string
  /** Shares of the mixed workload, for the report. */
  mixShares: Record<string, number>
}

/** Writes every request list up front into `dir`, one request per line. */
export interface WorkloadOptions {
  /** Requests in the GET /gigs/:id list of the throughput scenarios. */
  length: number
  /** Requests in each list of the LLD's table. */
  lldLength: number
  mixedLength: number
  /** Zipf exponent. */
  s: number
  jwtSecret: string
  seed?: number
}

export function writeWorkloads (dir: string, data: Dataset, opts: WorkloadOptions): WorkloadFiles {
  const seed = opts.seed ?? 7
  const write = (name: string, reqs: Iterable<BenchRequest>): string => {
    const file = join(dir, `${name}.txt`)
    const lines: string[] = []
    for (const r of reqs) lines.push(`${r.method}\t${r.path}\t${r.token ?? ''}\t${r.body ?? ''}`)
    writeFileSync(file, lines.join('\n') + '\n')
    return file
  }
  const times = function * (n: number, make: () => BenchRequest) { for (let i = 0; i < n; i++) yield make() }
  const rand = prng(seed)
  const gig = zipfOver(data.publicGigs, opts.s, rand)
  const poster = zipfOver(data.posters, opts.s, rand)
  const search = zipfOver(searchPaths(data.categories), opts.s, rand)
  const listing = zipfOver(listingPaths(data.categories), opts.s, rand)
  // Edits are spread evenly over open gigs (posters edit their own gigs now and then); views are Zipf.
  const target = () => data.openGigs[Math.floor(rand() * data.openGigs.length)] as { id: number, postedBy: number }
  const tokens = new Map<number, string>()
  const tokenOf = (userId: number): string => {
    let t = tokens.get(userId)
    if (t === undefined) tokens.set(userId, t = signToken(opts.jwtSecret, userId))
    return t
  }
  const word = () => WORDS[Math.floor(rand() * WORDS.length)] as string
  const shares = { gig: 0.6, userGigs: 0.1, listing: 0.1, search: 0.1, write: 0.1 }
  const mixed = (): BenchRequest => {
    const r = rand()
    if (r < 0.6) return { method: 'GET', path: `/gigs/${gig()}` }
    if (r < 0.7) return { method: 'GET', path: `/users/${poster()}/gigs` }
    if (r < 0.8) return { method: 'GET', path: listing() }
    if (r < 0.9) return { method: 'GET', path: search() }
    const g = target()
    return {
      method: 'PATCH',
      path: `/gigs/${g.id}`,
      token: tokenOf(g.postedBy),
      body: JSON.stringify({ title: `${word()} ${word()} for a ${word()} project` })
    }
  }
  return {
    gigs: write('gigs', times(opts.length, () => ({ method: 'GET', path: `/gigs/${gig()}` }))),
    lldGigs: write('lld-gigs', times(opts.lldLength, () => ({ method: 'GET', path: `/gigs/${gig()}` }))),
    userGigs: write('user-gigs', times(opts.lldLength, () => ({ method: 'GET', path: `/users/${poster()}/gigs` }))),
    search: write('search', times(opts.lldLength, () => ({ method: 'GET', path: search() }))),
    dashboard: write('dashboard', times(opts.lldLength, () => ({ method: 'GET', path: `/users/${poster()}/stats` }))),
    mixed: write('mixed', times(opts.mixedLength, mixed)),
    mixShares: shares
  }
}

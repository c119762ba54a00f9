import { and, arrayContains, count, desc, eq, gte, inArray, lte, ne, sql, type SQL } from 'drizzle-orm'
import { applications, assignments, gigs, type Gig } from '../../drizzle/schema.ts'
import type { Caller, DomainContext, Page } from './context.ts'
import { conflict, forbidden, notFound } from './errors.ts'
import { inTransaction, type Tx } from './unit-of-work.ts'
import type { Db } from '../db.ts'

export type GigStatus = 'draft' | 'open' | 'in_progress' | 'completed' | 'cancelled'
export type GigView = Omit<Gig, 'search'>

/** Every gig column but the search vector, which is never sent. */
export const gigColumns = {
  id: gigs.id,
  title: gigs.title,
  description: gigs.description,
  category: gigs.category,
  skills: gigs.skills,
  budgetMin: gigs.budgetMin,
  budgetMax: gigs.budgetMax,
  currency: gigs.currency,
  status: gigs.status,
  featured: gigs.featured,
  postedBy: gigs.postedBy,
  version: gigs.version,
  createdAt: gigs.createdAt,
  updatedAt: gigs.updatedAt
}

export interface GigFilters {
  status?: Exclude<GigStatus, 'draft'> | undefined
  category?: string | undefined
  skill?: string | undefined
  minBudget?: number | undefined
  maxBudget?: number | undefined
  postedBy?: number | undefined
  page: number
  pageSize: number
}

export interface GigInput {
  title: string
  description?: string | undefined
  category: string
  skills?: string[] | undefined
  budgetMin: number
  budgetMax: number
  currency?: string | undefined
  featured?: boolean | undefined
  status?: 'draft' | 'open' | undefined
}

export type GigPatch = Partial<Omit<GigInput, 'status'>>

// Moves a caller may request through POST /gigs/:id/status; open → in_progress happens only by accepting an application.
const STATUS_MOVES: Record<GigStatus, GigStatus[]> = {
  draft: ['open', 'cancelled'],
  open: ['draft', 'cancelled'],
  in_progress: ['completed', 'cancelled'],
  completed: [],
  cancelled: []
}

const EDITABLE: GigStatus[] = ['draft', 'open']

/** Loads a gig row (any status) or undefined. */
export async function findGig (db: Db | Tx, id: number): Promise<GigView | undefined> {
  const rows = await db.select(gigColumns).from(gigs).where(eq(gigs.id, id)).limit(1)
  return rows[0]
}

function prepareFindGig (db: Db) {
  return db.select(gigColumns).from(gigs).where(eq(gigs.id, sql.placeholder('id'))).limit(1).prepare('find_gig')
}

// Built once per database: the hottest read (every gig miss) skips Drizzle's query building.
const findGigStatements = new WeakMap<Db, ReturnType<typeof prepareFindGig>>()

/** `findGig` outside a transaction, as a prepared statement. */
async function findGigPrepared (db: Db, id: number): Promise<GigView | undefined> {
  let statement = findGigStatements.get(db)
  if (statement === undefined) findGigStatements.set(db, (statement = prepareFindGig(db)))
  const rows = await statement.execute({ id })
  return rows[0]
}

async function lockGig (tx: Tx, id: number): Promise<GigView> {
  const rows = await tx.select(gigColumns).from(gigs).where(eq(gigs.id, id)).for('update')
  const gig = rows[0]
  if (!gig) throw notFound('gig', id)
  return gig
}

/** Everyone who applied to a gig: their application lists show the gig, so its changes reach them. */
export async function applicantIdsOf (tx: Db | Tx, gigId: number): Promise<number[]> {
  const rows = await tx.select({ id: applications.applicantId }).from(applications)
    .where(eq(applications.gigId, gigId)).orderBy(applications.applicantId)
  return rows.map((r) => r.id)
}

function assertOwner (gig: GigView, caller: Caller, action: string): void {
  if (gig.postedBy !== caller.id) throw forbidden(`only the gig's poster may ${action}`)
}

/** A gig as the public sees it: drafts exist only for their poster. */
export async function getGig (ctx: DomainContext, id: number, caller: Caller | null = null): Promise<GigView> {
  const gig = await findGigPrepared(ctx.db, id)
  if (!gig || (gig.status === 'draft' && gig.postedBy !== caller?.id)) throw notFound('gig', id)
  return gig
}

export interface ListOptions {
  /**
   * Called with the page's gig ids after they are chosen and before their rows are read, so a
   * cache can record (from now on) what the page depends on: an edit that lands after this call
   * is seen by the row read or caught by the cache.
   */
  dependsOn?: ((gigIds: number[]) => Promise<void>) | undefined
}

/**
 * Public gig listing with filters, newest first. Two reads: the page's ids and the total under
 * the filters (what only a membership change can alter), then the rows by id (what any edit of a
 * shown gig alters), with `opts.dependsOn` between them.
 */
export async function listGigs (ctx: DomainContext, f: GigFilters, opts: ListOptions = {}): Promise<Page<GigView>> {
  const where: SQL[] = [f.status ? eq(gigs.status, f.status) : ne(gigs.status, 'draft')]
  if (f.category) where.push(eq(gigs.category, f.category))
  if (f.skill) where.push(arrayContains(gigs.skills, [f.skill]))
  if (f.minBudget !== undefined) where.push(gte(gigs.budgetMax, f.minBudget))
  if (f.maxBudget !== undefined) where.push(lte(gigs.budgetMin, f.maxBudget))
  if (f.postedBy !== undefined) where.push(eq(gigs.postedBy, f.postedBy))
  const cond = and(...where)
  const [page, totals] = await Promise.all([
    ctx.db.select({ id: gigs.id }).from(gigs).where(cond)
      .orderBy(desc(gigs.createdAt), desc(gigs.id)).limit(f.pageSize).offset((f.page - 1) * f.pageSize),
    ctx.db.select({ n: count() }).from(gigs).where(cond)
  ])
  const ids = page.map((r) => r.id)
  const total = totals[0]?.n ?? 0
  if (ids.length === 0) return { items: [], page: f.page, pageSize: f.pageSize, total }
  await opts.dependsOn?.(ids)
  // A separate statement on purpose: it must see every edit committed before dependsOn ran. The
  // filters again, so a gig that left them in between (its response is never cached) is dropped
  // rather than shown under filters it no longer matches.
  const rows = await ctx.db.select(gigColumns).from(gigs).where(and(inArray(gigs.id, ids), cond))
  const byId = new Map(rows.map((r) => [r.id, r]))
  const items = ids.flatMap((id) => byId.get(id) ?? [])
  return { items, page: f.page, pageSize: f.pageSize, total }
}

/** A user's published (non-draft) gigs, newest first. */
export async function userGigs (ctx: DomainContext, userId: number): Promise<GigView[]> {
  return ctx.db.select(gigColumns).from(gigs)
    .where(and(eq(gigs.postedBy, userId), ne(gigs.status, 'draft')))
    .orderBy(desc(gigs.createdAt), desc(gigs.id)).limit(200)
}

/** A user's drafts; only the user may read them. */
export async function userDrafts (ctx: DomainContext, userId: number, caller: Caller): Promise<GigView[]> {
  if (caller.id !== userId) throw forbidden('drafts are visible only to their author')
  return ctx.db.select(gigColumns).from(gigs)
    .where(and(eq(gigs.postedBy, userId), eq(gigs.status, 'draft')))
    .orderBy(desc(gigs.createdAt), desc(gigs.id)).limit(200)
}

/** Open featured gigs, newest first. */
export async function featuredGigs (ctx: DomainContext): Promise<GigView[]> {
  return ctx.db.select(gigColumns).from(gigs)
    .where(and(eq(gigs.featured, true), eq(gigs.status, 'open')))
    .orderBy(desc(gigs.createdAt), desc(gigs.id)).limit(50)
}

/** Creates a gig (draft unless `status: 'open'`), posted by the caller. */
export async function createGig (ctx: DomainContext, caller: Caller, input: GigInput): Promise<GigView> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const rows = await tx.insert(gigs).values({
      title: input.title,
      description: input.description ?? '',
      category: input.category,
      skills: input.skills ?? [],
      budgetMin: input.budgetMin,
      budgetMax: input.budgetMax,
      currency: input.currency ?? 'USD',
      featured: input.featured ?? false,
      status: input.status ?? 'draft',
      postedBy: caller.id
    }).returning(gigColumns)
    const gig = rows[0]!
    sink.add({
      name: 'gig.created',
      payload: { gigId: gig.id, postedById: gig.postedBy, status: gig.status, featured: gig.featured, category: gig.category }
    })
    return gig
  })
}

/** Edits a draft or open gig; `ifMatch` is the version the caller last saw (409 when stale). */
export async function updateGig (
  ctx: DomainContext, caller: Caller, id: number, patch: GigPatch, ifMatch?: number
): Promise<GigView> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const gig = await lockGig(tx, id)
    if (gig.status === 'draft' && gig.postedBy !== caller.id) throw notFound('gig', id)
    assertOwner(gig, caller, 'edit it')
    if (ifMatch !== undefined && ifMatch !== gig.version) {
      throw conflict('VERSION_MISMATCH', `gig ${id} is at version ${gig.version}, not ${ifMatch}`)
    }
    if (!EDITABLE.includes(gig.status as GigStatus)) {
      throw conflict('GIG_NOT_EDITABLE', `a gig in status ${gig.status} cannot be edited`)
    }
    const budgetMin = patch.budgetMin ?? gig.budgetMin
    const budgetMax = patch.budgetMax ?? gig.budgetMax
    if (budgetMax < budgetMin) throw conflict('BUDGET_RANGE', 'budgetMax must be at least budgetMin')
    const termsBefore = await searchLexemesOf(tx, id)
    const rows = await tx.update(gigs).set({
      ...definedOnly(patch),
      version: sql`${gigs.version} + 1`,
      updatedAt: sql`now()`
    }).where(eq(gigs.id, id)).returning(gigColumns)
    const updated = rows[0]!
    sink.add({
      name: 'gig.updated',
      payload: {
        gigId: id,
        postedById: updated.postedBy,
        version: updated.version,
        featured: updated.featured || gig.featured,
        category: updated.category,
        listingChanged: listingChanged(gig, updated),
        ...searchTermsField(termsBefore, await searchLexemesOf(tx, id)),
        applicantIds: await applicantIdsOf(tx, id)
      }
    })
    return updated
  })
}

/** Moves a gig along its lifecycle; illegal moves are 409. */
export async function changeGigStatus (ctx: DomainContext, caller: Caller, id: number, to: GigStatus): Promise<GigView> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const gig = await lockGig(tx, id)
    if (gig.status === 'draft' && gig.postedBy !== caller.id) throw notFound('gig', id)
    assertOwner(gig, caller, 'change its status')
    const from = gig.status as GigStatus
    if (!STATUS_MOVES[from].includes(to)) {
      throw conflict('ILLEGAL_TRANSITION', `a gig cannot move from ${from} to ${to}`)
    }
    if (from === 'open' && to === 'draft') {
      const [pending] = await tx.select({ n: count() }).from(applications).where(eq(applications.gigId, id))
      if ((pending?.n ?? 0) > 0) throw conflict('ILLEGAL_TRANSITION', 'a gig with applications cannot go back to draft')
    }
    const rows = await tx.update(gigs).set({ status: to, version: sql`${gigs.version} + 1`, updatedAt: sql`now()` })
      .where(eq(gigs.id, id)).returning(gigColumns)
    const updated = rows[0]!
    sink.add({
      name: 'gig.status_changed',
      payload: { gigId: id, postedById: gig.postedBy, from, to, version: updated.version, applicantIds: await applicantIdsOf(tx, id) }
    })
    return updated
  })
}

/**
 * Deletes a gig and its applications. A gig that has an assignment (work accepted) is kept:
 * deleting it would erase a worker's contract and payment record, so that is 409.
 */
export async function deleteGig (ctx: DomainContext, caller: Caller, id: number): Promise<void> {
  await inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const gig = await lockGig(tx, id)
    if (gig.status === 'draft' && gig.postedBy !== caller.id) throw notFound('gig', id)
    assertOwner(gig, caller, 'delete it')
    const [assigned] = await tx.select({ id: assignments.id }).from(assignments).where(eq(assignments.gigId, id))
    if (assigned) throw conflict('GIG_HAS_ASSIGNMENT', 'a gig with accepted work cannot be deleted; cancel it instead')
    const applied = await tx.select({ id: applications.id, applicantId: applications.applicantId }).from(applications)
      .where(eq(applications.gigId, id)).orderBy(applications.applicantId)
    const applicantIds = applied.map((a) => a.applicantId)
    await tx.delete(gigs).where(eq(gigs.id, id))
    sink.add({
      name: 'gig.deleted',
      payload: { gigId: id, postedById: gig.postedBy, category: gig.category, applicantIds, applicationIds: applied.map((a) => a.id).sort((a, b) => a - b), assignmentId: null }
    })
  })
}

// Past this many lexemes an edit invalidates every search result instead of naming them all.
const MAX_SEARCH_TERMS = 500

/** The lexemes of a gig's stored search vector (title and description), as Postgres made them. */
async function searchLexemesOf (tx: Tx, id: number): Promise<string[]> {
  const rows = await tx.select({ terms: sql<string[]>`tsvector_to_array(${gigs.search})` }).from(gigs).where(eq(gigs.id, id))
  return rows[0]?.terms ?? []
}

/** `searchTerms` of a `gig.updated` event: the lexemes before and after, or nothing when too many. */
function searchTermsField (before: string[], after: string[]): { searchTerms?: string[] } {
  const terms = [...new Set([...before, ...after])].sort()
  return terms.length > MAX_SEARCH_TERMS ? {} : { searchTerms: terms }
}

/**
 * Whether an edit can change which listings hold the gig (their filters: status, category, skill,
 * budget, poster; their order: created_at, id) or the counts by category and skill. Compared on
 * the locked row and the updated one, so it describes exactly what this transaction changed.
 */
export function listingChanged (before: GigView, after: GigView): boolean {
  return before.status !== after.status || before.category !== after.category ||
    before.budgetMin !== after.budgetMin || before.budgetMax !== after.budgetMax ||
    before.postedBy !== after.postedBy || before.createdAt.getTime() !== after.createdAt.getTime() ||
    before.skills.length !== after.skills.length || before.skills.some((s, i) => s !== after.skills[i])
}

function definedOnly<T extends object> (obj: T): Partial<T> {
  const out: Partial<T> = {}
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}

import { and, desc, eq, ne, sql } from 'drizzle-orm'
import { applications, assignments, gigs, type Application, type Assignment } from '../../drizzle/schema.ts'
import type { Caller, DomainContext } from './context.ts'
import { conflict, forbidden, isUniqueViolation, notFound } from './errors.ts'
import { applicantIdsOf, findGig, gigColumns, type GigView } from './gigs.ts'
import { inTransaction, type Tx } from './unit-of-work.ts'
import type { Db } from '../db.ts'

export type ApplicationStatus = 'pending' | 'accepted' | 'rejected' | 'withdrawn'

export interface ApplicationInput {
  coverLetter?: string | undefined
  proposedBudget: number
}

export type ApplicationPatch = Partial<ApplicationInput>

export interface Acceptance { application: Application, assignment: Assignment }

/** An application with the poster of its gig, who shares the right to read and decide it. */
interface Located { application: Application, postedBy: number }

/** An application with its gig's poster: the record the entity cache holds under `application:{id}`. */
export async function findApplication (db: Db | Tx, id: number): Promise<Located | undefined> {
  const rows = await db.select({ application: applications, postedBy: gigs.postedBy })
    .from(applications).innerJoin(gigs, eq(gigs.id, applications.gigId))
    .where(eq(applications.id, id)).limit(1)
  return rows[0]
}

/** Locks the application row (not its gig) for a write that its status decides. */
async function lockApplication (tx: Tx, id: number): Promise<Located> {
  const rows = await tx.select({ application: applications, postedBy: gigs.postedBy })
    .from(applications).innerJoin(gigs, eq(gigs.id, applications.gigId))
    .where(eq(applications.id, id)).for('update', { of: applications })
  const found = rows[0]
  if (!found) throw notFound('application', id)
  return found
}

async function lockGig (tx: Tx, id: number): Promise<GigView | undefined> {
  const rows = await tx.select(gigColumns).from(gigs).where(eq(gigs.id, id)).for('update')
  return rows[0]
}

function assertApplicant (found: Located, caller: Caller, action: string): void {
  if (found.application.applicantId !== caller.id) throw forbidden(`only the applicant may ${action}`)
}

function assertPoster (postedBy: number, caller: Caller, action: string): void {
  if (postedBy !== caller.id) throw forbidden(`only the gig's poster may ${action}`)
}

function assertPending (application: Application, action: string): void {
  if (application.status !== 'pending') {
    throw conflict('ILLEGAL_TRANSITION', `an application in status ${application.status} cannot be ${action}`)
  }
}

/** Applies to an open gig. The gig row is locked so a concurrent accept or duplicate waits. */
export async function createApplication (
  ctx: DomainContext, caller: Caller, gigId: number, input: ApplicationInput
): Promise<Application> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const gig = await lockGig(tx, gigId)
    if (!gig || gig.status === 'draft') throw notFound('gig', gigId)
    if (gig.postedBy === caller.id) throw forbidden('the poster cannot apply to their own gig')
    if (gig.status !== 'open') throw conflict('GIG_NOT_OPEN', `gig ${gigId} is ${gig.status}, not open`)
    const duplicate = () => conflict('DUPLICATE_APPLICATION', `you have already applied to gig ${gigId}`)
    const [existing] = await tx.select({ id: applications.id }).from(applications)
      .where(and(eq(applications.gigId, gigId), eq(applications.applicantId, caller.id)))
    if (existing) throw duplicate()
    let rows: Application[]
    try {
      rows = await tx.insert(applications).values({
        gigId,
        applicantId: caller.id,
        coverLetter: input.coverLetter ?? '',
        proposedBudget: input.proposedBudget
      }).returning()
    } catch (err) {
      if (isUniqueViolation(err)) throw duplicate()
      throw err
    }
    const application = rows[0]!
    sink.add({
      name: 'application.created',
      payload: { applicationId: application.id, gigId, applicantId: caller.id, postedById: gig.postedBy }
    })
    return application
  })
}

/** The applications of a gig, newest first; only its poster may read them. */
export async function gigApplications (ctx: DomainContext, caller: Caller, gigId: number): Promise<Application[]> {
  const gig = await findGig(ctx.db, gigId)
  if (!gig || (gig.status === 'draft' && gig.postedBy !== caller.id)) throw notFound('gig', gigId)
  assertPoster(gig.postedBy, caller, 'read its applications')
  return ctx.db.select().from(applications).where(eq(applications.gigId, gigId))
    .orderBy(desc(applications.createdAt), desc(applications.id)).limit(200)
}

/** One application, for its applicant or the gig's poster. */
export async function getApplication (ctx: DomainContext, caller: Caller, id: number): Promise<Application> {
  const found = await ctx.entities.getEntity('application', id, () => findApplication(ctx.db, id))
  if (!found) throw notFound('application', id)
  if (found.application.applicantId !== caller.id && found.postedBy !== caller.id) {
    throw forbidden("only the applicant or the gig's poster may read an application")
  }
  return found.application
}

/** Edits a pending application (applicant only); bumps its version. */
export async function updateApplication (
  ctx: DomainContext, caller: Caller, id: number, patch: ApplicationPatch
): Promise<Application> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const found = await lockApplication(tx, id)
    assertApplicant(found, caller, 'edit it')
    if (found.application.status !== 'pending') {
      throw conflict('APPLICATION_NOT_EDITABLE', `an application in status ${found.application.status} cannot be edited`)
    }
    const set: ApplicationPatch = {}
    if (patch.coverLetter !== undefined) set.coverLetter = patch.coverLetter
    if (patch.proposedBudget !== undefined) set.proposedBudget = patch.proposedBudget
    const updated = await setApplication(tx, id, set)
    sink.add({ name: 'application.updated', payload: updatedPayload(updated, found.postedBy) })
    return updated
  })
}

/** Withdraws a pending application (applicant only). */
export async function withdrawApplication (ctx: DomainContext, caller: Caller, id: number): Promise<Application> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const found = await lockApplication(tx, id)
    assertApplicant(found, caller, 'withdraw it')
    assertPending(found.application, 'withdrawn')
    const updated = await setApplication(tx, id, { status: 'withdrawn' })
    sink.add({ name: 'application.updated', payload: updatedPayload(updated, found.postedBy) })
    return updated
  })
}

/** Rejects a pending application (the gig's poster only). */
export async function rejectApplication (ctx: DomainContext, caller: Caller, id: number): Promise<Application> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const found = await lockApplication(tx, id)
    assertPoster(found.postedBy, caller, 'reject its applications')
    assertPending(found.application, 'rejected')
    const updated = await setApplication(tx, id, { status: 'rejected' })
    sink.add({ name: 'application.rejected', payload: rejectedPayload(updated, found.postedBy) })
    return updated
  })
}

/**
 * Accepts a pending application of an open gig, all in one transaction: the application becomes
 * accepted, an unpaid assignment is created at the proposed budget, the gig moves to in_progress
 * and every other pending application of the gig is rejected.
 * Locks the gig first, then applications (the order `createApplication` uses too).
 */
export async function acceptApplication (ctx: DomainContext, caller: Caller, id: number): Promise<Acceptance> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const [ref] = await tx.select({ gigId: applications.gigId }).from(applications).where(eq(applications.id, id))
    if (!ref) throw notFound('application', id)
    const gig = await lockGig(tx, ref.gigId)
    if (!gig) throw notFound('application', id)
    assertPoster(gig.postedBy, caller, 'accept its applications')
    const { application } = await lockApplication(tx, id)
    assertPending(application, 'accepted')
    if (gig.status !== 'open') throw conflict('GIG_NOT_OPEN', `gig ${gig.id} is ${gig.status}, not open`)

    const accepted = await setApplication(tx, id, { status: 'accepted' })
    const [assignment] = await tx.insert(assignments).values({
      gigId: gig.id,
      applicationId: id,
      workerId: application.applicantId,
      agreedAmount: application.proposedBudget,
      paymentStatus: 'unpaid'
    }).returning()
    const [moved] = await tx.update(gigs).set({ status: 'in_progress', version: sql`${gigs.version} + 1`, updatedAt: sql`now()` })
      .where(eq(gigs.id, gig.id)).returning({ version: gigs.version })
    const others = await tx.update(applications)
      .set({ status: 'rejected', version: sql`${applications.version} + 1`, updatedAt: sql`now()` })
      .where(and(eq(applications.gigId, gig.id), eq(applications.status, 'pending'), ne(applications.id, id)))
      .returning()

    sink.add({
      name: 'application.accepted',
      payload: {
        applicationId: id,
        gigId: gig.id,
        applicantId: accepted.applicantId,
        postedById: gig.postedBy,
        assignmentId: assignment!.id,
        version: accepted.version
      }
    })
    sink.add({
      name: 'gig.status_changed',
      payload: {
        gigId: gig.id,
        postedById: gig.postedBy,
        from: gig.status,
        to: 'in_progress',
        version: moved!.version,
        applicantIds: await applicantIdsOf(tx, gig.id)
      }
    })
    for (const other of others.sort((a, b) => a.id - b.id)) {
      sink.add({ name: 'application.rejected', payload: rejectedPayload(other, gig.postedBy) })
    }
    return { application: accepted, assignment: assignment! }
  })
}

async function setApplication (
  tx: Tx, id: number, set: { status?: ApplicationStatus, coverLetter?: string, proposedBudget?: number }
): Promise<Application> {
  const rows = await tx.update(applications)
    .set({ ...set, version: sql`${applications.version} + 1`, updatedAt: sql`now()` })
    .where(eq(applications.id, id)).returning()
  return rows[0]!
}

function updatedPayload (a: Application, postedById: number) {
  return { applicationId: a.id, gigId: a.gigId, applicantId: a.applicantId, postedById, status: a.status, version: a.version }
}

function rejectedPayload (a: Application, postedById: number) {
  return { applicationId: a.id, gigId: a.gigId, applicantId: a.applicantId, postedById, version: a.version }
}

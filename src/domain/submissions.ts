import { and, desc, eq, sql } from 'drizzle-orm'
import { assignments, gigs, submissions, type Submission } from '../../drizzle/schema.ts'
import type { Caller, DomainContext } from './context.ts'
import { conflict, forbidden, notFound } from './errors.ts'
import { gigColumns, type GigView } from './gigs.ts'
import { inTransaction, type Tx } from './unit-of-work.ts'
import type { Db } from '../db.ts'

export type SubmissionReview = 'approved' | 'changes_requested'

export interface SubmissionInput { content: string }
export interface ReviewInput { status: SubmissionReview, notes?: string | undefined }

/** A gig as the caller may see it: someone else's draft does not exist for them. */
async function visibleGig (db: Db | Tx, caller: Caller, id: number, lock = false): Promise<GigView> {
  const query = db.select(gigColumns).from(gigs).where(eq(gigs.id, id))
  const rows = lock ? await query.for('update') : await query.limit(1)
  const gig = rows[0]
  if (!gig || (gig.status === 'draft' && gig.postedBy !== caller.id)) throw notFound('gig', id)
  return gig
}

async function assignmentOf (db: Db | Tx, gigId: number): Promise<{ id: number, workerId: number } | undefined> {
  const rows = await db.select({ id: assignments.id, workerId: assignments.workerId })
    .from(assignments).where(eq(assignments.gigId, gigId)).limit(1)
  return rows[0]
}

/**
 * The assigned worker hands in work for an in-progress gig. The gig row is locked so its status
 * cannot change underneath, and so two submissions of one gig are serialised: while one is
 * waiting for review another is a 409 (SUBMISSION_PENDING).
 */
export async function createSubmission (
  ctx: DomainContext, caller: Caller, gigId: number, input: SubmissionInput
): Promise<Submission> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const gig = await visibleGig(tx, caller, gigId, true)
    const assignment = await assignmentOf(tx, gigId)
    if (!assignment || assignment.workerId !== caller.id) {
      throw forbidden("only the gig's assigned worker may submit work")
    }
    if (gig.status !== 'in_progress') {
      throw conflict('GIG_NOT_IN_PROGRESS', `work can be submitted only while the gig is in progress, not ${gig.status}`)
    }
    const [pending] = await tx.select({ id: submissions.id }).from(submissions)
      .where(and(eq(submissions.assignmentId, assignment.id), eq(submissions.status, 'submitted'))).limit(1)
    if (pending) {
      throw conflict('SUBMISSION_PENDING', `submission ${pending.id} is still waiting for review`)
    }
    const rows = await tx.insert(submissions).values({
      gigId,
      assignmentId: assignment.id,
      submitterId: caller.id,
      content: input.content
    }).returning()
    const submission = rows[0]!
    sink.add({
      name: 'submission.created',
      payload: { submissionId: submission.id, gigId, assignmentId: assignment.id, submitterId: caller.id, postedById: gig.postedBy }
    })
    return submission
  })
}

/** A gig's submissions, newest first; for its poster and its assigned worker. */
export async function gigSubmissions (ctx: DomainContext, caller: Caller, gigId: number): Promise<Submission[]> {
  const gig = await visibleGig(ctx.db, caller, gigId)
  if (gig.postedBy !== caller.id) {
    const assignment = await assignmentOf(ctx.db, gigId)
    if (assignment?.workerId !== caller.id) throw forbidden("only the gig's poster and its assigned worker may read its submissions")
  }
  return ctx.db.select().from(submissions).where(eq(submissions.gigId, gigId))
    .orderBy(desc(submissions.createdAt), desc(submissions.id)).limit(200)
}

/** A submission with its gig's poster: the record the entity cache holds under `submission:{id}`. */
export async function findSubmission (db: Db, id: number): Promise<{ submission: Submission, postedById: number } | undefined> {
  const rows = await db.select({ submission: submissions, postedById: gigs.postedBy })
    .from(submissions).innerJoin(gigs, eq(gigs.id, submissions.gigId))
    .where(eq(submissions.id, id)).limit(1)
  return rows[0]
}

/** One submission; for the gig's poster and the submitter. */
export async function getSubmission (ctx: DomainContext, caller: Caller, id: number): Promise<Submission> {
  const row = await ctx.entities.getEntity('submission', id, () => findSubmission(ctx.db, id))
  if (!row) throw notFound('submission', id)
  if (row.postedById !== caller.id && row.submission.submitterId !== caller.id) {
    throw forbidden("only the gig's poster and the submitter may read a submission")
  }
  return row.submission
}

/** The poster approves a submission or asks for changes; only a `submitted` one can be reviewed. */
export async function reviewSubmission (
  ctx: DomainContext, caller: Caller, id: number, review: ReviewInput
): Promise<Submission> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const rows = await tx.select({ submission: submissions, postedById: gigs.postedBy })
      .from(submissions).innerJoin(gigs, eq(gigs.id, submissions.gigId))
      .where(eq(submissions.id, id)).for('update', { of: submissions })
    const row = rows[0]
    if (!row) throw notFound('submission', id)
    const { submission, postedById } = row
    if (postedById !== caller.id) throw forbidden("only the gig's poster may review a submission")
    if (submission.status !== 'submitted') {
      throw conflict('ILLEGAL_TRANSITION', `a submission in status ${submission.status} cannot be reviewed`)
    }
    const updated = (await tx.update(submissions).set({
      status: review.status,
      reviewNotes: review.notes ?? null,
      version: sql`${submissions.version} + 1`,
      updatedAt: sql`now()`
    }).where(eq(submissions.id, id)).returning())[0]!
    sink.add({
      name: 'submission.reviewed',
      payload: {
        submissionId: id,
        gigId: updated.gigId,
        assignmentId: updated.assignmentId,
        submitterId: updated.submitterId,
        postedById,
        status: updated.status,
        version: updated.version
      }
    })
    return updated
  })
}

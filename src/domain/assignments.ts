import { eq, sql } from 'drizzle-orm'
import { assignments, gigs, type Assignment } from '../../drizzle/schema.ts'
import type { Caller, DomainContext } from './context.ts'
import { conflict, forbidden, notFound } from './errors.ts'
import { inTransaction } from './unit-of-work.ts'
import type { Db } from '../db.ts'

export type PaymentStatus = 'unpaid' | 'escrowed' | 'paid' | 'refunded'

// Money moves forward only: funds are escrowed, then released to the worker or refunded.
const PAYMENT_MOVES: Record<PaymentStatus, PaymentStatus[]> = {
  unpaid: ['escrowed'],
  escrowed: ['paid', 'refunded'],
  paid: [],
  refunded: []
}

/** An assignment with its gig's poster: the record the entity cache holds under `assignment:{id}`. */
export async function findAssignment (db: Db, id: number): Promise<{ assignment: Assignment, postedBy: number } | undefined> {
  const [found] = await db.select({ assignment: assignments, postedBy: gigs.postedBy })
    .from(assignments).innerJoin(gigs, eq(gigs.id, assignments.gigId))
    .where(eq(assignments.id, id)).limit(1)
  return found
}

/** One assignment, for the gig's poster or the worker. */
export async function getAssignment (ctx: DomainContext, caller: Caller, id: number): Promise<Assignment> {
  const found = await ctx.entities.getEntity('assignment', id, () => findAssignment(ctx.db, id))
  if (!found) throw notFound('assignment', id)
  if (found.assignment.workerId !== caller.id && found.postedBy !== caller.id) {
    throw forbidden("only the gig's poster or the worker may read an assignment")
  }
  return found.assignment
}

/** Moves an assignment's payment along unpaid → escrowed → paid | refunded (the poster only). */
export async function updatePayment (ctx: DomainContext, caller: Caller, id: number, to: PaymentStatus): Promise<Assignment> {
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const [found] = await tx.select({ assignment: assignments, postedBy: gigs.postedBy })
      .from(assignments).innerJoin(gigs, eq(gigs.id, assignments.gigId))
      .where(eq(assignments.id, id)).for('update', { of: assignments })
    if (!found) throw notFound('assignment', id)
    if (found.postedBy !== caller.id) throw forbidden("only the gig's poster may move its payment")
    const from = found.assignment.paymentStatus as PaymentStatus
    if (!PAYMENT_MOVES[from].includes(to)) {
      throw conflict('ILLEGAL_TRANSITION', `a payment cannot move from ${from} to ${to}`)
    }
    const [updated] = await tx.update(assignments)
      .set({ paymentStatus: to, version: sql`${assignments.version} + 1`, updatedAt: sql`now()` })
      .where(eq(assignments.id, id)).returning()
    sink.add({
      name: 'assignment.payment_updated',
      payload: {
        assignmentId: id,
        gigId: updated!.gigId,
        workerId: updated!.workerId,
        postedById: found.postedBy,
        from,
        to,
        version: updated!.version
      }
    })
    return updated!
  })
}

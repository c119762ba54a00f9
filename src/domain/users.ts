import { and, desc, eq, ne, sql, type SQL } from 'drizzle-orm'
import { applications, assignments, gigs, users, type Application, type User } from '../../drizzle/schema.ts'
import type { Caller, DomainContext } from './context.ts'
import { forbidden, notFound } from './errors.ts'
import { inTransaction } from './unit-of-work.ts'
import { userGigs, type GigView } from './gigs.ts'
import type { Db } from '../db.ts'

/** A user as anyone may see them: never the email or the role. */
export type PublicUser = Omit<User, 'email' | 'role'>

export const publicUserColumns = {
  id: users.id,
  name: users.name,
  headline: users.headline,
  skills: users.skills,
  rating: users.rating,
  version: users.version,
  createdAt: users.createdAt,
  updatedAt: users.updatedAt
}

export interface UserPatch {
  name?: string | undefined
  headline?: string | undefined
  skills?: string[] | undefined
}

export type UserApplication = Application & { gigTitle: string }

export interface UserStats {
  userId: number
  /** The user's published gigs by status (drafts are private and not counted). */
  gigs: { open: number, in_progress: number, completed: number, cancelled: number, total: number }
  /** Applications the user sent, by status. */
  applications: { pending: number, accepted: number, rejected: number, withdrawn: number, total: number }
  /** Applications of the user that were accepted (jobs won). */
  accepted: number
  /** Sum of the agreed amounts of paid assignments the user worked on. */
  totalEarned: number
  /** Sum of the agreed amounts of paid assignments on the user's gigs. */
  totalSpent: number
}

async function findUser (db: Db, id: number): Promise<PublicUser | undefined> {
  const rows = await db.select(publicUserColumns).from(users).where(eq(users.id, id)).limit(1)
  return rows[0]
}

/** A public profile, read through the entity cache; a missing user is a 404 (and nothing is cached). */
export async function getUser (ctx: DomainContext, id: number): Promise<PublicUser> {
  const user = await ctx.entities.getEntity('user', id, () => findUser(ctx.db, id))
  if (!user) throw notFound('user', id)
  return user
}

function assertSelf (caller: Caller, userId: number, what: string): void {
  if (caller.id !== userId) throw forbidden(`only the user may ${what}`)
}

/** Edits the caller's own profile: bumps the version and emits `user.updated`. */
export async function updateUser (ctx: DomainContext, caller: Caller, id: number, patch: UserPatch): Promise<PublicUser> {
  assertSelf(caller, id, 'edit their profile')
  return inTransaction(ctx.db, ctx.events, async (tx, sink) => {
    const set: UserPatch = {}
    if (patch.name !== undefined) set.name = patch.name
    if (patch.headline !== undefined) set.headline = patch.headline
    if (patch.skills !== undefined) set.skills = patch.skills
    // A single UPDATE … RETURNING: no read decides this write, so no lock is needed.
    const rows = await tx.update(users).set({ ...set, version: sql`${users.version} + 1`, updatedAt: sql`now()` })
      .where(eq(users.id, id)).returning(publicUserColumns)
    const updated = rows[0]
    if (!updated) throw notFound('user', id)
    sink.add({ name: 'user.updated', payload: { userId: id, version: updated.version } })
    return updated
  })
}

/** The user's own applications, newest first, each with its gig's title. */
export async function userApplications (ctx: DomainContext, caller: Caller, userId: number): Promise<UserApplication[]> {
  assertSelf(caller, userId, 'list their applications')
  const rows = await ctx.db.select({ application: applications, gigTitle: gigs.title })
    .from(applications).innerJoin(gigs, eq(gigs.id, applications.gigId))
    .where(eq(applications.applicantId, userId))
    .orderBy(desc(applications.createdAt), desc(applications.id)).limit(200)
  return rows.map((r) => ({ ...r.application, gigTitle: r.gigTitle }))
}

const n = (expr: SQL) => sql<number>`${expr}`.mapWith(Number)
const countWhere = (cond: SQL) => n(sql`count(*) filter (where ${cond})`)

/** Public statistics of a user in two aggregate queries: one over their gigs, one over their applications. */
export async function userStats (ctx: DomainContext, userId: number): Promise<UserStats> {
  await getUser(ctx, userId)
  const paid = sql`${assignments.paymentStatus} = 'paid'`
  const [gigRows, appRows] = await Promise.all([
    // one assignment per gig, so the left join does not repeat gigs
    ctx.db.select({
      open: countWhere(sql`${gigs.status} = 'open'`),
      inProgress: countWhere(sql`${gigs.status} = 'in_progress'`),
      completed: countWhere(sql`${gigs.status} = 'completed'`),
      cancelled: countWhere(sql`${gigs.status} = 'cancelled'`),
      spent: n(sql`coalesce(sum(${assignments.agreedAmount}) filter (where ${paid}), 0)`)
    }).from(gigs).leftJoin(assignments, eq(assignments.gigId, gigs.id))
      .where(and(eq(gigs.postedBy, userId), ne(gigs.status, 'draft'))),
    ctx.db.select({
      pending: countWhere(sql`${applications.status} = 'pending'`),
      accepted: countWhere(sql`${applications.status} = 'accepted'`),
      rejected: countWhere(sql`${applications.status} = 'rejected'`),
      withdrawn: countWhere(sql`${applications.status} = 'withdrawn'`),
      earned: n(sql`coalesce(sum(${assignments.agreedAmount}) filter (where ${paid} and ${assignments.workerId} = ${applications.applicantId}), 0)`)
    }).from(applications).leftJoin(assignments, eq(assignments.applicationId, applications.id))
      .where(eq(applications.applicantId, userId))
  ])
  const g = gigRows[0] ?? { open: 0, inProgress: 0, completed: 0, cancelled: 0, spent: 0 }
  const a = appRows[0] ?? { pending: 0, accepted: 0, rejected: 0, withdrawn: 0, earned: 0 }
  return {
    userId,
    gigs: {
      open: g.open,
      in_progress: g.inProgress,
      completed: g.completed,
      cancelled: g.cancelled,
      total: g.open + g.inProgress + g.completed + g.cancelled
    },
    applications: {
      pending: a.pending,
      accepted: a.accepted,
      rejected: a.rejected,
      withdrawn: a.withdrawn,
      total: a.pending + a.accepted + a.rejected + a.withdrawn
    },
    accepted: a.accepted,
    totalEarned: a.earned,
    totalSpent: g.spent
  }
}

/** A user's published gigs, newest first; an unknown user is a 404, not an empty list. */
export async function gigsOfUser (ctx: DomainContext, userId: number): Promise<GigView[]> {
  await getUser(ctx, userId)
  return userGigs(ctx, userId)
}

import { and, asc, count, countDistinct, desc, eq, ne, sql, type SQL } from 'drizzle-orm'
import { applications, categories, gigs, users } from '../../drizzle/schema.ts'
import type { DomainContext } from './context.ts'

export interface CategoryCount { slug: string, name: string, openGigs: number }
export interface SkillCount { skill: string, openGigs: number }
export interface DayCount { day: string, created: number }
export interface DailyStats { gigs: DayCount[], applications: DayCount[] }
export interface CreatorRank { userId: number, name: string, gigsPosted: number }
export interface ApplicantRank { userId: number, name: string, acceptedApplications: number }

export const POPULAR_SKILLS_LIMIT = 20
export const LEADERBOARD_LIMIT = 10
export const MAX_STATS_DAYS = 90

/** Every category, by name, with how many open gigs it holds (0 included). */
export async function categoriesWithCounts (ctx: DomainContext): Promise<CategoryCount[]> {
  return ctx.db.select({ slug: categories.slug, name: categories.name, openGigs: count(gigs.id) })
    .from(categories)
    .leftJoin(gigs, and(eq(gigs.category, categories.slug), eq(gigs.status, 'open')))
    .groupBy(categories.slug, categories.name)
    .orderBy(asc(categories.name), asc(categories.slug))
}

/** Skills ranked by how many open gigs list them (ties by name), top 20. */
export async function popularSkills (ctx: DomainContext, limit = POPULAR_SKILLS_LIMIT): Promise<SkillCount[]> {
  const listed = ctx.db.select({ gigId: gigs.id, skill: sql<string>`unnest(${gigs.skills})`.as('skill') })
    .from(gigs).where(eq(gigs.status, 'open')).as('listed')
  const openGigs = countDistinct(listed.gigId)
  return ctx.db.select({ skill: listed.skill, openGigs })
    .from(listed)
    .groupBy(listed.skill)
    .orderBy(desc(openGigs), asc(listed.skill))
    .limit(limit)
}

/**
 * How many rows of a table were created on each of the last `days` UTC days, today included,
 * oldest first; days without any are 0 (a `generate_series` of days, left-joined).
 */
async function createdPerDay (ctx: DomainContext, table: typeof gigs | typeof applications, days: number, extra?: SQL): Promise<DayCount[]> {
  const series = sql`generate_series(
    ((now() at time zone 'utc')::date - ${days - 1}::int)::timestamp,
    (now() at time zone 'utc')::date::timestamp,
    interval '1 day'
  ) as series(day)`
  const day = sql`series.day`
  const onDay = sql`${table.createdAt} >= (${day} at time zone 'utc') and ${table.createdAt} < ((${day} + interval '1 day') at time zone 'utc')`
  return ctx.db.select({ day: sql<string>`to_char(${day}, 'YYYY-MM-DD')`, created: count(table.id) })
    .from(series)
    .leftJoin(table, extra ? and(onDay, extra) : onDay)
    .groupBy(day)
    .orderBy(day)
}

/** Gigs (drafts excluded) and applications created per UTC day over the last `days` days. */
export async function dailyStats (ctx: DomainContext, days: number): Promise<DailyStats> {
  // Cached per UTC day, so the set of days moves at midnight even inside the 6 h TTL.
  const today = new Date().toISOString().slice(0, 10)
  const [g, a] = await Promise.all([
    ctx.entities.getList(`stats:gigs:daily:${today}:${days}`,
      () => createdPerDay(ctx, gigs, days, ne(gigs.status, 'draft')), { tags: ['stats:gigs:daily'] }),
    ctx.entities.getList(`stats:applications:daily:${today}:${days}`,
      () => createdPerDay(ctx, applications, days), { tags: ['stats:applications:daily'] })
  ])
  return { gigs: g, applications: a }
}

/** The ten users with the most published (non-draft) gigs; ties by user id. */
export async function topCreators (ctx: DomainContext, limit = LEADERBOARD_LIMIT): Promise<CreatorRank[]> {
  const gigsPosted = count(gigs.id)
  return ctx.db.select({ userId: users.id, name: users.name, gigsPosted })
    .from(gigs).innerJoin(users, eq(users.id, gigs.postedBy))
    .where(ne(gigs.status, 'draft'))
    .groupBy(users.id, users.name)
    .orderBy(desc(gigsPosted), asc(users.id))
    .limit(limit)
}

/** The ten users with the most accepted applications; ties by user id. */
export async function topApplicants (ctx: DomainContext, limit = LEADERBOARD_LIMIT): Promise<ApplicantRank[]> {
  const acceptedApplications = count(applications.id)
  return ctx.db.select({ userId: users.id, name: users.name, acceptedApplications })
    .from(applications).innerJoin(users, eq(users.id, applications.applicantId))
    .where(eq(applications.status, 'accepted'))
    .groupBy(users.id, users.name)
    .orderBy(desc(acceptedApplications), asc(users.id))
    .limit(limit)
}

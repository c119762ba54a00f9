import { LRUCache } from 'lru-cache'
import { and, arrayOverlaps, count, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm'
import { gigs } from '../../drizzle/schema.ts'
import type { DomainContext, Page } from './context.ts'
import { badRequest } from './errors.ts'
import { gigColumns, type GigView } from './gigs.ts'

export type SearchSort = 'relevance' | 'newest' | 'budget'

export interface SearchParams {
  q?: string | undefined
  category?: string | undefined
  /** Each entry may itself be a comma-separated list (`skills=a,b` or `skills=a&skills=b`). */
  skills?: string[] | undefined
  minBudget?: number | undefined
  maxBudget?: number | undefined
  sort?: SearchSort | undefined
  page: number
  pageSize: number
}

/** A search as it is remembered in the caller's history: only the criteria, in one canonical form. */
export interface SearchCriteria {
  q?: string
  category?: string
  skills?: string[]
  minBudget?: number
  maxBudget?: number
  sort: SearchSort
}

export const MAX_SEARCH_SKILLS = 20

/**
 * The canonical form of a search: the text trimmed, its whitespace collapsed and lower-cased
 * (the English text search configuration ignores case), skills split, deduplicated and sorted,
 * and the effective sort (relevance only with text). Two searches that find the same gigs in the
 * same order have the same criteria, so repeating one moves it to the front of the history.
 */
export function normaliseSearch (p: SearchParams): SearchCriteria {
  const q = p.q?.trim().replace(/\s+/g, ' ').toLowerCase()
  const skills = [...new Set((p.skills ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== ''))].sort()
  if (skills.length > MAX_SEARCH_SKILLS) throw badRequest('TOO_MANY_SKILLS', `query.skills must NOT have more than ${MAX_SEARCH_SKILLS} items`)
  if (p.minBudget !== undefined && p.maxBudget !== undefined && p.minBudget > p.maxBudget) {
    throw badRequest('BUDGET_RANGE', 'query.minBudget must not exceed query.maxBudget')
  }
  const sort: SearchSort = p.sort === 'relevance' || p.sort === undefined ? (q ? 'relevance' : 'newest') : p.sort
  const out: SearchCriteria = { sort }
  if (q) out.q = q
  if (p.category) out.category = p.category
  if (skills.length > 0) out.skills = skills
  if (p.minBudget !== undefined) out.minBudget = p.minBudget
  if (p.maxBudget !== undefined) out.maxBudget = p.maxBudget
  return out
}

/** True when the search has criteria worth remembering (not a bare browse of every open gig). */
export function hasCriteria (c: SearchCriteria): boolean {
  return c.q !== undefined || c.category !== undefined || c.skills !== undefined ||
    c.minBudget !== undefined || c.maxBudget !== undefined
}

// A tsquery as text: lexemes in single quotes (a quote inside doubled), operators between them.
const QUOTED_LEXEME = /'((?:[^']|'')*)'/g

/**
 * The lexemes a query's result depends on, read from Postgres's own `websearch_to_tsquery` (so
 * stemming and stop words are exactly the search's), or undefined when a gig holding none of them
 * could match: no text, nothing left after stop words, or a negation (`-word`).
 */
export async function searchLexemes (ctx: DomainContext, q: string | undefined): Promise<string[] | undefined> {
  if (q === undefined) return undefined
  const known = lexemeMemo.get(q)
  if (known !== undefined) return known.lexemes
  // Both drivers (pg, PGlite) answer a raw statement with `{ rows }`.
  const result = await ctx.db.execute(sql`select websearch_to_tsquery('english', ${q})::text as q`) as unknown as { rows: Array<{ q: string }> }
  const lexemes = lexemesOfTsquery(result.rows[0]?.q ?? '')
  lexemeMemo.set(q, { lexemes })
  return lexemes
}

// A query's lexemes depend only on its text and the (migrated, fixed) text search configuration:
// remembered, so a search miss costs no statement more than the search itself.
const lexemeMemo = new LRUCache<string, { lexemes: string[] | undefined }>({ max: 10_000 })

/** The lexemes of a tsquery's text form, or undefined when it is empty or negates anything. */
export function lexemesOfTsquery (text: string): string[] | undefined {
  const lexemes = [...text.matchAll(QUOTED_LEXEME)].map((m) => (m[1] as string).replaceAll("''", "'"))
  if (lexemes.length === 0 || text.replace(QUOTED_LEXEME, '').includes('!')) return undefined
  return [...new Set(lexemes)].sort()
}

/**
 * Full-text search over open gigs: `websearch_to_tsquery` against the generated `search` vector
 * (title weighted A, description B), ranked by `ts_rank`. Skills match when a gig lists any of
 * them; the budget filters keep gigs whose range overlaps the requested one.
 */
export async function searchGigs (ctx: DomainContext, c: SearchCriteria, page: number, pageSize: number): Promise<Page<GigView>> {
  const query = c.q === undefined ? undefined : sql`websearch_to_tsquery('english', ${c.q})`
  const where: SQL[] = [eq(gigs.status, 'open')]
  if (query) where.push(sql`${gigs.search} @@ ${query}`)
  if (c.category) where.push(eq(gigs.category, c.category))
  if (c.skills) where.push(arrayOverlaps(gigs.skills, c.skills))
  if (c.minBudget !== undefined) where.push(gte(gigs.budgetMax, c.minBudget))
  if (c.maxBudget !== undefined) where.push(lte(gigs.budgetMin, c.maxBudget))
  const cond = and(...where)
  const newest = [desc(gigs.createdAt), desc(gigs.id)]
  const order: SQL[] = c.sort === 'relevance' && query
    ? [sql`ts_rank(${gigs.search}, ${query}) desc`, ...newest]
    : c.sort === 'budget' ? [desc(gigs.budgetMax), desc(gigs.budgetMin), ...newest] : newest
  const [items, totals] = await Promise.all([
    ctx.db.select(gigColumns).from(gigs).where(cond)
      .orderBy(...order).limit(pageSize).offset((page - 1) * pageSize),
    ctx.db.select({ n: count() }).from(gigs).where(cond)
  ])
  return { items, page, pageSize, total: totals[0]?.n ?? 0 }
}

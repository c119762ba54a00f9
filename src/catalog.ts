import type { TtlTable } from './cache/ttl.ts'
import type { DomainEventMap, DomainEventName } from './domain/events.ts'

/** The LLD's TTL strategy, in seconds. Routes and services name a class, never a number. */
export const TTL_CLASSES = {
  entity: 3600,
  userProfile: 1800,
  statistics: 900,
  userLists: 600,
  search: 300,
  featured: 1800,
  dailyStats: 21600,
  catalog: 86400,
  leaderboards: 3600,
  viewHistory: 7200,
  searchHistory: 3600,
  draftAutosave: 1800
} as const satisfies TtlTable

export type TtlClass = keyof typeof TTL_CLASSES

/** Key catalog: the LLD's key names, the template each route or service uses, and its TTL class. */
export const KEYS = {
  gig: { template: 'gig:{params.id}', ttl: 'entity' },
  user: { template: 'user:{userId}', ttl: 'userProfile' },
  application: { template: 'application:{applicationId}', ttl: 'entity' },
  submission: { template: 'submission:{submissionId}', ttl: 'entity' },
  assignment: { template: 'assignment:{assignmentId}', ttl: 'entity' },
  user_gigs: { template: 'user_gigs:{params.id}', ttl: 'userLists' },
  user_applications: { template: 'user_applications:{params.id}', ttl: 'userLists' },
  user_drafts: { template: 'user_drafts:{params.id}', ttl: 'userLists' },
  gig_applications: { template: 'gig_applications:{params.id}', ttl: 'userLists' },
  gig_submissions: { template: 'gig_submissions:{params.id}', ttl: 'userLists' },
  applicant_applications: { template: 'applicant_applications:{applicantId}', ttl: 'userLists' },
  gig_list: { template: 'gig_list:{hash}', ttl: 'search' },
  search: { template: 'search:{hash}', ttl: 'search' },
  featured_gigs: { template: 'featured_gigs', ttl: 'featured' },
  categories: { template: 'categories', ttl: 'catalog' },
  popular_skills: { template: 'popular_skills', ttl: 'catalog' },
  gig_stats: { template: 'gig_stats:{params.id}', ttl: 'statistics' },
  'stats:gigs:daily': { template: 'stats:gigs:daily', ttl: 'dailyStats' },
  'stats:applications:daily': { template: 'stats:applications:daily', ttl: 'dailyStats' },
  'leaderboard:creators': { template: 'leaderboard:creators', ttl: 'leaderboards' },
  'leaderboard:applicants': { template: 'leaderboard:applicants', ttl: 'leaderboards' },
  'session:gig_views': { template: 'session:gig_views:{userId}', ttl: 'viewHistory' },
  'session:search_history': { template: 'session:search_history:{userId}', ttl: 'searchHistory' },
  'session:draft_autosave': { template: 'session:draft_autosave:{userId}:{gigId}', ttl: 'draftAutosave' }
} as const satisfies Record<string, { template: string, ttl: TtlClass }>

/** TTL class of an entity type cached through `CacheManager.getEntity`. */
export const entityTtlClass = (type: string): TtlClass => type === 'user' ? 'userProfile' : 'entity'

// Literal heads of the catalog's templates, longest first: `stats:gigs:daily` before `stats`.
const HEADS = Object.entries(KEYS)
  .map(([pattern, k]) => ({ pattern, head: k.template.split('{')[0]!.replace(/:$/, ''), ttl: k.ttl as TtlClass }))
  .sort((a, b) => b.head.length - a.head.length)

/** The catalog pattern of a concrete key (`stats:gigs:daily:2026-11-26:7` → `stats:gigs:daily`). */
export function patternOfKey (key: string): string {
  const hit = HEADS.find((h) => key === h.head || key.startsWith(h.head + ':'))
  return hit?.pattern ?? key.split(':')[0]!
}

/** TTL class of a list key cached through `CacheManager.getList`, by its catalog pattern. */
export function listTtlClass (key: string): TtlClass {
  const hit = HEADS.find((h) => key === h.head || key.startsWith(h.head + ':'))
  return hit?.ttl ?? 'userLists'
}

// Tags shared by every entry of a family: one INCR invalidates them all, however many there are.
export const ALL_SEARCH_RESULTS = 'search'
export const ALL_GIG_LISTINGS = 'gig_list'

const userLists = (userId: number): string[] =>
  [`user_gigs:${userId}`, `user_drafts:${userId}`, `user_applications:${userId}`, `applicant_applications:${userId}`]
const applicantLists = (ids: number[]): string[] => ids.flatMap((id) => [`user_applications:${id}`, `applicant_applications:${id}`])
const gigListings = [ALL_SEARCH_RESULTS, ALL_GIG_LISTINGS, 'featured_gigs', 'categories', 'popular_skills']
// What a gig's membership decides: which listings hold it, and the counts by category and skill.
const gigMembership = [ALL_GIG_LISTINGS, 'categories', 'popular_skills']

/**
 * Search results a gig edit can change, without knowing their queries: a result depends on the
 * lexemes of its query (`search_term:{lexeme}`), and an edit invalidates every lexeme of the gig's
 * old and new searchable text. A query whose result could hold the gig, before or after, needs at
 * least one of its lexemes in that text, unless it can match text holding none of them (no text,
 * or a negation): those results carry SEARCH_ANY, which every edit invalidates.
 */
export const SEARCH_ANY = 'search_any'
export const searchTermTag = (lexeme: string): string => `search_term:${lexeme}`

/** What a search result depends on besides the `search` family tag: its query's lexemes, or SEARCH_ANY. */
export function searchTags (lexemes: readonly string[] | undefined): string[] {
  return lexemes === undefined || lexemes.length === 0 ? [SEARCH_ANY] : lexemes.map(searchTermTag)
}

/** The tags of the gigs a response shows (`gig:{id}`): an edit of any of them invalidates it. */
export const gigTags = (gigIds: readonly number[]): string[] => gigIds.map((id) => `gig:${id}`)

/**
 * The LLD's event-based invalidation and cascade rules as data: each domain event → the tags it
 * invalidates. Anything not named here is left to expire with its TTL class (see README).
 */
export const CASCADE: { [K in DomainEventName]: (p: DomainEventMap[K]) => string[] } = {
  // CREATE: user_gigs, featured_gigs, search results (+ the poster's stats and the daily/creator aggregates)
  'gig.created': (p) => [`user_gigs:${p.postedById}`, `user_drafts:${p.postedById}`, ...gigListings,
    `gig_stats:${p.postedById}`, 'stats:gigs:daily', 'leaderboard:creators'],
  // Gig Update → gig:{id}, user_gigs:{postedById}, gig_applications:{id}, search results (the title
  // is searchable). Listing pages carry the tag of every gig they show, so gig:{id} reaches them;
  // all listings and the counts go only when the edit can move the gig between them (an outbox
  // row written before `listingChanged` existed has none: treated as changed).
  // Search results: those whose query shares a lexeme with the gig's old or new text, and those
  // that need no lexeme (searchTags); all of them when the row does not say (`searchTerms` absent).
  'gig.updated': (p) => [`gig:${p.gigId}`, `user_gigs:${p.postedById}`, `user_drafts:${p.postedById}`,
    `gig_applications:${p.gigId}`, ...(p.searchTerms === undefined ? [ALL_SEARCH_RESULTS] : [SEARCH_ANY, ...p.searchTerms.map(searchTermTag)]),
    ...(p.featured ? ['featured_gigs'] : []),
    ...(p.listingChanged !== false ? gigMembership : []), ...applicantLists(p.applicantIds)],
  // DELETE: gig:{id} and all related data
  'gig.deleted': (p) => [`gig:${p.gigId}`, `user_gigs:${p.postedById}`, `user_drafts:${p.postedById}`,
    `gig_applications:${p.gigId}`, `gig_submissions:${p.gigId}`, ...gigListings, `gig_stats:${p.postedById}`,
    ...applicantLists(p.applicantIds), ...p.applicantIds.map((id) => `gig_stats:${id}`),
    ...p.applicationIds.map((id) => `application:${id}`),
    'stats:gigs:daily', 'stats:applications:daily', 'leaderboard:creators', 'leaderboard:applicants'],
  // STATUS_CHANGE: gig:{id}, user stats (+ lists that filter or show the status)
  'gig.status_changed': (p) => [`gig:${p.gigId}`, `gig_stats:${p.postedById}`, `user_gigs:${p.postedById}`,
    `user_drafts:${p.postedById}`, ...gigListings, ...applicantLists(p.applicantIds), 'leaderboard:creators',
    'stats:gigs:daily'],
  // Application CREATE: gig_applications, user_applications
  'application.created': (p) => [`gig_applications:${p.gigId}`, ...applicantLists([p.applicantId]),
    `gig_stats:${p.applicantId}`, 'stats:applications:daily'],
  // Application UPDATE: application:{id}, related lists
  'application.updated': (p) => [`application:${p.applicationId}`, `gig_applications:${p.gigId}`,
    ...applicantLists([p.applicantId]), `gig_stats:${p.applicantId}`],
  // Application Status → application:{id}, gig_applications:{gigId}, user_applications:{applicantId}, stats
  'application.accepted': (p) => [`application:${p.applicationId}`, `gig_applications:${p.gigId}`,
    ...applicantLists([p.applicantId]), `gig_stats:${p.applicantId}`, `gig_stats:${p.postedById}`,
    `gig_submissions:${p.gigId}`, 'leaderboard:applicants'],
  'application.rejected': (p) => [`application:${p.applicationId}`, `gig_applications:${p.gigId}`,
    ...applicantLists([p.applicantId]), `gig_stats:${p.applicantId}`, `gig_stats:${p.postedById}`, 'leaderboard:applicants'],
  // Submission CREATE: gig_submissions, gig stats
  'submission.created': (p) => [`gig_submissions:${p.gigId}`, `gig_stats:${p.submitterId}`, `gig_stats:${p.postedById}`],
  // Submission REVIEW: submission:{id}, user stats
  'submission.reviewed': (p) => [`submission:${p.submissionId}`, `gig_submissions:${p.gigId}`,
    `gig_stats:${p.submitterId}`, `gig_stats:${p.postedById}`],
  // Payment updates (write-through below): the assignment and both parties' totals
  'assignment.payment_updated': (p) => [`assignment:${p.assignmentId}`, `gig_stats:${p.workerId}`, `gig_stats:${p.postedById}`],
  // User Profile Update → user:{id}, all user_* lists, leaderboards
  'user.updated': (p) => [`user:${p.userId}`, ...userLists(p.userId), `gig_stats:${p.userId}`,
    'leaderboard:creators', 'leaderboard:applicants']
}

/** Write-through for the LLD's critical data: after commit the entity is rewritten if newer. */
export const WRITE_THROUGH: Partial<{ [K in DomainEventName]: (p: DomainEventMap[K]) => { type: 'gig' | 'application' | 'assignment', id: number, version: number } }> = {
  'gig.status_changed': (p) => ({ type: 'gig', id: p.gigId, version: p.version }),
  'application.accepted': (p) => ({ type: 'application', id: p.applicationId, version: p.version }),
  'application.rejected': (p) => ({ type: 'application', id: p.applicationId, version: p.version }),
  'application.updated': (p) => ({ type: 'application', id: p.applicationId, version: p.version }),
  'assignment.payment_updated': (p) => ({ type: 'assignment', id: p.assignmentId, version: p.version })
}

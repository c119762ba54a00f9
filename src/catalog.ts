import type { TtlTable } from './cache/ttl.ts'

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

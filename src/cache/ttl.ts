import { CacheError } from './errors.ts'

/** TTL classes in seconds, e.g. `{ entity: 3600, userProfile: 1800, search: 300 }`. */
export type TtlTable = Record<string, number>

/** Checks a table once at boot: every TTL a positive, finite number of seconds. */
export function validateTtlTable (table: TtlTable): TtlTable {
  for (const [name, seconds] of Object.entries(table)) {
    if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
      throw new CacheError('CACHE_ERR_BAD_TTL', `TTL class "${name}" must be a positive number of seconds, got ${String(seconds)}`)
    }
  }
  return table
}

/** The TTL of a class in **milliseconds**. An unknown class is a configuration error. */
export function resolveTtl (table: TtlTable, className: string): number {
  const seconds = Object.hasOwn(table, className) ? table[className] : undefined
  if (seconds === undefined) {
    throw new CacheError('CACHE_ERR_UNKNOWN_TTL_CLASS',
      `Unknown TTL class "${className}"; known classes: ${Object.keys(table).sort().join(', ') || '(none)'}`)
  }
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new CacheError('CACHE_ERR_BAD_TTL', `TTL class "${className}" must be a positive number of seconds, got ${String(seconds)}`)
  }
  return Math.round(seconds * 1000)
}

/**
 * `ms` plus up to `ratio` more, so keys written together do not expire together. The result is an
 * integer in [ms, ms * (1 + ratio)] (rounded up to at least ceil(ms)).
 */
export function withJitter (ms: number, rand: () => number = Math.random, ratio = 0.05): number {
  const base = Math.ceil(ms)
  const r = Math.min(Math.max(rand(), 0), 1)
  const max = Math.floor(ms * (1 + ratio))
  const jittered = base + Math.floor(r * ms * ratio)
  return Math.max(base, Math.min(jittered, max))
}

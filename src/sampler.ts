import { eq } from 'drizzle-orm'
import { applications, assignments, gigs, submissions, users } from '../drizzle/schema.ts'
import type { Db } from './db.ts'
import { MemoryStore } from './cache/memory-store.ts'
import type { RedisStore } from './cache/redis-store.ts'
import { escapeGlob, type Store } from './cache/store.ts'
import { versionOf } from './invalidation.ts'

const TABLES = { gig: gigs, user: users, application: applications, assignment: assignments, submission: submissions } as const
type EntityType = keyof typeof TABLES
const ENTITY_KEY = /^(gig|user|application|assignment|submission):(\d+)$/

export interface SamplerOptions {
  store: Store
  db: Db
  /** Period between samples, ms. */
  intervalMs: number
  /** Entries compared per sample; default 10. */
  perTick?: number
  /**
   * An entry older than the database is counted only if it is still served this long after it was
   * first seen: a write commits before it invalidates, so a sample may catch that instant. Default 2000 ms.
   */
  graceMs?: number
  log?: { warn (obj: object, msg: string): void }
}

export interface SamplerStats {
  samples: number
  /** Cached entity entries compared with the database. */
  compared: number
  /** Entries served with an older version than the database's for longer than the grace period. */
  mismatches: number
  lastMismatch?: { key: string, cached: number, current: number | null }
}

interface Suspect { key: string, storedAt: number, cached: number, seenAt: number }

/**
 * Watches freshness in production: every `intervalMs` it takes a few cached entity entries
 * (`gig:1`, `user:4` … as a reader would get them, tags checked), compares their version with the
 * database, and counts those still older than the database after `graceMs`.
 */
export class FreshnessSampler {
  readonly #o: Required<Omit<SamplerOptions, 'log'>> & Pick<SamplerOptions, 'log'>
  readonly #stats: SamplerStats = { samples: 0, compared: 0, mismatches: 0 }
  readonly #suspects = new Map<string, Suspect>()
  #cursor = '0'
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined

  constructor (opts: SamplerOptions) {
    if (!(opts.intervalMs > 0)) throw new Error(`FreshnessSampler: intervalMs must be positive, got ${String(opts.intervalMs)}`)
    this.#o = { perTick: 10, graceMs: 2000, ...opts }
  }

  stats (): SamplerStats {
    return { ...this.#stats }
  }

  start (): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => {
      if (this.#running !== undefined) return
      this.#running = this.sample().catch(() => {}).finally(() => { this.#running = undefined })
    }, this.#o.intervalMs)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  /** One sample: settles earlier suspects, then compares a few more entries. */
  async sample (): Promise<void> {
    this.#stats.samples++
    const now = Date.now()
    for (const s of [...this.#suspects.values()]) {
      if (now - s.seenAt < this.#o.graceMs) continue
      this.#suspects.delete(s.key)
      const still = await this.#compare(s.key)
      if (still !== undefined && still.storedAt === s.storedAt) {
        this.#stats.mismatches++
        this.#stats.lastMismatch = { key: s.key, cached: still.cached, current: still.current }
        this.#o.log?.warn({ key: s.key, cached: still.cached, current: still.current }, 'freshness sampler: the cache serves an entry older than the database')
      }
    }
    for (const key of await this.#candidates(this.#o.perTick)) {
      if (this.#suspects.has(key)) continue
      const found = await this.#compare(key)
      if (found === undefined) continue
      this.#suspects.set(key, { key, storedAt: found.storedAt, cached: found.cached, seenAt: now })
    }
  }

  /** The entry as a reader would get it, if it is older than the database (else undefined). */
  async #compare (key: string): Promise<{ storedAt: number, cached: number, current: number | null } | undefined> {
    const m = ENTITY_KEY.exec(key)
    if (m === null) return undefined
    let entry
    try {
      entry = await this.#o.store.get(key)
    } catch {
      return undefined
    }
    if (entry === undefined || Date.now() >= entry.freshUntil) return undefined
    let cached: number | undefined
    try {
      cached = versionOf(JSON.parse(entry.value))
    } catch {
      return undefined
    }
    if (cached === undefined) return undefined
    this.#stats.compared++
    const table = TABLES[m[1] as EntityType]
    const rows = await this.#o.db.select({ version: table.version }).from(table).where(eq(table.id, Number(m[2]))).limit(1)
    const current = rows[0]?.version ?? null
    if (current !== null && current <= cached) return undefined
    return { storedAt: entry.storedAt, cached, current }
  }

  async #candidates (n: number): Promise<string[]> {
    const store = this.#o.store
    const redis = store.kind === 'redis' ? store as RedisStore : (store as { l2?: RedisStore }).l2
    if (redis !== undefined && typeof redis.client?.scan === 'function') {
      // A rolling SCAN cursor: over time every entry gets its turn; never KEYS.
      const cp = redis.client.options.keyPrefix ?? ''
      const head = `${cp}${redis.prefix}:`
      const out: string[] = []
      // Bounded: at most a few hundred thousand keys looked at per sample, fewer once n are found.
      for (let step = 0; step < 200 && out.length < n; step++) {
        const [next, found] = await redis.client.scan(this.#cursor, 'MATCH', `${escapeGlob(head)}*`, 'COUNT', 1000)
        this.#cursor = next
        for (const k of found) {
          const key = k.slice(head.length)
          if (ENTITY_KEY.test(key)) out.push(key)
        }
        if (next === '0') break
      }
      return out.slice(0, n)
    }
    if (store instanceof MemoryStore) {
      const keys = [...store.keys()].filter((k) => ENTITY_KEY.test(k))
      for (let i = keys.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1))
        ;[keys[i], keys[j]] = [keys[j]!, keys[i]!]
      }
      return keys.slice(0, n)
    }
    return []
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The optional freshness sampler (CACHE_SAMPLER_INTERVAL_MS > 0; decorated by src/app.ts). */
    cacheSampler: FreshnessSampler | null
  }
}

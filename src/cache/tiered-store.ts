import { CacheError } from './errors.ts'
import type { MemoryStore } from './memory-store.ts'
import type { RedisStore } from './redis-store.ts'
import type { CacheEntry, SetOptions, Store } from './store.ts'

export interface TieredStoreOptions {
  l1: MemoryStore
  l2: RedisStore
  /**
   * Cap on how long an entry lives in L1. Other processes' invalidations reach this L1 only via
   * `onRemoteInvalidate`, so this bounds staleness should a message be lost.
   */
  l1MaxTtlMs?: number
}

// Tokens are "l1|l2"; neither store's tokens contain "|" (base-36 and digits with dots).
const SEP = '|'

/**
 * L1 (in process) in front of L2 (Redis). Writes and invalidations go to L2 first, then L1: an L1
 * copy is only ever made of something L2 accepted, and a local invalidation is visible in L2
 * before L1 forgets, so a concurrent L1 fill either lands before the L1 invalidation (and dies with
 * it) or sees that a tag moved and skips the fill.
 *
 * Cross-process: another process's invalidation reaches L2 directly, and this process's L1 only
 * through `onRemoteInvalidate` (wired to Redis pub/sub by the caller). Until that bus exists,
 * keep `l1MaxTtlMs` short.
 */
export class TieredStore implements Store {
  readonly kind = 'tiered' as const
  readonly l1: MemoryStore
  readonly l2: RedisStore
  readonly #l1MaxTtlMs: number

  constructor (opts: TieredStoreOptions) {
    if (opts.l1?.kind !== 'memory' || opts.l2?.kind !== 'redis') {
      throw new CacheError('CACHE_ERR_BAD_OPTION', 'TieredStore: l1 must be a MemoryStore and l2 a RedisStore')
    }
    const cap = opts.l1MaxTtlMs ?? Number.POSITIVE_INFINITY
    if (!(cap > 0)) throw new CacheError('CACHE_ERR_BAD_OPTION', `TieredStore: l1MaxTtlMs must be positive, got ${String(cap)}`)
    this.l1 = opts.l1
    this.l2 = opts.l2
    this.#l1MaxTtlMs = cap
  }

  async tagTokens (tags: string[]): Promise<string[]> {
    const l1 = this.l1.tagTokensSync(tags)
    const l2 = await this.l2.tagTokens(tags)
    return l1.map((t, i) => t + SEP + (l2[i] as string))
  }

  async get (key: string): Promise<CacheEntry | undefined> {
    const local = this.l1.getSync(key)
    if (local !== undefined) return local
    // Any L1 tag that moves after this point (an invalidation racing the L2 read) blocks the fill.
    const since = this.l1.seq()
    const entry = await this.l2.get(key)
    if (entry === undefined) return undefined
    // No await between the check and the L1 write: they must see the same L1 state.
    const tokens = this.l1.tokensUnchangedSince(entry.tags, since)
    if (tokens !== undefined) this.l1.setEntrySync(key, this.#capped(entry), tokens)
    return entry
  }

  #capped (entry: CacheEntry): CacheEntry {
    if (this.#l1MaxTtlMs === Number.POSITIVE_INFINITY) return entry
    const limit = entry.storedAt + this.#l1MaxTtlMs
    if (entry.staleUntil <= limit) return entry
    return { ...entry, freshUntil: Math.min(entry.freshUntil, limit), staleUntil: limit }
  }

  async set (key: string, value: string, meta: string, opts: SetOptions): Promise<boolean> {
    const l1Tokens: string[] = []
    const l2Tokens: string[] = []
    for (const token of opts.tokens) {
      const at = token.indexOf(SEP)
      // Not a tiered token: it cannot be current, so the fill is treated as raced.
      if (at === -1) return false
      l1Tokens.push(token.slice(0, at))
      l2Tokens.push(token.slice(at + 1))
    }
    const stored = await this.l2.set(key, value, meta, { ...opts, tokens: l2Tokens })
    if (!stored) return false
    this.l1.setSync(key, value, meta, {
      ...opts,
      ttlMs: Math.min(opts.ttlMs, this.#l1MaxTtlMs),
      staleMs: Math.max(0, Math.min((opts.staleMs ?? 0), this.#l1MaxTtlMs - opts.ttlMs)),
      tokens: l1Tokens
    })
    return true
  }

  async delete (keys: string[]): Promise<number> {
    const n = await this.l2.delete(keys)
    this.l1.deleteSync(keys)
    return n
  }

  async invalidateTags (tags: string[]): Promise<void> {
    await this.l2.invalidateTags(tags)
    this.l1.invalidateTagsSync(tags)
  }

  async deletePattern (glob: string): Promise<number> {
    const n = await this.l2.deletePattern(glob)
    this.l1.deletePatternSync(glob)
    return n
  }

  /**
   * Seam for the cross-process bus: call with the tags another process invalidated (it already
   * updated L2), so this process's L1 stops serving them.
   */
  onRemoteInvalidate (tags: string[]): void {
    this.l1.invalidateTagsSync(tags)
  }

  /** For the bus: when its subscription drops, invalidations may be missed, so L1 must forget. */
  clearL1 (): void {
    this.l1.clear()
  }

  size (): { entries: number, bytes: number } {
    return this.l1.size()
  }
}

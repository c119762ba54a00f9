import type { BusKind, InvalidationBus } from './bus.ts'
import { CacheError } from './errors.ts'
import type { MemoryStore } from './memory-store.ts'
import type { LiveMember, RedisStore } from './redis-store.ts'
import type { CacheEntry, SetOptions, Store } from './store.ts'

export interface TieredStoreOptions {
  l1: MemoryStore
  l2: RedisStore
  /** Cap on how long an entry lives in L1 (memory bound and last resort). */
  l1MaxTtlMs?: number
  /**
   * Keeps this L1 coherent with the other processes' changes. Without it L1 is always used and
   * only this process's own changes reach it: fine for one process, stale for several.
   */
  bus?: InvalidationBus
}

// Tokens are "l1|l2"; neither store's tokens contain "|" (base-36 and digits with dots).
const SEP = '|'

/**
 * L1 (in process) in front of L2 (Redis). Writes and invalidations go to L2 first, then L1: an L1
 * copy is only ever made of something L2 accepted, and a local invalidation is visible in L2
 * before L1 forgets, so a concurrent L1 fill either lands before the L1 invalidation (and dies with
 * it) or sees that a tag moved and skips the fill.
 *
 * Across processes (with a bus): each change is published by the script that makes it in L2, and
 * returns only once every other process applied it to its L1 or stopped using L1 (see bus.ts).
 * While the bus is not usable, L1 is neither read nor filled.
 */
export class TieredStore implements Store {
  readonly kind = 'tiered' as const
  readonly l1: MemoryStore
  readonly l2: RedisStore
  readonly bus: InvalidationBus | undefined
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
    this.bus = opts.bus
    this.bus?.attach({
      invalidateLocal: (tags) => { this.l1.invalidateTagsSync(tags) },
      deleteLocal: (keys) => { this.#deleteLocal(keys) },
      deletePatternLocal: (glob) => { this.#deletePatternLocal(glob) },
      clearLocal: () => { this.l1.clear() }
    })
  }

  #l1On (): boolean {
    return this.bus === undefined || this.bus.l1Usable()
  }

  async tagTokens (tags: string[]): Promise<string[]> {
    const l1 = this.l1.tagTokensSync(tags)
    const l2 = await this.l2.tagTokens(tags)
    return l1.map((t, i) => t + SEP + (l2[i] as string))
  }

  /** An L1 hit, answered without I/O; undefined sends the caller to `get` (L1 miss or L1 off). */
  peek (key: string): Readonly<CacheEntry> | undefined {
    return this.#l1On() ? this.l1.peek(key) : undefined
  }

  async get (key: string): Promise<CacheEntry | undefined> {
    if (this.#l1On()) {
      const local = this.l1.getSync(key)
      if (local !== undefined) return local
    }
    // Any L1 tag that moves (or a clear, or a deletion) after this point blocks the fill.
    const since = this.l1.seq()
    const entry = await this.l2.get(key)
    if (entry === undefined) return undefined
    // No await between the checks and the L1 write: they must see the same L1 state.
    if (this.#l1On()) {
      const tokens = this.l1.tokensUnchangedSince(entry.tags, since)
      if (tokens !== undefined) this.l1.setEntrySync(key, this.#capped(entry), tokens)
    }
    return entry
  }

  #capped (entry: CacheEntry): CacheEntry {
    if (this.#l1MaxTtlMs === Number.POSITIVE_INFINITY) return entry
    // Counted from this fill, not from the L2 write: an entry older than the cap must still reach L1.
    const limit = this.l1.now() + this.#l1MaxTtlMs
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
    if (this.#l1On()) {
      this.l1.setSync(key, value, meta, {
        ...opts,
        ttlMs: Math.min(opts.ttlMs, this.#l1MaxTtlMs),
        staleMs: Math.max(0, Math.min((opts.staleMs ?? 0), this.#l1MaxTtlMs - opts.ttlMs)),
        tokens: l1Tokens
      })
    }
    return true
  }

  async delete (keys: string[]): Promise<number> {
    if (keys.length === 0) return 0
    if (this.bus === undefined) {
      const n = await this.l2.delete(keys)
      this.#deleteLocal(keys)
      return n
    }
    let deleted = 0
    await this.#announced('k', keys, async (announcement) => {
      const r = await this.l2.deleteAnnounced(keys, announcement)
      deleted = r.deleted
      return r.members
    }, () => { this.#deleteLocal(keys) })
    return deleted
  }

  async invalidateTags (tags: string[]): Promise<void> {
    if (tags.length === 0) return
    if (this.bus === undefined) {
      await this.l2.invalidateTags(tags)
      this.l1.invalidateTagsSync(tags)
      return
    }
    await this.#announced('t', tags, (announcement) => this.l2.invalidateTagsAnnounced(tags, announcement),
      () => { this.l1.invalidateTagsSync(tags) })
  }

  async deletePattern (glob: string): Promise<number> {
    const n = await this.l2.deletePattern(glob)
    if (this.bus === undefined) {
      this.#deletePatternLocal(glob)
      return n
    }
    await this.#announced('p', [glob], async (announcement) => (await this.l2.deleteAnnounced([], announcement)).members,
      () => { this.#deletePatternLocal(glob) })
    return n
  }

  /**
   * A change made in L2 by `change` (which publishes it), then in this L1, then confirmed by the
   * other members. On failure L1 still forgets: the change may have reached L2 before the error.
   */
  async #announced (kind: BusKind, items: string[], change: (a: { channel: string, message: string }) => Promise<LiveMember[]>, local: () => void): Promise<void> {
    const bus = this.bus as InvalidationBus
    const msg = bus.begin(kind, items)
    let members: LiveMember[]
    try {
      members = await change(msg.announcement)
    } catch (err) {
      msg.cancel()
      local()
      throw err
    }
    local()
    await msg.wait(members)
  }

  #deleteLocal (keys: string[]): void {
    this.l1.deleteSync(keys)
    // A deletion moves no tag: without a fence an L1 fill that read L2 before it could land after.
    this.l1.fence()
  }

  #deletePatternLocal (glob: string): void {
    this.l1.deletePatternSync(glob)
    this.l1.fence()
  }

  /**
   * How long a writer whose invalidation failed should wait before replying, so that no other
   * process's L1 can still serve what it changed (see InvalidationBus.fenceMs).
   */
  writeFenceMs (): number {
    return this.bus?.fenceMs() ?? 0
  }

  /** Applies another process's invalidation to this L1 (the bus does this; tests call it directly). */
  onRemoteInvalidate (tags: string[]): void {
    this.l1.invalidateTagsSync(tags)
  }

  /** Forgets everything in L1 (e.g. when invalidations may have been missed). */
  clearL1 (): void {
    this.l1.clear()
  }

  size (): { entries: number, bytes: number } {
    return this.l1.size()
  }

  async close (): Promise<void> {
    await this.bus?.close()
  }
}

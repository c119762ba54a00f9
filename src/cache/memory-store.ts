import { LRUCache } from 'lru-cache'
import { systemClock, type Clock } from './clock.ts'
import { CacheError } from './errors.ts'
import { checkKey, checkSetOptions, checkTags, globToRegExp } from './store.ts'
import type { CacheEntry, SetOptions, Store } from './store.ts'

export interface MemoryStoreOptions {
  /** Bound of everything this store holds (entries + tag tokens), in approximate bytes. */
  maxBytes: number
  clock?: Clock
  /** Accepted for symmetry with RedisStore; one MemoryStore is already its own namespace. */
  prefix?: string
  /** Share of maxBytes reserved for tag tokens (default 1/8). */
  tagBytes?: number
}

interface Rec {
  entry: CacheEntry
  tokens: string[]
}

interface TagRec {
  token: string
  /** Position in this store's write sequence: lets TieredStore tell if a tag moved since a point. */
  seq: number
}

// JS strings are UTF-16; the constants cover object headers, the record and map slots.
const ENTRY_OVERHEAD = 240
const TAG_OVERHEAD = 120

/**
 * In-process store, LRU-bounded by bytes. Expiry is checked against the injected clock on read
 * (lru-cache's own timers are not used, so a manual clock drives it fully). Tag tokens live in a
 * second bounded LRU: dropping a tag is safe because a missing tag counts as changed, and tokens
 * come from a counter that never repeats, so a re-created tag never matches an old entry.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const
  readonly prefix: string
  readonly maxBytes: number
  readonly #clock: Clock

  /** The store's clock: a tier in front of another measures its own lifetimes by it. */
  now (): number { return this.#clock.now() }
  readonly #entries: LRUCache<string, Rec>
  readonly #tags: LRUCache<string, TagRec>
  #seq = 0
  /** Sequence point of the last tag eviction or deletion. */
  #lastDrop = 0
  /** Sequence point of the last `fence` (a clear or a key deletion): fills that began before it are refused. */
  #lastFence = 0

  constructor (opts: MemoryStoreOptions) {
    const { maxBytes } = opts
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1024) {
      throw new CacheError('CACHE_ERR_BAD_OPTION', `MemoryStore: maxBytes must be an integer >= 1024, got ${String(maxBytes)}`)
    }
    const tagBytes = opts.tagBytes ?? Math.floor(maxBytes / 8)
    if (!Number.isSafeInteger(tagBytes) || tagBytes < 256 || tagBytes >= maxBytes) {
      throw new CacheError('CACHE_ERR_BAD_OPTION', `MemoryStore: tagBytes must be an integer in [256, maxBytes), got ${String(tagBytes)}`)
    }
    this.maxBytes = maxBytes
    this.prefix = opts.prefix ?? ''
    this.#clock = opts.clock ?? systemClock
    this.#entries = new LRUCache<string, Rec>({
      maxSize: maxBytes - tagBytes,
      sizeCalculation: (rec, key) => entrySize(key, rec)
    })
    this.#tags = new LRUCache<string, TagRec>({
      maxSize: tagBytes,
      sizeCalculation: (rec, tag) => (tag.length + rec.token.length) * 2 + TAG_OVERHEAD,
      dispose: (_rec, _tag, reason) => {
        if (reason !== 'set') this.#lastDrop = ++this.#seq
      }
    })
  }

  /** The current write sequence number (see TagRec.seq). */
  seq (): number {
    return this.#seq
  }

  #newTag (tag: string): TagRec {
    const seq = ++this.#seq
    const rec = { token: `${this.#clock.now().toString(36)}.${seq.toString(36)}`, seq }
    this.#tags.set(tag, rec)
    return rec
  }

  tagTokensSync (tags: string[]): string[] {
    checkTags(tags)
    return tags.map((tag) => (this.#tags.get(tag) ?? this.#newTag(tag)).token)
  }

  /**
   * Tokens of the tags, or undefined if any of them was invalidated after sequence point `since`.
   * TieredStore uses it to fill L1 from L2 only when no invalidation can have slipped in between
   * its L2 read and now. A tag missing now is created, unless some tag was dropped since `since`
   * (it might have been invalidated and then dropped).
   */
  tokensUnchangedSince (tags: string[], since: number): string[] | undefined {
    checkTags(tags)
    if (this.#lastFence > since) return undefined
    const out: string[] = []
    for (const tag of tags) {
      let rec = this.#tags.get(tag)
      if (rec === undefined) {
        if (this.#lastDrop > since) return undefined
        rec = this.#newTag(tag)
      } else if (rec.seq > since) {
        return undefined
      }
      out.push(rec.token)
    }
    return out
  }

  #valid (rec: Rec, now: number): boolean {
    if (now >= rec.entry.staleUntil) return false
    const { tags } = rec.entry
    for (let i = 0; i < tags.length; i++) {
      if (this.#tags.get(tags[i] as string)?.token !== rec.tokens[i]) return false
    }
    return true
  }

  getSync (key: string): CacheEntry | undefined {
    const entry = this.peek(key)
    return entry === undefined ? undefined : { ...entry, tags: [...entry.tags] }
  }

  /** The live entry itself, not a copy (the hit path of HTTP caching); callers must not change it. */
  peek (key: string): Readonly<CacheEntry> | undefined {
    checkKey(key)
    const rec = this.#entries.get(key)
    if (rec === undefined) return undefined
    if (!this.#valid(rec, this.#clock.now())) {
      // Dead for good: tokens never come back and time only moves on.
      this.#entries.delete(key)
      return undefined
    }
    return rec.entry
  }

  /** Stores a complete entry (absolute times) under the tokens given; same rules as `set`. */
  setEntrySync (key: string, entry: CacheEntry, tokens: string[]): boolean {
    checkKey(key)
    const now = this.#clock.now()
    if (entry.staleUntil <= now) return false
    const { tags } = entry
    for (let i = 0; i < tags.length; i++) {
      if (this.#tags.get(tags[i] as string)?.token !== tokens[i]) return false
    }
    const existing = this.#entries.peek(key)
    if (existing !== undefined && existing.entry.version !== undefined) {
      if (entry.version !== undefined) {
        if (existing.entry.version >= entry.version && now < existing.entry.staleUntil) return false
      } else if (now < existing.entry.freshUntil && this.#valid(existing, now)) {
        return false
      }
    }
    const rec: Rec = { entry: { ...entry, tags: [...tags] }, tokens: [...tokens] }
    this.#entries.set(key, rec)
    // lru-cache refuses (and drops) an entry larger than its bound.
    return this.#entries.peek(key) === rec
  }

  setSync (key: string, value: string, meta: string, opts: SetOptions): boolean {
    checkSetOptions(opts)
    const storedAt = this.#clock.now()
    const freshUntil = storedAt + opts.ttlMs
    const entry: CacheEntry = {
      value, meta, storedAt, freshUntil, staleUntil: freshUntil + (opts.staleMs ?? 0), tags: opts.tags
    }
    if (opts.version !== undefined) entry.version = opts.version
    return this.setEntrySync(key, entry, opts.tokens)
  }

  invalidateTagsSync (tags: string[]): void {
    checkTags(tags)
    for (const tag of tags) this.#newTag(tag)
  }

  deleteSync (keys: string[]): number {
    let n = 0
    for (const key of keys) if (this.#entries.delete(key)) n++
    return n
  }

  deletePatternSync (glob: string): number {
    const re = globToRegExp(glob)
    const doomed: string[] = []
    for (const key of this.#entries.keys()) if (re.test(key)) doomed.push(key)
    return this.deleteSync(doomed)
  }

  /** Drops every entry and tag (e.g. when cross-process invalidations may have been missed). */
  clear (): void {
    this.#entries.clear()
    this.#tags.clear()
    this.fence()
  }

  /**
   * Marks a point that no fill may cross: `tokensUnchangedSince` refuses any fill whose L2 read
   * began before it. Deleting keys changes no tag, so a fill racing a deletion needs this.
   */
  fence (): void {
    this.#lastFence = ++this.#seq
  }

  /** The keys held (live or not yet found dead), most recently used first: for samplers and tools. */
  keys (): IterableIterator<string> {
    return this.#entries.keys()
  }

  /** Forgets one tag's token, as an LRU eviction would (tests use it). */
  dropTag (tag: string): void {
    this.#tags.delete(tag)
  }

  async tagTokens (tags: string[]): Promise<string[]> {
    return this.tagTokensSync(tags)
  }

  async get (key: string): Promise<CacheEntry | undefined> {
    return this.getSync(key)
  }

  async set (key: string, value: string, meta: string, opts: SetOptions): Promise<boolean> {
    return this.setSync(key, value, meta, opts)
  }

  async delete (keys: string[]): Promise<number> {
    return this.deleteSync(keys)
  }

  async invalidateTags (tags: string[]): Promise<void> {
    this.invalidateTagsSync(tags)
  }

  async deletePattern (glob: string): Promise<number> {
    return this.deletePatternSync(glob)
  }

  size (): { entries: number, bytes: number } {
    return { entries: this.#entries.size, bytes: this.#entries.calculatedSize + this.#tags.calculatedSize }
  }

  async close (): Promise<void> {
    this.clear()
  }
}

function entrySize (key: string, rec: Rec): number {
  let chars = key.length + rec.entry.value.length + rec.entry.meta.length
  for (const tag of rec.entry.tags) chars += tag.length
  for (const token of rec.tokens) chars += token.length
  return chars * 2 + ENTRY_OVERHEAD + rec.entry.tags.length * 32
}

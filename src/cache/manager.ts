import { performance } from 'node:perf_hooks'
import { systemClock, type Clock } from './clock.ts'
import { CacheError } from './errors.ts'
import { escapeKeyPart, patternOfKey } from './keys.ts'
import { SingleFlight } from './single-flight.ts'
import { globToRegExp } from './store.ts'
import type { Store } from './store.ts'
import { resolveTtl, validateTtlTable, withJitter, type TtlTable } from './ttl.ts'

export type CacheEventType = 'hit' | 'miss' | 'set' | 'error' | 'invalidate'
export type CacheOp = 'get' | 'tagTokens' | 'set' | 'invalidate' | 'deletePattern' | 'related' | 'encode' | 'decode'

/**
 * What the manager reports. `pattern` is the label for metrics (`gig`, `user_gigs`, …) and never
 * holds an id; `key` and `tags` carry ids and are for logs only.
 */
export interface CacheEvent {
  type: CacheEventType
  pattern: string
  key?: string
  tags?: string[]
  durationMs?: number
  bytes?: number
  /** For `set`: false when the store refused (a racing invalidation or an older version). */
  stored?: boolean
  /** For `error`: the operation that failed. */
  op?: CacheOp
  error?: unknown
  /** What the read served (e.g. an HTTP route), when the caller said so: a metrics label. */
  route?: string
}

export interface CacheTtlOptions {
  /** TTL classes in seconds (the LLD table). */
  table: TtlTable
  /** TTL class of an entity type; default `'entity'`. E.g. `type === 'user' ? 'userProfile' : 'entity'`. */
  entity?: (type: string) => string
  /** TTL class of a list key; default `'list'`. E.g. by key prefix: `search:…` → `'search'`. */
  list?: (key: string) => string
}

export type RelatedResolver = (entityType: string, entityId: string | number) => string[] | Promise<string[]>

export interface CacheManagerOptions {
  store: Store
  clock?: Clock
  ttl: CacheTtlOptions
  /** Cascade rules: the tags to invalidate when an entity changes (its own tag is always added). */
  related?: RelatedResolver
  /** Extra tags for an entity entry, besides its own key. */
  entityTags?: (type: string, id: string | number) => string[]
  /** Extra tags for a list entry, besides its own key (e.g. `'search'` for every `search:…`). */
  listTags?: (key: string) => string[]
  /** Metrics label of a list key; default its text before the first `:`. */
  patternOf?: (key: string) => string
  onEvent?: (e: CacheEvent) => void
  /** For TTL jitter; tests pass a fixed one. */
  random?: () => number
  jitterRatio?: number
}

export interface ListOptions {
  tags?: string[]
  /** TTL class overriding the `ttl.list` resolver. */
  ttl?: string
  /** What this read serves (e.g. an HTTP route): carried by its hit, miss and error events. */
  route?: string
}

/** The read-through half of the manager, with every event attributed to one route. */
export interface AttributedReads {
  getEntity<T>(type: string, id: string | number, fallbackFn: Loader<T>): Promise<T>
  getList<T>(key: string, fallbackFn: Loader<T>, opts?: ListOptions): Promise<T>
}

/** A TTL class name, or a number of seconds. */
export type TtlArg = string | number

type Loader<T> = () => Promise<T> | T

/**
 * The LLD's CacheManager over any Store: cache-aside reads with one loader call per key per
 * process, write-through "only if newer", and O(1) tag invalidation. Store failures never escape
 * a read (they become misses and `error` events); loader errors do escape; invalidation failures
 * escape too, so an outbox dispatcher can retry them.
 */
export class CacheManager {
  readonly store: Store
  readonly #clock: Clock
  readonly #table: TtlTable
  readonly #entityClass: (type: string) => string
  readonly #listClass: (key: string) => string
  readonly #related: RelatedResolver | undefined
  readonly #entityTags: ((type: string, id: string | number) => string[]) | undefined
  readonly #listTags: ((key: string) => string[]) | undefined
  readonly #patternOf: (key: string) => string
  readonly #onEvent: ((e: CacheEvent) => void) | undefined
  readonly #random: () => number
  readonly #jitterRatio: number
  readonly #flight = new SingleFlight()
  readonly #entityTtlCache = new Map<string, number>()
  readonly #views = new Map<string, AttributedReads>()

  constructor (opts: CacheManagerOptions) {
    if (opts?.store === undefined || typeof opts.store.get !== 'function') {
      throw new CacheError('CACHE_ERR_BAD_OPTION', 'CacheManager: store is required')
    }
    if (opts.ttl?.table === undefined) throw new CacheError('CACHE_ERR_BAD_OPTION', 'CacheManager: ttl.table is required')
    this.store = opts.store
    this.#clock = opts.clock ?? systemClock
    this.#table = validateTtlTable(opts.ttl.table)
    this.#entityClass = opts.ttl.entity ?? (() => 'entity')
    this.#listClass = opts.ttl.list ?? (() => 'list')
    this.#related = opts.related
    this.#entityTags = opts.entityTags
    this.#listTags = opts.listTags
    this.#patternOf = opts.patternOf ?? patternOfKey
    this.#onEvent = opts.onEvent
    this.#random = opts.random ?? Math.random
    this.#jitterRatio = opts.jitterRatio ?? 0.05
  }

  /** `type:id` with the id escaped, e.g. `gig:42`. It is also the entity's own tag. */
  entityKey (type: string, id: string | number): string {
    if (typeof type !== 'string' || type.length === 0) throw new CacheError('CACHE_ERR_BAD_KEY', 'Entity type must be a non-empty string')
    if (id === undefined || id === null || (typeof id !== 'string' && typeof id !== 'number')) {
      throw new CacheError('CACHE_ERR_BAD_KEY', `Entity id of "${type}" must be a string or a number`)
    }
    return `${escapeKeyPart(type)}:${escapeKeyPart(String(id))}`
  }

  // Entities -----------------------------------------------------------------------------------

  async getEntity<T> (type: string, id: string | number, fallbackFn: Loader<T>, opts: { route?: string } = {}): Promise<T> {
    const key = this.entityKey(type, id)
    const ttlMs = this.#entityTtl(type)
    return await this.#readThrough(key, escapeKeyPart(type), this.#tagsOfEntity(type, id, key), ttlMs, fallbackFn, opts.route)
  }

  /**
   * `getEntity` and `getList` whose events name `route`. One view per route, kept: callers ask
   * per request, and attribution must not cost an allocation (nor async context tracking) per read.
   */
  attributedTo (route: string): AttributedReads {
    let view = this.#views.get(route)
    if (view === undefined) {
      view = {
        getEntity: (type, id, fallbackFn) => this.getEntity(type, id, fallbackFn, { route }),
        getList: (key, fallbackFn, opts) => this.getList(key, fallbackFn, { ...opts, route })
      }
      // Routes are a fixed set; the cap only guards against a caller passing ids as routes.
      if (this.#views.size < 1000) this.#views.set(route, view)
    }
    return view
  }

  /** Write-through. With `version`, stores only if newer than the cached entry's version. */
  async setEntity (type: string, id: string | number, data: unknown, ttl?: TtlArg, version?: number): Promise<boolean> {
    const key = this.entityKey(type, id)
    const ttlMs = ttl === undefined ? this.#entityTtl(type) : this.#ttlMs(ttl)
    return await this.#write(key, escapeKeyPart(type), this.#tagsOfEntity(type, id, key), ttlMs, data, version)
  }

  /**
   * Write-through that a concurrent writer cannot undo: the tags' tokens are read before `load`
   * reads the source, so a load overtaken by a later write (whose invalidation moves a token) is
   * refused by the store, and with `versionOf` so is anything not newer than the cached entry.
   * Loader errors escape; store errors become `error` events. Returns whether it was stored.
   */
  async refreshEntity<T> (type: string, id: string | number, load: Loader<T>, versionOf?: (value: T) => number | undefined): Promise<boolean> {
    const key = this.entityKey(type, id)
    const pattern = escapeKeyPart(type)
    const tags = this.#tagsOfEntity(type, id, key)
    // A load that began before this write must not be handed to callers who arrive after it.
    this.#flight.forget(key)
    const tokens = await this.#tokens(key, pattern, tags, undefined)
    if (tokens === undefined) return false
    const value = await load()
    if (value === undefined || value === null) return false
    const json = this.#encode(value, pattern, key)
    if (json === undefined) return false
    return await this.#store(key, pattern, tags, tokens, this.#entityTtl(type), json, versionOf?.(value))
  }

  async invalidateEntity (type: string, id: string | number): Promise<void> {
    await this.invalidateTags([this.entityKey(type, id)])
  }

  // Lists --------------------------------------------------------------------------------------

  async getList<T> (key: string, fallbackFn: Loader<T>, opts: ListOptions = {}): Promise<T> {
    checkListKey(key)
    const ttlMs = resolveTtl(this.#table, opts.ttl ?? this.#listClass(key))
    return await this.#readThrough(key, this.#patternOf(key), this.#tagsOfList(key, opts.tags), ttlMs, fallbackFn, opts.route)
  }

  async setList (key: string, data: unknown, ttl?: TtlArg, version?: number, opts: { tags?: string[] } = {}): Promise<boolean> {
    checkListKey(key)
    const ttlMs = ttl === undefined ? resolveTtl(this.#table, this.#listClass(key)) : this.#ttlMs(ttl)
    return await this.#write(key, this.#patternOf(key), this.#tagsOfList(key, opts.tags), ttlMs, data, version)
  }

  /** A list key is its own tag: every entry stored under it (or tagged with it) goes. */
  async invalidateList (key: string): Promise<void> {
    checkListKey(key)
    await this.invalidateTags([key])
  }

  // Patterns and cascades ----------------------------------------------------------------------

  /**
   * Admin use: deletes entries whose keys match a Redis glob, by SCAN (never KEYS). Prefer tags:
   * deletion does not stop a fill already in flight from writing the key back.
   */
  async invalidatePattern (pattern: string): Promise<number> {
    if (typeof pattern !== 'string' || pattern.length === 0) {
      throw new CacheError('CACHE_ERR_BAD_KEY', 'invalidatePattern: pattern must be a non-empty string')
    }
    const re = globToRegExp(pattern)
    this.#flight.forgetWhere((k) => re.test(k))
    const label = this.#patternOf(pattern)
    const start = performance.now()
    try {
      const n = await this.store.deletePattern(pattern)
      this.#emit({ type: 'invalidate', pattern: label, durationMs: performance.now() - start, op: 'deletePattern' })
      return n
    } catch (err) {
      this.#emit({ type: 'error', pattern: label, op: 'deletePattern', error: err })
      throw err
    }
  }

  /** The entity's own tag plus whatever the injected cascade rules name. */
  async invalidateRelated (entityType: string, entityId: string | number): Promise<string[]> {
    const own = this.entityKey(entityType, entityId)
    let related: string[] = []
    if (this.#related !== undefined) {
      try {
        related = await this.#related(entityType, entityId)
      } catch (err) {
        this.#emit({ type: 'error', pattern: escapeKeyPart(entityType), op: 'related', error: err })
        throw err
      }
    }
    const tags = [...new Set([own, ...related])]
    await this.invalidateTags(tags)
    return tags
  }

  /** O(1) per tag. Throws on store failure (after an `error` event) so callers can retry. */
  async invalidateTags (tags: string[]): Promise<void> {
    if (tags.length === 0) return
    this.#flight.forgetTagged(tags)
    const start = performance.now()
    try {
      await this.store.invalidateTags(tags)
    } catch (err) {
      this.#emit({ type: 'error', pattern: familyOf(tags), tags, op: 'invalidate', error: err })
      throw err
    }
    const durationMs = performance.now() - start
    const families = new Map<string, string[]>()
    for (const tag of tags) {
      const fam = patternOfKey(tag)
      const list = families.get(fam)
      if (list === undefined) families.set(fam, [tag])
      else list.push(tag)
    }
    for (const [pattern, famTags] of families) {
      this.#emit({ type: 'invalidate', pattern, tags: famTags, durationMs })
    }
  }

  // Internals ----------------------------------------------------------------------------------

  #tagsOfEntity (type: string, id: string | number, key: string): string[] {
    const extra = this.#entityTags?.(type, id)
    return extra === undefined || extra.length === 0 ? [key] : [...new Set([key, ...extra])]
  }

  #tagsOfList (key: string, more: string[] | undefined): string[] {
    const extra = this.#listTags?.(key)
    if ((extra === undefined || extra.length === 0) && (more === undefined || more.length === 0)) return [key]
    return [...new Set([key, ...(extra ?? []), ...(more ?? [])])]
  }

  #entityTtl (type: string): number {
    let ms = this.#entityTtlCache.get(type)
    if (ms === undefined) {
      ms = resolveTtl(this.#table, this.#entityClass(type))
      this.#entityTtlCache.set(type, ms)
    }
    return ms
  }

  #ttlMs (ttl: TtlArg): number {
    if (typeof ttl === 'string') return resolveTtl(this.#table, ttl)
    if (!Number.isFinite(ttl) || ttl <= 0) throw new CacheError('CACHE_ERR_BAD_TTL', `TTL must be a positive number of seconds, got ${String(ttl)}`)
    return Math.round(ttl * 1000)
  }

  #emit (e: CacheEvent): void {
    if (this.#onEvent === undefined) return
    try {
      this.#onEvent(e)
    } catch {
      // A broken listener must not break caching.
    }
  }

  #readThrough<T> (key: string, pattern: string, tags: string[], ttlMs: number, loader: Loader<T>, route: string | undefined): Promise<T> {
    return this.#flight.do(key, () => this.#load(key, pattern, tags, ttlMs, loader, route), tags)
  }

  async #load<T> (key: string, pattern: string, tags: string[], ttlMs: number, loader: Loader<T>, route: string | undefined): Promise<T> {
    const start = performance.now()
    let storeUp = true
    try {
      const entry = await this.store.get(key)
      if (entry !== undefined && this.#clock.now() < entry.freshUntil) {
        try {
          const value = JSON.parse(entry.value) as T
          this.#emit({ type: 'hit', pattern, key, durationMs: performance.now() - start, route })
          return value
        } catch (err) {
          this.#emit({ type: 'error', pattern, key, op: 'decode', error: err, route })
        }
      }
    } catch (err) {
      storeUp = false
      this.#emit({ type: 'error', pattern, key, op: 'get', error: err, route })
    }

    // Tokens are read before the loader runs: an invalidation during the load makes the set fail.
    const tokens = storeUp ? await this.#tokens(key, pattern, tags, route) : undefined

    let value: T
    try {
      value = await loader()
    } finally {
      this.#emit({ type: 'miss', pattern, key, durationMs: performance.now() - start, route })
    }
    if (value === undefined || value === null) return value

    const json = this.#encode(value, pattern, key)
    if (json === undefined) return value
    if (tokens !== undefined) await this.#store(key, pattern, tags, tokens, ttlMs, json, undefined)
    // Hits return parsed JSON; so does a miss, so callers see one shape (no Date on miss only).
    return JSON.parse(json) as T
  }

  #encode (value: unknown, pattern: string, key: string): string | undefined {
    try {
      const json = JSON.stringify(value)
      if (typeof json !== 'string') throw new TypeError('value does not serialise to JSON')
      return json
    } catch (err) {
      this.#emit({ type: 'error', pattern, key, op: 'encode', error: err })
      return undefined
    }
  }

  async #store (key: string, pattern: string, tags: string[], tokens: string[], ttlMs: number, json: string, version: number | undefined): Promise<boolean> {
    try {
      const opts = { ttlMs: withJitter(ttlMs, this.#random, this.#jitterRatio), tags, tokens, ...(version === undefined ? {} : { version }) }
      const stored = await this.store.set(key, json, '', opts)
      this.#emit({ type: 'set', pattern, key, bytes: Buffer.byteLength(json), stored })
      return stored
    } catch (err) {
      this.#emit({ type: 'error', pattern, key, op: 'set', error: err })
      return false
    }
  }

  async #write (key: string, pattern: string, tags: string[], ttlMs: number, data: unknown, version: number | undefined): Promise<boolean> {
    if (data === undefined || data === null) return false
    // A load that began before this write must not be handed to callers who arrive after it.
    this.#flight.forget(key)
    const json = this.#encode(data, pattern, key)
    if (json === undefined) return false
    const tokens = await this.#tokens(key, pattern, tags, undefined)
    return tokens !== undefined && await this.#store(key, pattern, tags, tokens, ttlMs, json, version)
  }

  /** The tags' tokens, or undefined (reported as an error event) when the store cannot say. */
  async #tokens (key: string, pattern: string, tags: string[], route: string | undefined): Promise<string[] | undefined> {
    try {
      return await this.store.tagTokens(tags)
    } catch (err) {
      this.#emit({ type: 'error', pattern, key, op: 'tagTokens', error: err, ...(route === undefined ? {} : { route }) })
      return undefined
    }
  }
}

function checkListKey (key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new CacheError('CACHE_ERR_BAD_KEY', 'List key must be a non-empty string')
}

function familyOf (tags: string[]): string {
  return [...new Set(tags.map(patternOfKey))].sort().join(',')
}

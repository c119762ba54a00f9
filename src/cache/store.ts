import { CacheError } from './errors.ts'

export interface CacheEntry {
  value: string
  meta: string
  /** Clock time of the write (ms epoch). */
  storedAt: number
  /** Fresh before this time; served only as stale from then until `staleUntil`. */
  freshUntil: number
  /** freshUntil + staleMs: the entry does not exist after this. */
  staleUntil: number
  version?: number
  /** Tags the entry was stored with (a tiered store copies them to L1). */
  tags: string[]
}

export interface SetOptions {
  ttlMs: number
  staleMs?: number
  tags: string[]
  /** The tags' tokens, as returned by `tagTokens` BEFORE the source read, in the order of `tags`. */
  tokens: string[]
  /** Write-through: store only if newer than the stored entry's version. */
  version?: number
}

export type StoreKind = 'memory' | 'redis' | 'tiered'

/**
 * Versioned tags: every tag has a token that changes, to a value never used before, on each
 * invalidation. An entry remembers the tokens its tags had before its source read, and is visible
 * only while all of them are still current. A missing tag counts as changed.
 */
export interface Store {
  readonly kind: StoreKind
  /** Current tokens of the tags, creating missing tags with a fresh token. Read BEFORE the source read. */
  tagTokens (tags: string[]): Promise<string[]>
  /** The entry, only if every tag token it was stored with is still current and it has not expired (staleUntil). */
  get (key: string): Promise<CacheEntry | undefined>
  /**
   * What `get` would return, when the store can tell without I/O (an in-process tier); undefined
   * means "ask `get`". The entry is the store's own: read it, never change it. Lets a hit be
   * answered without a promise.
   */
  peek? (key: string): Readonly<CacheEntry> | undefined
  /**
   * Stores unless a tag token moved since `tokens` were read (the fill raced an invalidation). With
   * `version`, stores only if newer than the stored entry's version (write-through); without it,
   * never replaces a fresh, valid versioned entry (a write-through beats a concurrent fill).
   * Returns whether stored.
   */
  set (key: string, value: string, meta: string, opts: SetOptions): Promise<boolean>
  delete (keys: string[]): Promise<number>
  /** Invalidates every entry carrying any of these tags: O(1) per tag, never a scan. */
  invalidateTags (tags: string[]): Promise<void>
  /** SCAN-based deletion of entry keys matching a Redis glob under the prefix (admin use). Never KEYS. */
  deletePattern (glob: string): Promise<number>
  /** Approximate entries and bytes held in process, where the store knows. */
  size? (): { entries: number, bytes: number }
  close? (): Promise<void>
}

export function checkKey (key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new CacheError('CACHE_ERR_BAD_KEY', 'Cache key must be a non-empty string')
  }
}

export function checkTags (tags: readonly string[]): void {
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length === 0) {
      throw new CacheError('CACHE_ERR_BAD_TAG', 'Cache tags must be non-empty strings')
    }
  }
}

export function checkSetOptions (opts: SetOptions): void {
  checkTags(opts.tags)
  if (opts.tokens.length !== opts.tags.length) {
    throw new CacheError('CACHE_ERR_BAD_OPTION', `set: ${opts.tags.length} tags but ${opts.tokens.length} tokens`)
  }
  if (!Number.isFinite(opts.ttlMs) || opts.ttlMs <= 0) {
    throw new CacheError('CACHE_ERR_BAD_TTL', `set: ttlMs must be a positive number, got ${String(opts.ttlMs)}`)
  }
  const stale = opts.staleMs ?? 0
  if (!Number.isFinite(stale) || stale < 0) {
    throw new CacheError('CACHE_ERR_BAD_TTL', `set: staleMs must be a non-negative number, got ${String(stale)}`)
  }
  if (opts.version !== undefined && !Number.isFinite(opts.version)) {
    throw new CacheError('CACHE_ERR_BAD_OPTION', `set: version must be a finite number, got ${String(opts.version)}`)
  }
}

/**
 * Percent-encodes `%` and whitespace only, so a tag can sit in a space-separated list that Lua
 * splits with `%S+`, while everyday tags (`gig:42`) stay readable in key names. Injective because
 * `%` itself is encoded.
 */
export function encodeTag (tag: string): string {
  return tag.replace(/[%\s]/gu, (c) => encodeURIComponent(c))
}

export function decodeTag (encoded: string): string {
  return encoded.replace(/(?:%[0-9A-F]{2})+/g, (s) => decodeURIComponent(s))
}

/** A Redis glob (`*`, `?`, `[…]`, `[^…]`, `\x`) as an anchored RegExp, for stores without SCAN. */
export function globToRegExp (glob: string): RegExp {
  let re = '^'
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*') re += '[\\s\\S]*'
    else if (c === '?') re += '[\\s\\S]'
    else if (c === '\\' && i + 1 < glob.length) re += escapeRegExp(glob[++i] as string)
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2)
      if (close === -1) { re += '\\['; continue }
      let body = glob.slice(i + 1, close)
      let negate = false
      if (body.startsWith('^')) { negate = true; body = body.slice(1) }
      let cls = ''
      for (let j = 0; j < body.length; j++) {
        const ch = body[j] as string
        if (ch === '\\' && j + 1 < body.length) cls += escapeClassChar(body[++j] as string)
        else if (ch === '-' && cls.length > 0 && j + 1 < body.length) cls += '-'
        else cls += escapeClassChar(ch)
      }
      re += (negate ? '[^' : '[') + cls + ']'
      i = close
    } else re += escapeRegExp(c)
  }
  return new RegExp(re + '$')
}

function escapeRegExp (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}

function escapeClassChar (c: string): string {
  return /[\\\]^[-]/.test(c) ? '\\' + c : c
}

/** Escapes a literal so Redis MATCH takes it verbatim (for prefixes put in front of a glob). */
export function escapeGlob (literal: string): string {
  return literal.replace(/[*?[\]\\]/g, '\\$&')
}

import { createHash } from 'node:crypto'
import { CacheError } from './errors.ts'

/**
 * What a missing value renders as. `escapeKeyPart` always encodes `~`, so no request value can
 * render as this marker and collide with "absent".
 */
export const MISSING = '~'

// encodeURIComponent leaves these unencoded; they are glob or quoting characters in Redis patterns
// and shells, and `~` is our missing-value marker.
const EXTRA = /[!'()*~]/g
const EXTRA_CODES: Record<string, string> = {
  '!': '%21', "'": '%27', '(': '%28', ')': '%29', '*': '%2A', '~': '%7E'
}
// A lone surrogate makes encodeURIComponent throw; `%u` + 4 hex never comes out of it otherwise.
const SAFE = /^[\w.-]*$/
const LONE_SURROGATE = /([\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF])/

/**
 * Injective escaping of one key component: the output holds only `A-Z a-z 0-9 - _ .` and `%XX`
 * (or `%uXXXX` for a lone surrogate), so it can never contain a separator, a glob or the missing
 * marker, and distinct inputs give distinct outputs.
 */
export function escapeKeyPart (value: string): string {
  // Already in the output alphabet (ids, slugs): escaping would return it unchanged.
  if (SAFE.test(value)) return value
  if (!LONE_SURROGATE.test(value)) return encodeStrict(value)
  return value.split(LONE_SURROGATE).map((part, i) => i % 2 === 1
    ? '%u' + part.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')
    : encodeStrict(part)).join('')
}

function encodeStrict (value: string): string {
  return encodeURIComponent(value).replace(EXTRA, (c) => EXTRA_CODES[c] ?? c)
}

export type NormalValue = string | string[]

/** Deterministic JSON: object keys sorted, so equal objects always render the same. */
function stableJson (value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(stableJson).join(',') + ']'
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>
    return '{' + Object.keys(obj).sort()
      .filter((k) => obj[k] !== undefined)
      .map((k) => JSON.stringify(k) + ':' + stableJson(obj[k])).join(',') + '}'
  }
  if (typeof value === 'bigint') return JSON.stringify(value.toString())
  return JSON.stringify(value) ?? 'null'
}

function scalar (value: unknown, trim: boolean): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return trim ? value.trim() : value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  return stableJson(value)
}

/**
 * Query value normalisation: strings trimmed, empty and absent values dropped, arrays sorted, a
 * one-element array equal to its element (`?a=x` and `?a[]=x` mean the same thing to us).
 */
export function normaliseQueryValue (value: unknown): NormalValue | undefined {
  if (Array.isArray(value)) {
    const parts = value.map((v) => scalar(v, true)).filter((v): v is string => v !== undefined && v !== '')
    if (parts.length === 0) return undefined
    if (parts.length === 1) return parts[0]
    return parts.sort()
  }
  const s = scalar(value, true)
  return s === undefined || s === '' ? undefined : s
}

/** Allowed (or, without a list, all) query entries, normalised and sorted by name. */
export function normaliseQuery (query: Record<string, unknown> | undefined | null, allowed?: readonly string[]): Array<[string, NormalValue]> {
  if (query === undefined || query === null) return []
  const names = allowed ?? Object.keys(query)
  const out: Array<[string, NormalValue]> = []
  for (const name of [...new Set(names)].sort()) {
    if (!Object.hasOwn(query, name)) continue
    const v = normaliseQueryValue(query[name])
    if (v !== undefined) out.push([name, v])
  }
  return out
}

/** Stable 32-hex-character sha256 of the normalised query: key order and padding do not matter. */
export function hashQuery (query: Record<string, unknown> | undefined | null, allowed?: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(normaliseQuery(query, allowed))).digest('hex').slice(0, 32)
}

function renderNormal (v: NormalValue): string {
  // Escaped parts never contain `,`, so joining stays injective (and differs from a scalar "a,b").
  return Array.isArray(v) ? v.map(escapeKeyPart).join(',') : escapeKeyPart(v)
}

function renderRaw (value: unknown): string {
  if (Array.isArray(value)) {
    return value.map((v) => escapeKeyPart(scalar(v, false) ?? MISSING)).join(',')
  }
  const s = scalar(value, false)
  return s === undefined ? MISSING : escapeKeyPart(s)
}

export interface KeyContext {
  params?: Record<string, unknown> | null
  query?: Record<string, unknown> | null
  user?: { id: string | number } | null
}

export interface CompileOptions {
  /** Query names that may take part in keys; anything else in a query string is ignored. */
  allowedQuery?: readonly string[]
}

export interface CompiledKeyTemplate {
  readonly template: string
  /** The metrics label: the literal head of the template (`gig`, `user_gigs`, `stats:gigs:daily`). */
  readonly pattern: string
  readonly placeholders: string[]
  readonly usesUser: boolean
  readonly usesQuery: boolean
  render (ctx: KeyContext): string
}

type Part = (ctx: KeyContext) => string

// Literal text is ours (from the catalog), but it still must not smuggle globs or whitespace in.
const BAD_LITERAL = /[\s*?[\]\\{}]/
const NAME = /^[\w$*-]+$/

function templateError (template: string, why: string): CacheError {
  return new CacheError('CACHE_ERR_BAD_TEMPLATE', `Bad cache key template ${JSON.stringify(template)}: ${why}`)
}

/**
 * Compiles `'gig:{params.id}'`-style templates once (at boot), so rendering does no parsing.
 * Placeholders: `params.NAME`, `query.NAME` (allow-listed), `user.id`, `hash` (of the allowed
 * query) and `query` (the allowed query as sorted `name=value&…`).
 */
export function compileKeyTemplate (template: string, opts: CompileOptions = {}): CompiledKeyTemplate {
  if (typeof template !== 'string' || template.length === 0) throw templateError(String(template), 'empty template')
  const allowed = opts.allowedQuery === undefined ? undefined : [...new Set(opts.allowedQuery)].sort()
  const parts: Part[] = []
  const placeholders: string[] = []
  let usesUser = false
  let usesQuery = false
  let firstBrace = -1
  let i = 0
  while (i < template.length) {
    const open = template.indexOf('{', i)
    const literal = template.slice(i, open === -1 ? undefined : open)
    if (literal.length > 0) {
      if (BAD_LITERAL.test(literal)) throw templateError(template, `literal ${JSON.stringify(literal)} holds whitespace, a glob character or a stray brace`)
      parts.push(() => literal)
    }
    if (open === -1) break
    if (firstBrace === -1) firstBrace = open
    const close = template.indexOf('}', open)
    if (close === -1) throw templateError(template, 'unclosed "{"')
    const name = template.slice(open + 1, close)
    if (name.includes('{')) throw templateError(template, 'nested "{"')
    parts.push(compilePlaceholder(template, name, allowed))
    placeholders.push(name)
    if (name.startsWith('user.')) usesUser = true
    if (name === 'hash' || name === 'query' || name.startsWith('query.')) usesQuery = true
    i = close + 1
  }

  let pattern = firstBrace === -1 ? template : template.slice(0, firstBrace)
  pattern = pattern.replace(/:+$/, '')
  if (pattern.length === 0) throw templateError(template, 'it must start with a literal name (the key pattern), e.g. "gig:{params.id}"')

  const render = parts.length === 1 && placeholders.length === 0
    ? () => template
    : (ctx: KeyContext) => {
        let out = ''
        for (const part of parts) out += part(ctx)
        return out
      }
  return { template, pattern, placeholders, usesUser, usesQuery, render }
}

function compilePlaceholder (template: string, name: string, allowed: string[] | undefined): Part {
  if (name === 'hash' || name === 'query') {
    if (allowed === undefined || allowed.length === 0) {
      throw new CacheError('CACHE_ERR_QUERY_NOT_ALLOWED', `Cache key template ${JSON.stringify(template)} uses {${name}} but no allowedQuery names were given`)
    }
    if (name === 'hash') return (ctx) => hashQuery(ctx.query, allowed)
    return (ctx) => normaliseQuery(ctx.query, allowed)
      .map(([n, v]) => escapeKeyPart(n) + '=' + renderNormal(v)).join('&')
  }
  const dot = name.indexOf('.')
  const ns = dot === -1 ? name : name.slice(0, dot)
  const field = dot === -1 ? '' : name.slice(dot + 1)
  if (ns === 'params') {
    if (!NAME.test(field)) throw templateError(template, `bad placeholder {${name}}`)
    return (ctx) => renderRaw(ctx.params?.[field])
  }
  if (ns === 'query') {
    if (field === '') throw templateError(template, `bad placeholder {${name}}`)
    if (allowed === undefined || !allowed.includes(field)) {
      throw new CacheError('CACHE_ERR_QUERY_NOT_ALLOWED', `Cache key template ${JSON.stringify(template)}: placeholder {${name}} names a query parameter that is not in allowedQuery`)
    }
    return (ctx) => {
      const q = ctx.query
      const v = q !== undefined && q !== null && Object.hasOwn(q, field) ? normaliseQueryValue(q[field]) : undefined
      return v === undefined ? MISSING : renderNormal(v)
    }
  }
  if (ns === 'user') {
    if (field !== 'id') throw templateError(template, `bad placeholder {${name}}: only {user.id} is supported`)
    return (ctx) => {
      const id = ctx.user?.id
      return id === undefined || id === null ? MISSING : escapeKeyPart(String(id))
    }
  }
  throw templateError(template, `unknown placeholder {${name}} (use params.NAME, query.NAME, user.id, hash or query)`)
}

/** Label of a rendered key for metrics: its text before the first `:` (never an id). */
export function patternOfKey (key: string): string {
  const colon = key.indexOf(':')
  return colon === -1 ? key : key.slice(0, colon)
}

import type { Redis } from 'ioredis'
import { systemClock, type Clock } from './clock.ts'
import { CacheError } from './errors.ts'
import { checkKey, checkSetOptions, checkTags, decodeTag, encodeTag, escapeGlob } from './store.ts'
import type { CacheEntry, SetOptions, Store } from './store.ts'

export interface RedisStoreOptions {
  /** An existing ioredis client; the store never opens or closes connections. */
  client: Redis
  /** Namespace of every key: entries at `${prefix}:${key}`, tags at `${prefix}:tag:${tag}`. */
  prefix: string
  /** Source of storedAt/freshUntil (ms epoch). Physical expiry is Redis's own PEXPIRE. */
  clock?: Clock
  /**
   * TTL of tag keys, refreshed whenever a tag is read for a fill or written. Longer than any entry's
   * (the longest class is 24 h); an expired tag only turns its entries into misses.
   */
  tagTtlMs?: number
}

const DEFAULT_TAG_TTL_MS = (2 * 86400 + 3600) * 1000
const SCAN_COUNT = 500

// Tokens are TIME (s.µs) plus a per-prefix counter: unique even if the counter key is lost, so an
// expired-and-recreated tag never matches entries stored under its previous life.
const LUA_TOKEN = `
local function newToken(seqKey, ttl)
  local t = redis.call('TIME')
  local n = redis.call('INCR', seqKey)
  redis.call('PEXPIRE', seqKey, ttl)
  return t[1] .. '.' .. t[2] .. '.' .. n
end
`

// t = "tag1 token1 tag2 token2 …" with tags encoded (encodeTag) so they hold no whitespace. The tag
// keys are derived here from the entry itself, which is why get is a single round trip.
const LUA_VALID = `
local function valid(t, base)
  if not t or t == '' then return true end
  local keys, toks = {}, {}
  for tag, tok in string.gmatch(t, '(%S+) (%S+)') do
    keys[#keys + 1] = base .. tag
    toks[#toks + 1] = tok
  end
  if #keys == 0 then return true end
  local cur = redis.call('MGET', unpack(keys))
  for i = 1, #toks do
    if cur[i] ~= toks[i] then return false end
  end
  return true
end
`

// An entry is one string (see encodeEntry): `storedAt freshUntil staleUntil version metaLength\n`,
// then t, `\n`, meta, value. Only the header and t hold no newline, so Lua finds t with two finds
// and a hit goes back as the stored string itself: one bulk reply the caller slices.
// pcall: a key of another type (a hash written by an older version of this store) reads as no
// entry instead of failing every read of it (which would open the circuit); a set replaces it.
const LUA_ENTRY = `
local function entryTags(e)
  if type(e) ~= 'string' then return nil end
  local a = string.find(e, '\\n', 1, true)
  if not a then return nil end
  local b = string.find(e, '\\n', a + 1, true)
  if not b then return nil end
  return string.sub(e, a + 1, b - 1)
end
`

// KEYS[1] entry; ARGV[1] tag key base
const LUA_GET = LUA_VALID + LUA_ENTRY + `
local e = redis.pcall('GET', KEYS[1])
local t = entryTags(e)
if not t or not valid(t, ARGV[1]) then return false end
return e
`

// KEYS[1] entry, KEYS[2..] tag keys; ARGV: 1 base, 2 entry, 3 storedAt, 4 version or '', 5 px,
// 6 tag ttl, 7.. tokens in KEYS order
const LUA_SET = LUA_VALID + LUA_ENTRY + `
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[5 + i] then return 0 end
end
local old = redis.pcall('GET', KEYS[1])
local oldTags = entryTags(old)
if oldTags then
  local f, n = string.match(old, '^%S+ (%S+) %S+ (%S*) ')
  if n and n ~= '' then
    if ARGV[4] ~= '' then
      if tonumber(n) >= tonumber(ARGV[4]) then return 0 end
    elseif tonumber(f) > tonumber(ARGV[3]) and valid(oldTags, ARGV[1]) then
      return 0
    end
  end
end
local px = tonumber(ARGV[5])
redis.call('SET', KEYS[1], ARGV[2], 'PX', px)
local want = math.max(tonumber(ARGV[6]), px + 60000)
for i = 2, #KEYS do
  if redis.call('PTTL', KEYS[i]) < want then redis.call('PEXPIRE', KEYS[i], want) end
end
return 1
`

// KEYS[1] counter, KEYS[2..] tag keys; ARGV[1] tag ttl
const LUA_TAG_TOKENS = LUA_TOKEN + `
local ttl = tonumber(ARGV[1])
local out = {}
for i = 2, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    redis.call('PEXPIRE', KEYS[i], ttl)
  else
    v = newToken(KEYS[1], ttl)
    redis.call('SET', KEYS[i], v, 'PX', ttl)
  end
  out[#out + 1] = v
end
return out
`

// Publishes a change on the bus channel and lists the bus members whose lease is still running,
// with the milliseconds it has left (Redis time). Both happen in the same script as the change, so
// no member can register between the change and the list without also receiving the message.
const LUA_ANNOUNCE = `
local function announce(membersKey, channel, message)
  redis.call('PUBLISH', channel, message)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local m = redis.call('ZRANGEBYSCORE', membersKey, '(' .. now, '+inf', 'WITHSCORES')
  local out = {}
  for i = 1, #m, 2 do
    out[#out + 1] = m[i]
    out[#out + 1] = math.ceil(tonumber(m[i + 1]) - now)
  end
  return out
end
`

// KEYS[1] counter, KEYS[2] members, KEYS[3..] tag keys; ARGV[1] tag ttl, ARGV[2] channel, ARGV[3] message
const LUA_INVALIDATE_ANNOUNCE = LUA_TOKEN + LUA_ANNOUNCE + `
local ttl = tonumber(ARGV[1])
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], newToken(KEYS[1], ttl), 'PX', ttl)
end
return announce(KEYS[2], ARGV[2], ARGV[3])
`

// KEYS[1] members, KEYS[2..] entry keys (may be none); ARGV[1] channel, ARGV[2] message
const LUA_DELETE_ANNOUNCE = LUA_ANNOUNCE + `
local n = 0
if #KEYS > 1 then n = redis.call('UNLINK', unpack(KEYS, 2)) end
local out = announce(KEYS[1], ARGV[1], ARGV[2])
table.insert(out, 1, n)
return out
`

// A bus member renews its lease only while Redis still sees its subscriber connection (someone is
// subscribed to its private ack channel), and the renewal publishes a marker to that channel: the
// member counts the lease from when the marker arrives, i.e. after every earlier message.
// KEYS[1] members; ARGV[1] id, ARGV[2] ack channel, ARGV[3] lease ms, ARGV[4] marker.
// Returns { renewed 0|1, live members other than this one }.
const LUA_RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local subs = redis.call('PUBSUB', 'NUMSUB', ARGV[2])
local ok = 0
if tonumber(subs[2]) > 0 then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PUBLISH', ARGV[2], ARGV[4])
  ok = 1
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], lease * 20)
local others = redis.call('ZCARD', KEYS[1]) - ok
return { ok, others }
`

const LUA_INVALIDATE = LUA_TOKEN + `
local ttl = tonumber(ARGV[1])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], newToken(KEYS[1], ttl), 'PX', ttl)
end
return #KEYS - 1
`

// Versioned names: a changed script under a new name never meets an old registration.
const CMD = {
  get: 'cacheCoreGetV2',
  set: 'cacheCoreSetV2',
  tags: 'cacheCoreTagTokensV1',
  invalidate: 'cacheCoreInvalidateV1',
  invalidateAnnounce: 'cacheCoreInvalidateAnnounceV1',
  deleteAnnounce: 'cacheCoreDeleteAnnounceV1',
  renew: 'cacheCoreBusRenewV1'
} as const

interface ScriptedClient {
  [CMD.get]: (numKeys: number, key: string, base: string) => Promise<string | null>
  [CMD.set]: (numKeys: number, ...args: string[]) => Promise<number>
  [CMD.tags]: (numKeys: number, ...args: string[]) => Promise<string[]>
  [CMD.invalidate]: (numKeys: number, ...args: string[]) => Promise<number>
  [CMD.invalidateAnnounce]: (numKeys: number, ...args: string[]) => Promise<Array<string | number>>
  [CMD.deleteAnnounce]: (numKeys: number, ...args: string[]) => Promise<Array<string | number>>
  [CMD.renew]: (numKeys: number, ...args: string[]) => Promise<[number, number]>
}

const registered = new WeakSet<object>()

/**
 * Registers the scripts once per client. ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT
 * (after SCRIPT FLUSH, a restart or a failover), so scripts survive a server that forgot them.
 */
function registerScripts (client: Redis): ScriptedClient {
  if (!registered.has(client)) {
    client.defineCommand(CMD.get, { lua: LUA_GET, readOnly: true })
    client.defineCommand(CMD.set, { lua: LUA_SET })
    client.defineCommand(CMD.tags, { lua: LUA_TAG_TOKENS })
    client.defineCommand(CMD.invalidate, { lua: LUA_INVALIDATE })
    registered.add(client)
  }
  return client as unknown as ScriptedClient
}

const registeredBus = new WeakSet<object>()

/** The invalidation bus's scripts, registered on first use: a store without a bus never needs them. */
function registerBusScripts (client: Redis): ScriptedClient {
  if (!registeredBus.has(client)) {
    client.defineCommand(CMD.invalidateAnnounce, { lua: LUA_INVALIDATE_ANNOUNCE })
    client.defineCommand(CMD.deleteAnnounce, { lua: LUA_DELETE_ANNOUNCE })
    client.defineCommand(CMD.renew, { lua: LUA_RENEW })
    registeredBus.add(client)
  }
  return client as unknown as ScriptedClient
}

/** A change to publish on the invalidation bus, in the same script that makes it (see bus.ts). */
export interface Announcement {
  channel: string
  message: string
}

/** A bus member whose lease was running when a change was published, and how long it has left. */
export interface LiveMember {
  id: string
  remainingMs: number
}

function liveMembers (flat: Array<string | number>, from = 0): LiveMember[] {
  const out: LiveMember[] = []
  for (let i = from; i + 1 < flat.length; i += 2) out.push({ id: String(flat[i]), remainingMs: Number(flat[i + 1]) })
  return out
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const
  readonly prefix: string
  readonly client: Redis
  readonly #scripts: ScriptedClient
  readonly #clock: Clock
  readonly #tagTtlMs: number
  /** ioredis adds its own keyPrefix to KEYS, but not to keys Lua derives or to SCAN results. */
  readonly #clientPrefix: string
  /** Where Lua finds tag keys: `${clientPrefix}${prefix}:tag:` (built once, sent with every get). */
  readonly #tagBase: string
  readonly #seqKey: string
  readonly #membersKey: string

  constructor (opts: RedisStoreOptions) {
    if (opts.client === undefined || opts.client === null || typeof opts.client.defineCommand !== 'function') {
      throw new CacheError('CACHE_ERR_BAD_OPTION', 'RedisStore: client must be an ioredis client')
    }
    if (typeof opts.prefix !== 'string' || opts.prefix.length === 0 || /\s/.test(opts.prefix)) {
      throw new CacheError('CACHE_ERR_BAD_OPTION', 'RedisStore: prefix must be a non-empty string without whitespace')
    }
    const tagTtlMs = opts.tagTtlMs ?? DEFAULT_TAG_TTL_MS
    if (!Number.isSafeInteger(tagTtlMs) || tagTtlMs <= 0) {
      throw new CacheError('CACHE_ERR_BAD_OPTION', `RedisStore: tagTtlMs must be a positive integer, got ${String(tagTtlMs)}`)
    }
    this.client = opts.client
    this.prefix = opts.prefix
    this.#clock = opts.clock ?? systemClock
    this.#tagTtlMs = tagTtlMs
    this.#clientPrefix = opts.client.options.keyPrefix ?? ''
    this.#tagBase = `${this.#clientPrefix}${this.prefix}:tag:`
    // `%s` cannot be an encoded tag (encodeTag only emits `%` + two hex digits).
    this.#seqKey = `${this.prefix}:tag:%seq`
    this.#membersKey = `${this.prefix}:tag:%members`
    this.#scripts = registerScripts(opts.client)
  }

  /** Sorted set of bus members by lease end (Redis time, ms); `%m` cannot be an encoded tag. */
  get membersKey (): string {
    return this.#membersKey
  }

  entryKey (key: string): string {
    checkKey(key)
    // The tag namespace lives under `${prefix}:tag:`; an entry there could pose as a tag.
    if (key.startsWith('tag:')) {
      throw new CacheError('CACHE_ERR_BAD_KEY', `Cache key ${JSON.stringify(key)} is reserved: keys may not start with "tag:"`)
    }
    return `${this.prefix}:${key}`
  }

  tagKey (tag: string): string {
    return `${this.prefix}:tag:${encodeTag(tag)}`
  }

  async tagTokens (tags: string[]): Promise<string[]> {
    checkTags(tags)
    if (tags.length === 0) return []
    const keys = tags.map((t) => this.tagKey(t))
    return await this.#scripts[CMD.tags](keys.length + 1, this.#seqKey, ...keys, String(this.#tagTtlMs))
  }

  async get (key: string): Promise<CacheEntry | undefined> {
    const reply = await this.#scripts[CMD.get](1, this.entryKey(key), this.#tagBase)
    return reply === null ? undefined : decodeEntry(reply)
  }

  async set (key: string, value: string, meta: string, opts: SetOptions): Promise<boolean> {
    checkSetOptions(opts)
    const entryKey = this.entryKey(key)
    const storedAt = this.#clock.now()
    const ttlMs = Math.ceil(opts.ttlMs)
    const staleMs = Math.ceil(opts.staleMs ?? 0)
    const freshUntil = storedAt + ttlMs
    let t = ''
    for (let i = 0; i < opts.tags.length; i++) {
      const token = opts.tokens[i] as string
      // A token holding whitespace cannot be one of ours, so it can never be current.
      if (token.length === 0 || /\s/.test(token)) return false
      t += (i === 0 ? '' : ' ') + encodeTag(opts.tags[i] as string) + ' ' + token
    }
    const keys = opts.tags.map((tag) => this.tagKey(tag))
    const version = opts.version === undefined ? '' : String(opts.version)
    const entry = encodeEntry(storedAt, freshUntil, freshUntil + staleMs, version, t, meta, value)
    const stored = await this.#scripts[CMD.set](
      keys.length + 1, entryKey, ...keys,
      this.#tagBase, entry, String(storedAt), version, String(ttlMs + staleMs),
      String(this.#tagTtlMs), ...opts.tokens
    )
    return stored === 1
  }

  async delete (keys: string[]): Promise<number> {
    if (keys.length === 0) return 0
    return await this.client.unlink(...keys.map((k) => this.entryKey(k)))
  }

  async invalidateTags (tags: string[]): Promise<void> {
    checkTags(tags)
    if (tags.length === 0) return
    const keys = [...new Set(tags)].map((t) => this.tagKey(t))
    await this.#scripts[CMD.invalidate](keys.length + 1, this.#seqKey, ...keys, String(this.#tagTtlMs))
  }

  /** `invalidateTags`, publishing `announce` in the same script; returns the members to wait for. */
  async invalidateTagsAnnounced (tags: string[], announce: Announcement): Promise<LiveMember[]> {
    checkTags(tags)
    const keys = [...new Set(tags)].map((t) => this.tagKey(t))
    const flat = await registerBusScripts(this.client)[CMD.invalidateAnnounce](keys.length + 2, this.#seqKey, this.#membersKey, ...keys,
      String(this.#tagTtlMs), announce.channel, announce.message)
    return liveMembers(flat)
  }

  /** `delete` (possibly of no key), publishing `announce` in the same script. */
  async deleteAnnounced (keys: string[], announce: Announcement): Promise<{ deleted: number, members: LiveMember[] }> {
    const entryKeys = keys.map((k) => this.entryKey(k))
    const flat = await registerBusScripts(this.client)[CMD.deleteAnnounce](entryKeys.length + 1, this.#membersKey, ...entryKeys,
      announce.channel, announce.message)
    return { deleted: Number(flat[0]), members: liveMembers(flat, 1) }
  }

  /**
   * Renews a bus member's lease, only while a connection is subscribed to `ackChannel`, and then
   * publishes `marker` there. Returns whether it was renewed and how many other members hold a lease.
   */
  async renewMember (id: string, ackChannel: string, leaseMs: number, marker: string): Promise<{ renewed: boolean, others: number }> {
    const [ok, others] = await registerBusScripts(this.client)[CMD.renew](1, this.#membersKey, id, ackChannel, String(leaseMs), marker)
    return { renewed: ok === 1, others: Number(others) }
  }

  /** Withdraws a member (clean shutdown), so writers stop waiting for it at once. */
  async removeMember (id: string): Promise<void> {
    await this.client.zrem(this.#membersKey, id)
  }

  async deletePattern (glob: string): Promise<number> {
    if (typeof glob !== 'string' || glob.length === 0) {
      throw new CacheError('CACHE_ERR_BAD_KEY', 'deletePattern: glob must be a non-empty string')
    }
    const cp = this.#clientPrefix
    const match = escapeGlob(`${cp}${this.prefix}:`) + glob
    const tagSpace = `${cp}${this.prefix}:tag:`
    let cursor = '0'
    let deleted = 0
    do {
      const [next, found] = await this.client.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT)
      cursor = next
      // SCAN returns full names; UNLINK would add the client's keyPrefix a second time.
      const mine = found.filter((k) => !k.startsWith(tagSpace)).map((k) => k.slice(cp.length))
      if (mine.length > 0) deleted += await this.client.unlink(...mine)
    } while (cursor !== '0')
    return deleted
  }
}

/**
 * The stored form of an entry: `storedAt freshUntil staleUntil version metaLength\n` + t + `\n` +
 * meta + value. t (`tag token tag token …`, tags encoded) holds no newline, so the script finds it
 * without knowing byte lengths; metaLength counts UTF-16 units, so only JS, which slices the decoded
 * reply, ever uses it. Numbers are JS `String(n)`: no spaces, and Lua's tonumber reads them.
 */
function encodeEntry (storedAt: number, freshUntil: number, staleUntil: number, version: string, t: string, meta: string, value: string): string {
  return `${storedAt} ${freshUntil} ${staleUntil} ${version} ${meta.length}\n${t}\n${meta}${value}`
}

/** The entry a hit returned: a few indexOf and slices over one string, no per-field reply array. */
function decodeEntry (e: string): CacheEntry {
  const s = e.indexOf(' ')
  const f = e.indexOf(' ', s + 1)
  const u = e.indexOf(' ', f + 1)
  const n = e.indexOf(' ', u + 1)
  const header = e.indexOf('\n', n + 1)
  const tagsEnd = e.indexOf('\n', header + 1)
  const valueAt = tagsEnd + 1 + readNumber(e, n + 1, header)
  const entry: CacheEntry = {
    value: e.slice(valueAt),
    meta: e.slice(tagsEnd + 1, valueAt),
    storedAt: readNumber(e, 0, s),
    freshUntil: readNumber(e, s + 1, f),
    staleUntil: readNumber(e, f + 1, u),
    tags: tagsEnd === header + 1 ? [] : decodeTagList(e.slice(header + 1, tagsEnd))
  }
  if (n > u + 1) entry.version = readNumber(e, u + 1, n)
  return entry
}

/**
 * `Number(e.slice(from, to))`, reading plain digits in place: five Number(slice) calls were most of
 * decoding a hit. Anything else (a sign, a fraction, an exponent, more digits than are always
 * exact) goes to Number.
 */
function readNumber (e: string, from: number, to: number): number {
  if (to - from > 15) return Number(e.slice(from, to))
  let n = 0
  for (let i = from; i < to; i++) {
    const d = e.charCodeAt(i) - 48
    if (d < 0 || d > 9) return Number(e.slice(from, to))
    n = n * 10 + d
  }
  return n
}

/** The tags of `tag token tag token …`; only a tag holding `%` needs decoding. */
function decodeTagList (t: string): string[] {
  const tags: string[] = []
  let at = 0
  while (at < t.length) {
    const end = t.indexOf(' ', at)
    if (end === -1) break
    const tag = t.slice(at, end)
    tags.push(tag.includes('%') ? decodeTag(tag) : tag)
    const next = t.indexOf(' ', end + 1)
    if (next === -1) break
    at = next + 1
  }
  return tags
}

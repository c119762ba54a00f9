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

// KEYS[1] entry; ARGV[1] tag key base
const LUA_GET = LUA_VALID + `
local f = redis.call('HMGET', KEYS[1], 'v', 'm', 's', 'f', 'u', 'n', 't')
if not f[1] then return false end
if not valid(f[7], ARGV[1]) then return false end
return f
`

// KEYS[1] entry, KEYS[2..] tag keys; ARGV: 1 base, 2 value, 3 meta, 4 storedAt, 5 freshUntil,
// 6 staleUntil, 7 version or '', 8 px, 9 t, 10 tag ttl, 11.. tokens in KEYS order
const LUA_SET = LUA_VALID + `
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[9 + i] then return 0 end
end
local old = redis.call('HMGET', KEYS[1], 'n', 't', 'f')
if old[1] then
  if ARGV[7] ~= '' then
    if tonumber(old[1]) >= tonumber(ARGV[7]) then return 0 end
  elseif tonumber(old[3]) > tonumber(ARGV[4]) and valid(old[2], ARGV[1]) then
    return 0
  end
end
redis.call('DEL', KEYS[1])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'm', ARGV[3], 's', ARGV[4], 'f', ARGV[5], 'u', ARGV[6], 't', ARGV[9], 'n', ARGV[7])
else
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'm', ARGV[3], 's', ARGV[4], 'f', ARGV[5], 'u', ARGV[6], 't', ARGV[9])
end
local px = tonumber(ARGV[8])
redis.call('PEXPIRE', KEYS[1], px)
local want = math.max(tonumber(ARGV[10]), px + 60000)
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
  get: 'cacheCoreGetV1',
  set: 'cacheCoreSetV1',
  tags: 'cacheCoreTagTokensV1',
  invalidate: 'cacheCoreInvalidateV1',
  invalidateAnnounce: 'cacheCoreInvalidateAnnounceV1',
  deleteAnnounce: 'cacheCoreDeleteAnnounceV1',
  renew: 'cacheCoreBusRenewV1'
} as const

type EntryReply = [string | null, string | null, string | null, string | null, string | null, string | null, string | null] | null

interface ScriptedClient {
  [CMD.get]: (numKeys: number, key: string, base: string) => Promise<EntryReply>
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

  get #tagBase (): string {
    return `${this.#clientPrefix}${this.prefix}:tag:`
  }

  async tagTokens (tags: string[]): Promise<string[]> {
    checkTags(tags)
    if (tags.length === 0) return []
    const keys = tags.map((t) => this.tagKey(t))
    return await this.#scripts[CMD.tags](keys.length + 1, this.#seqKey, ...keys, String(this.#tagTtlMs))
  }

  async get (key: string): Promise<CacheEntry | undefined> {
    const reply = await this.#scripts[CMD.get](1, this.entryKey(key), this.#tagBase)
    if (reply === null || reply[0] === null) return undefined
    const [value, meta, s, f, u, n, t] = reply
    const entry: CacheEntry = {
      value,
      meta: meta ?? '',
      storedAt: Number(s),
      freshUntil: Number(f),
      staleUntil: Number(u),
      tags: decodeTagList(t)
    }
    if (n !== null && n !== '') entry.version = Number(n)
    return entry
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
    const stored = await this.#scripts[CMD.set](
      keys.length + 1, entryKey, ...keys,
      this.#tagBase, value, meta, String(storedAt), String(freshUntil), String(freshUntil + staleMs),
      opts.version === undefined ? '' : String(opts.version), String(ttlMs + staleMs), t,
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

function decodeTagList (t: string | null): string[] {
  if (t === null || t === '') return []
  const parts = t.split(' ')
  const tags: string[] = []
  for (let i = 0; i < parts.length; i += 2) tags.push(decodeTag(parts[i] as string))
  return tags
}

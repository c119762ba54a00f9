import t from 'tap'
import { ManualClock, systemClock } from '../../src/cache/clock.ts'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import { RedisStore } from '../../src/cache/redis-store.ts'
import { encodeTag } from '../../src/cache/store.ts'
import { TieredStore } from '../../src/cache/tiered-store.ts'
import { connect, deleteOwnKeys, scanKeys, sleep, uniquePrefix } from './helpers.ts'
import { runStoreContract, type StoreHarness } from './store-contract.ts'

// Redis cases use short real TTLs: Redis expires keys on its own clock, which a test cannot fake.
const REDIS_TTL_MS = 200

const plain = connect()
const prefixed = connect({ keyPrefix: 'kp:' })
t.teardown(async () => {
  await Promise.all([plain.quit(), prefixed.quit()])
})

async function pttls (keys: string[]): Promise<Array<{ key: string, pttl: number }>> {
  return await Promise.all(keys.map(async (key) => ({ key, pttl: await plain.pttl(key) })))
}

function memoryHarness (): StoreHarness {
  const clock = new ManualClock()
  const store = new MemoryStore({ maxBytes: 1 << 20, clock })
  return {
    store,
    shortTtlMs: 1000,
    advance: async (ms) => { clock.advance(ms) },
    dropTag: async (tag) => { store.dropTag(tag) },
    close: async () => { await store.close() }
  }
}

function redisHarness (client = plain): StoreHarness & { store: RedisStore } {
  const prefix = uniquePrefix('redis')
  const full = (client.options.keyPrefix ?? '') + prefix + ':'
  const store = new RedisStore({ client, prefix })
  return {
    store,
    shortTtlMs: REDIS_TTL_MS,
    advance: async (ms) => { await sleep(ms) },
    dropTag: async (tag) => { await client.del(store.tagKey(tag)) },
    redisKeys: async () => await pttls(await scanKeys(plain, full)),
    close: async () => { await deleteOwnKeys(plain, full) }
  }
}

function tieredHarness (): StoreHarness & { store: TieredStore } {
  const l2h = redisHarness()
  // Real time throughout: L1 copies L2's timestamps, so both tiers must read the same clock.
  const l1 = new MemoryStore({ maxBytes: 1 << 20, clock: systemClock })
  const store = new TieredStore({ l1, l2: l2h.store })
  return {
    ...l2h,
    store,
    dropTag: async (tag) => { l1.dropTag(tag); await l2h.dropTag(tag) }
  }
}

await runStoreContract(t, 'memory', async () => memoryHarness())
await runStoreContract(t, 'redis', async () => redisHarness())
await runStoreContract(t, 'redis (client with keyPrefix)', async () => redisHarness(prefixed))
await runStoreContract(t, 'tiered', async () => tieredHarness())

t.test('redis: keys live under the prefix; tags under prefix:tag:', async (t) => {
  const h = redisHarness()
  t.teardown(h.close)
  const s = h.store
  const tokens = await s.tagTokens(['gig:1', 'a b'])
  await s.set('gig:1', 'v', '', { ttlMs: 10_000, tags: ['gig:1', 'a b'], tokens })
  const keys = (await h.redisKeys?.() ?? []).map((k) => k.key.slice(s.prefix.length + 1)).sort()
  t.same(keys, ['gig:1', 'tag:%seq', 'tag:a%20b', 'tag:gig:1'])
  t.equal(s.tagKey('a b'), `${s.prefix}:tag:${encodeTag('a b')}`)
})

t.test('redis: an entry key may not enter the tag namespace', async (t) => {
  const h = redisHarness()
  t.teardown(h.close)
  await t.rejects(h.store.get('tag:gig:1'), { code: 'CACHE_ERR_BAD_KEY' })
})

t.test('redis: scripts are registered once per client', async (t) => {
  const client = connect()
  t.teardown(() => client.quit())
  let defines = 0
  const original = client.defineCommand.bind(client)
  client.defineCommand = (name, def) => { defines++; original(name, def) }
  const a = new RedisStore({ client, prefix: uniquePrefix('reg') })
  const b = new RedisStore({ client, prefix: uniquePrefix('reg') })
  t.equal(defines, 4, 'four scripts, defined by the first store only')
  const [ta] = await a.tagTokens(['x'])
  const [tb] = await b.tagTokens(['x'])
  t.ok(ta !== undefined && tb !== undefined && ta !== tb, 'prefixes do not share tags')
  await deleteOwnKeys(client, a.prefix + ':')
  await deleteOwnKeys(client, b.prefix + ':')
})

t.test('redis: deletePattern escapes the prefix, so glob characters in it are literal', async (t) => {
  const base = uniquePrefix('glob')
  const a = new RedisStore({ client: plain, prefix: `${base}:[ab]` })
  const b = new RedisStore({ client: plain, prefix: `${base}:a` })
  t.teardown(() => deleteOwnKeys(plain, base))
  const ta = await a.tagTokens(['t'])
  const tb = await b.tagTokens(['t'])
  await a.set('k', 'v', '', { ttlMs: 10_000, tags: ['t'], tokens: ta })
  await b.set('k', 'v', '', { ttlMs: 10_000, tags: ['t'], tokens: tb })
  t.equal(await a.deletePattern('*'), 1)
  t.equal((await b.get('k'))?.value, 'v', 'the other prefix is untouched')
})

t.test('tiered: L1 serves what L2 gave it, and copies its tags', async (t) => {
  const h = tieredHarness()
  t.teardown(h.close)
  const { store } = h
  const tokens = await store.tagTokens(['gig:1'])
  t.ok(await store.set('gig:1', 'v', 'm', { ttlMs: 10_000, tags: ['gig:1'], tokens }))
  await plain.del(store.l2.entryKey('gig:1'))
  t.equal((await store.get('gig:1'))?.value, 'v', 'served from L1 after L2 lost it')

  const other = new TieredStore({ l1: new MemoryStore({ maxBytes: 1 << 20 }), l2: store.l2 })
  await store.l2.set('gig:2', 'w', '', { ttlMs: 10_000, tags: ['gig:2'], tokens: await store.l2.tagTokens(['gig:2']) })
  t.equal((await other.get('gig:2'))?.value, 'w', 'L2 hit')
  t.same(other.l1.getSync('gig:2')?.tags, ['gig:2'], 'L1 filled with the same tags')
  await other.l1.invalidateTags(['gig:2'])
  t.equal(other.l1.getSync('gig:2'), undefined, 'and L1 invalidation applies to the copy')
})

t.test('tiered: an invalidation racing the L2 read keeps the L1 copy from appearing', async (t) => {
  const h = tieredHarness()
  t.teardown(h.close)
  const { store } = h
  const tokens = await store.tagTokens(['gig:1'])
  t.ok(await store.set('gig:1', 'old', '', { ttlMs: 10_000, tags: ['gig:1'], tokens }))
  store.l1.clear()

  // The L2 read returns the old entry, and the invalidation lands before the L1 fill.
  const realGet = store.l2.get.bind(store.l2)
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  let reached!: () => void
  const atGate = new Promise<void>((resolve) => { reached = resolve })
  store.l2.get = async (key) => {
    const e = await realGet(key)
    reached()
    await gate
    return e
  }
  const reading = store.get('gig:1')
  await atGate
  await store.invalidateTags(['gig:1'])
  release()
  t.equal((await reading)?.value, 'old', 'the racing reader itself got what L2 had')
  store.l2.get = realGet
  t.equal(store.l1.getSync('gig:1'), undefined, 'L1 was not filled')
  t.equal(await store.get('gig:1'), undefined, 'later reads miss')
})

t.test('tiered: another process\'s invalidation reaches L1 through onRemoteInvalidate', async (t) => {
  const h = tieredHarness()
  t.teardown(h.close)
  const a = h.store
  const b = new TieredStore({ l1: new MemoryStore({ maxBytes: 1 << 20 }), l2: a.l2 })
  const tokens = await a.tagTokens(['gig:1'])
  await a.set('gig:1', 'v', '', { ttlMs: 10_000, tags: ['gig:1'], tokens })
  t.equal((await b.get('gig:1'))?.value, 'v', 'B filled its L1')
  await a.invalidateTags(['gig:1'])
  t.equal(await a.get('gig:1'), undefined, 'A misses')
  t.equal((await b.get('gig:1'))?.value, 'v', 'B still serves its L1 copy: the bus is what closes this')
  b.onRemoteInvalidate(['gig:1'])
  t.equal(await b.get('gig:1'), undefined, 'after the remote invalidation B misses too')
})

t.test('tiered: l1MaxTtlMs caps how long L1 keeps a copy', async (t) => {
  const l2h = redisHarness()
  t.teardown(l2h.close)
  const clock = new ManualClock(Date.now())
  const l1 = new MemoryStore({ maxBytes: 1 << 20, clock })
  const store = new TieredStore({ l1, l2: l2h.store, l1MaxTtlMs: 1000 })
  const tokens = await store.tagTokens(['gig:1'])
  await store.set('gig:1', 'v', '', { ttlMs: 60_000, tags: ['gig:1'], tokens })
  const e = l1.getSync('gig:1')
  t.ok(e !== undefined && e.staleUntil - e.storedAt <= 1000, 'L1 copy lives at most 1 s')
  clock.advance(1001)
  t.equal(l1.getSync('gig:1'), undefined)
  t.equal((await store.get('gig:1'))?.value, 'v', 'L2 still has it')
})

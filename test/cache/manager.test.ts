import t from 'tap'
import { ManualClock } from '../../src/cache/clock.ts'
import { CacheManager, type CacheEvent, type CacheManagerOptions } from '../../src/cache/manager.ts'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import type { Store } from '../../src/cache/store.ts'

const TABLE = { entity: 3600, userProfile: 1800, list: 600, search: 300 }

function build (over: Partial<CacheManagerOptions> = {}): { cache: CacheManager, clock: ManualClock, store: MemoryStore, events: CacheEvent[] } {
  const clock = new ManualClock()
  const store = new MemoryStore({ maxBytes: 1 << 20, clock })
  const events: CacheEvent[] = []
  const cache = new CacheManager({
    store,
    clock,
    random: () => 0,
    ttl: {
      table: TABLE,
      entity: (type) => type === 'user' ? 'userProfile' : 'entity',
      list: (key) => key.startsWith('search:') ? 'search' : 'list'
    },
    onEvent: (e) => { events.push(e) },
    ...over
  })
  return { cache, clock, store, events }
}

function counter<T> (value: T): { fn: () => Promise<T>, calls: () => number } {
  let n = 0
  return { fn: async () => { n++; return value }, calls: () => n }
}

t.test('cache-aside: the first read loads and stores, the second is a hit', async (t) => {
  const { cache, events } = build()
  const loader = counter({ id: 42, title: 'Logo design' })
  t.same(await cache.getEntity('gig', 42, loader.fn), { id: 42, title: 'Logo design' })
  t.same(await cache.getEntity('gig', 42, loader.fn), { id: 42, title: 'Logo design' })
  t.equal(loader.calls(), 1)
  t.same(events.map((e) => e.type), ['miss', 'set', 'hit'])
  t.ok(events.every((e) => e.pattern === 'gig'), 'labelled by pattern, never by id')
  t.equal(events[1]?.stored, true)
})

t.test('hits and misses return the same JSON shape', async (t) => {
  const { cache } = build()
  const when = new Date(0)
  const miss = await cache.getEntity('gig', 1, async () => ({ when }))
  const hit = await cache.getEntity('gig', 1, async () => ({ when }))
  t.same(miss, { when: when.toJSON() })
  t.same(hit, miss)
})

t.test('100 concurrent reads of one cold id call the loader once', async (t) => {
  const { cache } = build()
  let calls = 0
  const loader = async (): Promise<{ id: number }> => {
    calls++
    await new Promise((resolve) => setTimeout(resolve, 10))
    return { id: 7 }
  }
  const results = await Promise.all(Array.from({ length: 100 }, async () => await cache.getEntity('gig', 7, loader)))
  t.equal(calls, 1)
  t.ok(results.every((r) => r.id === 7))
  t.same(await cache.getEntity('gig', 7, loader), { id: 7 })
  t.equal(calls, 1, 'and then it is cached')
})

t.test('loader errors propagate, are not cached, and release the key', async (t) => {
  const { cache } = build()
  let calls = 0
  const failing = async (): Promise<never> => { calls++; throw new Error('db down') }
  const both = await Promise.allSettled([cache.getEntity('gig', 1, failing), cache.getEntity('gig', 1, failing)])
  t.same(both.map((r) => r.status), ['rejected', 'rejected'])
  t.equal(calls, 1, 'concurrent callers share the failure')
  t.same(await cache.getEntity('gig', 1, async () => ({ ok: true })), { ok: true }, 'next call loads afresh')
})

t.test('null and undefined results are returned but not cached', async (t) => {
  const { cache } = build()
  const nothing = counter(null)
  t.equal(await cache.getEntity('gig', 404, nothing.fn), null)
  t.equal(await cache.getEntity('gig', 404, nothing.fn), null)
  t.equal(nothing.calls(), 2)
  t.equal(await cache.getList('featured_gigs', async () => undefined), undefined)
})

function failingStore (failOn: ReadonlySet<string>, inner: Store): Store {
  const fail = (op: string): void => { if (failOn.has(op)) throw new Error(`redis down (${op})`) }
  return {
    kind: 'redis',
    tagTokens: async (tags) => { fail('tagTokens'); return await inner.tagTokens(tags) },
    get: async (key) => { fail('get'); return await inner.get(key) },
    set: async (key, v, m, o) => { fail('set'); return await inner.set(key, v, m, o) },
    delete: async (keys) => { fail('delete'); return await inner.delete(keys) },
    invalidateTags: async (tags) => { fail('invalidateTags'); await inner.invalidateTags(tags) },
    deletePattern: async (glob) => { fail('deletePattern'); return await inner.deletePattern(glob) }
  }
}

t.test('a failing store never fails a read: the loader result comes back with an error event', async (t) => {
  const inner = new MemoryStore({ maxBytes: 1 << 16 })
  const events: CacheEvent[] = []
  const all = new Set(['get', 'tagTokens', 'set', 'invalidateTags', 'deletePattern'])
  const cache = new CacheManager({ store: failingStore(all, inner), ttl: { table: TABLE }, onEvent: (e) => { events.push(e) } })
  const loader = counter({ id: 1 })
  t.same(await cache.getEntity('gig', 1, loader.fn), { id: 1 })
  t.same(await cache.getList('user_gigs:1', loader.fn), { id: 1 })
  t.equal(loader.calls(), 2)
  const errors = events.filter((e) => e.type === 'error')
  t.same(errors.map((e) => e.op), ['get', 'get'], 'one error per read; no second call to a store that just failed')
  t.match(errors[0], { pattern: 'gig', key: 'gig:1', error: Error })
  t.equal(await cache.setEntity('gig', 1, { id: 1 }), false, 'a failed write-through reports false')
  await t.rejects(cache.invalidateEntity('gig', 1), /redis down/, 'a failed invalidation throws, so it can be retried')
  await t.rejects(cache.invalidatePattern('gig:*'), /redis down/)
})

t.test('a store failing only on set still returns the loaded value', async (t) => {
  const events: CacheEvent[] = []
  const cache = new CacheManager({
    store: failingStore(new Set(['set']), new MemoryStore({ maxBytes: 1 << 16 })),
    ttl: { table: TABLE },
    onEvent: (e) => { events.push(e) }
  })
  t.same(await cache.getEntity('gig', 1, async () => ({ id: 1 })), { id: 1 })
  t.same(events.map((e) => `${e.type}${e.op === undefined ? '' : ':' + e.op}`), ['miss', 'error:set'])
})

t.test('TTL class per entity type is applied (with jitter off)', async (t) => {
  const { cache, clock } = build()
  const users = counter({ name: 'ann' })
  const gigs = counter({ title: 'gig' })
  await cache.getEntity('user', 1, users.fn)
  await cache.getEntity('gig', 1, gigs.fn)
  clock.advance(1799_000)
  await cache.getEntity('user', 1, users.fn)
  t.equal(users.calls(), 1, 'user profile fresh at 29m59s')
  clock.advance(2_000)
  await cache.getEntity('user', 1, users.fn)
  t.equal(users.calls(), 2, 'user profile expired after 30m (userProfile class)')
  clock.advance(3599_000 - 1801_000)
  await cache.getEntity('gig', 1, gigs.fn)
  t.equal(gigs.calls(), 1, 'gig fresh at 59m59s')
  clock.advance(2_000)
  await cache.getEntity('gig', 1, gigs.fn)
  t.equal(gigs.calls(), 2, 'gig expired after 1h (entity class)')
})

t.test('TTL jitter stays within +5%', async (t) => {
  const { cache, store } = build({ random: () => 0.999999 })
  await cache.getList('search:abc', async () => [1])
  const e = await store.get('search:abc')
  const ttl = (e?.freshUntil ?? 0) - (e?.storedAt ?? 0)
  t.ok(ttl >= 300_000 && ttl <= 315_000, `search TTL ${ttl} ms within [300 s, 315 s]`)
  t.ok(ttl > 300_000, 'and jitter was applied')
})

t.test('an unknown TTL class is a loud configuration error', async (t) => {
  const { cache } = build({ ttl: { table: TABLE, entity: () => 'nope' } })
  await t.rejects(cache.getEntity('gig', 1, async () => 1), { code: 'CACHE_ERR_UNKNOWN_TTL_CLASS', message: /nope.*entity, list, search, userProfile/ })
  t.throws(() => build({ ttl: { table: { entity: -1 } } }), { code: 'CACHE_ERR_BAD_TTL' })
})

t.test('invalidateRelated invalidates the entity and what the resolver names', async (t) => {
  const calls: Array<[string, string | number]> = []
  const { cache } = build({
    related: (type, id) => { calls.push([type, id]); return ['user_gigs:7', 'search'] },
    listTags: (key) => key.startsWith('search:') ? ['search'] : []
  })
  const gig = counter({ id: 42 })
  const mine = counter([42])
  const search = counter([42])
  const other = counter({ id: 43 })
  const load = async (): Promise<void> => {
    await cache.getEntity('gig', 42, gig.fn)
    await cache.getList('user_gigs:7', mine.fn)
    await cache.getList('search:abc', search.fn)
    await cache.getEntity('gig', 43, other.fn)
  }
  await load()
  const tags = await cache.invalidateRelated('gig', 42)
  t.same(calls, [['gig', 42]])
  t.same(tags, ['gig:42', 'user_gigs:7', 'search'])
  await load()
  t.same([gig.calls(), mine.calls(), search.calls(), other.calls()], [2, 2, 2, 1], 'only related entries reloaded')
})

t.test('invalidateEntity and invalidateList; invalidation events are labelled by family', async (t) => {
  const { cache, events } = build()
  const gig = counter({ id: 1 })
  const list = counter([1])
  await cache.getEntity('gig', 1, gig.fn)
  await cache.getList('featured_gigs', list.fn)
  await cache.invalidateEntity('gig', 1)
  await cache.invalidateList('featured_gigs')
  await cache.getEntity('gig', 1, gig.fn)
  await cache.getList('featured_gigs', list.fn)
  t.same([gig.calls(), list.calls()], [2, 2])
  t.same(events.filter((e) => e.type === 'invalidate').map((e) => e.pattern), ['gig', 'featured_gigs'])
})

t.test('invalidatePattern deletes matching entries by pattern', async (t) => {
  const { cache } = build()
  await cache.getEntity('gig', 1, async () => 1)
  await cache.getEntity('gig', 2, async () => 2)
  await cache.getEntity('user', 1, async () => 1)
  t.equal(await cache.invalidatePattern('gig:*'), 2)
  const user = counter(1)
  await cache.getEntity('user', 1, user.fn)
  t.equal(user.calls(), 0, 'other patterns kept')
})

t.test('write-through: setEntity stores only if newer', async (t) => {
  const { cache } = build()
  t.equal(await cache.setEntity('gig', 1, { v: 2 }, undefined, 2), true)
  t.equal(await cache.setEntity('gig', 1, { v: 1 }, undefined, 1), false, 'older version refused')
  const loader = counter({ v: 0 })
  t.same(await cache.getEntity('gig', 1, loader.fn), { v: 2 })
  t.equal(loader.calls(), 0)
  t.equal(await cache.setEntity('gig', 1, { v: 3 }, 'entity', 3), true)
  t.same(await cache.getEntity('gig', 1, loader.fn), { v: 3 })
  t.equal(await cache.setList('featured_gigs', [1, 2], 60), true)
  t.same(await cache.getList('featured_gigs', async () => []), [1, 2])
})

t.test('a load racing an invalidation is not cached, and later callers do not join it', async (t) => {
  const { cache } = build()
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  let loads = 0
  const slowOld = async (): Promise<{ v: string }> => { loads++; await gate; return { v: 'old' } }
  const first = cache.getEntity('gig', 1, slowOld)
  await new Promise((resolve) => setImmediate(resolve))
  await cache.invalidateEntity('gig', 1)
  // Read-your-writes: this caller came after the invalidation and must not share the old load.
  const second = cache.getEntity('gig', 1, async () => { loads++; return { v: 'new' } })
  t.same(await second, { v: 'new' })
  release()
  t.same(await first, { v: 'old' }, 'the caller from before the write gets what it loaded')
  t.equal(loads, 2)
  t.same(await cache.getEntity('gig', 1, async () => ({ v: 'reloaded' })), { v: 'new' }, 'the old load did not overwrite the cache')
})

t.test('a throwing event listener does not break caching', async (t) => {
  const { cache } = build({ onEvent: () => { throw new Error('listener bug') } })
  t.same(await cache.getEntity('gig', 1, async () => 1), 1)
  t.same(await cache.getEntity('gig', 1, async () => 2), 1)
})

t.test('entity ids are escaped into keys', async (t) => {
  const { cache, store } = build()
  t.equal(cache.entityKey('gig', '1:*'), 'gig:1%3A%2A')
  await cache.getEntity('gig', '1:*', async () => 1)
  t.ok(await store.get('gig:1%3A%2A'))
  t.throws(() => cache.entityKey('', 1), { code: 'CACHE_ERR_BAD_KEY' })
})

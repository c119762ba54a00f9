import t from 'tap'
import { ManualClock } from '../../src/cache/clock.ts'
import { MemoryStore } from '../../src/cache/memory-store.ts'

t.test('stays within maxBytes across 100,000 distinct keys', async (t) => {
  const maxBytes = 1 << 20
  const store = new MemoryStore({ maxBytes, clock: new ManualClock() })
  const value = JSON.stringify({ title: 'x'.repeat(200) })
  let peak = 0
  for (let i = 0; i < 100_000; i++) {
    const key = `gig:${i}`
    const tags = [key, `user_gigs:${i % 1000}`]
    store.setSync(key, value, 'etag', { ttlMs: 60_000, tags, tokens: store.tagTokensSync(tags) })
    if (i % 1000 === 0) peak = Math.max(peak, store.size().bytes)
  }
  const { entries, bytes } = store.size()
  peak = Math.max(peak, bytes)
  t.ok(peak <= maxBytes, `peak ${peak} <= ${maxBytes}`)
  t.ok(entries > 100 && entries < 100_000, `evicted down to ${entries} entries`)
  t.equal((await store.get('gig:99999'))?.value, value, 'the most recent key is there')
  t.equal(await store.get('gig:0'), undefined, 'the oldest was evicted')
})

t.test('a value larger than the bound is refused, not stored', async (t) => {
  const store = new MemoryStore({ maxBytes: 4096 })
  const tokens = store.tagTokensSync(['k'])
  t.equal(store.setSync('k', 'x'.repeat(10_000), '', { ttlMs: 1000, tags: ['k'], tokens }), false)
  t.equal(store.getSync('k'), undefined)
})

t.test('expiry follows the injected clock only', async (t) => {
  const clock = new ManualClock()
  const store = new MemoryStore({ maxBytes: 1 << 16, clock })
  const tokens = store.tagTokensSync(['k'])
  store.setSync('k', 'v', '', { ttlMs: 1000, tags: ['k'], tokens })
  clock.advance(999)
  t.ok(store.getSync('k'), 'fresh at 999 ms')
  clock.advance(1)
  t.equal(store.getSync('k'), undefined, 'gone at 1000 ms')
  t.equal(store.size().entries, 0, 'and freed')
})

t.test('evicted tags turn their entries into misses', async (t) => {
  // A tiny tag budget forces tag evictions while entries still fit.
  const store = new MemoryStore({ maxBytes: 1 << 20, tagBytes: 2048 })
  const tokens = store.tagTokensSync(['gig:0'])
  store.setSync('gig:0', 'v', '', { ttlMs: 60_000, tags: ['gig:0'], tokens })
  for (let i = 1; i < 200; i++) store.tagTokensSync([`other:${i}`])
  t.equal(store.getSync('gig:0'), undefined, 'its tag was evicted, so the entry is a miss')
  t.not(store.tagTokensSync(['gig:0'])[0], tokens[0], 'the re-created tag has a new token')
  t.equal(store.getSync('gig:0'), undefined, 'and the entry stays dead')
})

t.test('rejects bad options', async (t) => {
  t.throws(() => new MemoryStore({ maxBytes: 10 }), { code: 'CACHE_ERR_BAD_OPTION' })
  t.throws(() => new MemoryStore({ maxBytes: 1 << 20, tagBytes: 1 << 20 }), { code: 'CACHE_ERR_BAD_OPTION' })
  const store = new MemoryStore({ maxBytes: 1 << 16 })
  await t.rejects(store.set('k', 'v', '', { ttlMs: 0, tags: [], tokens: [] }), { code: 'CACHE_ERR_BAD_TTL' })
  await t.rejects(store.set('k', 'v', '', { ttlMs: 10, tags: ['a'], tokens: [] }), { code: 'CACHE_ERR_BAD_OPTION' })
  await t.rejects(store.get(''), { code: 'CACHE_ERR_BAD_KEY' })
  await t.rejects(store.tagTokens(['']), { code: 'CACHE_ERR_BAD_TAG' })
})

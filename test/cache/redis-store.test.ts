import t, { type Test } from 'tap'
import { ManualClock } from '../../src/cache/clock.ts'
import { RedisStore } from '../../src/cache/redis-store.ts'
import { connect, deleteOwnKeys, uniquePrefix } from './helpers.ts'

// What only the Redis store has: its stored form. Behaviour shared with the other stores is in
// store-contract.ts (run by stores.test.ts).

const client = connect()
t.teardown(() => client.quit())

function redisStore (t: Test, clock?: ManualClock): RedisStore {
  const prefix = uniquePrefix('rs')
  t.teardown(() => deleteOwnKeys(client, prefix + ':'))
  return new RedisStore({ client, prefix, ...(clock ? { clock } : {}) })
}

t.test('an entry is one Redis string that expires with its stale window', async (t) => {
  const store = redisStore(t)
  await store.set('gig:1', 'v', 'm', { ttlMs: 10_000, staleMs: 5000, tags: [], tokens: [] })
  const key = store.entryKey('gig:1')
  t.equal(await client.type(key), 'string')
  const pttl = await client.pttl(key)
  t.ok(pttl > 10_000 && pttl <= 15_000, `PTTL ${pttl} covers ttl + stale`)
})

t.test('an entry left as a hash (the layout of earlier versions) reads as a miss, and a fill replaces it', async (t) => {
  const store = redisStore(t)
  const key = store.entryKey('gig:1')
  await client.hset(key, { v: 'old', m: '', s: '1', f: '2', u: '2', t: '' })
  t.equal(await store.get('gig:1'), undefined, 'a miss, not an error')
  t.ok(await store.set('gig:1', 'new', '', { ttlMs: 10_000, tags: [], tokens: [] }))
  t.equal((await store.get('gig:1'))?.value, 'new')
})

t.test('times from a clock with fractions or before the epoch round-trip', async (t) => {
  for (const start of [1_700_000_000_000.25, -1000]) {
    const store = redisStore(t, new ManualClock(start))
    await store.set('k', 'v', '', { ttlMs: 1000, tags: [], tokens: [] })
    const e = await store.get('k')
    t.equal(e?.storedAt, start)
    t.equal(e?.freshUntil, start + 1000)
  }
})

import t from 'tap'
import { ManualClock } from '../../src/cache/clock.ts'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import { RedisStore } from '../../src/cache/redis-store.ts'
import { TieredStore } from '../../src/cache/tiered-store.ts'
import { connect, deleteOwnKeys, uniquePrefix } from './helpers.ts'

const client = connect()
t.teardown(async () => { await client.quit() })

t.test('an entry written to Redis long ago still reaches L1, which then answers without Redis', async (t) => {
  const prefix = uniquePrefix('tiered-cap')
  t.teardown(() => deleteOwnKeys(client, prefix))
  // Real Redis TTLs run on Redis's clock; the L1 cap runs on the manual one.
  const l2 = new RedisStore({ client, prefix })
  const writer = new TieredStore({ l1: new MemoryStore({ maxBytes: 1 << 20 }), l2, l1MaxTtlMs: 5000 })
  const tokens = await writer.tagTokens(['gig:5'])
  t.ok(await writer.set('gig:5', '{"id":5}', '', { ttlMs: 3_600_000, tags: ['gig:5'], tokens }))

  // Another process whose clock is a minute past the write fills its L1 from Redis.
  const clock = new ManualClock(Date.now() + 60_000)
  let l2Reads = 0
  const counted = new Proxy(l2, {
    get (target, prop, receiver) {
      if (prop === 'get') return async (key: string) => { l2Reads++; return await target.get(key) }
      const v = Reflect.get(target, prop, receiver)
      return typeof v === 'function' ? v.bind(target) : v
    }
  })
  const reader = new TieredStore({ l1: new MemoryStore({ maxBytes: 1 << 20, clock }), l2: counted, l1MaxTtlMs: 5000 })
  t.equal((await reader.get('gig:5'))?.value, '{"id":5}')
  t.equal((await reader.get('gig:5'))?.value, '{"id":5}')
  t.equal(l2Reads, 1, 'the second read is answered by L1')
  clock.advance(5001)
  t.equal((await reader.get('gig:5'))?.value, '{"id":5}')
  t.equal(l2Reads, 2, 'past the cap, L1 asks Redis again')
})

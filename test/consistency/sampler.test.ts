import t from 'tap'
import { eq, sql } from 'drizzle-orm'
import { gigs } from '../../drizzle/schema.ts'
import { FreshnessSampler } from '../../src/sampler.ts'
import { build } from '../helpers/build.ts'
import { waitFor } from './cluster.ts'

for (const redis of [false, true]) {
  const kind = redis ? 'redis' : 'memory'

  t.test(`the sampler counts a cached entity the database has moved past without invalidating it (${kind})`, async (t) => {
    const app = await build(t, { redis })
    await app.inject({ url: '/gigs/1' })
    await app.inject({ url: '/gigs/2' })
    const sampler = new FreshnessSampler({ store: app.cacheStore, db: app.testDatabase.db, intervalMs: 1000, graceMs: 0, perTick: 100 })
    await sampler.sample()
    await sampler.sample()
    t.equal(sampler.stats().mismatches, 0, 'both entries agree with the database')
    t.ok(sampler.stats().compared >= 2)

    // A change the cache never hears of (someone edited the table by hand).
    await app.testDatabase.db.update(gigs).set({ version: sql`${gigs.version} + 1` }).where(eq(gigs.id, 1))
    await sampler.sample()
    await sampler.sample()
    t.equal(sampler.stats().mismatches, 1, 'the stale one is counted')
    t.match(sampler.stats().lastMismatch, { key: 'gig:1' })
  })
}

t.test('a mismatch that the cache corrects within the grace period is not counted', async (t) => {
  const app = await build(t)
  await app.inject({ url: '/gigs/1' })
  const sampler = new FreshnessSampler({ store: app.cacheStore, db: app.testDatabase.db, intervalMs: 1000, graceMs: 0, perTick: 100 })
  await app.testDatabase.db.update(gigs).set({ version: sql`${gigs.version} + 1` }).where(eq(gigs.id, 1))
  await sampler.sample()
  // The invalidation arrives (as it does right after a commit) before the suspect is settled.
  await app.cache.invalidateTags(['gig:1'])
  await sampler.sample()
  t.equal(sampler.stats().mismatches, 0)
})

t.test('the sampler is off by default and runs when CACHE_SAMPLER_INTERVAL_MS is set', async (t) => {
  const off = await build(t)
  t.equal(off.cacheSampler, null)
  const on = await build(t, { config: { cacheSamplerIntervalMs: 20 } })
  await on.inject({ url: '/gigs/1' })
  await waitFor(() => (on.cacheSampler?.stats().compared ?? 0) > 0, 'a sample', 5000)
  t.equal(on.cacheSampler?.stats().mismatches, 0)
})

import t from 'tap'
import fc from 'fast-check'
import Fastify, { type FastifyInstance } from 'fastify'
import errors from '../../plugins/errors.ts'
import auth from '../../plugins/auth.ts'
import cache from '../../plugins/cache.ts'
import { CacheManager } from '../../src/cache/manager.ts'
import { TTL_CLASSES } from '../../src/catalog.ts'
import { authAs, build, json, USERS } from '../helpers/build.ts'
import { BarrierStore, makeStore, ScheduledStore, STORE_KINDS, type StoreKind } from './stores.ts'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

// Barrier-controlled: the classic cache-aside race, step by step ---------------------------------

async function gigApp (t: Tap, kind: StoreKind): Promise<{ app: FastifyInstance, store: BarrierStore }> {
  const store = new BarrierStore(makeStore(t, kind))
  const app = await build(t, { store })
  return { app, store }
}

const title = async (app: FastifyInstance): Promise<{ title: string, xCache: string }> => {
  const res = await app.inject({ url: '/gigs/1' })
  return { title: json<{ title: string }>(res).title, xCache: String(res.headers['x-cache']) }
}

async function patch (app: FastifyInstance, title: string): Promise<void> {
  const res = await app.inject({ method: 'PATCH', url: '/gigs/1', headers: authAs(app, USERS.alice), payload: { title } })
  if (res.statusCode !== 200) throw new Error(`PATCH /gigs/1: ${res.statusCode} ${res.body}`)
}

for (const kind of STORE_KINDS) {
  t.test(`route: a reader that read v1, then a write of v2 commits and invalidates, then the reader fills: v1 never becomes visible (${kind})`, async (t) => {
    const { app, store } = await gigApp(t, kind)
    const v1 = (await title(app)).title
    await patch(app, 'make it a miss') // cold entry again, v2
    // The reader: misses, reads its tags' tokens, reads the database (v2)… and stops before its fill.
    const fill = store.pauseNext('set', 'gig:1')
    const reader = title(app)
    await fill.reached
    // The writer commits v3 and invalidates while the reader holds v2.
    await patch(app, 'version 3')
    fill.release()
    const r = await reader
    t.equal(r.title, 'make it a miss', 'the reader answers what it read (its request began before the write)')
    t.same(store.sets.at(-1), { key: 'gig:1', stored: false }, 'its fill is refused')
    const after = await title(app)
    t.equal(after.title, 'version 3', 'the next read is fresh')
    t.equal(after.xCache, 'MISS')
    t.equal((await title(app)).xCache, 'HIT', 'and is cached')
    t.not(v1, 'version 3')
  })

  t.test(`route: a write that commits between the reader's token read and its database read does not let the old tokens store anything (${kind})`, async (t) => {
    const { app, store } = await gigApp(t, kind)
    await title(app)
    await patch(app, 'version 2')
    const tokens = store.pauseNext('tagTokens', 'gig:1', 'after')
    const reader = title(app)
    await tokens.reached
    await patch(app, 'version 3')
    tokens.release()
    t.equal((await reader).title, 'version 3', 'the reader read the database after the write')
    t.same(store.sets.at(-1), { key: 'gig:1', stored: false }, 'but its tokens were older than the invalidation: not stored')
    t.equal((await title(app)).title, 'version 3')
  })

  t.test(`manager: a load of v1 overtaken by a write of v2 is not cached, and later readers get v2 (${kind})`, async (t) => {
    const store = new BarrierStore(makeStore(t, kind))
    const manager = new CacheManager({ store, ttl: { table: TTL_CLASSES } })
    const db = { version: 1 }
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    let loaded!: () => void
    const atGate = new Promise<void>((resolve) => { loaded = resolve })
    const reader = manager.getEntity('thing', 1, async () => {
      const row = { version: db.version }
      loaded()
      await gate
      return row
    })
    await atGate
    db.version = 2
    await manager.invalidateEntity('thing', 1)
    release()
    t.same(await reader, { version: 1 }, 'the racing reader gets what it read')
    t.same(store.sets.at(-1), { key: 'thing:1', stored: false }, 'but its fill is refused')
    t.same(await manager.getEntity('thing', 1, async () => ({ version: db.version })), { version: 2 })
  })

  t.test(`manager: a write-through that read v1 and lands after the write of v2 is refused (${kind})`, async (t) => {
    const store = new BarrierStore(makeStore(t, kind))
    const manager = new CacheManager({ store, ttl: { table: TTL_CLASSES } })
    const db = { version: 1 }
    const load = async (): Promise<{ version: number }> => ({ version: db.version })
    // Writer 1 committed v1; its write-through reads v1 and then is delayed before its set.
    const slow = store.pauseNext('set', 'thing:1')
    const first = manager.refreshEntity('thing', 1, load, (r) => r.version)
    await slow.reached
    // Writer 2 commits v2, invalidates and writes through.
    db.version = 2
    await manager.invalidateEntity('thing', 1)
    t.equal(await manager.refreshEntity('thing', 1, load, (r) => r.version), true, 'v2 is written through')
    slow.release()
    t.equal(await first, false, 'v1 arrives late and is refused')
    t.same(await manager.getEntity('thing', 1, async () => ({ version: -1 })), { version: 2 }, 'the cache holds v2')
  })
}

// Listing pages: gig_list (which gigs, in which order) + gig:{id} of each gig shown ---------------

interface ListedGig { id: number, title: string }

async function listing (app: FastifyInstance, url: string): Promise<{ items: ListedGig[], total: number, xCache: string }> {
  const res = await app.inject(url)
  return { ...json<{ items: ListedGig[], total: number }>(res), xCache: String(res.headers['x-cache']) }
}

async function patchGig (app: FastifyInstance, id: number, payload: object): Promise<void> {
  const res = await app.inject({ method: 'PATCH', url: `/gigs/${id}`, headers: authAs(app, USERS.alice), payload })
  if (res.statusCode !== 200) throw new Error(`PATCH /gigs/${id}: ${res.statusCode} ${res.body}`)
}

// Demo data: /gigs?category=writing shows gigs 12 and 5, so the page's gig tokens are read as
// one call whose first tag is gig:12 (the route's own tags, read before, start with gig_list).
const WRITING = '/gigs?category=writing'

for (const kind of STORE_KINDS) {
  t.test(`listing: a title edit that lands after the reader read its rows refuses the reader's fill (${kind})`, async (t) => {
    const { app, store } = await gigApp(t, kind)
    const fill = store.pauseNext('set')
    const reader = listing(app, WRITING)
    await fill.reached
    await patchGig(app, 12, { title: 'Edited while the page was filled' })
    fill.release()
    t.equal((await reader).items[0]?.title, 'Newsletter copy', 'the reader answers what it read (its request began before the write)')
    t.match(store.sets.at(-1), { key: /^gig_list:/, stored: false }, 'its fill is refused')
    const after = await listing(app, WRITING)
    t.match(after, { xCache: 'MISS', items: [{ id: 12, title: 'Edited while the page was filled' }, { id: 5 }] })
    t.equal((await listing(app, WRITING)).xCache, 'HIT', 'and is cached')
  })

  t.test(`listing: a title edit committed between the page's ids and its gig tokens is read and cached fresh (${kind})`, async (t) => {
    const { app, store } = await gigApp(t, kind)
    const tokens = store.pauseNext('tagTokens', 'gig:12')
    const reader = listing(app, WRITING)
    await tokens.reached
    await patchGig(app, 12, { title: 'Edited before the gig tokens' })
    tokens.release()
    t.equal((await reader).items[0]?.title, 'Edited before the gig tokens', 'the rows are read after the tokens')
    t.equal(store.sets.at(-1)?.stored, true, 'its tokens are the current ones: stored')
    t.match(await listing(app, WRITING), { xCache: 'HIT', items: [{ title: 'Edited before the gig tokens' }] })
  })

  t.test(`listing: a title edit between the gig tokens and the rows read is shown, and the fill refused (${kind})`, async (t) => {
    const { app, store } = await gigApp(t, kind)
    const tokens = store.pauseNext('tagTokens', 'gig:12', 'after')
    const reader = listing(app, WRITING)
    await tokens.reached
    await patchGig(app, 12, { title: 'Edited after the gig tokens' })
    tokens.release()
    t.equal((await reader).items[0]?.title, 'Edited after the gig tokens')
    t.equal(store.sets.at(-1)?.stored, false, 'its gig:12 token is older than the edit: not stored')
    t.match(await listing(app, WRITING), { xCache: 'MISS', items: [{ title: 'Edited after the gig tokens' }] })
  })

  t.test(`listing: a category change between the page's ids and its rows never reaches the cache (${kind})`, async (t) => {
    const { app, store } = await gigApp(t, kind)
    const tokens = store.pauseNext('tagTokens', 'gig:12')
    const reader = listing(app, WRITING)
    await tokens.reached
    await patchGig(app, 12, { category: 'design' })
    tokens.release()
    t.same((await reader).items.map((g) => g.id), [5], 'the rows read drops the gig that left the filter')
    t.equal(store.sets.at(-1)?.stored, false, 'its gig_list token is older than the change: not stored')
    t.match(await listing(app, WRITING), { xCache: 'MISS', total: 1, items: [{ id: 5 }] })
  })
}

// Randomized schedules ---------------------------------------------------------------------------

const RUNS = 1000

interface Model {
  /** What the source of truth holds now. */
  version: number
  /** The newest version whose write had completed (response sent): later reads must not be older. */
  acked: number
  stale: string[]
}

/**
 * One schedule: `readers` readers and `writers` writers start in random order; every cache
 * operation, database read and commit happens at a moment the scheduler picks. A read that began
 * after a write completed must not return an older version; at the end the cache agrees with the
 * source.
 */
const plan = fc.record({
  readers: fc.integer({ min: 1, max: 4 }),
  writers: fc.integer({ min: 1, max: 3 }),
  writeThrough: fc.boolean(),
  warm: fc.boolean(),
  order: fc.array(fc.nat(), { minLength: 7, maxLength: 7 })
})

type Actor = () => Promise<void>

function interleave (readers: Actor[], writers: Actor[], order: number[]): Actor[] {
  const all = [...readers, ...writers]
  return all.map((a, i) => ({ a, k: order[i % order.length]! * 10 + i })).sort((x, y) => x.k - y.k).map((x) => x.a)
}

for (const kind of ['memory', 'tiered'] as const) {
  t.test(`manager: ${RUNS} randomized schedules of readers and writers, zero stale reads (${kind})`, async (t) => {
    const scheduled = new ScheduledStore(makeStore(t, kind))
    const manager = new CacheManager({ store: scheduled, ttl: { table: TTL_CLASSES } })
    let run = 0
    let stale = 0
    await fc.assert(fc.asyncProperty(fc.scheduler({ act: scheduled.act }), plan, async (s, p) => {
      const id = run++
      const m: Model = { version: 1, acked: 1, stale: [] }
      const load = async (): Promise<{ version: number }> => {
        await s.schedule(Promise.resolve(), 'db read')
        return { version: m.version }
      }
      if (p.warm) await manager.getEntity('thing', id, async () => ({ version: m.version }))
      scheduled.scheduler = s
      const reader: Actor = async () => {
        const floor = m.acked
        const got = await manager.getEntity('thing', id, load)
        if (got.version < floor) m.stale.push(`read v${got.version} after v${floor} was acknowledged`)
      }
      const writer: Actor = async () => {
        await s.schedule(Promise.resolve(), 'commit')
        const v = ++m.version
        await manager.invalidateEntity('thing', id)
        if (p.writeThrough) await manager.refreshEntity('thing', id, load, (r) => r.version)
        m.acked = Math.max(m.acked, v)
      }
      const actors = interleave(Array.from({ length: p.readers }, () => reader), Array.from({ length: p.writers }, () => writer), p.order)
      await s.waitFor(Promise.all(actors.map((a) => a())))
      scheduled.scheduler = undefined
      const final = await manager.getEntity('thing', id, async () => ({ version: m.version }))
      if (final.version !== m.version) m.stale.push(`cache ends at v${final.version}, source at v${m.version}`)
      stale += m.stale.length
      if (m.stale.length > 0) throw new Error(`${m.stale.join('; ')}\n${s.report().map((r) => r.label).join(' → ')}`)
    }), { numRuns: RUNS })
    t.equal(stale, 0, `${run} schedules, zero stale reads`)
  })
}

async function thingsApp (t: Tap, kind: StoreKind, scheduled: ScheduledStore, model: Map<number, Model>, sched: () => fc.Scheduler | undefined): Promise<FastifyInstance> {
  const app = Fastify({ logger: false })
  await app.register(errors)
  await app.register(auth, { secret: 'x' })
  await app.register(cache, { store: scheduled, ttl: TTL_CLASSES })
  const point = async (label: string): Promise<void> => { await sched()?.schedule(Promise.resolve(), label) }
  const params = { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] }
  app.get('/things/:id', { config: { cache: { key: 'thing:{params.id}', ttl: 'entity' } }, schema: { params } }, async (request) => {
    const m = model.get((request.params as { id: number }).id)!
    await point('db read')
    return { version: m.version }
  })
  app.post('/things/:id', { schema: { params } }, async (request) => {
    const id = (request.params as { id: number }).id
    const m = model.get(id)!
    await point('commit')
    const v = ++m.version
    await app.cache.invalidateTags([`thing:${id}`])
    return { version: v }
  })
  t.teardown(() => app.close())
  await app.ready()
  return app
}

for (const kind of ['memory', 'tiered'] as const) {
  t.test(`route: ${RUNS} randomized schedules of GET and write requests, zero stale reads (${kind})`, async (t) => {
    const scheduled = new ScheduledStore(makeStore(t, kind))
    const model = new Map<number, Model>()
    let current: fc.Scheduler | undefined
    const app = await thingsApp(t, kind, scheduled, model, () => current)
    let run = 0
    let stale = 0
    await fc.assert(fc.asyncProperty(fc.scheduler({ act: scheduled.act }), plan, async (s, p) => {
      const id = ++run
      const m: Model = { version: 1, acked: 1, stale: [] }
      model.set(id, m)
      if (p.warm) await app.inject(`/things/${id}`)
      scheduled.scheduler = s
      current = s
      const reader: Actor = async () => {
        const floor = m.acked
        const res = await app.inject(`/things/${id}`)
        const got = json<{ version: number }>(res).version
        if (got < floor) m.stale.push(`read v${got} (${String(res.headers['x-cache'])}) after v${floor} was acknowledged`)
      }
      const writer: Actor = async () => {
        const res = await app.inject({ method: 'POST', url: `/things/${id}` })
        m.acked = Math.max(m.acked, json<{ version: number }>(res).version)
      }
      const actors = interleave(Array.from({ length: p.readers }, () => reader), Array.from({ length: p.writers }, () => writer), p.order)
      await s.waitFor(Promise.all(actors.map((a) => a())))
      scheduled.scheduler = undefined
      current = undefined
      const final = json<{ version: number }>(await app.inject(`/things/${id}`)).version
      if (final !== m.version) m.stale.push(`cache ends at v${final}, source at v${m.version}`)
      stale += m.stale.length
      if (m.stale.length > 0) throw new Error(`${m.stale.join('; ')}\n${s.report().map((r) => r.label).join(' → ')}`)
    }), { numRuns: RUNS })
    t.equal(stale, 0, `${run} schedules, zero stale reads`)
  })
}

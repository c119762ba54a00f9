import t from 'tap'
import { findGig } from '../src/domain/gigs.ts'
import { build, json } from './helpers/build.ts'

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]
type App = Awaited<ReturnType<typeof build>>

const BURST = 100

/** Every behaviour is specified twice: on the in-memory store and on the shared Redis. */
function both (name: string, fn: (t: Tap, app: App) => Promise<void>): void {
  for (const redis of [false, true]) {
    t.test(`${name} (${redis ? 'redis' : 'memory'})`, async (t) => {
      const app = await build(t, { redis })
      // The outbox dispatcher polls the database in the background; its queries are not the burst's.
      await app.outbox.stop()
      await fn(t, app)
    })
  }
}

both(`${BURST} concurrent cold getEntity calls for one gig run its loader, and one query, once`, async (t, app) => {
  let loads = 0
  const loader = async () => {
    loads++
    return await findGig(app.testDatabase.db, 1)
  }
  const queries = app.testDatabase.queries
  const gigs = await Promise.all(Array.from({ length: BURST }, () => app.cache.getEntity('gig', 1, loader)))
  t.equal(loads, 1, 'one loader call')
  t.equal(app.testDatabase.queries - queries, 1, 'one database query')
  t.ok(gigs.every((g) => g !== undefined && g.id === 1 && g.title === gigs[0]!.title), 'every caller gets the gig')
})

both(`${BURST} concurrent cold anonymous GET /users/2 run one database query`, async (t, app) => {
  const queries = app.testDatabase.queries
  const responses = await Promise.all(Array.from({ length: BURST }, () => app.inject('/users/2')))
  t.equal(app.testDatabase.queries - queries, 1, 'one database query')
  t.ok(responses.every((r) => r.statusCode === 200), 'every request is answered')
  t.equal(new Set(responses.map((r) => r.body)).size, 1, 'with the same body')
  t.equal(json(responses[0]!).name, 'Bob Builder')
})

both(`${BURST} concurrent cold anonymous GET /gigs/1 run the handler, and one query, once`, async (t, app) => {
  const queries = app.testDatabase.queries
  const responses = await Promise.all(Array.from({ length: BURST }, () => app.inject('/gigs/1')))
  t.equal(app.testDatabase.queries - queries, 1, 'one database query')
  t.ok(responses.every((r) => r.statusCode === 200), 'every request is answered')
  t.equal(new Set(responses.map((r) => r.body)).size, 1, 'with the same body')
  t.equal(responses.filter((r) => r.headers['x-cache'] === 'MISS').length, 1, 'one request filled the entry')
  t.equal(responses.filter((r) => r.headers['x-cache'] === 'HIT').length, BURST - 1, 'the others were answered from it')
})

both('a concurrent miss whose leader fails is answered by its own handler', async (t, app) => {
  const responses = await Promise.all(Array.from({ length: 5 }, () => app.inject('/gigs/999999')))
  t.ok(responses.every((r) => r.statusCode === 404), 'every request gets the 404, none waits forever')
})

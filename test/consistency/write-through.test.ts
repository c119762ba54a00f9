import t from 'tap'
import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { gigs } from '../../drizzle/schema.ts'
import { authAs, build, json, USERS } from '../helpers/build.ts'
import { BarrierStore, makeStore, STORE_KINDS } from './stores.ts'

async function newDraft (app: FastifyInstance): Promise<number> {
  const res = await app.inject({
    method: 'POST',
    url: '/gigs',
    headers: authAs(app, USERS.alice),
    payload: { title: 'A gig for the race', category: 'web-development', budgetMin: 100, budgetMax: 200 }
  })
  if (res.statusCode !== 201) throw new Error(`POST /gigs: ${res.statusCode} ${res.body}`)
  return json<{ id: number }>(res).id
}

const move = (app: FastifyInstance, id: number, status: string) =>
  app.inject({ method: 'POST', url: `/gigs/${id}/status`, headers: authAs(app, USERS.alice), payload: { status } })

for (const kind of STORE_KINDS) {
  t.test(`two concurrent status updates, the first one's cache write delayed: the cache ends equal to the database (${kind})`, async (t) => {
    const store = new BarrierStore(makeStore(t, kind))
    const app = await build(t, { store })
    const id = await newDraft(app)

    // The first update (draft → open) commits and re-reads the gig, then its write-through stalls.
    const slow = store.pauseNext('set', `gig:${id}`)
    const first = move(app, id, 'open')
    await slow.reached
    // The second (open → cancelled) runs start to finish meanwhile: its write-through lands.
    const second = await move(app, id, 'cancelled')
    t.equal(second.statusCode, 200)
    slow.release()
    t.equal((await first).statusCode, 200)

    const writes = store.sets.filter((s) => s.key === `gig:${id}`)
    t.same(writes.map((w) => w.stored), [true, false], 'the second write-through landed; the late first one was refused')
    const [row] = await app.testDatabase.db.select({ status: gigs.status, version: gigs.version }).from(gigs).where(eq(gigs.id, id))
    const cached = await app.inject({ url: `/gigs/${id}` })
    t.equal(cached.headers['x-cache'], 'HIT', 'served from the write-through entry')
    t.match(json(cached), { status: row!.status, version: row!.version }, 'equal to the database')
    t.equal(row!.status, 'cancelled')
  })
}

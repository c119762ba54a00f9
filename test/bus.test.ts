import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'
import { authAs, json, REDIS_URL, USERS } from './helpers/build.ts'
import { startRedisServer } from './helpers/redis-server.ts'
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts'
import { buildCluster, tieredOf, waitFor } from './consistency/cluster.ts'

// Real time throughout: leases and reconnections run on the real clock of a real Redis.

const GIG = 1 // posted by alice

async function readTitle (app: FastifyInstance): Promise<string> {
  const res = await app.inject({ url: `/gigs/${GIG}` })
  if (res.statusCode !== 200) throw new Error(`GET /gigs/${GIG}: ${res.statusCode}`)
  return json<{ title: string }>(res).title
}

async function writeTitle (app: FastifyInstance, title: string): Promise<void> {
  const res = await app.inject({ method: 'PATCH', url: `/gigs/${GIG}`, headers: authAs(app, USERS.alice), payload: { title } })
  if (res.statusCode !== 200) throw new Error(`PATCH /gigs/${GIG}: ${res.statusCode} ${res.body}`)
}

/** A proxy in front of the shared Redis; the cluster closes it after its instances. */
async function proxy (mode: 'pass' | 'latency', latencyMs = 0): Promise<TcpProxy> {
  const url = new URL(REDIS_URL)
  const p = await startTcpProxy({ port: Number(url.port || 6379), host: url.hostname })
  await p.setMode(mode, { latencyMs })
  return p
}

t.test('a write through A is seen by a read through B and C right after A\'s response, every time', async (t) => {
  // B and C reach Redis 20 and 40 ms later than A, so A's response always comes before they would
  // hear of its invalidation by themselves: only A waiting for their acknowledgement keeps them fresh.
  const [pb, pc] = [await proxy('latency', 20), await proxy('latency', 40)]
  const { apps } = await buildCluster(t, 3, { urls: [undefined, `redis://127.0.0.1:${pb.port}`, `redis://127.0.0.1:${pc.port}`], proxies: [pb, pc] })
  const [a, b, c] = apps as [FastifyInstance, FastifyInstance, FastifyInstance]
  let fromL1 = 0
  for (let i = 0; i < 20; i++) {
    // B and C hold the current version in their L1 (a read fills it; the second is served from it).
    await readTitle(b)
    await readTitle(c)
    if (tieredOf(b).l1.getSync(`gig:${GIG}`) !== undefined && tieredOf(c).l1.getSync(`gig:${GIG}`) !== undefined) fromL1++
    const title = `title ${i}`
    await writeTitle(a, title)
    t.equal(await readTitle(b), title, `B, round ${i}`)
    t.equal(await readTitle(c), title, `C, round ${i}`)
  }
  t.equal(fromL1, 20, 'each round began with the old version in B\'s and C\'s L1')
})

t.test('an instance whose subscription drops clears its L1 and bypasses it until it is back', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const { apps } = await buildCluster(t, 2, { redisUrl: redis.url })
  const b = apps[1] as FastifyInstance
  const store = tieredOf(b)
  await readTitle(b)
  t.ok(store.l1.getSync(`gig:${GIG}`), 'L1 holds the gig')

  const admin = new Redis(redis.url)
  t.teardown(() => admin.quit())
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
  await waitFor(() => store.bus?.l1Usable() === false, 'B to notice')
  t.equal(store.l1.size().entries, 0, 'L1 was cleared')
  const dropped = store.bus?.stats().drops
  t.ok(dropped !== undefined && dropped >= 1, 'the drop is counted')

  await waitFor(() => store.bus?.l1Usable() === true, 'B to subscribe again')
  await readTitle(b)
  t.ok(store.l1.getSync(`gig:${GIG}`), 'once back, L1 is filled again')
})

t.test('after CLIENT KILL TYPE pubsub and a write through A, B never serves the old value after A\'s response', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const { apps } = await buildCluster(t, 3, { redisUrl: redis.url })
  const [a, b, c] = apps as [FastifyInstance, FastifyInstance, FastifyInstance]
  const admin = new Redis(redis.url)
  t.teardown(() => admin.quit())

  for (let round = 0; round < 2; round++) {
    await waitFor(() => apps.every((app) => tieredOf(app).bus?.l1Usable() === true), 'every lease')
    const old = await readTitle(b)
    await readTitle(c)
    t.ok(tieredOf(b).l1.getSync(`gig:${GIG}`), `round ${round}: B's L1 holds "${old}"`)

    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    const title = `after kill ${round}`
    await writeTitle(a, title)
    // Keep reading through B and C while they notice, reconnect and resubscribe.
    const until = Date.now() + 1500
    let reads = 0
    while (Date.now() < until) {
      const [fromB, fromC] = await Promise.all([readTitle(b), readTitle(c)])
      if (fromB !== title || fromC !== title) t.fail(`stale read after the write's response: B "${fromB}", C "${fromC}"`)
      reads++
      await sleep(5)
    }
    t.ok(reads > 10, `round ${round}: ${reads} reads through B and C, all fresh`)
  }
})

t.test('an instance cut off from Redis stops serving its L1 before a write through another instance returns', async (t) => {
  // B's connections stall (no reset, no close): B cannot hear of A's write, nor renew its lease.
  const pb = await proxy('pass')
  const { apps } = await buildCluster(t, 2, { urls: [undefined, `redis://127.0.0.1:${pb.port}`], proxies: [pb] })
  const [a, b] = apps as [FastifyInstance, FastifyInstance]
  await readTitle(b)
  t.ok(tieredOf(b).l1.getSync(`gig:${GIG}`), 'B\'s L1 holds the gig')
  await pb.setMode('blackhole')
  await writeTitle(a, 'while B is cut off')
  t.ok((tieredOf(a).bus?.stats().ackTimeouts ?? 0) >= 1, 'A waited out B\'s lease instead of an ack')
  t.equal(tieredOf(b).bus?.l1Usable(), false, 'B\'s lease ran out')
  t.equal(await readTitle(b), 'while B is cut off', 'B reads past its L1 (and past the stalled Redis) to the database')
  await pb.setMode('pass')
  await waitFor(() => tieredOf(b).bus?.l1Usable() === true, 'B to hold a lease again')
  t.equal(await readTitle(b), 'while B is cut off', 'and once back it still reads the new title')
})

t.test('a write waits for no one once the other instances have left', async (t) => {
  const { apps } = await buildCluster(t, 2)
  const [a, b] = apps as [FastifyInstance, FastifyInstance]
  await b.close()
  await writeTitle(a, 'alone')
  t.equal(tieredOf(a).bus?.stats().ackTimeouts, 0, 'the closed instance left the member set: no lease to wait out')
  t.equal(await readTitle(a), 'alone')
})

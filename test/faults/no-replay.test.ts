import t from 'tap'
import type { Redis } from 'ioredis'
import { createRedisClient } from '../../plugins/redis.ts'
import { RedisStore } from '../../src/cache/redis-store.ts'
import { StoreUnavailableError, withResilience } from '../../src/cache/resilient-store.ts'
import { startRedisServer } from '../helpers/redis-server.ts'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts'
import { adminClient, eventually } from './helpers.ts'

// ioredis #2130: a command that timed out on the client can still reach the server later, after
// a DEL sent on another connection, and leave a stale entry. Here it really arrives late (a slow
// link), and the test proves it is refused; and a command on a socket that dies is never resent.

async function calls (admin: Redis, command: string): Promise<number> {
  const info = await admin.info('commandstats')
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
}

async function setup (t: Tap): Promise<{ proxy: TcpProxy, admin: Redis, client: Redis, port: number }> {
  const redis = await startRedisServer()
  const proxy = await startTcpProxy({ port: redis.port })
  // The client the service uses, through the proxy.
  const client = createRedisClient(`redis://127.0.0.1:${proxy.port}`)
  client.on('error', () => {})
  await client.connect()
  const admin = adminClient(t, redis.url)
  t.teardown(async () => { client.disconnect(); await proxy.close(); await redis.stop() })
  return { proxy, admin, client, port: redis.port }
}

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

for (const invalidated of [true, false]) {
  const name = invalidated
    ? 'a SET that timed out and reaches Redis after a later invalidation is refused: no stale entry'
    : 'control: the same late SET lands when nothing invalidated its tags in between'
  t.test(name, async (t) => {
    const { proxy, admin, client } = await setup(t)
    const store = withResilience(new RedisStore({ client, prefix: 'replay' }), { timeoutMs: 100 })
    const other = new RedisStore({ client: admin, prefix: 'replay' })
    const tokens = await store.tagTokens(['gig:1'])

    await proxy.setMode('latency', { latencyMs: 400 })
    const err = await store.set('gig:1', 'old title', '', { ttlMs: 60_000, tags: ['gig:1'], tokens }).catch((e: unknown) => e)
    t.ok(err instanceof StoreUnavailableError && err.code === 'CACHE_ERR_TIMEOUT', 'the caller gave up on the SET')
    // Another process (or this one after a reconnect) commits a write and invalidates, directly.
    if (invalidated) await other.invalidateTags(['gig:1'])
    const before = await calls(admin, 'evalsha') + await calls(admin, 'eval')
    t.equal(await admin.exists('replay:gig:1'), 0, 'the SET has not arrived yet')

    t.ok(await eventually(async () => await calls(admin, 'evalsha') + await calls(admin, 'eval') > before, 3000), 'the late SET did reach Redis')
    if (invalidated) {
      t.equal(await admin.exists('replay:gig:1'), 0, 'and was refused: its tag token had moved')
      t.equal(await other.get('gig:1'), undefined)
    } else {
      t.equal((await other.get('gig:1'))?.value, 'old title', 'and was stored, so the test above can fail')
    }
  })
}

t.test('a command on a socket that stalls and dies is never resent on the new connection', async (t) => {
  const { proxy, admin, client } = await setup(t)
  await proxy.setMode('blackhole')
  const sent = client.set('replay:k', 'late').catch((e: unknown) => e)
  t.ok(await sent instanceof Error, 'the SET failed on the client')
  // ioredis destroys the silent socket (socketTimeout); the held bytes die with it.
  t.ok(await eventually(() => client.status !== 'ready', 6000), 'the stalled socket was dropped')
  await proxy.setMode('pass')
  t.ok(await eventually(() => client.status === 'ready', 5000), 'reconnected')
  t.equal(await client.ping(), 'PONG')
  t.equal(await calls(admin, 'set'), 0, 'SET never executed, on the old socket or the new one')
  t.equal(await admin.get('replay:k'), null)
})

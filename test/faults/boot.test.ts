import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { createTestDatabase } from '../helpers/database.ts'
import { freePort, startRedisServer } from '../helpers/redis-server.ts'
import { startTcpProxy } from '../helpers/tcp-proxy.ts'

// The service as a new user starts it (`npm start` runs exactly this command), with Redis absent,
// stalled or present. Redis is never a dependency: the service boots and answers either way.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

interface Started {
  port: number
  get (path: string): Promise<{ status: number, ms: number, cache: string | null, body: string }>
  logs: string[]
  /** SIGTERM, as a user's Ctrl-C or a process manager sends; resolves with the exit code. */
  stop (): Promise<number | null>
}

async function startService (t: Tap, redisUrl: string): Promise<Started> {
  const db = await createTestDatabase()
  const port = await freePort()
  const logs: string[] = []
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: db.url, REDIS_URL: redisUrl, LOG_LEVEL: 'info', CACHE_PREFIX: `boot:${process.pid}:${port}` },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let exited: number | null | undefined
  child.once('exit', (code) => { exited = code })
  child.stdout.on('data', (d: Buffer) => { logs.push(...d.toString().split('\n').filter(Boolean)) })
  child.stderr.on('data', (d: Buffer) => { logs.push(d.toString()) })
  t.teardown(async () => {
    if (exited === undefined) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
    await db.drop()
  })
  const deadline = Date.now() + 30_000
  while (!logs.some((l) => l.includes('Server listening'))) {
    if (exited !== undefined || Date.now() > deadline) throw new Error(`the service did not start:\n${logs.join('\n')}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return {
    port,
    logs,
    async get (path) {
      const started = performance.now()
      const res = await fetch(`http://127.0.0.1:${port}${path}`)
      const body = await res.text()
      return { status: res.status, ms: performance.now() - started, cache: res.headers.get('x-cache'), body }
    },
    async stop () {
      if (exited !== undefined) return exited
      child.kill('SIGTERM')
      const [code] = await once(child, 'exit') as [number | null]
      return code
    }
  }
}

t.test('with REDIS_URL=redis://127.0.0.1:1 (nothing listening) the service starts and answers GET /gigs/1 from the database', async (t) => {
  const started = performance.now()
  const service = await startService(t, 'redis://127.0.0.1:1')
  const bootMs = performance.now() - started
  const first = await service.get('/gigs/1')
  t.equal(first.status, 200)
  t.match(JSON.parse(first.body), { id: 1 })
  const second = await service.get('/gigs/1')
  t.equal(second.status, 200, 'and again')
  t.ok(service.logs.some((l) => l.includes('redis unreachable at boot')), 'the log says Redis is unreachable, once')
  t.equal(await service.stop(), 0, 'SIGTERM shuts it down cleanly with Redis still absent')
  t.comment(`boot ${bootMs.toFixed(0)} ms (process start to listening); first GET /gigs/1 ${first.ms.toFixed(1)} ms, second ${second.ms.toFixed(1)} ms`)
})

t.test('with Redis blackholed at boot the service starts once its socket timeout gives up, and answers from the database', async (t) => {
  const redis = await startRedisServer()
  const proxy = await startTcpProxy({ port: redis.port })
  t.teardown(async () => { await proxy.close(); await redis.stop() })
  await proxy.setMode('blackhole')
  const started = performance.now()
  const service = await startService(t, `redis://127.0.0.1:${proxy.port}`)
  const bootMs = performance.now() - started
  const first = await service.get('/gigs/1')
  t.equal(first.status, 200)
  t.comment(`boot ${bootMs.toFixed(0)} ms (process start to listening); first GET /gigs/1 ${first.ms.toFixed(1)} ms`)
  await proxy.setMode('pass')
  let cached: string | null = null
  for (let i = 0; i < 200 && cached !== 'HIT'; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    cached = (await service.get('/gigs/2')).cache
  }
  t.equal(cached, 'HIT', 'the cache is used once Redis answers')
  t.equal(await service.stop(), 0)
})

t.test('with Redis up the service caches: the second GET /gigs/1 is a HIT', async (t) => {
  const redis = await startRedisServer()
  t.teardown(() => redis.stop())
  const service = await startService(t, redis.url)
  t.equal((await service.get('/gigs/1')).cache, 'MISS')
  t.equal((await service.get('/gigs/1')).cache, 'HIT')
  t.equal(await service.stop(), 0)
})

import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisStore } from '../../src/cache/redis-store.ts'
import { sleep } from './helpers.ts'

// SCRIPT FLUSH would hit everyone on the shared server, so this test starts its own redis-server.
const hasServer = spawnSync('redis-server', ['--version']).status === 0

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0))
    })
  })
}

t.test('scripts survive SCRIPT FLUSH and a server restart (EVALSHA falls back to EVAL)', { skip: hasServer ? false : 'redis-server not installed' }, async (t) => {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
  let server = spawn('redis-server', args, { stdio: 'ignore' })
  const client = new Redis({ port, host: '127.0.0.1', retryStrategy: () => 50, maxRetriesPerRequest: 20 })
  t.teardown(async () => {
    client.disconnect()
    server.kill('SIGKILL')
  })
  for (let i = 0; i < 100 && client.status !== 'ready'; i++) await sleep(50)
  t.equal(client.status, 'ready', 'connected to the private server')

  const store = new RedisStore({ client, prefix: 'noscript' })
  const put = async (key: string, value: string): Promise<boolean> =>
    await store.set(key, value, '', { ttlMs: 60_000, tags: [key], tokens: await store.tagTokens([key]) })

  t.ok(await put('gig:1', 'a'))
  t.equal((await store.get('gig:1'))?.value, 'a')
  await client.script('FLUSH')
  t.equal((await store.get('gig:1'))?.value, 'a', 'get after SCRIPT FLUSH')
  await client.script('FLUSH')
  t.ok(await put('gig:2', 'b'), 'set after SCRIPT FLUSH')
  await client.script('FLUSH')
  await store.invalidateTags(['gig:1'])
  t.equal(await store.get('gig:1'), undefined, 'invalidate after SCRIPT FLUSH')

  server.kill('SIGKILL')
  await new Promise((resolve) => server.once('exit', resolve))
  server = spawn('redis-server', args, { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    await sleep(50)
    if (client.status === 'ready') break
  }
  t.ok(await put('gig:3', 'c'), 'set on a restarted server that never saw the scripts')
  t.equal((await store.get('gig:3'))?.value, 'c')
})

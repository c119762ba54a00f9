import fp from 'fastify-plugin'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'

export interface RedisPluginOptions {
  url: string
  /** How long boot waits for a first connection before serving without Redis. */
  connectTimeoutMs?: number
}

/**
 * An ioredis client that never queues or replays commands: with Redis down a command fails at
 * once (a miss), and a timed-out write cannot land after a later invalidation.
 */
export function createRedisClient (url: string, connectTimeoutMs = 1000): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: connectTimeoutMs,
    enableAutoPipelining: false,
    // Reconnect forever, backing off to 5 s with jitter so a fleet does not reconnect in step.
    retryStrategy: (times) => Math.min(5000, 100 * 2 ** Math.min(times, 6)) + Math.floor(Math.random() * 250)
  })
}

async function redis (app: FastifyInstance, opts: RedisPluginOptions): Promise<void> {
  const client = createRedisClient(opts.url, opts.connectTimeoutMs)
  let down = false
  // One log line per state change, not one per failed command.
  client.on('error', (err: Error) => {
    if (!down) app.log.warn({ err: err.message }, 'redis unavailable: serving from the database')
    down = true
  })
  client.on('ready', () => {
    if (down) app.log.info('redis is back')
    down = false
  })
  try {
    await client.connect()
  } catch (err) {
    down = true
    app.log.warn({ err: (err as Error).message }, 'redis unreachable at boot: starting without it, reconnecting in the background')
  }
  if (client.status === 'ready') {
    await app.register(fastifyRedis, { client, closeClient: true })
  } else {
    // @fastify/redis waits for `ready`; a service that must start with Redis down decorates the client itself.
    app.decorate('redis', client as unknown as FastifyInstance['redis'])
    app.addHook('onClose', async () => { client.disconnect() })
  }
}

export default fp(redis, { name: 'redis', fastify: '5.x' })

import fp from 'fastify-plugin'
import fastifyRedis from '@fastify/redis'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'

export interface RedisPluginOptions {
  url: string
  /** How long boot waits for a first connection before serving without Redis. */
  connectTimeoutMs?: number
  /** ioredis's own bound on any command, for callers that use the client directly. */
  commandTimeoutMs?: number
  /** A socket with a command outstanding and no reply for this long is destroyed and reconnected. */
  socketTimeoutMs?: number
}

export interface RedisClientOptions {
  connectTimeoutMs?: number
  commandTimeoutMs?: number
  socketTimeoutMs?: number
}

/**
 * An ioredis client that never queues or replays commands: with Redis down a command fails at
 * once (a miss), and nothing is sent later than the caller asked for it. A command already on a
 * stalled socket dies with the socket (`socketTimeout`) instead of being resent on reconnect
 * (ioredis #2130: a SET replayed after a DEL leaves a stale entry).
 */
export function createRedisClient (url: string, o: RedisClientOptions = {}): Redis {
  return new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: o.connectTimeoutMs ?? 1000,
    commandTimeout: o.commandTimeoutMs ?? 500,
    socketTimeout: o.socketTimeoutMs ?? 2000,
    enableAutoPipelining: false,
    // Reconnect forever, backing off to 5 s with jitter so a fleet does not reconnect in step.
    retryStrategy: (times) => Math.min(5000, 100 * 2 ** Math.min(times, 6)) + Math.floor(Math.random() * 250)
  })
}

async function redis (app: FastifyInstance, opts: RedisPluginOptions): Promise<void> {
  const client = createRedisClient(opts.url, opts)
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
  const bootWaitMs = opts.connectTimeoutMs ?? 1000
  let timer: NodeJS.Timeout | undefined
  try {
    // A server that accepts the connection but never answers would hold boot until the socket
    // timeout: boot waits at most the connect timeout, and the client keeps trying in the background.
    await Promise.race([
      client.connect(),
      new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${bootWaitMs} ms`)), bootWaitMs) })
    ])
  } catch (err) {
    down = true
    app.log.warn({ err: (err as Error).message }, 'redis unreachable at boot: starting without it, reconnecting in the background')
  } finally {
    clearTimeout(timer)
  }
  if (client.status === 'ready') {
    await app.register(fastifyRedis, { client, closeClient: false })
  } else {
    // @fastify/redis waits for `ready`; a service that must start with Redis down decorates the client itself.
    app.decorate('redis', client as unknown as FastifyInstance['redis'])
  }
  // QUIT lets replies in flight arrive; with Redis gone it cannot be sent, and shutdown must not fail on it.
  app.addHook('onClose', async () => {
    if (client.status === 'ready') await client.quit().catch(() => {})
    client.disconnect()
  })
}

export default fp(redis, { name: 'redis', fastify: '5.x' })

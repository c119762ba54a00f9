// One benchmark server process, started by bench/run.ts (pinned to its own core). It talks to the
// runner over IPC only, so the measured HTTP surface is exactly the service's.
import { AsyncLocalStorage } from 'node:async_hooks'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { AddressInfo } from 'node:net'
import { Session } from 'node:inspector/promises'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { buildBenchServer, SERVER_KINDS, type ServerKind } from './apps.ts'

/** Runner → server. */
export type ServerCommand =
  | { type: 'stats' }
  | { type: 'profile-start' }
  | { type: 'profile-stop', file: string }
  | { type: 'close' }

/** Counters the runner diffs around each measured run. */
export interface ServerStats {
  /** The Database `queries` counter (src/db.ts): SQL statements sent. */
  queries: number
  requests: number
  /** With --attribute: statements sent while serving GET/HEAD requests, and those requests. */
  readQueries: number
  readRequests: number
  /** With --attribute: requests and statements per class of request (see classOf). */
  byClass: Record<string, { requests: number, queries: number }>
  /** CPU time of this process (user + system), in µs: busy share of its core over a run. */
  cpuUs: number
}

/** Server → runner. */
export type ServerMessage =
  | { type: 'ready', port: number }
  | { type: 'stats', stats: ServerStats }
  | { type: 'ok' }
  | { type: 'error', message: string }

const { values } = parseArgs({
  options: {
    kind: { type: 'string' },
    prefix: { type: 'string' },
    'sample-gig': { type: 'string' },
    'l1-bytes': { type: 'string' },
    attribute: { type: 'boolean', default: false }
  }
})
const kind = values.kind as ServerKind
if (!SERVER_KINDS.includes(kind)) throw new Error(`--kind must be one of ${SERVER_KINDS.join(', ')}`)

const send = (m: ServerMessage): void => { process.send?.(m) }

const server = await buildBenchServer({
  kind,
  databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/gig_bench',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: values.prefix ?? `gigbench:${process.pid}`,
  jwtSecret: process.env.JWT_SECRET ?? 'bench-secret',
  l1MaxBytes: Number(values['l1-bytes'] ?? 256 * 1024 * 1024),
  sampleGigId: Number(values['sample-gig'] ?? 1)
})

const counts = { requests: 0, readQueries: 0, readRequests: 0 }
const byClass: Record<string, { requests: number, queries: number }> = {}
const snapshot = (): ServerStats => {
  const cpu = process.cpuUsage()
  const classes = Object.fromEntries(Object.entries(byClass).map(([k, v]) => [k, { ...v }]))
  return { queries: server.database?.queries ?? 0, ...counts, byClass: classes, cpuUs: cpu.user + cpu.system }
}

/** The kind of request, for the mixed workload's per-kind database reads. */
function classOf (method: string | undefined, url: string | undefined): string {
  if (method !== 'GET' && method !== 'HEAD') return 'write'
  if (url === undefined) return 'other'
  if (/^\/gigs\/\d+$/.test(url)) return 'gig'
  if (/^\/users\/\d+\/gigs$/.test(url)) return 'user-gigs'
  if (url.startsWith('/gigs?') || url === '/gigs') return 'listing'
  if (url.startsWith('/search')) return 'search'
  return 'other'
}
const http = server.app.server
const [listener] = http.listeners('request') as Array<(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => void>
if (!listener) throw new Error('no request listener on the Fastify server')
http.removeAllListeners('request')

if (values.attribute) {
  // Which request a statement serves, for "database reads per request" in the mixed workload.
  // AsyncLocalStorage costs throughput, so it is only on for the runs that need the split.
  const als = new AsyncLocalStorage<{ read: boolean, cls: { requests: number, queries: number } }>()
  http.on('request', (req, res) => {
    counts.requests++
    const read = req.method === 'GET' || req.method === 'HEAD'
    if (read) counts.readRequests++
    const name = classOf(req.method, req.url)
    const cls = byClass[name] ??= { requests: 0, queries: 0 }
    cls.requests++
    als.run({ read, cls }, listener, req, res)
  })
  // Drizzle sends plain statements through Pool#query and transactions through a checked-out client:
  // both calls happen in the request's async context (Pool#query's inner Client#query may not).
  const OWNED = Symbol('bench.owned')
  type Owned = pg.PoolClient & { [OWNED]?: boolean }
  const countRead = (): void => {
    const ctx = als.getStore()
    if (ctx === undefined) return
    ctx.cls.queries++
    if (ctx.read) counts.readQueries++
  }
  const poolQuery = pg.Pool.prototype.query
  pg.Pool.prototype.query = function (this: pg.Pool, ...args: unknown[]) {
    countRead()
    return (poolQuery as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof poolQuery
  const poolConnect = pg.Pool.prototype.connect
  pg.Pool.prototype.connect = function (this: pg.Pool, ...args: unknown[]) {
    const result = (poolConnect as (...a: unknown[]) => unknown).apply(this, args)
    if (args.length > 0 || !(result instanceof Promise)) return result
    return result.then((client: Owned) => {
      client[OWNED] = true
      const release = client.release
      client.release = function (...a: Parameters<typeof release>) {
        client[OWNED] = false
        client.release = release
        return release.apply(client, a)
      }
      return client
    })
  } as typeof poolConnect
  const clientQuery = pg.Client.prototype.query
  pg.Client.prototype.query = function (this: Owned, ...args: unknown[]) {
    if (this[OWNED] === true) countRead()
    return (clientQuery as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof clientQuery
} else {
  http.on('request', (req, res) => {
    counts.requests++
    listener(req, res)
  })
}

let profiler: Session | undefined

process.on('message', (raw) => {
  const m = raw as ServerCommand
  (async () => {
    if (m.type === 'stats') {
      send({ type: 'stats', stats: snapshot() })
    } else if (m.type === 'profile-start') {
      profiler = new Session()
      profiler.connect()
      await profiler.post('Profiler.enable')
      await profiler.post('Profiler.setSamplingInterval', { interval: 200 })
      await profiler.post('Profiler.start')
      send({ type: 'ok' })
    } else if (m.type === 'profile-stop') {
      const { profile } = await profiler!.post('Profiler.stop')
      profiler!.disconnect()
      mkdirSync(dirname(m.file), { recursive: true })
      writeFileSync(m.file, JSON.stringify(profile))
      send({ type: 'ok' })
    } else if (m.type === 'close') {
      await server.close()
      process.exit(0)
    }
  })().catch((err: Error) => {
    send({ type: 'error', message: err.stack ?? err.message })
  })
})
// The runner going away must not leave a server holding a core.
process.on('disconnect', () => { process.exit(0) })

await server.app.listen({ port: 0, host: '127.0.0.1' })
send({ type: 'ready', port: (server.app.server.address() as AddressInfo).port })

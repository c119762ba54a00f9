// Freshness checker: starts N instances of the Gig Service on a database and a Redis of its own,
// drives random reads and writes through them over HTTP, records every acknowledged write and
// every read, and reports each read that began after a write's response yet returned an older
// version. Last line: `reads=<n> writes=<n> stale=<n>`; exit code 1 when stale > 0.
//
//   npm run check:consistency -- --instances 3 --clients 200 --seconds 60 [--restart-redis]
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, type WriteStream } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { freePort, startRedisServer, type OwnRedis } from '../test/helpers/redis-server.ts'

// The check itself -------------------------------------------------------------------------------

/** A read whose answer was older than a write acknowledged before the read began. */
export interface Violation {
  key: string
  seen: number
  expected: number
  op: string
  instance: number
  xCache: string | undefined
  atMs: number
}

/** The newest acknowledged version of every key, as it was when a read began. */
export type Snapshot = ReadonlyMap<string, number>

/**
 * The history the check runs on. Versions only grow, so "no read that began after a write's
 * response returned an older version" is: for every key a read returns, the version seen is at
 * least the newest version whose write had been acknowledged when the read began.
 */
export class History {
  readonly #acked = new Map<string, number>()
  readonly violations: Violation[] = []
  reads = 0
  writes = 0

  /** Call as a read is sent: what it must not be older than. */
  beginRead (): Snapshot {
    this.reads++
    return new Map(this.#acked)
  }

  /** Call as a write's response arrives, with the version it committed. */
  acknowledge (key: string, version: number): void {
    this.writes++
    if (version > (this.#acked.get(key) ?? Number.NEGATIVE_INFINITY)) this.#acked.set(key, version)
  }

  /** Call for every key a read returned (an entity, or each item of a list). */
  observe (snapshot: Snapshot, key: string, seen: number, context: Omit<Violation, 'key' | 'seen' | 'expected'>): void {
    const expected = snapshot.get(key)
    if (expected !== undefined && seen < expected) this.violations.push({ key, seen, expected, ...context })
  }
}

// Instances, database, Redis ---------------------------------------------------------------------

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Instance {
  index: number
  port: number
  base: string
  child: ChildProcess
}

interface Options {
  instances: number
  clients: number
  seconds: number
  restartRedis: boolean
  gigs: number
  writeRatio: number
  databaseUrl: string
}

function parseOptions (argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      instances: { type: 'string', default: '3' },
      clients: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '60' },
      'restart-redis': { type: 'boolean', default: false },
      gigs: { type: 'string', default: '12' },
      'write-ratio': { type: 'string', default: '0.15' },
      'database-url': { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' },
      help: { type: 'boolean', default: false }
    }
  })
  if (values.help) {
    console.log('usage: check-consistency [--instances 3] [--clients 200] [--seconds 60] [--restart-redis] [--gigs 12] [--write-ratio 0.15] [--database-url URL]')
    process.exit(0)
  }
  const num = (name: string, v: string, min: number): number => {
    const n = Number(v)
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got "${v}"`)
    return n
  }
  return {
    instances: Math.floor(num('instances', values.instances, 1)),
    clients: Math.floor(num('clients', values.clients, 1)),
    seconds: num('seconds', values.seconds, 1),
    restartRedis: values['restart-redis'],
    gigs: Math.floor(num('gigs', values.gigs, 3)),
    writeRatio: num('write-ratio', values['write-ratio'], 0),
    databaseUrl: values['database-url']
  }
}

async function createDatabase (adminUrl: string): Promise<{ url: string, drop: () => Promise<void> }> {
  const name = `gig_check_${process.pid}_${Date.now().toString(36)}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  await admin.query(`create database "${name}"`)
  await admin.end()
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: adminUrl })
      await c.connect()
      try { await c.query(`drop database if exists "${name}" with (force)`) } finally { await c.end() }
    }
  }
}

async function startInstance (index: number, env: NodeJS.ProcessEnv, log: WriteStream): Promise<Instance> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const prefix = `[instance ${index}] `
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on('data', (d: Buffer) => { log.write(d.toString().split('\n').filter(Boolean).map((l) => prefix + l + '\n').join('')) })
  }
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`instance ${index} exited with code ${child.exitCode} (log: ${log.path.toString()})`)
    try {
      const res = await fetch(`${base}/categories`, { signal: AbortSignal.timeout(1000) })
      if (res.ok) return { index, port, base, child }
    } catch { /* not listening yet */ }
    await sleep(100)
  }
  child.kill('SIGKILL')
  throw new Error(`instance ${index} did not start in 30 s (log: ${log.path.toString()})`)
}

async function stopInstance (instance: Instance): Promise<void> {
  const { child } = instance
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

// The workload -----------------------------------------------------------------------------------

interface Fixture {
  /** Bearer tokens of the demo users by id. */
  tokens: Map<number, string>
  gigs: Array<{ id: number, owner: number }>
  applications: Array<{ id: number, gigId: number, applicant: number, owner: number }>
}

const USERS = { alice: 1, bob: 2, carol: 3, dave: 4, erin: 5 } as const
const EMAILS: Record<number, string> = { 1: 'alice@gig.local', 2: 'bob@gig.local', 3: 'carol@gig.local', 4: 'dave@gig.local', 5: 'erin@gig.local' }
const OWNERS = [USERS.alice, USERS.dave, USERS.erin]
const APPLICANTS = [USERS.bob, USERS.carol]

async function call (base: string, method: string, path: string, token?: string, body?: unknown): Promise<{ status: number, json: unknown, xCache: string | undefined }> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000)
  })
  const text = await res.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = text }
  return { status: res.status, json, xCache: res.headers.get('x-cache') ?? undefined }
}

async function prepare (base: string, gigCount: number): Promise<Fixture> {
  const tokens = new Map<number, string>()
  for (const [id, email] of Object.entries(EMAILS)) {
    const r = await call(base, 'POST', '/auth/token', undefined, { email })
    if (r.status !== 200) throw new Error(`POST /auth/token ${email}: ${r.status}`)
    tokens.set(Number(id), (r.json as { token: string }).token)
  }
  const gigs: Fixture['gigs'] = []
  const applications: Fixture['applications'] = []
  for (let i = 0; i < gigCount; i++) {
    const owner = OWNERS[i % OWNERS.length]!
    const g = await call(base, 'POST', '/gigs', tokens.get(owner), {
      title: `Checked gig ${i}`, category: 'web-development', budgetMin: 100, budgetMax: 1000, status: 'open'
    })
    if (g.status !== 201) throw new Error(`POST /gigs: ${g.status} ${JSON.stringify(g.json)}`)
    const gigId = (g.json as { id: number }).id
    gigs.push({ id: gigId, owner })
    const applicant = APPLICANTS[i % APPLICANTS.length]!
    const a = await call(base, 'POST', `/gigs/${gigId}/applications`, tokens.get(applicant), { proposedBudget: 500 })
    if (a.status !== 201) throw new Error(`POST /gigs/${gigId}/applications: ${a.status} ${JSON.stringify(a.json)}`)
    applications.push({ id: (a.json as { id: number }).id, gigId, applicant, owner })
  }
  return { tokens, gigs, applications }
}

interface Counters {
  errors: number
  errorSamples: string[]
  xCache: Map<string, number>
  /** Latencies in ms, by read and write. */
  latency: { read: number[], write: number[] }
}

function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return 0
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!

interface Versioned { id: number, version: number }

async function client (instances: Instance[], fx: Fixture, h: History, c: Counters, deadline: number, writeRatio: number, started: number): Promise<void> {
  let seq = 0
  const error = (what: string): void => {
    c.errors++
    if (c.errorSamples.length < 10) c.errorSamples.push(what)
  }
  while (Date.now() < deadline) {
    const inst = pick(instances)
    const ctx = (op: string, xCache: string | undefined) => ({ op, instance: inst.index, xCache, atMs: Date.now() - started })
    const t0 = performance.now()
    try {
      if (Math.random() < writeRatio) {
        const kind = Math.random()
        if (kind < 0.5) {
          const g = pick(fx.gigs)
          const op = `PATCH /gigs/${g.id}`
          const r = await call(inst.base, 'PATCH', `/gigs/${g.id}`, fx.tokens.get(g.owner), { title: `Checked gig ${g.id} w${seq++}` })
          if (r.status !== 200) { error(`${op}: ${r.status}`); continue }
          h.acknowledge(`gig:${g.id}`, (r.json as Versioned).version)
        } else if (kind < 0.75) {
          const a = pick(fx.applications)
          const op = `PATCH /applications/${a.id}`
          const r = await call(inst.base, 'PATCH', `/applications/${a.id}`, fx.tokens.get(a.applicant), { proposedBudget: 100 + (seq++ % 900) })
          if (r.status !== 200) { error(`${op}: ${r.status}`); continue }
          h.acknowledge(`application:${a.id}`, (r.json as Versioned).version)
        } else {
          const u = pick([...OWNERS, ...APPLICANTS])
          const op = `PATCH /users/${u}`
          const r = await call(inst.base, 'PATCH', `/users/${u}`, fx.tokens.get(u), { headline: `checked ${seq++}` })
          if (r.status !== 200) { error(`${op}: ${r.status}`); continue }
          h.acknowledge(`user:${u}`, (r.json as Versioned).version)
        }
        c.latency.write.push(performance.now() - t0)
        continue
      }
      const kind = Math.random()
      const snapshot = h.beginRead()
      let op: string
      let r: Awaited<ReturnType<typeof call>>
      if (kind < 0.4) {
        const g = pick(fx.gigs)
        op = `GET /gigs/${g.id}`
        r = await call(inst.base, 'GET', `/gigs/${g.id}`)
        if (r.status === 200) h.observe(snapshot, `gig:${g.id}`, (r.json as Versioned).version, ctx(op, r.xCache))
      } else if (kind < 0.5) {
        const owner = pick(OWNERS)
        op = `GET /users/${owner}/gigs`
        r = await call(inst.base, 'GET', `/users/${owner}/gigs`)
        if (r.status === 200) for (const g of r.json as Versioned[]) h.observe(snapshot, `gig:${g.id}`, g.version, ctx(op, r.xCache))
      } else if (kind < 0.6) {
        // A listing page: it depends on the gigs it shows (gig:{id}), not only on its filters.
        const owner = pick(OWNERS)
        op = `GET /gigs?postedBy=${owner}`
        r = await call(inst.base, 'GET', `/gigs?postedBy=${owner}&pageSize=100`)
        if (r.status === 200) for (const g of (r.json as { items: Versioned[] }).items) h.observe(snapshot, `gig:${g.id}`, g.version, ctx(op, r.xCache))
      } else if (kind < 0.75) {
        const u = pick([...OWNERS, ...APPLICANTS])
        op = `GET /users/${u}`
        r = await call(inst.base, 'GET', `/users/${u}`)
        if (r.status === 200) h.observe(snapshot, `user:${u}`, (r.json as Versioned).version, ctx(op, r.xCache))
      } else if (kind < 0.85) {
        const a = pick(fx.applications)
        op = `GET /applications/${a.id}`
        r = await call(inst.base, 'GET', `/applications/${a.id}`, fx.tokens.get(a.applicant))
        if (r.status === 200) h.observe(snapshot, `application:${a.id}`, (r.json as Versioned).version, ctx(op, r.xCache))
      } else if (kind < 0.9) {
        // A search: edits move gigs in and out of it (titles gain and lose numbers) and change the
        // ones it shows; its cache entry depends on the query's lexemes, not on every edit.
        const n = Math.floor(Math.random() * fx.gigs.length)
        op = `GET /search?q=checked ${n}`
        r = await call(inst.base, 'GET', `/search?q=checked+${n}&pageSize=100`)
        if (r.status === 200) for (const g of (r.json as { items: Versioned[] }).items) h.observe(snapshot, `gig:${g.id}`, g.version, ctx(op, r.xCache))
      } else {
        const a = pick(fx.applications)
        op = `GET /gigs/${a.gigId}/applications`
        r = await call(inst.base, 'GET', `/gigs/${a.gigId}/applications`, fx.tokens.get(a.owner))
        if (r.status === 200) for (const x of r.json as Versioned[]) h.observe(snapshot, `application:${x.id}`, x.version, ctx(op, r.xCache))
      }
      if (r.status !== 200) error(`${op}: ${r.status}`)
      if (r.xCache !== undefined) c.xCache.set(r.xCache, (c.xCache.get(r.xCache) ?? 0) + 1)
      c.latency.read.push(performance.now() - t0)
    } catch (err) {
      error(`instance ${inst.index}: ${(err as Error).message}`)
    }
  }
}

// Main -------------------------------------------------------------------------------------------

async function main (): Promise<number> {
  const o = parseOptions(process.argv.slice(2))
  const logPath = join(tmpdir(), `check-consistency-${process.pid}.log`)
  const log = createWriteStream(logPath)
  console.log(`checking: ${o.instances} instances, ${o.clients} clients, ${o.seconds} s${o.restartRedis ? ', Redis restarted once mid-run' : ''} (instance logs: ${logPath})`)

  const cleanups: Array<() => Promise<void>> = []
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => { console.error('cleanup:', (err as Error).message) })
    cleanups.length = 0
    log.end()
  }
  process.once('SIGINT', () => { cleanup().finally(() => process.exit(130)).catch(() => {}) })

  try {
    const redis: OwnRedis = await startRedisServer()
    cleanups.push(() => redis.stop())
    const db = await createDatabase(o.databaseUrl)
    cleanups.push(() => db.drop())
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      CACHE_PREFIX: 'check',
      JWT_SECRET: randomBytes(24).toString('hex'),
      DEV_LOGIN: 'true',
      LOG_LEVEL: 'warn'
    }
    const instances: Instance[] = []
    cleanups.push(async () => { await Promise.all(instances.map(stopInstance)) })
    // The first one migrates and seeds the demo data; the others find it done.
    instances.push(await startInstance(0, { ...env, SEED_DEMO: 'true' }, log))
    for (let i = 1; i < o.instances; i++) instances.push(await startInstance(i, { ...env, SEED_DEMO: 'false' }, log))
    const fx = await prepare(instances[0]!.base, o.gigs)
    // Let every instance's invalidation bus take its lease before the clock starts.
    await sleep(500)

    const h = new History()
    const counters: Counters = { errors: 0, errorSamples: [], xCache: new Map(), latency: { read: [], write: [] } }
    const started = Date.now()
    const deadline = started + o.seconds * 1000
    let restarted = ''
    const restart = o.restartRedis
      ? (async () => {
          await sleep(o.seconds * 500)
          const at = Date.now()
          await redis.restart()
          restarted = `Redis restarted at ${((at - started) / 1000).toFixed(1)} s (down ${Date.now() - at} ms)`
        })()
      : Promise.resolve()
    await Promise.all([restart, ...Array.from({ length: o.clients }, () => client(instances, fx, h, counters, deadline, o.writeRatio, started))])
    const elapsed = (Date.now() - started) / 1000

    for (const v of h.violations.slice(0, 100)) {
      console.log(`STALE key=${v.key} seen=v${v.seen} expected>=v${v.expected} via instance ${v.instance}: ${v.op} x-cache=${v.xCache ?? '-'} at ${(v.atMs / 1000).toFixed(2)} s`)
    }
    if (h.violations.length > 100) console.log(`… and ${h.violations.length - 100} more stale reads`)
    if (restarted) console.log(restarted)
    const x = [...counters.xCache].sort().map(([k, n]) => `${k}=${n}`).join(' ')
    const ms = (xs: number[]): string => `p50 ${percentile(xs, 0.5).toFixed(1)} ms, p99 ${percentile(xs, 0.99).toFixed(1)} ms`
    console.log(`throughput: ${Math.round((h.reads + h.writes) / elapsed)} req/s; reads ${ms(counters.latency.read)}; writes ${ms(counters.latency.write)}`)
    console.log(`route cache answers: ${x || 'none'}`)
    console.log(`errors=${counters.errors}${counters.errorSamples.length > 0 ? ` (e.g. ${counters.errorSamples.slice(0, 3).join('; ')})` : ''}`)
    console.log(`reads=${h.reads} writes=${h.writes} stale=${h.violations.length}`)
    return h.violations.length > 0 ? 1 : 0
  } finally {
    await cleanup()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => { process.exitCode = code }, (err: unknown) => {
    console.error(err)
    process.exitCode = 2
  })
}

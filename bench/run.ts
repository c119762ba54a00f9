// `npm run bench [-- --quick] [--only a,b] [--profile] [--connections N]`: see the README's
// "Benchmarks". Each server runs in its own process pinned to one core; the load generator
// (wrk, else autocannon) runs pinned to another; both replay request lists written up front.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { Redis } from 'ioredis'
import type { ServerKind } from './apps.ts'
import type { ServerCommand, ServerMessage, ServerStats } from './server.ts'
import { loadDataset, writeWorkloads, type WorkloadFiles } from './workload.ts'
import { PEERS_DIR, peersInstalled } from './peers.ts'
import { formatProfile, summarizeProfile } from './profile.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RESULTS = join(ROOT, 'bench', 'results')

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    connections: { type: 'string', default: '50' },
    gigs: { type: 'string', default: '100000' },
    'db-name': { type: 'string', default: 'gig_bench' },
    'l1-mb': { type: 'string', default: '256' },
    'no-extras': { type: 'boolean', default: false },
    loadgen: { type: 'string' },
    warmup: { type: 'string' },
    duration: { type: 'string' }
  }
})

const QUICK = args.quick
const CONNECTIONS = Number(args.connections)
const GIGS = Number(args.gigs)
const ZIPF_S = 1.0
const JWT_SECRET = 'bench-secret'
const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DB_NAME = args['db-name']
const DB_URL = (() => { const u = new URL(PG_ADMIN_URL); u.pathname = `/${DB_NAME}`; return u.toString() })()
const RUN_ID = `gigbench:${process.pid}`
// Low concurrency for the LLD's response-time table: latency there means service time, not queueing.
const LLD_CONNECTIONS = 10
const T = QUICK
  ? { warm: 1, run: 3, lldWarm: 1, lldRun: 2, mixWarm: 2, mixRun: 4, listLength: 10_000, lldLength: 10_000, mixedLength: 10_000 }
  : { warm: 3, run: 12, lldWarm: 2, lldRun: 6, mixWarm: 5, mixRun: 15, listLength: 100_000, lldLength: 30_000, mixedLength: 50_000 }
// --warmup / --duration override every scenario's (e.g. a long warm-up before profiling a hit path).
if (args.warmup !== undefined) T.warm = T.lldWarm = T.mixWarm = Number(args.warmup)
if (args.duration !== undefined) T.run = T.lldRun = T.mixRun = Number(args.duration)

type ListName = Exclude<keyof WorkloadFiles, 'mixShares'>

/** One server process; steps name it by id. */
interface ServerSpec { id: string, kind: ServerKind, attribute?: boolean, extra?: boolean, peer?: boolean }
interface Step {
  /** Result key: a scenario name, or `name@cached` / `name@uncached` for paired scenarios. */
  key: string
  server: string
  list: ListName
  connections: number
  warmupS: number
  durationS: number
}
/**
 * Servers that are compared run at the same time (idle but for the one under load), and their
 * measured time is split into rounds taken in turn (A B C… A B C…), so a burst of other work on
 * a shared machine hits every scenario alike instead of one of them.
 */
interface Group { name: string, servers: ServerSpec[], steps: Step[] }

interface Measure {
  requestsPerSec: number
  p50Ms: number
  p99Ms: number
  dbQueriesPerRequest: number
  dbReadsPerRequest?: number
  requests: number
  /** req/s of each round; the headline figure is their median. */
  rounds: number[]
  /** Busy share of the server's own core while measured (1 = the server was the bottleneck). */
  serverCpu: number
  /**
   * Server CPU time per request, in µs: the cost of a request, which other work on a shared
   * machine changes far less than it changes req/s (a starved server serves fewer, not dearer).
   */
  cpuUsPerRequest: number
  /** Busy share of all CPUs while measured (server, load generator, Postgres, Redis, anything else). */
  machineBusy: number
  /** Busy share of all CPUs just before each round: other work on the machine (0 when quiet). */
  busyBefore: number[]
  /** Responses that were not 2xx/3xx, plus socket errors and timeouts. */
  errors?: number
  /** Mixed workload: share of requests and database statements per request, by kind of request. */
  byKind?: Record<string, { share: number, dbQueriesPerRequest: number }>
}

const ROUNDS = QUICK ? 1 : 3
const EXTRAS = ['memory-no-metrics', 'tiered-l1-5s', 'miss-overhead-memory', 'peer-async-cache-dedupe-redis']
const step = (key: string, server: string, list: ListName, kind: 'throughput' | 'lld' | 'mixed' = 'throughput'): Step =>
  kind === 'lld'
    ? { key, server, list, connections: LLD_CONNECTIONS, warmupS: T.lldWarm, durationS: T.lldRun }
    : kind === 'mixed'
      ? { key, server, list, connections: CONNECTIONS, warmupS: T.mixWarm, durationS: T.mixRun }
      : { key, server, list, connections: CONNECTIONS, warmupS: T.warm, durationS: T.run }

const GROUPS: Group[] = [
  {
    name: 'hit path and peers',
    servers: [
      { id: 'ceiling-static', kind: 'ceiling-static' },
      { id: 'memory', kind: 'memory' },
      { id: 'memory-no-metrics', kind: 'memory-no-metrics', extra: true },
      { id: 'tiered', kind: 'tiered' },
      { id: 'tiered-l1-5s', kind: 'tiered-l1-5s', extra: true },
      { id: 'ceiling-redis', kind: 'ceiling-redis' },
      { id: 'redis', kind: 'redis' },
      { id: 'peer-async-cache-dedupe', kind: 'peer-async-cache-dedupe', peer: true },
      { id: 'peer-bentocache', kind: 'peer-bentocache', peer: true },
      { id: 'peer-async-cache-dedupe-redis', kind: 'peer-async-cache-dedupe-redis', peer: true, extra: true },
      { id: 'nocache', kind: 'nocache' },
      { id: 'miss-overhead', kind: 'miss' },
      { id: 'miss-overhead-memory', kind: 'miss-memory', extra: true }
    ],
    steps: []
  },
  {
    name: 'mixed reads and writes',
    servers: [{ id: 'mixed-cached', kind: 'tiered', attribute: true }, { id: 'mixed-uncached', kind: 'nocache', attribute: true }],
    steps: [step('mixed@cached', 'mixed-cached', 'mixed', 'mixed'), step('mixed@uncached', 'mixed-uncached', 'mixed', 'mixed')]
  },
  {
    name: "the LLD's table",
    servers: [{ id: 'lld-cached', kind: 'tiered' }, { id: 'lld-uncached', kind: 'nocache' }],
    steps: ([['lld-gig', 'lldGigs'], ['lld-user-gigs', 'userGigs'], ['lld-search', 'search'], ['lld-dashboard', 'dashboard']] as Array<[string, ListName]>)
      .flatMap(([name, list]) => [step(`${name}@cached`, 'lld-cached', list, 'lld'), step(`${name}@uncached`, 'lld-uncached', list, 'lld')])
  }
]
for (const s of GROUPS[0]!.servers) GROUPS[0]!.steps.push(step(s.id, s.id, 'gigs'))

const log = (s: string): void => { process.stderr.write(s + '\n') }
const loadavg = (): string => { try { return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') } catch { return '?' } }

function has (cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

// --- environment -----------------------------------------------------------------------------

function machine () {
  const cpuinfo = (() => { try { return readFileSync('/proc/cpuinfo', 'utf8') } catch { return '' } })()
  const cpu = cpuinfo.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? 'unknown'
  const fastify = (JSON.parse(readFileSync(join(ROOT, 'node_modules/fastify/package.json'), 'utf8')) as { version: string }).version
  return { nproc: availableParallelism(), cpu, node: process.version, fastify }
}

const cores = availableParallelism()
const PIN = has('taskset') && cores >= 2
const SERVER_CPU = '0'
const LOAD_CPU = String(cores - 1)
const USE_WRK = args.loadgen ? args.loadgen === 'wrk' : has('wrk')
const WRK_VERSION = USE_WRK ? (spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.match(/wrk\s+(\S+)/)?.[1] ?? '?') : undefined
const LOADGEN = USE_WRK ? `wrk ${WRK_VERSION}` : 'autocannon'

const pinned = (cpu: string, cmd: string, argv: string[]): [string, string[]] => PIN ? ['taskset', ['-c', cpu, cmd, ...argv]] : [cmd, argv]

async function ensurePeers (): Promise<boolean> {
  if (peersInstalled()) return true
  log('installing the peers into bench/peers (npm install --prefix bench/peers)…')
  const r = spawnSync('npm', ['install', '--prefix', PEERS_DIR, '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'] })
  if (r.status !== 0 || !peersInstalled()) { log('peers could not be installed: their scenarios are skipped'); return false }
  return true
}

/** Creates the benchmark database and seeds it once; later runs reuse it. */
async function ensureDatabase (): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL })
  await admin.connect()
  try {
    const exists = (await admin.query('select 1 from pg_database where datname = $1', [DB_NAME])).rowCount
    if (exists) {
      const c = new pg.Client({ connectionString: DB_URL })
      await c.connect()
      const n = await c.query<{ n: number }>("select count(*)::int as n from gigs where title like '% for a % project'").catch(() => ({ rows: [{ n: 0 }] }))
      await c.end()
      const seeded = n.rows[0]?.n ?? 0
      if (seeded >= GIGS) { log(`database ${DB_NAME}: ${seeded} seeded gigs, reused`); return }
      log(`database ${DB_NAME} has ${seeded} seeded gigs, wants ${GIGS}: recreating`)
      await admin.query(`drop database "${DB_NAME}" with (force)`)
    }
    await admin.query(`create database "${DB_NAME}"`)
  } finally {
    await admin.end()
  }
  log(`seeding ${DB_NAME}: npm run seed -- --gigs ${GIGS}`)
  const r = spawnSync('npm', ['run', 'seed', '--', '--gigs', String(GIGS)], {
    cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DATABASE_URL: DB_URL, LOG_LEVEL: 'warn' }
  })
  if (r.status !== 0) throw new Error('seeding failed')
}

/** Deletes the benchmark's keys from the shared Redis (SCAN + UNLINK under our prefix, never FLUSHDB). */
async function deleteKeys (pattern: string): Promise<number> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  let n = 0
  try {
    await client.connect()
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) n += await client.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
  return n
}

// --- processes -------------------------------------------------------------------------------

const children = new Set<ChildProcess>()

/**
 * The servers log at warn level. Cache alerts are expected while a cache fills (every request a
 * miss), so only errors and circuit-breaker changes (which would explain misses) reach stderr.
 */
function forwardServerLog (id: string, child: ChildProcess): void {
  let buffer = ''
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString()
    const lines = buffer.split('\n')
    buffer = lines.pop() ?? ''
    for (const line of lines) {
      let level = 0
      let msg = line
      try { ({ level, msg } = JSON.parse(line) as { level: number, msg: string }) } catch {}
      if (level >= 50 || /breaker|circuit|redis/i.test(msg)) log(`  [${id}] ${msg}`)
    }
  })
}

interface RunningServer { child: ChildProcess, port: number, ask (cmd: ServerCommand): Promise<ServerMessage> }

async function startServer (spec: ServerSpec, prefix: string, sampleGig: number): Promise<RunningServer> {
  const argv = ['--import', 'tsx', join(ROOT, 'bench/server.ts'), '--kind', spec.kind, '--prefix', prefix,
    '--sample-gig', String(sampleGig), '--l1-bytes', String(Number(args['l1-mb']) * 1024 * 1024)]
  if (spec.attribute) argv.push('--attribute')
  // Started unpinned (servers boot in parallel on every core), pinned once ready.
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, DATABASE_URL: DB_URL, REDIS_URL, JWT_SECRET, LOG_LEVEL: 'warn', NODE_ENV: 'production' }
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  // A server that died (or was interrupted) must not crash the runner through a failed IPC send.
  child.on('error', (err) => log(`  [${spec.id}] ${err.message}`))
  forwardServerLog(spec.id, child)
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.kind} server did not start in 60 s`)), 60_000)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${spec.kind} server exited (${code}) before it was ready`)) })
    child.on('message', (m: ServerMessage) => {
      if (m.type === 'ready') { clearTimeout(timer); resolve(m.port) }
    })
  })
  if (PIN) {
    const r = spawnSync('taskset', ['-a', '-p', '-c', SERVER_CPU, String(child.pid)], { stdio: 'ignore' })
    if (r.status !== 0) throw new Error(`taskset could not pin the ${spec.kind} server`)
  }
  let queue = Promise.resolve() as Promise<unknown>
  const ask = (cmd: ServerCommand): Promise<ServerMessage> => {
    const next = queue.then(() => new Promise<ServerMessage>((resolve, reject) => {
      const onMessage = (m: ServerMessage) => {
        if (m.type === 'ready') return
        child.off('message', onMessage)
        if (m.type === 'error') reject(new Error(m.message))
        else resolve(m)
      }
      child.on('message', onMessage)
      child.send(cmd)
    }))
    queue = next.catch(() => {})
    return next
  }
  return { child, port, ask }
}

async function stopServer (s: RunningServer): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (s.child.exitCode !== null) resolve()
    else s.child.once('exit', () => resolve())
  })
  if (s.child.connected) s.child.send({ type: 'close' } satisfies ServerCommand, (err) => { if (err) s.child.kill('SIGKILL') })
  else s.child.kill('SIGKILL')
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

interface LoadResult { requests: number, durationUs: number, errors: Record<string, number>, p50Us: number, p99Us: number }

async function load (port: number, file: string, offset: number, durationS: number, connections: number): Promise<LoadResult> {
  const url = `http://127.0.0.1:${port}`
  const [cmd, argv] = USE_WRK
    ? pinned(LOAD_CPU, 'wrk', ['-t1', `-c${connections}`, `-d${durationS}s`, '--timeout', '10s', '-s', join(ROOT, 'bench/wrk.lua'), url, '--', file, String(offset)])
    : pinned(LOAD_CPU, process.execPath, ['--import', 'tsx', join(ROOT, 'bench/autocannon.ts'), '--url', url, '--file', file,
      '--offset', String(offset), '--duration', String(durationS), '--connections', String(connections)])
  const child = spawn(cmd, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  children.add(child)
  let out = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => { children.delete(child); resolve(c) }))
  const line = out.split('\n').find((l) => l.startsWith('BENCHJSON '))
  if (code !== 0 || !line) throw new Error(`load generator failed (${code}):\n${out}`)
  return JSON.parse(line.slice('BENCHJSON '.length)) as LoadResult
}

async function stats (s: RunningServer): Promise<ServerStats> {
  const m = await s.ask({ type: 'stats' })
  if (m.type !== 'stats') throw new Error(`unexpected reply ${m.type}`)
  return m.stats
}

/** Busy and total jiffies of all CPUs, from /proc/stat (zeros where it does not exist). */
function cpuTimes (): { busy: number, total: number } {
  try {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number)
    const total = f.reduce((a, b) => a + b, 0)
    return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total }
  } catch {
    return { busy: 0, total: 0 }
  }
}

/**
 * Waits (within a budget) for a moment when the machine is not busy with other work, since
 * other processes on a shared machine take cores from the server and the load generator.
 * Returns the busy share of all CPUs seen last (the idle servers themselves use none).
 */
const QUIET = { busyBelow: 0.3, maxPerRoundMs: QUICK ? 1500 : 15000, budgetMs: QUICK ? 10000 : 60000, waitedMs: 0 }
async function waitQuiet (): Promise<number> {
  const started = performance.now()
  let busy = 1
  while (true) {
    const a = cpuTimes()
    await new Promise((resolve) => setTimeout(resolve, 400))
    const b = cpuTimes()
    busy = b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0
    const waited = performance.now() - started
    if (busy < QUIET.busyBelow || waited >= QUIET.maxPerRoundMs || QUIET.waitedMs + waited >= QUIET.budgetMs) {
      QUIET.waitedMs += waited
      return busy
    }
  }
}

interface Round {
  load: LoadResult
  before: ServerStats
  after: ServerStats
  wallMs: number
  busy: number
  total: number
  /** Busy share of all CPUs just before the round (other work on the machine). */
  busyBefore: number
}

/** The distinct GET paths of a request list, in first-seen order. */
function distinctGets (file: string): string[] {
  const seen = new Set<string>()
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [method, path] = line.split('\t')
    if (method === 'GET' && path) seen.add(path)
  }
  return [...seen]
}

const distinctFiles = new Map<string, { file: string, count: number }>()
/** A request list of the distinct GET paths of `file` (written once, next to it). */
function distinctFile (file: string): { file: string, count: number } {
  let d = distinctFiles.get(file)
  if (d === undefined) {
    const paths = distinctGets(file)
    const out = file.replace(/\.txt$/, '.distinct.txt')
    writeFileSync(out, paths.map((p) => `GET\t${p}\t\t`).join('\n') + '\n')
    distinctFiles.set(file, d = { file: out, count: paths.length })
  }
  return d
}

/**
 * Requests every distinct path of the list once, so a cache starts from its steady state (in a
 * long-running service, 1 h entity TTLs hold the whole Zipf set) instead of paying first-time
 * misses during the measurement. Driven by the load generator in short slices until the whole
 * list was sent; not measured.
 */
async function prefill (port: number, list: string): Promise<{ count: number, errors: number }> {
  const { file, count } = distinctFile(list)
  let sent = 0
  let errors = 0
  while (sent < count) {
    const r = await load(port, file, sent, 2, 32)
    sent += r.requests
    errors += Object.values(r.errors).reduce((a, b) => a + b, 0)
  }
  return { count, errors }
}

const CACHING_KINDS: ReadonlySet<ServerKind> = new Set<ServerKind>([
  'memory', 'redis', 'tiered', 'memory-no-metrics', 'tiered-l1-5s',
  'peer-bentocache', 'peer-async-cache-dedupe', 'peer-async-cache-dedupe-redis'
])

/** Fills a caching server's cache, then runs the timed warm-up; returns where in the request list it stopped. */
async function warm (s: RunningServer, spec: ServerSpec, st: Step, files: WorkloadFiles): Promise<number> {
  if (CACHING_KINDS.has(spec.kind)) {
    const t0 = performance.now()
    const { count, errors } = await prefill(s.port, files[st.list])
    log(`  ${st.key}: cache filled with ${count} distinct requests in ${((performance.now() - t0) / 1000).toFixed(1)} s${errors ? ` (${errors} non-2xx/errors)` : ''}`)
  }
  // In a quick run the fill is warm-up enough for a caching server.
  if (QUICK && CACHING_KINDS.has(spec.kind)) return 0
  return st.warmupS > 0 ? (await load(s.port, files[st.list], 0, st.warmupS, st.connections)).requests : 0
}

async function round (s: RunningServer, st: Step, files: WorkloadFiles, offset: number, durationS: number, profileFile?: string): Promise<Round> {
  const busyBefore = await waitQuiet()
  if (profileFile) await s.ask({ type: 'profile-start' })
  const before = await stats(s)
  const cpu0 = cpuTimes()
  const t0 = performance.now()
  const r = await load(s.port, files[st.list], offset, durationS, st.connections)
  const wallMs = performance.now() - t0
  const cpu1 = cpuTimes()
  const after = await stats(s)
  if (profileFile) await s.ask({ type: 'profile-stop', file: profileFile })
  return { load: r, before, after, wallMs, busy: cpu1.busy - cpu0.busy, total: cpu1.total - cpu0.total, busyBefore }
}

const median = (xs: number[]): number => {
  const a = [...xs].sort((x, y) => x - y)
  const mid = a.length >> 1
  return a.length % 2 ? a[mid] as number : ((a[mid - 1] as number) + (a[mid] as number)) / 2
}

/** Rounds of one step combined: medians for rates and latencies, totals for counts. */
function combine (rounds: Round[]): Measure {
  const sum = (f: (r: Round) => number) => rounds.reduce((a, r) => a + f(r), 0)
  const served = Math.max(1, sum((r) => r.after.requests - r.before.requests))
  const readServed = sum((r) => r.after.readRequests - r.before.readRequests)
  const errors = sum((r) => Object.values(r.load.errors).reduce((a, b) => a + b, 0))
  const rps = rounds.map((r) => r.load.requests / (r.load.durationUs / 1e6))
  const total = sum((r) => r.total)
  const m: Measure = {
    requestsPerSec: round0(median(rps)),
    p50Ms: round3(median(rounds.map((r) => r.load.p50Us)) / 1000),
    p99Ms: round3(median(rounds.map((r) => r.load.p99Us)) / 1000),
    dbQueriesPerRequest: round3(sum((r) => r.after.queries - r.before.queries) / served),
    requests: sum((r) => r.load.requests),
    rounds: rps.map(round0),
    serverCpu: Number((sum((r) => r.after.cpuUs - r.before.cpuUs) / (sum((r) => r.wallMs) * 1000)).toFixed(2)),
    cpuUsPerRequest: Number((sum((r) => r.after.cpuUs - r.before.cpuUs) / served).toFixed(1)),
    machineBusy: total > 0 ? Number((sum((r) => r.busy) / total).toFixed(2)) : 0,
    busyBefore: rounds.map((r) => Number(r.busyBefore.toFixed(2)))
  }
  if (readServed > 0) {
    m.dbReadsPerRequest = round3(sum((r) => r.after.readQueries - r.before.readQueries) / served)
    const kinds = new Set(rounds.flatMap((r) => Object.keys(r.after.byClass)))
    m.byKind = {}
    for (const k of kinds) {
      const d = (f: 'requests' | 'queries') => sum((r) => (r.after.byClass[k]?.[f] ?? 0) - (r.before.byClass[k]?.[f] ?? 0))
      const requests = d('requests')
      if (requests > 0) m.byKind[k] = { share: round3(requests / served), dbQueriesPerRequest: round3(d('queries') / requests) }
    }
  }
  if (errors > 0) m.errors = errors
  return m
}
const round0 = (x: number) => Math.round(x)
const round3 = (x: number) => Number(x.toFixed(3))

// --- report ----------------------------------------------------------------------------------

interface Scenario extends Partial<Measure> {
  name: string
  extra?: boolean
  skipped?: string
  uncached?: Measure
  [k: string]: unknown
}
interface Ratio {
  name: string
  /** The ratio of req/s (what the targets are about). */
  value: number | null
  /** The same ratio from server CPU per request (b ÷ a): what each would do with a core to itself. */
  byCpu?: number | null
  target: number | null
  met: boolean | null
  means: string
}

function buildReport (results: Map<string, Measure>, skipped: Map<string, string>): { scenarios: Scenario[], ratios: Ratio[] } {
  const scenarios: Scenario[] = []
  const simple = (name: string, extra = false) => {
    const m = results.get(name)
    if (m) scenarios.push({ name, ...m, ...(extra ? { extra } : {}) })
    else scenarios.push({ name, requestsPerSec: undefined, skipped: skipped.get(name) ?? 'not run (--only)', ...(extra ? { extra } : {}) })
  }
  for (const n of ['ceiling-static', 'ceiling-redis', 'nocache', 'memory', 'redis', 'tiered', 'peer-bentocache', 'peer-async-cache-dedupe', 'miss-overhead']) simple(n)
  const paired = (name: string, extraFields: (c: Measure, u: Measure) => Record<string, unknown>) => {
    const c = results.get(`${name}@cached`)
    const u = results.get(`${name}@uncached`)
    if (c && u) scenarios.push({ name, ...c, uncached: u, ...extraFields(c, u) })
    else scenarios.push({ name, skipped: 'not run (--only)' })
  }
  paired('mixed', (c, u) => ({
    dbReadReduction: u.dbReadsPerRequest ? round3(1 - (c.dbReadsPerRequest ?? 0) / u.dbReadsPerRequest) : null
  }))
  for (const n of ['lld-gig', 'lld-user-gigs', 'lld-search', 'lld-dashboard']) {
    paired(n, (c, u) => ({ speedupP50: Number((u.p50Ms / c.p50Ms).toFixed(1)), speedupP99: Number((u.p99Ms / c.p99Ms).toFixed(1)) }))
  }
  for (const n of EXTRAS) if (results.has(n)) simple(n, true)

  const rps = (n: string) => results.get(n)?.requestsPerSec
  const ratio = (name: string, a: string, b: string, target: number, means: string, strict = false): Ratio => {
    const x = rps(a)
    const y = rps(b)
    const value = x !== undefined && y !== undefined ? round3(x / y) : null
    const ca = results.get(a)?.cpuUsPerRequest
    const cb = results.get(b)?.cpuUsPerRequest
    const byCpu = ca && cb ? round3(cb / ca) : null
    return { name, value, byCpu, target, met: value === null ? null : strict ? value > target : value >= target, means }
  }
  const ratios: Ratio[] = [
    ratio('memory / ceiling-static', 'memory', 'ceiling-static', 0.85, 'how close a memory-cache hit comes to Fastify sending a ready string (the framework limit)'),
    ratio('redis / ceiling-redis', 'redis', 'ceiling-redis', 0.9, 'how close a Redis-store hit (one Lua round trip, tags checked) comes to one plain Redis GET'),
    ratio('tiered / memory', 'tiered', 'memory', 0.95, 'what the production set-up (L1 memory, 60 s cap, in front of Redis) keeps of pure memory speed'),
    ratio('miss-overhead / nocache', 'miss-overhead', 'nocache', 0.9, 'what caching costs when it never hits (lookup + tag tokens + store on every request)')
  ]
  for (const store of ['memory', 'redis', 'tiered']) {
    for (const peer of ['peer-bentocache', 'peer-async-cache-dedupe']) {
      ratios.push(ratio(`${store} / ${peer}`, store, peer, 1, `> 1: our ${store} store serves the gig faster than ${peer.slice(5)}`, true))
    }
  }
  // Diagnostics (extras; no target): where the hit and miss paths lose their time.
  const diag = (name: string, a: string, b: string, means: string): void => {
    if (results.has(a) && results.has(b)) ratios.push({ ...ratio(name, a, b, 0, means), target: null, met: null })
  }
  diag('memory / memory-no-metrics', 'memory', 'memory-no-metrics', 'diagnostic: what the metrics plugin (event recording, per-route response timing) leaves of a memory hit')
  diag('memory-no-metrics / ceiling-static', 'memory-no-metrics', 'ceiling-static', 'diagnostic: the hit path without metrics against the framework limit')
  diag('tiered-l1-5s / tiered', 'tiered-l1-5s', 'tiered', 'diagnostic: the tiered store with the old 5 s L1 cap instead of 60 s (what the cap costs on a Zipf set)')
  diag('miss-overhead-memory / nocache', 'miss-overhead-memory', 'nocache', 'diagnostic: a miss on the memory store (plugin work without Redis round trips)')
  diag('redis / peer-async-cache-dedupe-redis', 'redis', 'peer-async-cache-dedupe-redis', 'diagnostic: Redis against Redis (async-cache-dedupe on its Redis storage)')
  const mixed = scenarios.find((s) => s.name === 'mixed')
  const reduction = typeof mixed?.dbReadReduction === 'number' ? mixed.dbReadReduction : null
  ratios.push({ name: 'mixed: database reads cut', value: reduction, target: 0.9, met: reduction === null ? null : reduction >= 0.9, means: '1 − (DB reads per request with the cache ÷ without), 90/10 read/write mix' })
  const lldPromise: Record<string, [number, string]> = {
    'lld-gig': [10, '200 ms → 20 ms'], 'lld-user-gigs': [10, '500 ms → 50 ms'], 'lld-search': [8, '800 ms → 100 ms'], 'lld-dashboard': [10, '1000 ms → 100 ms']
  }
  for (const [name, [factor, text]] of Object.entries(lldPromise)) {
    const s = scenarios.find((x) => x.name === name)
    const value = typeof s?.speedupP50 === 'number' ? s.speedupP50 : null
    ratios.push({ name: `${name}: p50 uncached / cached`, value, target: factor, met: value === null ? null : value >= factor, means: `the LLD promises ${text} (${factor}×)` })
  }
  return { scenarios, ratios }
}

function table (scenarios: Scenario[], ratios: Ratio[]): string {
  const fmt = (x: number | undefined, d: number) => x === undefined ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
  const row = (name: string, m: Partial<Measure> | undefined, note = '') =>
    `| ${name} | ${fmt(m?.requestsPerSec, 0)} | ${fmt(m?.p50Ms, 2)} | ${fmt(m?.p99Ms, 2)} | ${fmt(m?.dbQueriesPerRequest, 3)} | ${fmt(m?.cpuUsPerRequest, 0)} | ${fmt(m?.serverCpu, 2)} | ${note} |`
  const lines = ['| scenario | req/s | p50 ms | p99 ms | DB queries/req | server µs CPU/req | server core busy | notes |', '|---|---:|---:|---:|---:|---:|---:|---|']
  for (const s of scenarios) {
    const errs = (m?: Partial<Measure>) => m?.errors ? `${m.errors} non-2xx/errors` : ''
    if (s.skipped) { lines.push(row(s.name, undefined, s.skipped)); continue }
    if (s.uncached) {
      const kinds = (m: Partial<Measure>) => m.byKind
        ? ' (per request of each kind: ' + Object.entries(m.byKind).sort((a, b) => b[1].share - a[1].share)
          .map(([k, v]) => `${k} ${fmt(v.dbQueriesPerRequest, 2)}`).join(', ') + ')'
        : ''
      const reads = (m: Partial<Measure>) => m.dbReadsPerRequest !== undefined ? `DB reads/req ${fmt(m.dbReadsPerRequest, 3)}${kinds(m)}` : ''
      const extra = s.name === 'mixed'
        ? `reads cut ${typeof s.dbReadReduction === 'number' ? (s.dbReadReduction * 100).toFixed(1) + '%' : '–'}`
        : `p50 ×${String(s.speedupP50)}, p99 ×${String(s.speedupP99)}`
      lines.push(row(`${s.name} (cached)`, s, [reads(s), extra, errs(s)].filter(Boolean).join('; ')))
      lines.push(row(`${s.name} (uncached)`, s.uncached, [reads(s.uncached), errs(s.uncached)].filter(Boolean).join('; ')))
    } else {
      lines.push(row(s.name, s, [s.extra ? 'extra' : '', errs(s)].filter(Boolean).join('; ')))
    }
  }
  lines.push('', '| ratio | req/s ratio | by CPU/req | target | met | meaning |', '|---|---:|---:|---:|:---:|---|')
  for (const r of ratios) {
    const met = r.met === null ? '–' : r.met ? 'yes' : '**no**'
    const target = r.target === null ? '–' : r.name.includes(' / peer-') ? `> ${r.target}` : r.name.startsWith('mixed') ? `≥ ${r.target * 100}%` : `≥ ${r.target}`
    const value = r.value === null ? '–' : r.name.startsWith('mixed') ? `${(r.value * 100).toFixed(1)}%` : r.value.toFixed(2)
    const byCpu = r.byCpu === undefined || r.byCpu === null ? '' : r.byCpu.toFixed(2)
    lines.push(`| ${r.name} | ${value} | ${byCpu} | ${target} | ${met} | ${r.means} |`)
  }
  return lines.join('\n')
}

// --- main ------------------------------------------------------------------------------------

async function main (): Promise<void> {
  const started = Date.now()
  const loadStart = loadavg()
  const only = args.only?.split(',').map((x) => x.trim()).filter(Boolean)
  const matches = (key: string) => !only || only.some((o) => key === o || key.startsWith(`${o}@`) || (o === 'lld' && key.startsWith('lld-')))
  const groups = GROUPS.map((g) => {
    // Extras (more peer set-ups, diagnostics) run in the full run, or when named in --only.
    const servers = g.servers.filter((sv) => !sv.extra || (only ? only.includes(sv.id) : !QUICK && !args['no-extras']))
    const steps = g.steps.filter((st) => matches(st.key) && servers.some((sv) => sv.id === st.server))
    return { ...g, servers: servers.filter((sv) => steps.some((st) => st.server === sv.id)), steps }
  }).filter((g) => g.steps.length > 0)
  const info = machine()
  log(`machine: ${info.nproc} CPUs (${info.cpu}), Node ${info.node}, Fastify ${info.fastify}; load average ${loadavg()}`)
  log(`load generator: ${LOADGEN}${args.loadgen ? ' (--loadgen)' : USE_WRK ? '' : ' (wrk not found)'}; ${PIN ? `server pinned to CPU ${SERVER_CPU}, load generator to CPU ${LOAD_CPU} (taskset)` : 'no pinning (taskset missing or one CPU)'}`)
  const peersOk = groups.some((g) => g.servers.some((sv) => sv.peer)) ? await ensurePeers() : true
  await ensureDatabase()
  await deleteKeys('gigbench:*')

  const dir = mkdtempSync(join(tmpdir(), 'gig-bench-'))
  const data = await loadDataset(DB_URL)
  const files = writeWorkloads(dir, data, { length: T.listLength, lldLength: T.lldLength, mixedLength: T.mixedLength, s: ZIPF_S, jwtSecret: JWT_SECRET })
  log(`workloads: ${data.publicGigs.length} public gigs, ${data.posters.length} posters, lists of ${T.listLength} / ${T.lldLength} (LLD) / ${T.mixedLength} (mixed) requests, Zipf(${ZIPF_S}); ${ROUNDS} round(s) per scenario`)

  const results = new Map<string, Measure>()
  const skipped = new Map<string, string>()
  for (const group of groups) {
    log(`${group.name}:`)
    const servers = new Map<string, RunningServer>()
    const prefixes: string[] = []
    try {
      await Promise.all(group.servers.filter((spec) => !spec.peer || peersOk).map(async (spec) => {
        const prefix = `${RUN_ID}:${spec.id}`
        prefixes.push(prefix)
        servers.set(spec.id, await startServer(spec, prefix, data.publicGigs[0] as number))
      }))
      const steps = group.steps.filter((st) => {
        if (servers.has(st.server)) return true
        skipped.set(st.key, 'peers not installed')
        return false
      })
      const offsets = new Map<string, number>()
      for (const st of steps) offsets.set(st.key, await warm(servers.get(st.server)!, group.servers.find((sv) => sv.id === st.server)!, st, files))
      const rounds = new Map<string, Round[]>(steps.map((st) => [st.key, []]))
      for (let r = 0; r < ROUNDS; r++) {
        for (const st of steps) {
          const server = servers.get(st.server)!
          const spec = group.servers.find((sv) => sv.id === st.server)!
          // The other servers' rounds take about a minute, longer than the production L1 cap:
          // refilled (not measured), every caching server alike, so each round measures the
          // steady state of a long-running service rather than the refill of an idle one.
          if (r > 0 && CACHING_KINDS.has(spec.kind)) await prefill(server.port, files[st.list])
          const last = r === ROUNDS - 1
          const profileFile = args.profile && last ? join(RESULTS, `${st.key.replace('@', '-')}.cpuprofile.json`) : undefined
          const res = await round(server, st, files, offsets.get(st.key)!, st.durationS / ROUNDS, profileFile)
          offsets.set(st.key, offsets.get(st.key)! + res.load.requests)
          rounds.get(st.key)!.push(res)
          if (profileFile) log(formatProfile(st.key, summarizeProfile(profileFile, 20)))
        }
      }
      for (const st of steps) {
        const m = combine(rounds.get(st.key)!)
        results.set(st.key, m)
        log(`  ${st.key.padEnd(30)} ${String(m.requestsPerSec).padStart(6)} req/s (rounds ${m.rounds.join(', ')})  p50 ${m.p50Ms.toFixed(2)} ms  p99 ${m.p99Ms.toFixed(2)} ms  ` +
          `db/req ${m.dbQueriesPerRequest}${m.dbReadsPerRequest !== undefined ? `  reads/req ${m.dbReadsPerRequest}` : ''}  server CPU ${m.serverCpu} (${m.cpuUsPerRequest} µs/req)  machine ${m.machineBusy} (before: ${m.busyBefore.join(', ')})${m.errors ? `  ERRORS ${m.errors}` : ''}`)
      }
    } finally {
      for (const s of servers.values()) await stopServer(s)
      for (const prefix of prefixes) await deleteKeys(`${prefix}:*`)
    }
  }
  rmSync(dir, { recursive: true, force: true })

  const { scenarios, ratios } = buildReport(results, skipped)
  const report = {
    generatedAt: new Date().toISOString(),
    loadAverage: { start: loadStart, end: loadavg() },
    command: `npm run bench${process.argv.length > 2 ? ' -- ' + process.argv.slice(2).join(' ') : ''}`,
    quick: QUICK,
    machine: { ...info, loadGenerator: LOADGEN, pinning: PIN ? { server: Number(SERVER_CPU), loadGenerator: Number(LOAD_CPU) } : null },
    settings: {
      gigs: GIGS,
      publicGigs: data.publicGigs.length,
      zipf: ZIPF_S,
      connections: CONNECTIONS,
      lldConnections: LLD_CONNECTIONS,
      warmupS: T.warm,
      durationS: T.run,
      rounds: ROUNDS,
      quietWaitS: Math.round(QUIET.waitedMs / 1000),
      lldDurationS: T.lldRun,
      mixedDurationS: T.mixRun,
      l1MaxMiB: Number(args['l1-mb']),
      mixed: files.mixShares
    },
    scenarios,
    ratios
  }
  mkdirSync(RESULTS, { recursive: true })
  writeFileSync(join(RESULTS, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
  process.stdout.write(`\n${table(scenarios, ratios)}\n\n`)
  log(`bench/results/latest.json written; ${((Date.now() - started) / 1000).toFixed(0)} s in total`)
}

let cleaning: Promise<void> | undefined
function cleanup (): Promise<void> {
  cleaning ??= (async () => {
    for (const c of children) c.kill('SIGKILL')
    await deleteKeys(`${RUN_ID}:*`).catch(() => {})
  })()
  return cleaning
}

process.on('SIGINT', () => { cleanup().finally(() => process.exit(130)) })
process.on('SIGTERM', () => { cleanup().finally(() => process.exit(143)) })

main().catch(async (err: Error) => {
  log(err.stack ?? err.message)
  await cleanup()
  process.exit(1)
})

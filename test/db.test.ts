import t from 'tap'
import pg from 'pg'
import { sql, type SQL } from 'drizzle-orm'
import { buildApp } from '../src/app.ts'
import { openDatabase, type Database } from '../src/db.ts'
import { pgCode } from '../src/domain/errors.ts'
import { isDatabaseUnavailable } from '../plugins/errors.ts'
import { json } from './helpers/build.ts'
import { createTestDatabase } from './helpers/database.ts'
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.ts'

// A slow statement or a Postgres that stops answering must fail a request, not hold it forever.
// Real Postgres throughout; the unreachable server is a TCP proxy that delivers nothing.

type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

const BOUNDS = { connectTimeoutMs: 300, statementTimeoutMs: 200 }

/** A database of the test's own, and a proxy in front of it that the test can blackhole. */
async function behindProxy (t: Tap): Promise<{ url: string, proxiedUrl: string, proxy: TcpProxy }> {
  const made = await createTestDatabase()
  const url = new URL(made.url)
  const proxy = await startTcpProxy({ port: Number(url.port || 5432), host: url.hostname })
  url.port = String(proxy.port)
  t.teardown(async () => {
    await proxy.close()
    await made.drop()
  })
  return { url: made.url, proxiedUrl: url.toString(), proxy }
}

/** Opens `url` with `opts` and closes it when the test ends (after `heal`, so nothing waits on a dead socket). */
async function open (t: Tap, url: string, opts: Parameters<typeof openDatabase>[0], heal?: TcpProxy): Promise<Database> {
  const database = await openDatabase({ url, poolSize: 2, ...opts })
  t.teardown(async () => {
    await heal?.setMode('pass')
    await database.close().catch(() => {})
  })
  return database
}

async function rows (database: Database, query: SQL): Promise<unknown[]> {
  return (await database.db.execute(query) as unknown as { rows: unknown[] }).rows
}

async function failure (p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected the query to fail')
}

t.test('a statement running past the statement timeout is cancelled by Postgres (57014), and the pool stays usable', async (t) => {
  const { url } = await behindProxy(t)
  const database = await open(t, url, BOUNDS)
  const err = await failure(database.db.execute(sql`select pg_sleep(2)`))
  t.equal(pgCode(err), '57014', 'query_canceled')
  t.match(String((err as { cause?: unknown }).cause), /canceling statement due to statement timeout/)
  t.same(await rows(database, sql`select 1 as one`), [{ one: 1 }], 'the next statement runs')
})

t.test('with the statement timeout off a statement longer than 200 ms completes', async (t) => {
  const { url } = await behindProxy(t)
  const database = await open(t, url, { statementTimeoutMs: 0 })
  t.same(await rows(database, sql`select 1 as done from pg_sleep(0.3)`), [{ done: 1 }])
})

t.test('a server that stops answering mid-query: the client gives up and the error reads as "database unavailable"', async (t) => {
  const { proxiedUrl, proxy } = await behindProxy(t)
  const database = await open(t, proxiedUrl, BOUNDS, proxy)
  await database.db.execute(sql`select 1`)
  await proxy.setMode('blackhole')
  const err = await failure(database.db.execute(sql`select 1`))
  t.match(String((err as { cause?: unknown }).cause), /Query read timeout/)
  t.ok(isDatabaseUnavailable(err), 'mapped to 503 by the error handler')
})

t.test('a server that never completes the connection: the connect timeout ends the wait, as "database unavailable"', async (t) => {
  const { proxiedUrl, proxy } = await behindProxy(t)
  await proxy.setMode('blackhole')
  const database = await open(t, proxiedUrl, BOUNDS, proxy)
  const err = await failure(database.db.execute(sql`select 1`))
  t.match(String((err as { cause?: unknown }).cause), /Connection terminated due to connection timeout/)
  t.ok(isDatabaseUnavailable(err), 'mapped to 503 by the error handler')
})

t.test('the app opens Postgres with the configured bounds: a blackholed database answers 503 in the common error shape', async (t) => {
  const { proxiedUrl, proxy } = await behindProxy(t)
  const app = await buildApp({
    logger: false,
    config: { databaseUrl: proxiedUrl, databaseConnectTimeoutMs: 300, databaseStatementTimeoutMs: 200, cacheStore: 'off', redisUrl: undefined, seedDemo: false, jwtSecret: 'test-secret' }
  })
  t.teardown(async () => {
    await proxy.setMode('pass')
    await app.close()
  })
  t.equal((await app.inject('/gigs/1')).statusCode, 200)
  await proxy.setMode('blackhole')
  const res = await app.inject('/gigs/1')
  t.equal(res.statusCode, 503)
  t.match(json(res), { statusCode: 503, code: 'SERVICE_UNAVAILABLE', error: 'Service Unavailable', message: String })
})

t.test('a read stuck behind a lock past the statement timeout answers 503 with retry-after, in the common error shape', async (t) => {
  const { url } = await behindProxy(t)
  const app = await buildApp({
    logger: false,
    config: { databaseUrl: url, databaseStatementTimeoutMs: 200, cacheStore: 'off', redisUrl: undefined, seedDemo: false, jwtSecret: 'test-secret' }
  })
  // A migration holding an exclusive lock on gigs, say.
  const holder = new pg.Client({ connectionString: url })
  await holder.connect()
  t.teardown(async () => {
    await holder.end()
    await app.close()
  })
  await holder.query('begin')
  await holder.query('lock table gigs in access exclusive mode')
  const res = await app.inject('/gigs/1')
  await holder.query('rollback')
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '5')
  t.match(json(res), { statusCode: 503, code: 'SERVICE_UNAVAILABLE', error: 'Service Unavailable', message: String })
})

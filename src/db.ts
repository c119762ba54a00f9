import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type { Logger } from 'drizzle-orm/logger'
import * as schema from '../drizzle/schema.ts'

export type Schema = typeof schema
/** The Drizzle handle every domain module uses, whichever driver is underneath. */
export type Db = PgDatabase<PgQueryResultHKT, Schema>

export const MIGRATIONS_FOLDER = resolve(dirname(fileURLToPath(import.meta.url)), '../drizzle/migrations')

export interface Database {
  db: Db
  kind: 'postgres' | 'pglite'
  /** SQL statements sent since open; tests and benchmarks read it to count database work. */
  readonly queries: number
  /** Applies pending migrations; safe to call on an up-to-date database. */
  migrate(): Promise<void>
  close(): Promise<void>
}

export interface OpenOptions {
  /** Postgres connection string; when absent an embedded PGlite is used. */
  url?: string | undefined
  /** Where PGlite keeps its files; `memory://` keeps nothing. */
  dataDir?: string | undefined
  /** An existing PGlite instance (tests clone a migrated one). */
  pglite?: PGlite | undefined
  poolSize?: number | undefined
  /** Longest wait for a new connection, or for a free one when the pool is full; 0 or unset: no bound. */
  connectTimeoutMs?: number | undefined
  /**
   * Longest one statement runs: Postgres cancels it (SQLSTATE 57014) and the connection stays
   * usable. A server that never answers (a blackholed network) is cut off by the client a second
   * later (`Query read timeout`). 0 or unset: no bound (migrations run from the CLI use none).
   * Both bounds are Postgres-only: the embedded PGlite runs in this process.
   */
  statementTimeoutMs?: number | undefined
}

// The client-side backstop fires this long after the server's own timeout would have: a reachable
// server always answers first, so the client's timer (which leaves the connection mid-query) only
// ends waits on a server that cannot answer.
const CLIENT_TIMEOUT_MARGIN_MS = 1000

/** The pool's options for the given bounds; a bound of 0 is no bound. */
function poolTimeouts (opts: Pick<OpenOptions, 'connectTimeoutMs' | 'statementTimeoutMs'>): pg.PoolConfig {
  const config: pg.PoolConfig = {}
  if (opts.connectTimeoutMs) config.connectionTimeoutMillis = opts.connectTimeoutMs
  if (opts.statementTimeoutMs) {
    config.statement_timeout = opts.statementTimeoutMs
    config.query_timeout = opts.statementTimeoutMs + CLIENT_TIMEOUT_MARGIN_MS
  }
  return config
}

class CountingLogger implements Logger {
  count = 0
  logQuery (): void { this.count++ }
}

/** Opens Postgres through `pg` when a URL is given, else the embedded PGlite. */
export async function openDatabase (opts: OpenOptions = {}): Promise<Database> {
  const logger = new CountingLogger()
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, ...poolTimeouts(opts) })
    // An idle client losing its connection must not crash the process.
    pool.on('error', () => {})
    const db = drizzlePg(pool, { schema, logger })
    return {
      db: db as unknown as Db,
      kind: 'postgres',
      get queries () { return logger.count },
      migrate: () => migratePg(db, { migrationsFolder: MIGRATIONS_FOLDER }),
      close: () => pool.end()
    }
  }
  let client = opts.pglite
  if (!client) {
    const dataDir = opts.dataDir ?? '.data/pglite'
    if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true })
    client = new PGlite(dataDir)
  }
  const owned = client
  const db = drizzlePglite(owned, { schema, logger })
  return {
    db: db as unknown as Db,
    kind: 'pglite',
    get queries () { return logger.count },
    migrate: () => migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER }),
    close: () => owned.close()
  }
}

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
}

class CountingLogger implements Logger {
  count = 0
  logQuery (): void { this.count++ }
}

/** Opens Postgres through `pg` when a URL is given, else the embedded PGlite. */
export async function openDatabase (opts: OpenOptions = {}): Promise<Database> {
  const logger = new CountingLogger()
  if (opts.url) {
    const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10 })
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

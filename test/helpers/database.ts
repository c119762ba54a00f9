import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import { MIGRATIONS_FOLDER, openDatabase, type Database } from '../../src/db.ts'
import { seedDemo } from '../../drizzle/seed-data.ts'

/** The Postgres server the tests use; every run makes databases of its own on it. */
export const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

function urlFor (dbName: string): string {
  const url = new URL(ADMIN_URL)
  url.pathname = `/${dbName}`
  return url.toString()
}

// The template is keyed by the migrations and the demo data, so a schema change makes a new one.
function templateName (): string {
  const h = createHash('sha256')
  for (const f of readdirSync(MIGRATIONS_FOLDER).filter((n) => n.endsWith('.sql')).sort()) {
    h.update(readFileSync(join(MIGRATIONS_FOLDER, f)))
  }
  h.update(readFileSync(new URL('../../drizzle/seed-data.ts', import.meta.url)))
  return `gig_tpl_${h.digest('hex').slice(0, 12)}`
}

let templateReady: Promise<string> | undefined

async function withAdmin<T> (fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL })
  await client.connect()
  try { return await fn(client) } finally { await client.end() }
}

/** Creates (once per server, under an advisory lock) a migrated, demo-seeded template database. */
function ensureTemplate (): Promise<string> {
  templateReady ??= withAdmin(async (admin) => {
    const name = templateName()
    await admin.query('select pg_advisory_lock(727001)')
    try {
      const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name])
      if (!rowCount) {
        const building = `${name}_build_${process.pid}`
        await admin.query(`drop database if exists "${building}"`)
        await admin.query(`create database "${building}"`)
        const database = await openDatabase({ url: urlFor(building), poolSize: 1 })
        await database.migrate()
        await seedDemo(database.db)
        await database.close()
        await admin.query(`alter database "${building}" rename to "${name}"`)
      }
      return name
    } finally {
      await admin.query('select pg_advisory_unlock(727001)')
    }
  })
  return templateReady
}

let counter = 0

/** A fresh Postgres database cloned from the template: migrated and holding the demo data. */
export async function createTestDatabase (): Promise<{ database: Database, url: string, drop: () => Promise<void> }> {
  const template = await ensureTemplate()
  const name = `gig_t_${process.pid}_${Date.now().toString(36)}_${counter++}`
  await withAdmin((admin) => admin.query(`create database "${name}" template "${template}"`))
  const url = urlFor(name)
  const database = await openDatabase({ url, poolSize: 5 })
  return {
    database,
    url,
    drop: async () => {
      await database.close().catch(() => {})
      await withAdmin((admin) => admin.query(`drop database if exists "${name}" with (force)`))
    }
  }
}

let pgliteTemplate: Promise<PGlite> | undefined

/** A fresh embedded database: one migrated, seeded PGlite per process, cloned per call. */
export async function createEmbeddedDatabase (): Promise<{ database: Database, drop: () => Promise<void> }> {
  pgliteTemplate ??= (async () => {
    const base = new PGlite('memory://')
    const database = await openDatabase({ pglite: base })
    await database.migrate()
    await seedDemo(database.db)
    return base
  })()
  const clone = await (await pgliteTemplate).clone() as PGlite
  const database = await openDatabase({ pglite: clone })
  return { database, drop: () => database.close() }
}

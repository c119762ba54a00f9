import pg from 'pg'
import { sql } from 'drizzle-orm'
import type { Db } from '../../src/db.ts'

type Query = (text: string) => Promise<Array<Record<string, unknown>>>

async function digest (query: Query): Promise<Record<string, string>> {
  const tables = await query("select tablename from pg_tables where schemaname = 'public' order by tablename")
  const out: Record<string, string> = {}
  for (const { tablename } of tables) {
    const [row] = await query(`select count(*)::text as n, md5(string_agg(t::text, '|' order by t::text)) as h from "${String(tablename)}" t`)
    out[String(tablename)] = `${String(row?.n)} rows ${String(row?.h ?? '')}`
  }
  return out
}

/** Row count and a digest of every table, over a connection of its own (not the app's pool). */
export async function fingerprint (url: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await digest(async (text) => (await client.query(text)).rows as Array<Record<string, unknown>>)
  } finally {
    await client.end()
  }
}

/** The same, through a Drizzle handle (Postgres driver). */
export async function fingerprintDb (db: Db): Promise<Record<string, string>> {
  return await digest(async (text) => (await db.execute(sql.raw(text)) as unknown as { rows: Array<Record<string, unknown>> }).rows)
}

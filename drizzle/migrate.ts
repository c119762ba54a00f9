import { openDatabase } from '../src/db.ts'
import { loadConfig } from '../src/config.ts'

// `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded database.
const config = loadConfig()
const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir })
await database.migrate()
await database.close()
console.log(`migrations applied to ${database.kind === 'postgres' ? 'Postgres' : `PGlite at ${config.dataDir}`}`)

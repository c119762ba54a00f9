import { parseArgs } from 'node:util'
import { openDatabase } from '../src/db.ts'
import { loadConfig } from '../src/config.ts'
import { seedBulk, seedDemoIfEmpty } from './seed-data.ts'

// `npm run seed -- --gigs N [--seed S]`: the demo dataset if empty, then N deterministic gigs.
const { values } = parseArgs({
  options: { gigs: { type: 'string', default: '1000' }, seed: { type: 'string', default: '42' } }
})
const gigs = Number(values.gigs)
const seed = Number(values.seed)
if (!Number.isInteger(gigs) || gigs < 0) throw new Error('--gigs must be a non-negative integer')

const config = loadConfig()
const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir })
await database.migrate()
await seedDemoIfEmpty(database.db)
const started = Date.now()
const result = await seedBulk(database.db, {
  gigs,
  seed,
  onProgress: (done) => { if (done % 20000 === 0 || done === gigs) process.stdout.write(`  ${done}/${gigs} gigs\n`) }
})
await database.close()
console.log(`seeded ${result.users} users, ${result.gigs} gigs, ${result.applications} applications in ${((Date.now() - started) / 1000).toFixed(1)} s`)

// A writer that dies the instant its transaction has committed, before it could invalidate:
// the real updateGig and inTransaction, with an outbox whose after-commit step is SIGKILL.
// Usage: node --import tsx test/consistency/crash-writer.ts <database url> <gig id> <title>
import { openDatabase } from '../../src/db.ts'
import { DomainEvents } from '../../src/domain/events.ts'
import { noEntityCache } from '../../src/domain/context.ts'
import { updateGig } from '../../src/domain/gigs.ts'
import { useOutbox } from '../../src/domain/unit-of-work.ts'
import { OutboxDispatcher } from '../../src/outbox.ts'

const [url, id, title] = process.argv.slice(2)
// Without arguments (tap loads every file of a directory it is given) there is nothing to do.
if (!url || !id || !title) process.exit(0)
const database = await openDatabase({ url, poolSize: 1 })
const events = new DomainEvents()
const real = new OutboxDispatcher({ db: database.db, apply: async () => {} })
useOutbox(events, {
  record: (tx, recorded) => real.record(tx, recorded),
  afterCommit: async () => { process.kill(process.pid, 'SIGKILL') }
})
const sessions = { get: async () => undefined, set: async () => {}, delete: async () => {} }
const gig = await updateGig({ db: database.db, events, entities: noEntityCache, sessions }, { id: 1, role: 'user' }, Number(id), { title })
// Never reached: the process is gone before updateGig returns.
console.log('survived', gig.version)

import type { Db } from '../db.ts'
import type { DomainEvent, DomainEvents } from './events.ts'

export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/** Collects the events of one transaction; they are published only after it commits. */
export interface EventSink {
  add(event: DomainEvent): void
}

/**
 * Runs `work` in one transaction and, after commit, publishes the events it recorded and waits
 * for their listeners (cache invalidation) so the caller replies only once they are applied.
 * A rolled-back transaction publishes nothing.
 */
export async function inTransaction<T> (
  db: Db, events: DomainEvents, work: (tx: Tx, sink: EventSink) => Promise<T>
): Promise<T> {
  const recorded: DomainEvent[] = []
  const result = await db.transaction(async (tx) => work(tx, { add: (e) => { recorded.push(e) } }))
  for (const e of recorded) await events.emit(e)
  return result
}

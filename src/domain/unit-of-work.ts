import type { Db } from '../db.ts'
import type { DomainEvent, DomainEvents } from './events.ts'

export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]

/** Collects the events of one transaction; they are published only after it commits. */
export interface EventSink {
  add(event: DomainEvent): void
}

/**
 * Durable delivery of a transaction's events to the cache (src/outbox.ts): the events are written
 * by the transaction itself, so a commit cannot happen without them, then applied after commit.
 */
export interface Outbox {
  /** Inserts the events inside the transaction; returns their row ids, in order. */
  record (tx: Tx, events: DomainEvent[]): Promise<number[]>
  /** After commit: applies the events (the caller replies only after), marks the rows done. Never throws. */
  afterCommit (ids: number[], events: DomainEvent[]): Promise<void>
}

const outboxes = new WeakMap<DomainEvents, Outbox>()

/**
 * Routes the events of every transaction published on `events` through `outbox`. The domain
 * modules keep calling `inTransaction(db, events, work)`; the app decides where events go.
 * Returns the function that unbinds it.
 */
export function useOutbox (events: DomainEvents, outbox: Outbox): () => void {
  outboxes.set(events, outbox)
  return () => { if (outboxes.get(events) === outbox) outboxes.delete(events) }
}

/**
 * Runs `work` in one transaction. With an outbox bound to `events`, the recorded events are
 * inserted into it in the same transaction and, after commit, applied to the cache before this
 * returns (read-your-writes); what cannot be applied now is retried by the outbox's dispatcher.
 * Then the events are published to the in-process listeners, which are awaited. A rolled-back
 * transaction records and publishes nothing.
 */
export async function inTransaction<T> (
  db: Db, events: DomainEvents, work: (tx: Tx, sink: EventSink) => Promise<T>
): Promise<T> {
  const outbox = outboxes.get(events)
  const recorded: DomainEvent[] = []
  let ids: number[] = []
  const result = await db.transaction(async (tx) => {
    const value = await work(tx, { add: (e) => { recorded.push(e) } })
    if (outbox !== undefined && recorded.length > 0) ids = await outbox.record(tx, recorded)
    return value
  })
  if (outbox !== undefined && recorded.length > 0) await outbox.afterCommit(ids, recorded)
  for (const e of recorded) await events.emit(e)
  return result
}

import { setTimeout as sleep } from 'node:timers/promises'
import { and, asc, gt, inArray, isNull, lt, or, sql } from 'drizzle-orm'
import { outbox } from '../drizzle/schema.ts'
import type { Db } from './db.ts'
import { DOMAIN_EVENT_NAMES, type DomainEvent, type DomainEventName } from './domain/events.ts'
import type { Outbox, Tx } from './domain/unit-of-work.ts'
import type { ApplyEvent } from './invalidation.ts'

export interface OutboxLogger {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface OutboxOptions {
  db: Db
  /** Applies one event to the cache; rejects when the cache could not be told. */
  apply: ApplyEvent
  log?: OutboxLogger
  /**
   * How long a writer whose invalidation failed waits before replying: long enough that no other
   * process's L1 still serves the old data (the bus lease), 0 when there is no one else.
   */
  fenceMs?: () => number
  /** Idle polling period; default 500 ms. */
  pollMs?: number
  /** Longest wait between attempts while the cache keeps failing; default 2000 ms. */
  maxBackoffMs?: number
  /**
   * Rows younger than this are left to the request that wrote them (which may wait up to a bus
   * lease for other instances' acks); default 3000 ms.
   */
  graceMs?: number
  /** Rows claimed per transaction; default 100. */
  batchSize?: number
  /** Processed rows are deleted after this long; default 10 min. */
  retentionMs?: number
  /** How often processed rows are cleaned up; default 60 s. */
  cleanupEveryMs?: number
  /** How long `start` waits for the first replay before letting the app serve; default 2000 ms. */
  startTimeoutMs?: number
  random?: () => number
}

export interface OutboxStats {
  /** Events applied by the request that wrote them. */
  appliedInline: number
  /** Events applied by a dispatcher (retries, replays after a crash, other instances' leftovers). */
  replayed: number
  /** Failed attempts (inline or by the dispatcher). */
  failures: number
  /** Processed rows deleted by retention. */
  cleaned: number
}

export interface DrainResult {
  applied: number
  failed: number
}

const KNOWN = new Set<string>(DOMAIN_EVENT_NAMES)
const CLEANUP_BATCH = 5000

/**
 * The transactional outbox of domain events (table `outbox`). Each write inserts its events in
 * its own transaction (`record`); after commit the writing request applies them and marks them
 * done (`afterCommit`). What it could not apply (cache unreachable) or never got to (the process
 * died after commit) stays pending: a dispatcher in every instance claims pending rows with
 * `FOR UPDATE SKIP LOCKED` (so instances never apply the same batch at once), applies them,
 * retries with exponential backoff and jitter while the cache fails, replays at start-up whatever
 * a previous process left, and deletes processed rows after `retentionMs`.
 *
 * Delivery is at-least-once: applying an event twice only invalidates twice.
 */
export class OutboxDispatcher implements Outbox {
  readonly #db: Db
  readonly #apply: ApplyEvent
  readonly #log: OutboxLogger | undefined
  readonly #fenceMs: () => number
  readonly #pollMs: number
  readonly #maxBackoffMs: number
  readonly #graceMs: number
  readonly #batchSize: number
  readonly #retentionMs: number
  readonly #cleanupEveryMs: number
  readonly #startTimeoutMs: number
  readonly #random: () => number
  readonly #stats: OutboxStats = { appliedInline: 0, replayed: 0, failures: 0, cleaned: 0 }
  #timer: NodeJS.Timeout | undefined
  #tick: Promise<void> | undefined
  #kicked = false
  #started = false
  #stopped = false
  #failStreak = 0
  #lastCleanup = 0
  #failing = false

  constructor (opts: OutboxOptions) {
    this.#db = opts.db
    this.#apply = opts.apply
    this.#log = opts.log
    this.#fenceMs = opts.fenceMs ?? (() => 0)
    this.#pollMs = opts.pollMs ?? 500
    this.#maxBackoffMs = opts.maxBackoffMs ?? 2000
    this.#graceMs = Math.max(0, Math.floor(opts.graceMs ?? 3000))
    this.#batchSize = opts.batchSize ?? 100
    this.#retentionMs = Math.max(0, Math.floor(opts.retentionMs ?? 10 * 60_000))
    this.#cleanupEveryMs = opts.cleanupEveryMs ?? 60_000
    this.#startTimeoutMs = opts.startTimeoutMs ?? 2000
    this.#random = opts.random ?? Math.random
  }

  stats (): OutboxStats {
    return { ...this.#stats }
  }

  async record (tx: Tx, events: DomainEvent[]): Promise<number[]> {
    const rows = await tx.insert(outbox).values(events.map((e) => ({ event: e.name, payload: e.payload })))
      .returning({ id: outbox.id })
    // Identity values follow the VALUES order.
    return rows.map((r) => r.id).sort((a, b) => a - b)
  }

  async afterCommit (ids: number[], events: DomainEvent[]): Promise<void> {
    const done: number[] = []
    const failed: number[] = []
    for (let i = 0; i < events.length; i++) {
      try {
        await this.#apply(events[i] as DomainEvent)
        done.push(ids[i] as number)
        this.#stats.appliedInline++
      } catch (err) {
        failed.push(ids[i] as number)
        this.#failed(err)
      }
    }
    try {
      if (done.length > 0) await this.#markDone(done)
      // A counted attempt takes the row out of the writer's grace: the dispatcher retries it at once.
      if (failed.length > 0) await this.#db.update(outbox).set({ attempts: sql`${outbox.attempts} + 1` }).where(inArray(outbox.id, failed))
    } catch (err) {
      // Left pending, the rows are applied once more by a dispatcher: harmless.
      this.#log?.warn({ err }, 'outbox: could not record the outcome of applied events')
    }
    if (failed.length > 0) {
      // No other process may still serve what this write changed when its response goes out:
      // wait until another instance (one that can reach Redis) applied the events, or until every
      // other instance's L1 lease has run out (none of them can reach Redis either).
      const ms = this.#fenceMs()
      if (ms > 0) await this.#awaitApplied(failed, ms)
    }
  }

  async #awaitApplied (ids: number[], ms: number): Promise<void> {
    const deadline = performance.now() + ms
    for (;;) {
      const left = deadline - performance.now()
      if (left <= 0) return
      await sleep(Math.min(left, 100))
      try {
        const open = await this.#db.select({ id: outbox.id }).from(outbox)
          .where(and(inArray(outbox.id, ids), isNull(outbox.processedAt))).limit(1)
        if (open.length === 0) return
      } catch {
        // The database cannot tell: keep waiting out the lease.
      }
    }
  }

  /** Replays what a previous process left (waiting at most `startTimeoutMs`), then polls. */
  async start (): Promise<void> {
    if (this.#started || this.#stopped) return
    this.#started = true
    const first = this.#run(0)
    const timeout = sleep(this.#startTimeoutMs, undefined, { ref: false })
    await Promise.race([first, timeout])
  }

  /** Runs the dispatcher now (e.g. the cache just became reachable again). */
  kick (): void {
    if (!this.#started || this.#stopped) return
    if (this.#tick !== undefined) {
      this.#kicked = true
      return
    }
    this.#schedule(0)
  }

  /** Stops polling and waits for a pass in progress. */
  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#tick
  }

  /**
   * One claim-and-apply pass over pending rows older than `graceMs` (default 0) or already tried: locks up to
   * `batchSize` of them with SKIP LOCKED, applies them in order (fewest attempts first, so an
   * event that keeps failing cannot hold up the rest), stops at the first failure (the cache is
   * likely down), marks the applied ones done and counts an attempt on the failed one.
   */
  async drain (opts: { graceMs?: number } = {}): Promise<DrainResult> {
    // Rows of a writer that may still be applying them are left alone, unless it already failed.
    const pending = and(isNull(outbox.processedAt), or(gt(outbox.attempts, 0),
      lt(outbox.createdAt, sql`now() - ${sql.raw(String(Math.max(0, Math.floor(opts.graceMs ?? 0))))} * interval '1 millisecond'`)))
    // Most passes find nothing: one indexed read, no transaction.
    const probe = await this.#db.select({ id: outbox.id }).from(outbox).where(pending).limit(1)
    if (probe.length === 0) return { applied: 0, failed: 0 }
    return await this.#db.transaction(async (tx) => {
      const rows = await tx.select().from(outbox).where(pending)
        .orderBy(asc(outbox.attempts), asc(outbox.id)).limit(this.#batchSize).for('update', { skipLocked: true })
      const done: number[] = []
      const failed: number[] = []
      for (const row of rows) {
        const event = toEvent(row.event, row.payload)
        if (event === undefined) {
          // An event this version does not know (a newer instance wrote it): leave it to one that does.
          failed.push(row.id)
          this.#log?.warn({ id: row.id, event: row.event }, 'outbox: unknown event left pending')
          continue
        }
        try {
          await this.#apply(event)
          done.push(row.id)
        } catch (err) {
          failed.push(row.id)
          this.#failed(err)
          break
        }
      }
      if (done.length > 0) {
        await tx.update(outbox).set({ processedAt: sql`now()` }).where(inArray(outbox.id, done))
        this.#stats.replayed += done.length
      }
      if (failed.length > 0) {
        await tx.update(outbox).set({ attempts: sql`${outbox.attempts} + 1` }).where(inArray(outbox.id, failed))
      }
      return { applied: done.length, failed: failed.length }
    })
  }

  /** Deletes processed rows older than the retention; returns how many. */
  async cleanup (): Promise<number> {
    let total = 0
    for (let i = 0; i < 100; i++) {
      const doomed = this.#db.select({ id: outbox.id }).from(outbox)
        .where(lt(outbox.processedAt, sql`now() - ${sql.raw(String(this.#retentionMs))} * interval '1 millisecond'`))
        .limit(CLEANUP_BATCH)
      const gone = await this.#db.delete(outbox).where(inArray(outbox.id, doomed)).returning({ id: outbox.id })
      total += gone.length
      if (gone.length < CLEANUP_BATCH) break
    }
    this.#stats.cleaned += total
    return total
  }

  #failed (err: unknown): void {
    this.#stats.failures++
    if (!this.#failing) this.#log?.warn({ err }, 'outbox: cache invalidation failed; retrying until it is applied')
    this.#failing = true
  }

  async #markDone (ids: number[]): Promise<void> {
    // Rows a dispatcher holds right now are skipped: it marks them itself.
    const mine = this.#db.select({ id: outbox.id }).from(outbox)
      .where(and(inArray(outbox.id, ids), isNull(outbox.processedAt))).for('update', { skipLocked: true })
    await this.#db.update(outbox).set({ processedAt: sql`now()` }).where(inArray(outbox.id, mine))
  }

  #schedule (ms: number): void {
    if (this.#stopped) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#run(this.#graceMs).catch(() => {})
    }, ms)
    this.#timer.unref()
  }

  #run (graceMs: number): Promise<void> {
    if (this.#tick !== undefined) {
      this.#kicked = true
      return this.#tick
    }
    this.#tick = this.#pass(graceMs).finally(() => {
      this.#tick = undefined
      if (this.#stopped) return
      const again = this.#kicked
      this.#kicked = false
      this.#schedule(again ? 0 : this.#delay())
    })
    return this.#tick
  }

  async #pass (graceMs: number): Promise<void> {
    try {
      for (;;) {
        const r = await this.drain({ graceMs })
        if (r.failed > 0 && r.applied === 0) {
          this.#failStreak++
          return
        }
        if (r.applied > 0 && this.#failing) {
          this.#failing = false
          this.#log?.info({ applied: r.applied }, 'outbox: pending cache invalidations applied')
        }
        this.#failStreak = 0
        if (r.applied + r.failed < this.#batchSize || this.#stopped) break
      }
      if (Date.now() - this.#lastCleanup >= this.#cleanupEveryMs) {
        this.#lastCleanup = Date.now()
        await this.cleanup()
      }
    } catch (err) {
      // The database itself failed: back off like any other failure.
      this.#failStreak++
      if (this.#failStreak === 1) this.#log?.warn({ err }, 'outbox: dispatcher pass failed')
    }
  }

  #delay (): number {
    if (this.#failStreak === 0) return this.#pollMs
    const ceiling = Math.min(this.#maxBackoffMs, 100 * 2 ** Math.min(this.#failStreak, 10))
    // Equal jitter: instances that failed together do not retry in step.
    return Math.round(ceiling / 2 + this.#random() * ceiling / 2)
  }
}

function toEvent (name: string, payload: unknown): DomainEvent | undefined {
  if (!KNOWN.has(name) || typeof payload !== 'object' || payload === null) return undefined
  return { name: name as DomainEventName, payload } as DomainEvent
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The domain events' outbox and its dispatcher (decorated by src/app.ts). */
    outbox: OutboxDispatcher
  }
}

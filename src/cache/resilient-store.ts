import { systemClock, type Clock } from './clock.ts'
import { CacheError } from './errors.ts'
import type { MemoryStore } from './memory-store.ts'
import type { CacheEntry, SetOptions, Store, StoreKind } from './store.ts'

export type BreakerState = 'closed' | 'open' | 'half-open'
export type StoreOp = 'get' | 'tagTokens' | 'set' | 'delete' | 'invalidateTags' | 'deletePattern'

/**
 * The inner store did not answer: it took longer than the per-operation timeout, or the circuit
 * is open and it was not asked at all. Callers treat it like any store failure (a miss).
 */
export class StoreUnavailableError extends Error {
  readonly code: 'CACHE_ERR_TIMEOUT' | 'CACHE_ERR_CIRCUIT_OPEN'
  readonly op: StoreOp

  constructor (code: StoreUnavailableError['code'], op: StoreOp, message: string) {
    // An expected condition, raised per operation while the store is down: a stack would only
    // cost time (capturing one is most of an error's price) and say nothing.
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    super(message)
    Error.stackTraceLimit = limit
    this.name = 'StoreUnavailableError'
    this.code = code
    this.op = op
  }
}

/** What the resilient store reports: one `breaker` event per state change, the rest per operation. */
export type ResilienceEvent =
  | { type: 'breaker', state: BreakerState, previous: BreakerState, failures: number, retryInMs?: number, error?: unknown }
  | { type: 'timeout', op: StoreOp, timeoutMs: number }
  | { type: 'rejected', op: StoreOp }
  | { type: 'failure', op: StoreOp, error: unknown }
  /** Invalidations (tags) or deletes (keys) the store could not take; remembered for replay. */
  | { type: 'lost', tags: number, keys: number, dropped: boolean }
  /** Remembered invalidations and deletes that reached the store at last. */
  | { type: 'replayed', tags: number, keys: number }

export interface ResilientStoreOptions {
  /** The store to protect (a RedisStore, or a TieredStore in front of one). */
  store: Store
  /**
   * Longest any operation waits for the inner store; default 100 ms. Deadlines are checked every
   * timeoutMs / 4 (one timer per store, not one per operation), so an operation that never answers
   * fails after timeoutMs to 1.25 × timeoutMs (plus whatever event-loop lag delays timers).
   */
  timeoutMs?: number
  /** Consecutive failures (errors or timeouts) that open the circuit; default 5. */
  failureThreshold?: number
  /** First wait before a probe after opening; doubles on each failed probe; default 1000 ms. */
  backoffBaseMs?: number
  /** Cap of that wait; default 30 000 ms. */
  backoffMaxMs?: number
  /** Most invalidated tags plus deleted keys remembered for replay; default 100 000. */
  maxLost?: number
  /**
   * A local tier (the L1 of a TieredStore) that must forget what the inner store could not be
   * told: a failed invalidation or delete is applied to it alone, and it is cleared when the
   * circuit opens (invalidations from other processes cannot reach it while the circuit is open).
   */
  localTier?: MemoryStore
  clock?: Clock
  /** For the backoff jitter; tests pass a fixed one. */
  random?: () => number
  onEvent?: (e: ResilienceEvent) => void
}

export interface ResilienceStats {
  state: BreakerState
  /** Consecutive failures counted in the closed state. */
  failures: number
  /** Inner operations not settled yet, including ones a caller already gave up on. */
  pending: number
  /** Ms epoch at which the next probe may go out (open state only). */
  retryAt: number | undefined
  /** Tags and keys whose invalidation or delete the store has not taken yet. */
  lost: number
  opened: number
  timeouts: number
  rejected: number
}

const REPLAY_BATCH = 500

/** How the breaker let an operation through. */
type Admitted = 'closed' | 'probe'

/** An operation waiting for the inner store's answer or for its deadline, whichever comes first. */
interface Waiter {
  /** performance.now() past which it times out. */
  readonly deadline: number
  readonly op: StoreOp
  /** Undefined for a background replay, whose outcome the breaker does not count. */
  readonly admitted: Admitted | undefined
  /** The breaker's epoch when it was admitted. */
  readonly epoch: number
  readonly reject: (err: unknown) => void
  /** Answered, failed or timed out: whatever comes second is ignored. */
  done: boolean
  /** In the sweeper's list (a waiter leaves it when answered or when its deadline passes). */
  queued: boolean
  prev: Waiter | undefined
  next: Waiter | undefined
}

/**
 * A Store in front of another that never lets a caller wait much longer than `timeoutMs` (a
 * quarter more at most: see the option), with a circuit breaker: after `failureThreshold`
 * consecutive failures it stops calling the inner store (every operation fails at once), waits
 * an exponentially growing, jittered delay, then lets
 * exactly one operation through as a probe (half-open). The probe's success closes the circuit;
 * its failure opens it again with a longer wait. Probing rides on real traffic (with no requests
 * there is nothing to protect), so tests drive it with a manual clock instead of timers.
 *
 * An invalidation or delete the inner store did not take is remembered: until it is replayed
 * (in the background, once the circuit is closed, with its own backoff) a read never returns an
 * entry carrying one of those tags or keys, so a store that missed a write's invalidation (down,
 * read-only, out of memory) serves a miss, never the stale entry.
 */
export class ResilientStore implements Store {
  readonly kind: StoreKind
  readonly inner: Store
  readonly timeoutMs: number
  readonly #threshold: number
  readonly #baseMs: number
  readonly #maxMs: number
  readonly #maxLost: number
  readonly #local: MemoryStore | undefined
  readonly #clock: Clock
  readonly #random: () => number
  readonly #listeners = new Set<(e: ResilienceEvent) => void>()
  #state: BreakerState = 'closed'
  /** Bumped on every state change: outcomes of operations begun in an earlier epoch are ignored. */
  #epoch = 0
  #failures = 0
  /** Exponent of the backoff: grows with failed probes and with reopening soon after closing. */
  #attempt = 0
  #closedAt = Number.NEGATIVE_INFINITY
  #retryAt = 0
  #probing = false
  #pending = 0
  #opened = 0
  #timeouts = 0
  #rejected = 0
  /** Tag or key → sequence number of the failure that lost it (a replay clears only older ones). */
  readonly #lostTags = new Map<string, number>()
  readonly #lostKeys = new Map<string, number>()
  #lostSeq = 0
  #replaying = false
  #replayAt = 0
  #replayAttempt = 0
  /**
   * Operations waiting for an answer, oldest first: a doubly linked list in deadline order, since
   * every deadline is a monotonic now plus the same timeoutMs. An answer unlinks its waiter at once.
   */
  #head: Waiter | undefined
  #tail: Waiter | undefined
  #sweeper: ReturnType<typeof setInterval> | undefined

  constructor (opts: ResilientStoreOptions) {
    if (opts?.store === undefined || typeof opts.store.get !== 'function') {
      throw new CacheError('CACHE_ERR_BAD_OPTION', 'ResilientStore: store is required')
    }
    const positive = (name: string, v: number | undefined, fallback: number): number => {
      const n = v ?? fallback
      if (!Number.isFinite(n) || n <= 0) throw new CacheError('CACHE_ERR_BAD_OPTION', `ResilientStore: ${name} must be a positive number, got ${String(n)}`)
      return n
    }
    this.inner = opts.store
    this.kind = opts.store.kind
    this.timeoutMs = positive('timeoutMs', opts.timeoutMs, 100)
    this.#threshold = Math.ceil(positive('failureThreshold', opts.failureThreshold, 5))
    this.#baseMs = positive('backoffBaseMs', opts.backoffBaseMs, 1000)
    this.#maxMs = Math.max(this.#baseMs, positive('backoffMaxMs', opts.backoffMaxMs, 30_000))
    this.#maxLost = positive('maxLost', opts.maxLost, 100_000)
    this.#local = opts.localTier
    this.#clock = opts.clock ?? systemClock
    this.#random = opts.random ?? Math.random
    if (opts.onEvent !== undefined) this.#listeners.add(opts.onEvent)
  }

  /** Adds a listener of breaker state changes and per-operation outcomes; returns its remover. */
  subscribe (listener: (e: ResilienceEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /** The circuit's state as of the last operation. */
  breakerState (): BreakerState {
    return this.#state
  }

  stats (): ResilienceStats {
    return {
      state: this.#state,
      failures: this.#failures,
      pending: this.#pending,
      retryAt: this.#state === 'open' ? this.#retryAt : undefined,
      lost: this.#lostTags.size + this.#lostKeys.size,
      opened: this.#opened,
      timeouts: this.#timeouts,
      rejected: this.#rejected
    }
  }

  async tagTokens (tags: string[]): Promise<string[]> {
    return await this.#run('tagTokens', () => this.inner.tagTokens(tags))
  }

  async get (key: string): Promise<CacheEntry | undefined> {
    const entry = await this.#run('get', () => this.inner.get(key))
    if (entry === undefined || (this.#lostTags.size === 0 && this.#lostKeys.size === 0)) return entry
    // The store may still hold what an invalidation or delete it missed should have removed.
    if (this.#lostKeys.has(key) || entry.tags.some((t) => this.#lostTags.has(t))) return undefined
    return entry
  }

  async set (key: string, value: string, meta: string, opts: SetOptions): Promise<boolean> {
    // A set that times out may still land later; it carries its tags' tokens, so it lands only
    // if no invalidation happened in between (the store's set is conditional on them).
    const since = this.#lostSeq
    const stored = await this.#run('set', () => this.inner.set(key, value, meta, opts))
    // A newer value replaces whatever a missed delete left behind; replaying it would erase this.
    if (stored) this.#forget(this.#lostKeys, [key], since)
    return stored
  }

  async delete (keys: string[]): Promise<number> {
    return await this.guard('delete', () => this.inner.delete(keys), { keys })
  }

  async invalidateTags (tags: string[]): Promise<void> {
    await this.guard('invalidateTags', () => this.inner.invalidateTags(tags), { tags })
  }

  /**
   * Runs any other operation of the inner store under the same timeout and breaker. `changes`
   * names the tags it invalidates and the keys it deletes: on failure they are forgotten locally,
   * remembered and replayed, as for `invalidateTags` and `delete`.
   */
  async guard<T> (op: StoreOp, call: () => Promise<T>, changes: { tags?: string[], keys?: string[] } = {}): Promise<T> {
    const tags = changes.tags ?? []
    const keys = changes.keys ?? []
    const since = this.#lostSeq
    try {
      const value = await this.#run(op, call)
      this.#forget(this.#lostTags, tags, since)
      this.#forget(this.#lostKeys, keys, since)
      return value
    } catch (err) {
      // This process at least must not serve what was just invalidated; the caller may retry the
      // shared store too (an outbox), and this store replays it once the store answers again.
      if (!(err instanceof CacheError) && (tags.length > 0 || keys.length > 0)) {
        if (tags.length > 0) this.#local?.invalidateTagsSync(tags)
        if (keys.length > 0) this.#local?.deleteSync(keys)
        this.#remember(tags, keys)
      }
      throw err
    }
  }

  async deletePattern (glob: string): Promise<number> {
    try {
      return await this.#run('deletePattern', () => this.inner.deletePattern(glob))
    } catch (err) {
      if (!(err instanceof CacheError)) this.#local?.deletePatternSync(glob)
      throw err
    }
  }

  size (): { entries: number, bytes: number } {
    return this.inner.size?.() ?? { entries: 0, bytes: 0 }
  }

  async close (): Promise<void> {
    if (this.#head === undefined) this.#stopSweeper()
    await this.inner.close?.()
  }

  #emit (e: ResilienceEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(e)
      } catch {
        // A broken listener must not break caching.
      }
    }
  }

  #backoff (attempt: number): number {
    const delay = Math.min(this.#maxMs, this.#baseMs * 2 ** attempt)
    // Equal jitter: at least half the delay, so a fleet neither probes in step nor too early.
    return Math.round(delay / 2 + this.#random() * delay / 2)
  }

  #transition (state: BreakerState, error?: unknown): void {
    const previous = this.#state
    if (previous === state) return
    this.#state = state
    this.#epoch++
    const now = this.#clock.now()
    const e: ResilienceEvent = { type: 'breaker', state, previous, failures: this.#failures }
    if (state === 'open') {
      this.#opened++
      // Reopening soon after closing is one long outage: keep backing off instead of starting over.
      if (previous === 'closed') this.#attempt = now - this.#closedAt > this.#maxMs ? 0 : this.#attempt + 1
      const wait = this.#backoff(this.#attempt)
      this.#retryAt = now + wait
      e.retryInMs = wait
      if (error !== undefined) e.error = error
      this.#local?.clear()
    } else if (state === 'closed') {
      this.#failures = 0
      this.#closedAt = now
    }
    this.#emit(e)
  }

  /** Whether this call may reach the inner store; moves open → half-open once the wait is over. */
  #admit (): 'closed' | 'probe' | false {
    if (this.#state === 'closed') return 'closed'
    if (this.#state === 'open') {
      if (this.#clock.now() < this.#retryAt) return false
      this.#transition('half-open')
    }
    if (this.#probing) return false
    this.#probing = true
    return 'probe'
  }

  /** Calls the inner store under the breaker and the timeout. */
  #run<T> (op: StoreOp, call: () => Promise<T>): Promise<T> {
    const admitted = this.#admit()
    if (admitted === false) {
      this.#rejected++
      this.#emit({ type: 'rejected', op })
      return Promise.reject(new StoreUnavailableError('CACHE_ERR_CIRCUIT_OPEN', op, `cache store circuit is ${this.#state}: ${op} not attempted`))
    }
    if (admitted === 'closed') this.#maybeReplay()
    return this.#withTimeout(op, call, admitted, this.#epoch)
  }

  /** Tells the breaker how an admitted operation ended: `error` undefined is a success. */
  #outcome (admitted: Admitted, epoch: number, op: StoreOp, error: unknown): void {
    if (error instanceof CacheError) {
      // A caller's mistake says nothing about the store's health.
      if (admitted === 'probe') this.#probing = false
      return
    }
    this.#settle(admitted, epoch, error)
    if (error !== undefined && !(error instanceof StoreUnavailableError)) this.#emit({ type: 'failure', op, error })
  }

  #settle (admitted: Admitted, epoch: number, error: unknown): void {
    if (admitted === 'probe') {
      this.#probing = false
      if (epoch !== this.#epoch) return
      if (error === undefined) {
        this.#transition('closed')
      } else {
        this.#attempt++
        this.#transition('open', error)
      }
      return
    }
    if (epoch !== this.#epoch) return
    if (error === undefined) {
      this.#failures = 0
      return
    }
    this.#failures++
    if (this.#failures >= this.#threshold) this.#transition('open', error)
  }

  #remember (tags: string[], keys: string[]): void {
    const seq = ++this.#lostSeq
    let dropped = false
    for (const [list, map] of [[tags, this.#lostTags], [keys, this.#lostKeys]] as const) {
      for (const item of list) {
        if (!map.has(item) && this.#lostTags.size + this.#lostKeys.size >= this.#maxLost) {
          dropped = true
          continue
        }
        map.set(item, seq)
      }
    }
    this.#emit({ type: 'lost', tags: tags.length, keys: keys.length, dropped })
  }

  /** Drops remembered items lost at or before `upTo`: an operation begun after them covered them. */
  #forget (map: Map<string, number>, items: string[], upTo: number): void {
    if (map.size === 0) return
    for (const item of items) if ((map.get(item) ?? Infinity) <= upTo) map.delete(item)
  }

  /** Sends remembered invalidations and deletes in the background, a batch at a time. */
  #maybeReplay (): void {
    if (this.#replaying || (this.#lostTags.size === 0 && this.#lostKeys.size === 0)) return
    if (this.#clock.now() < this.#replayAt) return
    this.#replaying = true
    const tags = [...this.#lostTags.keys()].slice(0, REPLAY_BATCH)
    const keys = [...this.#lostKeys.keys()].slice(0, REPLAY_BATCH)
    const upTo = this.#lostSeq
    const replay = async (): Promise<void> => {
      if (tags.length > 0) await this.#withTimeout('invalidateTags', () => this.inner.invalidateTags(tags))
      if (keys.length > 0) await this.#withTimeout('delete', () => this.inner.delete(keys))
    }
    replay().then(() => {
      // Only what was lost before this replay began is covered by it.
      this.#forget(this.#lostTags, tags, upTo)
      this.#forget(this.#lostKeys, keys, upTo)
      this.#replayAttempt = 0
      this.#emit({ type: 'replayed', tags: tags.length, keys: keys.length })
    }, () => {
      this.#replayAt = this.#clock.now() + this.#backoff(this.#replayAttempt++)
    }).finally(() => { this.#replaying = false })
  }

  /**
   * The inner call's answer, or a timeout error once it has taken longer than timeoutMs. The
   * breaker hears of the outcome (when `admitted` is given) before the caller does.
   */
  #withTimeout<T> (op: StoreOp, call: () => Promise<T>, admitted?: Admitted, epoch = 0): Promise<T> {
    let promise: Promise<T>
    try {
      promise = call()
    } catch (err) {
      if (admitted !== undefined) this.#outcome(admitted, epoch, op, err)
      return Promise.reject(err)
    }
    this.#pending++
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        deadline: performance.now() + this.timeoutMs,
        op,
        admitted,
        epoch,
        reject,
        done: false,
        queued: true,
        prev: undefined,
        next: undefined
      }
      this.#watch(waiter)
      promise.then((value) => {
        this.#pending--
        if (waiter.done) return
        this.#unwatch(waiter)
        if (admitted !== undefined) this.#outcome(admitted, epoch, op, undefined)
        resolve(value)
      }, (err: unknown) => {
        this.#pending--
        if (waiter.done) return
        this.#unwatch(waiter)
        if (admitted !== undefined) this.#outcome(admitted, epoch, op, err)
        reject(err)
      })
    })
  }

  /**
   * Appends a waiter for the sweeper, started on demand. A timer per operation (setTimeout +
   * clearTimeout) cost more CPU than a Redis hit's own parsing; one interval per store costs nothing
   * per operation. Like those timers it holds the process open (an operation that never answers
   * still fails instead of the process exiting under it), and it stops at the first tick that
   * finds nothing waiting.
   */
  #watch (waiter: Waiter): void {
    const tail = this.#tail
    waiter.prev = tail
    if (tail === undefined) this.#head = waiter
    else tail.next = waiter
    this.#tail = waiter
    this.#sweeper ??= setInterval(() => { this.#sweep() }, Math.max(1, this.timeoutMs / 4))
  }

  /** Marks a waiter done and unlinks it, if the sweeper has not taken it already. */
  #unwatch (waiter: Waiter): void {
    waiter.done = true
    if (!waiter.queued) return
    waiter.queued = false
    const { prev, next } = waiter
    if (prev === undefined) this.#head = next
    else prev.next = next
    if (next === undefined) this.#tail = prev
    else next.prev = prev
    waiter.prev = undefined
    waiter.next = undefined
  }

  /** Takes every waiter past its deadline off the list and times it out, unless it is answered first. */
  #sweep (): void {
    const now = performance.now()
    const expired: Waiter[] = []
    let waiter = this.#head
    while (waiter !== undefined && waiter.deadline <= now) {
      const next = waiter.next
      waiter.queued = false
      waiter.prev = undefined
      waiter.next = undefined
      expired.push(waiter)
      waiter = next
    }
    this.#head = waiter
    if (waiter === undefined) {
      this.#tail = undefined
      this.#stopSweeper()
    } else {
      waiter.prev = undefined
    }
    // Timers run before I/O in each turn of the event loop: on a busy process a reply may be
    // waiting in the socket when the sweeper runs. setImmediate runs after that I/O, so only a
    // store that really did not answer times out, not one the event loop had not read yet.
    if (expired.length > 0) setImmediate(() => { for (const w of expired) this.#expire(w) })
  }

  #expire (waiter: Waiter): void {
    if (waiter.done) return
    waiter.done = true
    const { op, admitted } = waiter
    this.#timeouts++
    this.#emit({ type: 'timeout', op, timeoutMs: this.timeoutMs })
    const err = new StoreUnavailableError('CACHE_ERR_TIMEOUT', op, `cache store ${op} took longer than ${this.timeoutMs} ms`)
    if (admitted !== undefined) this.#outcome(admitted, waiter.epoch, op, err)
    waiter.reject(err)
  }

  #stopSweeper (): void {
    clearInterval(this.#sweeper)
    this.#sweeper = undefined
  }
}

const STORE_OPS = new Set<PropertyKey>(['get', 'set', 'tagTokens', 'delete', 'invalidateTags', 'deletePattern'])

type Guarded = (args: unknown[]) => { op: StoreOp, tags?: string[], keys?: string[] }

// Variants of invalidateTags and delete a RedisStore offers to the invalidation bus (they also
// publish the change): guarded like the operations they extend.
const EXTENDED_OPS: Record<string, Guarded> = {
  invalidateTagsAnnounced: (args) => ({ op: 'invalidateTags', tags: args[0] as string[] }),
  deleteAnnounced: (args) => ({ op: 'delete', keys: args[0] as string[] })
}

/**
 * The same store, its I/O guarded by a ResilientStore: the Store operations (and a RedisStore's
 * bus-announced invalidate and delete) go through the breaker and the timeout, everything else
 * (a RedisStore's client, prefix, key helpers) is the store's own. So a TieredStore keeps the RedisStore it expects as L2, and an L1 hit never pays
 * for a timer. `resilience` is the guard (state, stats, subscribe).
 */
export function withResilience<T extends Store> (store: T, opts: Omit<ResilientStoreOptions, 'store'>): T & { readonly resilience: ResilientStore } {
  const guard = new ResilientStore({ ...opts, store })
  // Bound once: the proxy is read on every operation (a TieredStore's L2 get on each L1 miss).
  const ops = new Map<PropertyKey, unknown>()
  for (const prop of STORE_OPS) {
    ops.set(prop, (guard as unknown as Record<PropertyKey, (...args: unknown[]) => unknown>)[prop]!.bind(guard))
  }
  return new Proxy(store, {
    get (target, prop) {
      if (prop === 'resilience') return guard
      // No synchronous answers through the guard: its filter of invalidations it could not
      // deliver lives in get, and a peek would skip it.
      if (prop === 'peek') return undefined
      const op = ops.get(prop)
      if (op !== undefined) return op
      const value: unknown = Reflect.get(target, prop, target)
      const extended = typeof prop === 'string' && Object.hasOwn(EXTENDED_OPS, prop) ? EXTENDED_OPS[prop] : undefined
      if (extended !== undefined && typeof value === 'function') {
        return (...args: unknown[]) => {
          const { op, ...changes } = extended(args)
          return guard.guard(op, () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args), changes)
        }
      }
      // Methods run on the real object: class private fields do not exist on a proxy.
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    }
  }) as T & { readonly resilience: ResilientStore }
}

/** The ResilientStore guarding a store: the store itself, its `resilience`, or its L2's. */
export function resilienceOf (store: Store | undefined): ResilientStore | undefined {
  if (store === undefined) return undefined
  if (store instanceof ResilientStore) return store
  const s = store as { resilience?: unknown, l2?: Store }
  if (s.resilience instanceof ResilientStore) return s.resilience
  return s.l2 === undefined || s.l2 === store ? undefined : resilienceOf(s.l2)
}

/** The breaker state of a store, when it is, has or sits on a ResilientStore. */
export function breakerStateOf (store: Store): BreakerState | undefined {
  return resilienceOf(store)?.breakerState()
}

interface BreakerLog {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

/** A listener that writes one log line per breaker state change (never one per request). */
export function logBreakerChanges (log: BreakerLog): (e: ResilienceEvent) => void {
  return (e) => {
    if (e.type !== 'breaker') return
    const err = e.error instanceof Error ? e.error.message : e.error === undefined ? undefined : String(e.error)
    if (e.state === 'open') {
      log.warn({ breaker: e.state, from: e.previous, failures: e.failures, retryInMs: e.retryInMs, err }, 'cache circuit open: serving from the database')
    } else if (e.state === 'closed') {
      log.info({ breaker: e.state, from: e.previous }, 'cache circuit closed: cache back in use')
    } else {
      log.info({ breaker: e.state, from: e.previous }, 'cache circuit half-open: probing the store')
    }
  }
}

import { Redis } from 'ioredis'
import type { Scheduler } from 'fast-check'
import { MemoryStore } from '../../src/cache/memory-store.ts'
import { RedisStore } from '../../src/cache/redis-store.ts'
import { TieredStore } from '../../src/cache/tiered-store.ts'
import type { CacheEntry, SetOptions, Store } from '../../src/cache/store.ts'
import { deletePrefix, REDIS_URL } from '../helpers/build.ts'

interface Teardown { teardown (fn: () => unknown): void }

export type StoreKind = 'memory' | 'redis' | 'tiered'
export const STORE_KINDS: StoreKind[] = ['memory', 'redis', 'tiered']

let n = 0

/** A fresh store of the kind; Redis ones on the shared server under a prefix deleted at teardown. */
export function makeStore (t: Teardown, kind: StoreKind): Store {
  if (kind === 'memory') return new MemoryStore({ maxBytes: 1 << 20 })
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 })
  const prefix = `test:consistency:${process.pid}:${n++}:${Date.now().toString(36)}`
  t.teardown(async () => {
    await deletePrefix(REDIS_URL, prefix)
    client.disconnect()
  })
  const l2 = new RedisStore({ client, prefix })
  return kind === 'redis' ? l2 : new TieredStore({ l1: new MemoryStore({ maxBytes: 1 << 20 }), l2 })
}

type Op = 'get' | 'tagTokens' | 'set' | 'invalidateTags' | 'delete' | 'deletePattern'

interface Pause {
  op: Op
  key: string | undefined
  /** Resolves when the paused call has reached the barrier (its inner call not made yet for 'before', done for 'after'). */
  reached: Promise<void>
  release: () => void
  arrive: () => void
  gate: Promise<void>
  at: 'before' | 'after'
}

/**
 * A Store in front of another that lets a test stop one operation at a barrier, before it reaches
 * the inner store or after the inner store answered, and release it later: deterministic
 * interleavings of readers and writers.
 */
export class BarrierStore implements Store {
  readonly kind: Store['kind']
  readonly inner: Store
  readonly #pauses: Pause[] = []
  /** Results of `set` calls, in order (true: stored). */
  readonly sets: Array<{ key: string, stored: boolean }> = []

  constructor (inner: Store) {
    this.inner = inner
    this.kind = inner.kind
  }

  /** Stops the next `op` (on `key`, if given) at the barrier; `at` before or after the inner call. */
  pauseNext (op: Op, key?: string, at: 'before' | 'after' = 'before'): { reached: Promise<void>, release: () => void } {
    let arrive!: () => void
    let release!: () => void
    const reached = new Promise<void>((resolve) => { arrive = resolve })
    const gate = new Promise<void>((resolve) => { release = resolve })
    this.#pauses.push({ op, key, reached, release, arrive, gate, at })
    return { reached, release }
  }

  async #barrier (op: Op, key: string | undefined, at: 'before' | 'after'): Promise<void> {
    const i = this.#pauses.findIndex((p) => p.op === op && p.at === at && (p.key === undefined || p.key === key))
    if (i === -1) return
    const [p] = this.#pauses.splice(i, 1)
    p!.arrive()
    await p!.gate
  }

  async #run<T> (op: Op, key: string | undefined, call: () => Promise<T>): Promise<T> {
    await this.#barrier(op, key, 'before')
    const r = await call()
    await this.#barrier(op, key, 'after')
    return r
  }

  tagTokens (tags: string[]): Promise<string[]> {
    return this.#run('tagTokens', tags[0], () => this.inner.tagTokens(tags))
  }

  get (key: string): Promise<CacheEntry | undefined> {
    return this.#run('get', key, () => this.inner.get(key))
  }

  async set (key: string, value: string, meta: string, opts: SetOptions): Promise<boolean> {
    const stored = await this.#run('set', key, () => this.inner.set(key, value, meta, opts))
    this.sets.push({ key, stored })
    return stored
  }

  delete (keys: string[]): Promise<number> {
    return this.#run('delete', keys[0], () => this.inner.delete(keys))
  }

  invalidateTags (tags: string[]): Promise<void> {
    return this.#run('invalidateTags', tags[0], () => this.inner.invalidateTags(tags))
  }

  deletePattern (glob: string): Promise<number> {
    return this.#run('deletePattern', glob, () => this.inner.deletePattern(glob))
  }
}

/**
 * A Store in front of another whose every operation takes effect, and answers, at moments a
 * fast-check scheduler picks: randomized interleavings of everything that touches the cache.
 * `scheduler` undefined lets calls straight through (to check the end state).
 */
export class ScheduledStore implements Store {
  readonly kind: Store['kind']
  readonly inner: Store
  scheduler: Scheduler | undefined

  constructor (inner: Store) {
    this.inner = inner
    this.kind = inner.kind
  }

  #inflight = 0
  readonly #settled: Array<() => void> = []

  async #run<T> (label: string, call: () => Promise<T>): Promise<T> {
    const s = this.scheduler
    if (s === undefined) return await call()
    await s.schedule(Promise.resolve(), `${label} sent`)
    this.#inflight++
    let r: T
    try {
      r = await call()
    } finally {
      if (--this.#inflight === 0) for (const done of this.#settled.splice(0)) done()
    }
    await s.schedule(Promise.resolve(), `${label} answered`)
    return r
  }

  /**
   * Resolves once no call is on its way to the inner store. Used as the scheduler's `act`, so the
   * scheduler picks the next step only after real I/O (Redis) settled: otherwise whoever is not
   * waiting on the network would always run first, and most interleavings would never be tried.
   */
  async settle (): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve))
      if (this.#inflight === 0) return
      await new Promise<void>((resolve) => { this.#settled.push(resolve) })
    }
  }

  /** A fast-check scheduler `act` that settles real I/O before and after every step. */
  readonly act = async (step: () => Promise<void>): Promise<void> => {
    await this.settle()
    await step()
    await this.settle()
  }

  tagTokens (tags: string[]): Promise<string[]> { return this.#run('tagTokens', () => this.inner.tagTokens(tags)) }
  get (key: string): Promise<CacheEntry | undefined> { return this.#run(`get ${key}`, () => this.inner.get(key)) }
  set (key: string, value: string, meta: string, opts: SetOptions): Promise<boolean> {
    return this.#run(`set ${key}`, () => this.inner.set(key, value, meta, opts))
  }

  delete (keys: string[]): Promise<number> { return this.#run('delete', () => this.inner.delete(keys)) }
  invalidateTags (tags: string[]): Promise<void> { return this.#run('invalidateTags', () => this.inner.invalidateTags(tags)) }
  deletePattern (glob: string): Promise<number> { return this.#run('deletePattern', () => this.inner.deletePattern(glob)) }
}

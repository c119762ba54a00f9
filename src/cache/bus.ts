import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { Redis } from 'ioredis'
import { CacheError } from './errors.ts'
import type { Announcement, LiveMember, RedisStore } from './redis-store.ts'

/** What the bus changes in this process's L1 (implemented by TieredStore). */
export interface BusTarget {
  invalidateLocal (tags: string[]): void
  deleteLocal (keys: string[]): void
  deletePatternLocal (glob: string): void
  clearLocal (): void
}

export interface BusLogger {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface InvalidationBusOptions {
  /** The L2 store: its client carries commands, a duplicate of it subscribes; its prefix names the channels. */
  l2: RedisStore
  /** How long a member may serve its L1 after its last confirmed renewal. Writers wait at most this long for a silent member. */
  leaseMs?: number
  log?: BusLogger
  /** Member id (random by default); must be unique among the processes sharing the prefix. */
  id?: string
}

export type BusKind = 't' | 'k' | 'p'

/** One change being published: what the Lua script must publish, and the wait for the members' acks. */
export interface BusMessage {
  announcement: Announcement
  /** Resolves once every member listed acknowledged, or its lease ran out. */
  wait (members: LiveMember[]): Promise<void>
  /** The change failed: stop tracking it. */
  cancel (): void
}

export interface BusStats {
  id: string
  subscribed: boolean
  l1Usable: boolean
  published: number
  received: number
  /** Writes that had to wait for a member's lease to run out instead of its ack. */
  ackTimeouts: number
  /** Times the subscription was lost (L1 cleared and bypassed until it was back). */
  drops: number
}

interface Pending {
  early: Set<string>
  waiting?: Set<string>
  settle?: () => void
}

const DEFAULT_LEASE_MS = 1500
// How long another member's existence is remembered when deciding whether a failed write must wait.
const MEMBER_MEMORY_MS = 60_000

/**
 * Keeps each process's L1 coherent over Redis pub/sub, with leases so that a write's response
 * means every other process's L1 has dropped the old data (or is not serving L1 at all).
 *
 * - Every change (tag invalidation, key or pattern deletion) is published by the same Lua script
 *   that makes it in L2, which also returns the members whose lease is running. The writer waits
 *   until each of them acknowledged (it applied the change to its L1) or its lease ran out.
 * - A member serves L1 only while subscribed and within its lease. The lease is renewed every
 *   lease/4 through a script that (a) refuses when Redis no longer sees the member's subscriber
 *   connection and (b) publishes a marker to the member's own channel. The local lease is extended
 *   only when that marker arrives on the subscriber connection: everything published before the
 *   renewal has then been applied, since one connection delivers messages in order.
 * - When the subscription drops, L1 is cleared and bypassed until it is back and a lease is held.
 */
export class InvalidationBus {
  readonly id: string
  readonly channel: string
  readonly ackChannel: string
  readonly leaseMs: number
  readonly #l2: RedisStore
  readonly #client: Redis
  readonly #log: BusLogger | undefined
  readonly #pending = new Map<number, Pending>()
  readonly #renewals = new Map<string, number>()
  readonly #recover = new Set<() => void>()
  #target: BusTarget | undefined
  #sub: Redis | undefined
  #timer: NodeJS.Timeout | undefined
  #subscribed = false
  #leaseUntil = 0
  #msgSeq = 0
  #renewSeq = 0
  #renewing = false
  #closed = false
  #othersSeenAt = Number.NEGATIVE_INFINITY
  #announcedDown = false
  readonly #stats = { published: 0, received: 0, ackTimeouts: 0, drops: 0 }

  constructor (opts: InvalidationBusOptions) {
    if (opts?.l2?.kind !== 'redis') throw new CacheError('CACHE_ERR_BAD_OPTION', 'InvalidationBus: l2 must be a RedisStore')
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS
    if (!Number.isSafeInteger(leaseMs) || leaseMs < 100) {
      throw new CacheError('CACHE_ERR_BAD_OPTION', `InvalidationBus: leaseMs must be an integer >= 100, got ${String(leaseMs)}`)
    }
    this.#l2 = opts.l2
    this.#client = opts.l2.client
    this.#log = opts.log
    this.leaseMs = leaseMs
    this.id = opts.id ?? randomBytes(8).toString('hex')
    if (/\s/.test(this.id)) throw new CacheError('CACHE_ERR_BAD_OPTION', 'InvalidationBus: id may not hold whitespace')
    this.channel = `${opts.l2.prefix}:bus`
    this.ackChannel = `${this.channel}:ack:${this.id}`
  }

  /** The L1 this bus keeps coherent; set once by TieredStore. */
  attach (target: BusTarget): void {
    this.#target = target
  }

  /** Whether L1 may be read or filled now: subscribed, and within a confirmed lease. */
  l1Usable (): boolean {
    return this.#subscribed && performance.now() < this.#leaseUntil
  }

  /**
   * How long a writer whose change could not reach Redis must wait before replying, so that every
   * other member's lease (hence its L1) has run out: the lease when other members were seen
   * recently, else 0 (a single process has no one else's L1 to wait for).
   */
  fenceMs (): number {
    return performance.now() - this.#othersSeenAt < MEMBER_MEMORY_MS ? Math.ceil(this.leaseMs * 1.01) + 2 : 0
  }

  /** Called whenever the subscription is (re)established: Redis is reachable again. */
  onRecover (fn: () => void): () => void {
    this.#recover.add(fn)
    return () => { this.#recover.delete(fn) }
  }

  stats (): BusStats {
    return { id: this.id, subscribed: this.#subscribed, l1Usable: this.l1Usable(), ...this.#stats }
  }

  /** Opens the subscriber connection (in the background: Redis may be down) and starts renewing the lease. */
  start (): void {
    if (this.#sub !== undefined || this.#closed) return
    // Named, so an operator can find (or kill) one process's subscriber in CLIENT LIST.
    const sub = this.#client.duplicate({ autoResubscribe: false, lazyConnect: true, connectionName: `bus-${this.id}` })
    this.#sub = sub
    sub.on('error', () => {})
    sub.on('ready', () => {
      sub.subscribe(this.channel, this.ackChannel).then(() => {
        if (this.#sub === sub && !this.#closed) this.#onSubscribed()
      }, () => {
        if (this.#sub === sub && !this.#closed) sub.disconnect(true)
      })
    })
    sub.on('close', () => { this.#onLost('subscriber connection closed') })
    sub.on('message', (channel: string, message: string) => { this.#onMessage(channel, message) })
    sub.connect().catch(() => {})
    this.#timer = setInterval(() => { this.#renew().catch(() => {}) }, Math.max(25, Math.floor(this.leaseMs / 4)))
    this.#timer.unref()
  }

  /** Starts publishing one change: the Lua script that makes it publishes `announcement`. */
  begin (kind: BusKind, items: string[]): BusMessage {
    const msgId = ++this.#msgSeq
    const pending: Pending = { early: new Set() }
    this.#pending.set(msgId, pending)
    this.#stats.published++
    const announcement = { channel: this.channel, message: JSON.stringify([this.id, msgId, kind, items]) }
    const wait = async (members: LiveMember[]): Promise<void> => {
      const others = members.filter((m) => m.id !== this.id)
      if (others.length > 0) this.#othersSeenAt = performance.now()
      const waiting = new Set(others.map((m) => m.id).filter((id) => !pending.early.has(id)))
      if (waiting.size === 0 || this.#closed) {
        this.#pending.delete(msgId)
        return
      }
      // Redis reported the time left at the script's run; counting from the reply only adds margin.
      const ms = Math.ceil(Math.max(...others.map((m) => m.remainingMs)) * 1.01) + 2
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { settle(true) }, ms)
        const settle = (timedOut: boolean): void => {
          clearTimeout(timer)
          this.#pending.delete(msgId)
          if (timedOut) this.#stats.ackTimeouts++
          resolve()
        }
        pending.waiting = waiting
        pending.settle = () => { settle(false) }
      })
    }
    return { announcement, wait, cancel: () => { this.#pending.delete(msgId) } }
  }

  /** Leaves the member set (writers stop waiting for us at once), closes the subscriber. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#subscribed = false
    this.#leaseUntil = 0
    for (const p of this.#pending.values()) p.settle?.()
    this.#pending.clear()
    if (this.#client.status === 'ready') await this.#l2.removeMember(this.id).catch(() => {})
    this.#sub?.disconnect()
    this.#sub = undefined
  }

  #onSubscribed (): void {
    this.#subscribed = true
    // Anything published before the subscription took effect was missed: start from an empty L1.
    this.#target?.clearLocal()
    if (this.#announcedDown) this.#log?.info({ bus: this.id }, 'invalidation bus subscribed again: L1 back in use')
    this.#announcedDown = false
    this.#renew().catch(() => {})
    for (const fn of this.#recover) {
      try { fn() } catch { /* a listener's failure is its own */ }
    }
  }

  #onLost (why: string): void {
    const wasUp = this.#subscribed || this.#leaseUntil > 0
    this.#subscribed = false
    this.#leaseUntil = 0
    this.#renewals.clear()
    if (!wasUp || this.#closed) return
    this.#stats.drops++
    this.#target?.clearLocal()
    if (!this.#announcedDown) this.#log?.warn({ bus: this.id, why }, 'invalidation bus lost: L1 cleared and bypassed until it is back')
    this.#announcedDown = true
  }

  async #renew (): Promise<void> {
    if (!this.#subscribed || this.#renewing || this.#closed) return
    this.#renewing = true
    const nonce = String(++this.#renewSeq)
    this.#renewals.set(nonce, performance.now())
    try {
      const { renewed, others } = await this.#l2.renewMember(this.id, this.ackChannel, this.leaseMs, `l ${nonce}`)
      if (others > 0) this.#othersSeenAt = performance.now()
      if (!renewed && this.#subscribed) {
        // Redis no longer sees our subscriber although we think it is up: a dead connection.
        this.#onLost('subscription not seen by Redis')
        this.#sub?.disconnect(true)
      }
    } catch {
      // The lease runs out on its own; L1 goes unused until a renewal succeeds.
      this.#renewals.delete(nonce)
    } finally {
      this.#renewing = false
    }
  }

  #onMessage (channel: string, message: string): void {
    if (channel === this.ackChannel) {
      const [kind, a, b] = message.split(' ')
      if (kind === 'l' && a !== undefined) {
        // Our renewal's marker: every message published before it has been applied.
        const sentAt = this.#renewals.get(a)
        if (sentAt === undefined) return
        for (const [n, at] of this.#renewals) if (at <= sentAt) this.#renewals.delete(n)
        if (this.#subscribed) this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + this.leaseMs * 0.99)
      } else if (kind === 'a' && a !== undefined && b !== undefined) {
        const p = this.#pending.get(Number(b))
        if (p === undefined) return
        if (p.waiting === undefined) {
          p.early.add(a)
        } else {
          p.waiting.delete(a)
          if (p.waiting.size === 0) p.settle?.()
        }
      }
      return
    }
    if (channel !== this.channel) return
    let parsed: unknown
    try { parsed = JSON.parse(message) } catch { return }
    if (!Array.isArray(parsed) || parsed.length !== 4) return
    const [origin, msgId, kind, items] = parsed as [unknown, unknown, unknown, unknown]
    if (typeof origin !== 'string' || origin === this.id || !Array.isArray(items)) return
    const list = items.filter((x): x is string => typeof x === 'string' && x.length > 0)
    this.#stats.received++
    const target = this.#target
    if (target !== undefined) {
      if (kind === 't') target.invalidateLocal(list)
      else if (kind === 'k') target.deleteLocal(list)
      else if (kind === 'p') for (const glob of list) target.deletePatternLocal(glob)
    }
    this.#client.publish(`${this.channel}:ack:${origin}`, `a ${this.id} ${String(msgId)}`).catch(() => {})
  }
}

import { systemClock, type Clock } from './clock.ts'
import { CacheError } from './errors.ts'
import type { AlertInput } from './metrics.ts'

/** The LLD's alert thresholds. Ratios are fractions (0.7 = 70%). */
export interface AlertThresholds {
  /** Alert when an entity pattern's hit rate in the window is below this. LLD: 70%. */
  entityHitRate: number
  /** Alert when a list pattern's hit rate in the window is below this. LLD: 50%. */
  listHitRate: number
  /** Alert when a route's mean response time exceeds its baseline by more than this. LLD: 20%. */
  latencyRegression: number
  /** Alert when a tier uses more than this share of what it is allocated. LLD: 80%. */
  memoryRatio: number
  /** Lookups (or responses, in each window) needed before a rate is judged: a few requests prove nothing. */
  minSamples: number
  /** Also alert while the circuit breaker is open (not in the LLD; on by default). */
  breakerOpen: boolean
}

export const DEFAULT_THRESHOLDS: Readonly<AlertThresholds> = Object.freeze({
  entityHitRate: 0.7,
  listHitRate: 0.5,
  latencyRegression: 0.2,
  memoryRatio: 0.8,
  minSamples: 20,
  breakerOpen: true
})

export type AlertType = 'hit_rate' | 'latency_regression' | 'memory' | 'breaker_open'

export interface Alert {
  /** `type:subject`, stable while the condition lasts, e.g. `hit_rate:gig`. */
  id: string
  type: AlertType
  /** A pattern, a route, a tier (`redis`, `l1`) or `breaker`: never an id. */
  subject: string
  /** The measured value: a ratio (hit rate, regression, memory share) or 1 for the breaker. */
  value: number
  threshold: number
  /** When the condition was first seen (ms epoch). */
  since: number
  message: string
}

/** pino-compatible. */
export interface AlertLogger {
  warn (obj: object, msg: string): void
  info (obj: object, msg: string): void
}

export interface AlertMonitorOptions {
  thresholds?: Partial<AlertThresholds>
  clock?: Clock
  log?: AlertLogger
}

const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`

/** Checks thresholds, merged over the LLD's defaults; a nonsense value fails at boot. */
export function resolveThresholds (over: Partial<AlertThresholds> = {}): AlertThresholds {
  const t = { ...DEFAULT_THRESHOLDS, ...stripUndefined(over) }
  const fraction = (name: keyof AlertThresholds, max: number): void => {
    const v = t[name]
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
      throw new CacheError('CACHE_ERR_BAD_OPTION', `alert threshold ${name} must be a number in [0, ${max}], got ${String(v)}`)
    }
  }
  fraction('entityHitRate', 1)
  fraction('listHitRate', 1)
  fraction('memoryRatio', 1)
  fraction('latencyRegression', 100)
  if (!Number.isSafeInteger(t.minSamples) || t.minSamples < 1) {
    throw new CacheError('CACHE_ERR_BAD_OPTION', `alert threshold minSamples must be a positive integer, got ${String(t.minSamples)}`)
  }
  return t
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

/**
 * Evaluates the LLD's thresholds on the sliding-window figures of `CacheMetrics.alertInput()`,
 * keeps the active alerts, and logs once when an alert starts and once when it clears. Breaches
 * are strict: a hit rate of exactly 70% or a regression of exactly 20% does not alert.
 */
export class AlertMonitor {
  readonly thresholds: AlertThresholds
  readonly #clock: Clock
  readonly #log: AlertLogger | undefined
  readonly #active = new Map<string, Alert>()

  constructor (opts: AlertMonitorOptions = {}) {
    this.thresholds = resolveThresholds(opts.thresholds)
    this.#clock = opts.clock ?? systemClock
    this.#log = opts.log
  }

  /** Active alerts, oldest first. */
  get active (): Alert[] {
    return [...this.#active.values()].sort((a, b) => a.since - b.since || a.id.localeCompare(b.id))
  }

  /** Judges the input, updates the active set (logging starts and clears) and returns it. */
  evaluate (input: AlertInput): Alert[] {
    const now = this.#clock.now()
    const found = new Map<string, Omit<Alert, 'since' | 'id'>>()
    const th = this.thresholds

    for (const p of input.hitRates) {
      const threshold = p.kind === 'entity' ? th.entityHitRate : p.kind === 'list' ? th.listHitRate : undefined
      const n = p.hits + p.misses
      if (threshold === undefined || n < th.minSamples) continue
      const value = p.hits / n
      if (value < threshold) {
        found.set(`hit_rate:${p.pattern}`, {
          type: 'hit_rate',
          subject: p.pattern,
          value,
          threshold,
          message: `hit rate of ${p.kind} pattern "${p.pattern}" is ${pct(value)} (${p.hits}/${n}), below ${pct(threshold)}`
        })
      }
    }

    for (const r of input.responseTimes) {
      if (r.current.count < th.minSamples || r.baseline.count < th.minSamples || !(r.baseline.meanMs > 0)) continue
      const value = r.current.meanMs / r.baseline.meanMs - 1
      if (value > th.latencyRegression) {
        found.set(`latency_regression:${r.route}`, {
          type: 'latency_regression',
          subject: r.route,
          value,
          threshold: th.latencyRegression,
          message: `${r.route} responds in ${r.current.meanMs.toFixed(2)} ms on average, ${pct(value)} slower than its baseline ${r.baseline.meanMs.toFixed(2)} ms (limit ${pct(th.latencyRegression)})`
        })
      }
    }

    for (const m of input.memory) {
      if (m.allocatedBytes === null || !(m.allocatedBytes > 0)) continue
      const value = m.usedBytes / m.allocatedBytes
      if (value > th.memoryRatio) {
        found.set(`memory:${m.tier}`, {
          type: 'memory',
          subject: m.tier,
          value,
          threshold: th.memoryRatio,
          message: `${m.tier} uses ${pct(value)} of its ${m.allocatedBytes} allocated bytes, above ${pct(th.memoryRatio)}`
        })
      }
    }

    if (th.breakerOpen && input.breaker === 'open') {
      found.set('breaker_open:breaker', {
        type: 'breaker_open', subject: 'breaker', value: 1, threshold: 1, message: 'the Redis circuit breaker is open: the cache is bypassed'
      })
    }

    for (const [id, alert] of this.#active) {
      if (found.has(id)) continue
      this.#active.delete(id)
      this.#log?.info({ alert: id, type: alert.type, subject: alert.subject, lastValue: alert.value, threshold: alert.threshold, durationMs: now - alert.since },
        `cache alert cleared: ${alert.type} on ${alert.subject}`)
    }
    for (const [id, a] of found) {
      const prev = this.#active.get(id)
      if (prev !== undefined) {
        prev.value = a.value
        prev.message = a.message
        continue
      }
      const alert: Alert = { id, since: now, ...a }
      this.#active.set(id, alert)
      this.#log?.warn({ alert: id, type: a.type, subject: a.subject, value: a.value, threshold: a.threshold }, `cache alert started: ${a.message}`)
    }
    return this.active
  }
}

import { randomBytes } from 'node:crypto'
import type { AlertThresholds } from './cache/alerts.ts'

/** Which cache the service runs (`CACHE_STORE`). */
export const CACHE_STORES = ['off', 'memory', 'redis', 'tiered'] as const
export type CacheStoreKind = typeof CACHE_STORES[number]

/** Everything the service reads from the environment, parsed once. */
export interface Config {
  port: number
  host: string
  databaseUrl: string | undefined
  dataDir: string
  redisUrl: string | undefined
  /**
   * `off`: nothing cached (routes and services read through); `memory`: one process's store;
   * `redis`: Redis alone; `tiered`: L1 memory in front of Redis. Unset: `tiered` with a Redis URL,
   * else `memory` (resolved by `resolveCacheStore`, so overriding `redisUrl` alone keeps it right).
   */
  cacheStore: CacheStoreKind | undefined
  /** Longest a new Postgres connection (or a free pooled one) is waited for; 0: no bound. */
  databaseConnectTimeoutMs: number
  /** Longest one SQL statement runs (server-side `statement_timeout`, with a client-side backstop); 0: no bound. */
  databaseStatementTimeoutMs: number
  cachePrefix: string
  l1MaxBytes: number
  /**
   * Longest an entry lives in a process's L1 in front of Redis. Not what keeps L1 coherent (the
   * bus and its leases do); a bound on how long a copy outlives anything the bus cannot see.
   */
  l1TtlMs: number
  /** Longest a request waits on any one cache operation (Redis store only). */
  cacheTimeoutMs: number
  /** Consecutive cache failures that open the circuit breaker. */
  cacheBreakerFailures: number
  /** First and longest wait before the open breaker probes Redis again. */
  cacheBreakerBackoffMs: number
  cacheBreakerBackoffMaxMs: number
  /** Default route windows, in seconds: serve an expired entry while refreshing / instead of a 5xx. */
  cacheStaleWhileRevalidate: number
  cacheStaleIfError: number
  /** Fastify's trustProxy: believe X-Forwarded-* (only behind a proxy that sets them). */
  trustProxy: boolean
  /** Period of the freshness sampler (compares cached entities with the database); 0: off. */
  cacheSamplerIntervalMs: number
  jwtSecret: string
  jwtSecretIsRandom: boolean
  devLogin: boolean
  logLevel: string
  seedDemo: boolean
  /** Overrides of the LLD's alert thresholds (README, "Metrics and alerts"). */
  cacheAlerts: Partial<AlertThresholds>
}

function int (value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === '') return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${value}"`)
  return n
}

function bool (value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback
  return ['1', 'true', 'yes', 'on'].includes(value.toLowerCase())
}

function num (value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${value}"`)
  return n
}

function cacheStore (value: string | undefined): CacheStoreKind | undefined {
  if (value === undefined || value === '') return undefined
  const kind = CACHE_STORES.find((k) => k === value.toLowerCase())
  if (kind === undefined) throw new Error(`CACHE_STORE must be one of ${CACHE_STORES.join(', ')}, got "${value}"`)
  return kind
}

/** The cache store a configuration asks for; `redis` and `tiered` without a Redis URL are a boot error. */
export function resolveCacheStore (config: Pick<Config, 'cacheStore' | 'redisUrl'>): CacheStoreKind {
  const kind = config.cacheStore ?? (config.redisUrl ? 'tiered' : 'memory')
  if ((kind === 'redis' || kind === 'tiered') && !config.redisUrl) {
    throw new Error(`CACHE_STORE=${kind} needs REDIS_URL (or choose CACHE_STORE=memory or off)`)
  }
  return kind
}

/** Reads the configuration table of the README from `env`. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const production = env.NODE_ENV === 'production'
  return {
    port: int(env.PORT, 3000, 'PORT'),
    host: env.HOST || '127.0.0.1',
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.PGLITE_DIR || '.data/pglite',
    redisUrl: env.REDIS_URL || undefined,
    cacheStore: cacheStore(env.CACHE_STORE),
    databaseConnectTimeoutMs: int(env.DATABASE_CONNECT_TIMEOUT_MS, 5000, 'DATABASE_CONNECT_TIMEOUT_MS'),
    databaseStatementTimeoutMs: int(env.DATABASE_STATEMENT_TIMEOUT_MS, 10000, 'DATABASE_STATEMENT_TIMEOUT_MS'),
    cachePrefix: env.CACHE_PREFIX || 'gig',
    l1MaxBytes: int(env.CACHE_L1_MAX_BYTES, 64 * 1024 * 1024, 'CACHE_L1_MAX_BYTES'),
    l1TtlMs: int(env.CACHE_L1_TTL_MS, 60_000, 'CACHE_L1_TTL_MS'),
    cacheTimeoutMs: int(env.CACHE_TIMEOUT_MS, 100, 'CACHE_TIMEOUT_MS') || 100,
    cacheBreakerFailures: int(env.CACHE_BREAKER_FAILURES, 5, 'CACHE_BREAKER_FAILURES') || 5,
    cacheBreakerBackoffMs: int(env.CACHE_BREAKER_BACKOFF_MS, 1000, 'CACHE_BREAKER_BACKOFF_MS') || 1000,
    cacheBreakerBackoffMaxMs: int(env.CACHE_BREAKER_BACKOFF_MAX_MS, 30000, 'CACHE_BREAKER_BACKOFF_MAX_MS') || 30000,
    cacheStaleWhileRevalidate: int(env.CACHE_STALE_WHILE_REVALIDATE, 0, 'CACHE_STALE_WHILE_REVALIDATE'),
    cacheStaleIfError: int(env.CACHE_STALE_IF_ERROR, 0, 'CACHE_STALE_IF_ERROR'),
    trustProxy: bool(env.TRUST_PROXY, false),
    cacheSamplerIntervalMs: int(env.CACHE_SAMPLER_INTERVAL_MS, 0, 'CACHE_SAMPLER_INTERVAL_MS'),
    jwtSecret: env.JWT_SECRET || randomBytes(32).toString('hex'),
    jwtSecretIsRandom: !env.JWT_SECRET,
    devLogin: bool(env.DEV_LOGIN, !production),
    logLevel: env.LOG_LEVEL || 'info',
    seedDemo: bool(env.SEED_DEMO, true),
    cacheAlerts: {
      entityHitRate: num(env.CACHE_ALERT_ENTITY_HIT_RATE, 'CACHE_ALERT_ENTITY_HIT_RATE'),
      listHitRate: num(env.CACHE_ALERT_LIST_HIT_RATE, 'CACHE_ALERT_LIST_HIT_RATE'),
      latencyRegression: num(env.CACHE_ALERT_LATENCY_REGRESSION, 'CACHE_ALERT_LATENCY_REGRESSION'),
      memoryRatio: num(env.CACHE_ALERT_MEMORY_RATIO, 'CACHE_ALERT_MEMORY_RATIO'),
      minSamples: num(env.CACHE_ALERT_MIN_SAMPLES, 'CACHE_ALERT_MIN_SAMPLES')
    }
  }
}

import { randomBytes } from 'node:crypto'

/** Everything the service reads from the environment, parsed once. */
export interface Config {
  port: number
  host: string
  databaseUrl: string | undefined
  dataDir: string
  redisUrl: string | undefined
  cachePrefix: string
  l1MaxBytes: number
  /** Longest an entry lives in a process's L1 in front of Redis. */
  l1TtlMs: number
  jwtSecret: string
  jwtSecretIsRandom: boolean
  devLogin: boolean
  logLevel: string
  seedDemo: boolean
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

/** Reads the configuration table of the README from `env`. */
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const production = env.NODE_ENV === 'production'
  return {
    port: int(env.PORT, 3000, 'PORT'),
    host: env.HOST || '127.0.0.1',
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.PGLITE_DIR || '.data/pglite',
    redisUrl: env.REDIS_URL || undefined,
    cachePrefix: env.CACHE_PREFIX || 'gig',
    l1MaxBytes: int(env.CACHE_L1_MAX_BYTES, 64 * 1024 * 1024, 'CACHE_L1_MAX_BYTES'),
    l1TtlMs: int(env.CACHE_L1_TTL_MS, 5000, 'CACHE_L1_TTL_MS'),
    jwtSecret: env.JWT_SECRET || randomBytes(32).toString('hex'),
    jwtSecretIsRandom: !env.JWT_SECRET,
    devLogin: bool(env.DEV_LOGIN, !production),
    logLevel: env.LOG_LEVEL || 'info',
    seedDemo: bool(env.SEED_DEMO, true)
  }
}

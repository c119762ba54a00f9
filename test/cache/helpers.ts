import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { escapeGlob } from '../../src/cache/store.ts'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

let n = 0
/** A prefix no other run or test file shares: the Redis server is shared, so we never FLUSHDB. */
export function uniquePrefix (label: string): string {
  return `test:cache:${label}:${process.pid}:${Date.now()}:${n++}`
}

export function connect (opts: { keyPrefix?: string } = {}): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: true, ...opts })
}

/** All keys under a prefix (full names, as SCAN sees them), by SCAN. */
export async function scanKeys (client: Redis, fullPrefix: string): Promise<string[]> {
  const out: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', escapeGlob(fullPrefix) + '*', 'COUNT', 500)
    cursor = next
    out.push(...keys)
  } while (cursor !== '0')
  return out
}

/** Deletes only our own keys. `client` must have no keyPrefix. */
export async function deleteOwnKeys (client: Redis, fullPrefix: string): Promise<void> {
  const keys = await scanKeys(client, fullPrefix)
  for (let i = 0; i < keys.length; i += 500) await client.unlink(...keys.slice(i, i + 500))
}

export { sleep }

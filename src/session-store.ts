import type { Store } from './cache/store.ts'
import { resolveTtl, withJitter, type TtlTable } from './cache/ttl.ts'
import type { SessionStore } from './domain/context.ts'

/** Session data lives in the cache store itself, untagged, under its TTL class. */
export function storeSessions (store: Store, ttl: TtlTable): SessionStore {
  return {
    async get (key) {
      const entry = await store.get(key)
      return entry?.value
    },
    async set (key, value, ttlClass) {
      await store.set(key, value, '', { ttlMs: withJitter(resolveTtl(ttl, ttlClass)), tags: [], tokens: [] })
    },
    async delete (key) {
      await store.delete([key])
    }
  }
}

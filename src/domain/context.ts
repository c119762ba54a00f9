import type { Db } from '../db.ts'
import type { DomainEvents } from './events.ts'

/** Caching as the domain layer sees it: the LLD's `getEntity` and `getList` read paths. */
export interface EntityCache {
  getEntity<T>(type: string, id: string | number, loader: () => Promise<T>): Promise<T>
  getList<T>(key: string, loader: () => Promise<T>, opts?: { tags?: string[] }): Promise<T>
  /** The same reads with their metrics attributed to `route` (what the caller is serving). */
  attributedTo?(route: string): EntityCache
}

/** Reads straight through when no cache is configured. */
export const noEntityCache: EntityCache = {
  getEntity: (_type, _id, loader) => loader(),
  getList: (_key, loader) => loader()
}

/** Short-lived per-user data (recent views, search history, draft autosave) with a TTL class. */
export interface SessionStore {
  get(key: string): Promise<string | undefined>
  set(key: string, value: string, ttlClass: string): Promise<void>
  delete(key: string): Promise<void>
}

/** What every domain module needs: the database, the event bus and the optional caches. */
export interface DomainContext {
  db: Db
  events: DomainEvents
  entities: EntityCache
  sessions: SessionStore
}

export interface Page<T> { items: T[], page: number, pageSize: number, total: number }

export interface Caller { id: number, role: 'user' | 'admin' }

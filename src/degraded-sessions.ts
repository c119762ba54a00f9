import type { SessionStore } from './domain/context.ts'

// View and search history are a convenience: without the cache they are empty and not recorded.
const BEST_EFFORT = /^session:(gig_views|search_history):/

/** What a route answers when data that lives only in the cache cannot be reached. */
export class SessionStoreUnavailable extends Error {
  readonly statusCode = 503
  readonly code = 'SERVICE_UNAVAILABLE'

  constructor (cause: unknown) {
    super('session data is temporarily unavailable', { cause })
    this.name = 'SessionStoreUnavailable'
  }
}

/**
 * Session data lives in the cache store, so a cache outage must not break the routes that touch
 * it in passing: recording a view while serving `GET /gigs/:id` is skipped, history reads come
 * back empty. Data that exists nowhere else (draft autosaves) answers 503 instead of pretending.
 */
export function degradeSessions (inner: SessionStore, onError: (err: unknown, key: string) => void = () => {}): SessionStore {
  const fail = (err: unknown, key: string): void => {
    onError(err, key)
    if (!BEST_EFFORT.test(key)) throw new SessionStoreUnavailable(err)
  }
  return {
    async get (key) {
      try {
        return await inner.get(key)
      } catch (err) {
        fail(err, key)
        return undefined
      }
    },
    async set (key, value, ttlClass) {
      try {
        await inner.set(key, value, ttlClass)
      } catch (err) {
        fail(err, key)
      }
    },
    async delete (key) {
      try {
        await inner.delete(key)
      } catch (err) {
        fail(err, key)
      }
    }
  }
}

/**
 * Codes of user and configuration errors. Backend (store) failures are never thrown as these:
 * they fail open and are reported as events.
 */
export type CacheErrorCode =
  | 'CACHE_ERR_BAD_TEMPLATE'
  | 'CACHE_ERR_QUERY_NOT_ALLOWED'
  | 'CACHE_ERR_UNKNOWN_TTL_CLASS'
  | 'CACHE_ERR_BAD_TTL'
  | 'CACHE_ERR_BAD_KEY'
  | 'CACHE_ERR_BAD_TAG'
  | 'CACHE_ERR_BAD_OPTION'

export class CacheError extends Error {
  readonly code: CacheErrorCode

  constructor (code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CacheError'
    this.code = code
  }
}

export function isCacheError (err: unknown): err is CacheError {
  return err instanceof CacheError
}

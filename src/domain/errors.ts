/** An expected failure of a domain operation, carrying the HTTP status it maps to. */
export class DomainError extends Error {
  constructor (readonly statusCode: number, readonly code: string, message: string) {
    super(message)
    this.name = 'DomainError'
  }
}

export const notFound = (what: string, id: number | string): DomainError =>
  new DomainError(404, 'NOT_FOUND', `${what} ${id} not found`)

export const conflict = (code: string, message: string): DomainError =>
  new DomainError(409, code, message)

export const forbidden = (message: string): DomainError =>
  new DomainError(403, 'FORBIDDEN', message)

export const badRequest = (code: string, message: string): DomainError =>
  new DomainError(400, code, message)

/** Postgres error codes we translate instead of reporting as 500. */
export function isUniqueViolation (err: unknown): boolean {
  return pgCode(err) === '23505'
}

export function pgCode (err: unknown): string | undefined {
  let e: unknown = err
  // drizzle wraps driver errors in `cause`
  for (let i = 0; i < 3 && e && typeof e === 'object'; i++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}

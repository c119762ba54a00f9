import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance } from 'fastify'
import { STATUS_CODES } from 'node:http'
import { DomainError, pgCode } from '../src/domain/errors.ts'

/** The one error body every route returns. */
export interface ErrorBody { statusCode: number, code: string, error: string, message: string }

export function errorBody (statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message }
}

// Postgres errors that mean "the request was wrong", not "the server broke".
const PG_TO_HTTP: Record<string, [number, string, string]> = {
  23505: [409, 'CONFLICT', 'the resource already exists'],
  23503: [409, 'REFERENCE_CONFLICT', 'a referenced resource does not exist or is still referenced'],
  23514: [400, 'CONSTRAINT_VIOLATION', 'a value is out of its allowed range'],
  '22P02': [400, 'INVALID_VALUE', 'a value has the wrong format'],
  22003: [400, 'INVALID_VALUE', 'a number is out of range'],
  // A NUL byte (or another character UTF-8 text cannot hold) in a string: found by test/fuzz.
  22021: [400, 'INVALID_VALUE', 'a value holds a character that cannot be stored (e.g. NUL)'],
  '22P05': [400, 'INVALID_VALUE', 'a value holds a character that cannot be stored'],
  22001: [400, 'INVALID_VALUE', 'a value is too long'],
  22007: [400, 'INVALID_VALUE', 'a date or time has the wrong format'],
  22008: [400, 'INVALID_VALUE', 'a date or time is out of range']
}

// Node socket errors and pg/pg-pool messages that mean "the database cannot be reached right now".
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'])
const UNREACHABLE_MESSAGE = /connection terminated|timeout exceeded when trying to connect|query read timeout|connection error and is not queryable|cannot use a pool after calling end/i

/**
 * Whether an error means the database is unavailable (not that the request was wrong): socket
 * errors, pool timeouts, and SQLSTATE classes 08 (connection exception), 57P0x (shutdown,
 * cannot connect now), 53300 (too many connections), 57014 (cancelled: the statement timeout,
 * i.e. an overloaded or locked database) and 55P03 (lock not available). Drizzle wraps driver
 * errors in `cause`.
 */
export function isDatabaseUnavailable (err: unknown): boolean {
  let e: unknown = err
  for (let i = 0; i < 4 && e !== null && typeof e === 'object'; i++) {
    const { code, message } = e as { code?: unknown, message?: unknown }
    if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code) || /^57P0[1-3]$/.test(code) || code === '53300' || code === '57014' || code === '55P03')) return true
    if (typeof message === 'string' && UNREACHABLE_MESSAGE.test(message)) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}

// "body/title must NOT have fewer than 3 characters" → "body.title must …", naming extra fields too.
function validationMessage (err: FastifyError): string {
  const first = err.validation?.[0]
  const part = err.validationContext === 'querystring' ? 'query' : (err.validationContext ?? 'request')
  const extra = first?.params && typeof first.params === 'object' ? (first.params as { additionalProperty?: unknown }).additionalProperty : undefined
  if (first && typeof extra === 'string') {
    const path = first.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') + '.' : ''
    return `${part}.${path}${extra} is not an allowed property`
  }
  return err.message.replace(/^(params|querystring|body|headers)\//, `${part}.`).replace(/^(params|querystring|body|headers) /, `${part} `)
}

async function errors (app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof DomainError) {
      return reply.code(err.statusCode).send(errorBody(err.statusCode, err.code, err.message))
    }
    if (err.validation) {
      return reply.code(400).send(errorBody(400, 'VALIDATION_ERROR', validationMessage(err)))
    }
    if (isDatabaseUnavailable(err)) {
      // One line per failed request, without the stack: the cause is outside this process.
      request.log.warn({ err: err.message }, 'database unavailable')
      return reply.code(503).header('retry-after', '5')
        .send(errorBody(503, 'SERVICE_UNAVAILABLE', 'the database is temporarily unavailable, retry later'))
    }
    const pg = pgCode(err)
    const mapped = pg ? PG_TO_HTTP[pg] : undefined
    if (mapped) {
      return reply.code(mapped[0]).send(errorBody(mapped[0], mapped[1], mapped[2]))
    }
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
    if (status >= 500) {
      request.log.error({ err }, 'request failed')
      const unavailable = status === 503
      return reply.code(status).send(errorBody(status, unavailable ? 'SERVICE_UNAVAILABLE' : 'INTERNAL_ERROR',
        unavailable ? 'the service is temporarily unavailable' : 'internal server error'))
    }
    return reply.code(status).send(errorBody(status, err.code ?? 'BAD_REQUEST', err.message))
  })

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody(404, 'NOT_FOUND', `route ${request.method} ${request.url.split('?')[0]} not found`))
  })
}

export default fp(errors, { name: 'errors', fastify: '5.x' })

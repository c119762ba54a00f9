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
  22003: [400, 'INVALID_VALUE', 'a number is out of range']
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

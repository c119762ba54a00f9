import fp from 'fastify-plugin'
import jwt from '@fastify/jwt'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { errorBody } from './errors.ts'

/** The signed-in caller, taken from a verified bearer token. */
export interface AuthUser { id: number, role: 'user' | 'admin' }

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: { sub: string, role: AuthUser['role'] }
    user: AuthUser
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    /** preHandler: 401 unless the request carries a valid bearer token. */
    requireUser: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** preHandler: 403 unless the caller is an admin. */
    requireAdmin: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
    /** Signs a bearer token for a user. */
    signToken: (user: AuthUser) => string
  }
  interface FastifyRequest {
    /** The verified caller, or null for an anonymous request. */
    caller: AuthUser | null
  }
}

export interface AuthOptions { secret: string, expiresIn?: string }

async function auth (app: FastifyInstance, opts: AuthOptions): Promise<void> {
  await app.register(jwt, {
    secret: opts.secret,
    sign: { algorithm: 'HS256', expiresIn: opts.expiresIn ?? '12h' },
    verify: { algorithms: ['HS256'] },
    formatUser: (p) => ({ id: Number(p.sub), role: p.role === 'admin' ? 'admin' : 'user' })
  })
  app.decorateRequest('caller', null)

  // Verified here, before any cache lookup, so caching can tell anonymous from signed-in callers.
  // Callback style: an anonymous request (most cache hits) passes without a promise.
  app.addHook('onRequest', (request, reply, done) => {
    const header = request.headers.authorization
    if (header === undefined) {
      done()
      return
    }
    if (!/^Bearer\s+\S+$/i.test(header)) {
      reply.code(401).send(errorBody(401, 'UNAUTHORIZED', 'authorization must be "Bearer <token>"'))
      return
    }
    request.jwtVerify<AuthUser>().then(
      (user) => Number.isSafeInteger(user.id) && user.id >= 1 ? user : undefined,
      () => undefined
    ).then((user) => {
      // Decided before done(): nothing the rest of the request does can turn into a 401 here.
      if (user === undefined) {
        reply.code(401).send(errorBody(401, 'UNAUTHORIZED', 'invalid or expired token'))
        return
      }
      request.caller = user
      done()
    }, done)
  })

  app.decorate('requireUser', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.caller) {
      return reply.code(401).send(errorBody(401, 'UNAUTHORIZED', 'sign in: this route needs a bearer token'))
    }
  })
  app.decorate('requireAdmin', async (request: FastifyRequest, reply: FastifyReply) => {
    if (!request.caller) {
      return reply.code(401).send(errorBody(401, 'UNAUTHORIZED', 'sign in: this route needs a bearer token'))
    }
    if (request.caller.role !== 'admin') {
      return reply.code(403).send(errorBody(403, 'FORBIDDEN', 'this route is for admins'))
    }
  })
  app.decorate('signToken', (user: AuthUser) => app.jwt.sign({ sub: String(user.id), role: user.role }))
}

export default fp(auth, { name: 'auth', fastify: '5.x', dependencies: ['errors'] })

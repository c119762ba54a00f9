import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { eq } from 'drizzle-orm'
import { users } from '../drizzle/schema.ts'
import { errorResponses } from './schemas.ts'
import { notFound } from '../src/domain/errors.ts'

// Development sign-in: a token for any seeded user by email. Off in production unless DEV_LOGIN=true.
const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/auth/token', {
    schema: {
      tags: ['auth'],
      summary: 'Get a bearer token for a seeded user (development only)',
      body: Type.Object({ email: Type.String({ format: 'email', maxLength: 254 }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          token: Type.String(),
          user: Type.Object({ id: Type.Integer(), name: Type.String(), role: Type.String() })
        }),
        ...errorResponses(400, 404)
      }
    }
  }, async (request) => {
    const [user] = await app.database.db.select({ id: users.id, name: users.name, role: users.role })
      .from(users).where(eq(users.email, request.body.email.toLowerCase())).limit(1)
    if (!user) throw notFound('user with email', request.body.email)
    const role = user.role === 'admin' ? 'admin' : 'user'
    return { token: app.signToken({ id: user.id, role }), user }
  })
}

export default authRoutes

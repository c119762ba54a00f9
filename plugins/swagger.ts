import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

async function docs (app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Gig Service',
        description: 'Gigs, users, applications, submissions and assignments, cached by the Fastify Redis caching layer.',
        version: '0.1.0'
      },
      components: {
        securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } }
      },
      tags: [
        { name: 'auth', description: 'Development sign-in' },
        { name: 'gigs', description: 'Gigs and their lifecycle' },
        { name: 'users', description: 'Profiles and per-user lists' },
        { name: 'applications', description: 'Applications to gigs' },
        { name: 'submissions', description: 'Work submitted for a gig' },
        { name: 'assignments', description: 'Accepted work and its payment' },
        { name: 'search', description: 'Full-text gig search' },
        { name: 'catalog', description: 'Categories, skills, statistics and leaderboards' },
        { name: 'me', description: "The caller's own session data" },
        { name: 'cache', description: 'Cache statistics and administration' }
      ]
    }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}

export default fp(docs, { name: 'swagger', fastify: '5.x' })

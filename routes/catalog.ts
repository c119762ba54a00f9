import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const catalogRoutes: FastifyPluginAsyncTypebox = async (_app) => {}

export default catalogRoutes

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const searchRoutes: FastifyPluginAsyncTypebox = async (_app) => {}

export default searchRoutes

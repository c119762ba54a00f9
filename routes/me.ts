import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const meRoutes: FastifyPluginAsyncTypebox = async (_app) => {}

export default meRoutes

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const applicationsRoutes: FastifyPluginAsyncTypebox = async (_app) => {}

export default applicationsRoutes

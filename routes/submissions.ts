import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const submissionsRoutes: FastifyPluginAsyncTypebox = async (_app) => {}

export default submissionsRoutes

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'

const assignmentsRoutes: FastifyPluginAsyncTypebox = async (_app) => {}

export default assignmentsRoutes

import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { getAssignment, updatePayment } from '../src/domain/assignments.ts'
import { Assignment, bearer, errorResponses, IdParams, StringEnum } from './schemas.ts'

const PaymentStatus = StringEnum(['unpaid', 'escrowed', 'paid', 'refunded'])

const assignmentsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/assignments/:id', {
    onRequest: app.requireUser,
    schema: {
      tags: ['assignments'],
      summary: "One assignment (the gig's poster or the worker)",
      security: bearer,
      params: IdParams,
      response: { 200: Type.Ref(Assignment), ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => getAssignment(request.domain, request.caller!, request.params.id))

  app.post('/assignments/:id/payment', {
    config: { invalidate: { events: ['assignment.payment_updated'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['assignments'],
      summary: 'Move the payment: unpaid → escrowed → paid or refunded (poster only)',
      security: bearer,
      params: IdParams,
      body: Type.Object({ status: PaymentStatus }, { additionalProperties: false }),
      response: { 200: Type.Ref(Assignment), ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request) => updatePayment(request.domain, request.caller!, request.params.id, request.body.status))
}

export default assignmentsRoutes

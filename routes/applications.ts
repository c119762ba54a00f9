import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  acceptApplication, createApplication, getApplication, gigApplications, rejectApplication, updateApplication, withdrawApplication
} from '../src/domain/applications.ts'
import { Application, Assignment, bearer, errorResponses, IdParams } from './schemas.ts'
import { KEYS } from '../src/catalog.ts'

const ApplicationBody = Type.Object({
  coverLetter: Type.Optional(Type.String({ maxLength: 5000 })),
  proposedBudget: Type.Integer({ minimum: 0, maximum: 100000000 })
}, { additionalProperties: false })

const ApplicationPatchBody = Type.Partial(ApplicationBody, { additionalProperties: false, minProperties: 1 })

const ApplicationRef = Type.Ref(Application)

const applicationsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/gigs/:id/applications', {
    config: { invalidate: { events: ['application.created'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['applications'],
      summary: 'Apply to an open gig (not your own; once per gig)',
      security: bearer,
      params: IdParams,
      body: ApplicationBody,
      response: { 201: ApplicationRef, ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request, reply) => {
    const application = await createApplication(request.domain, request.caller!, request.params.id, request.body)
    return reply.code(201).send(application)
  })

  app.get('/gigs/:id/applications', {
    config: { cache: { key: KEYS.gig_applications.template, ttl: KEYS.gig_applications.ttl, scope: 'user' } },
    onRequest: app.requireUser,
    schema: {
      tags: ['applications'],
      summary: "A gig's applications, newest first (poster only)",
      security: bearer,
      params: IdParams,
      response: { 200: Type.Array(ApplicationRef), ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => gigApplications(request.domain, request.caller!, request.params.id))

  app.get('/applications/:id', {
    onRequest: app.requireUser,
    schema: {
      tags: ['applications'],
      summary: "One application (its applicant or the gig's poster)",
      security: bearer,
      params: IdParams,
      response: { 200: ApplicationRef, ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => getApplication(request.domain, request.caller!, request.params.id))

  app.patch('/applications/:id', {
    config: { invalidate: { events: ['application.updated'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['applications'],
      summary: 'Edit a pending application (applicant only)',
      security: bearer,
      params: IdParams,
      body: ApplicationPatchBody,
      response: { 200: ApplicationRef, ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request) => updateApplication(request.domain, request.caller!, request.params.id, request.body))

  app.post('/applications/:id/accept', {
    config: { invalidate: { events: ['application.accepted', 'gig.status_changed', 'application.rejected'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['applications'],
      summary: 'Accept a pending application of an open gig (poster only): creates the assignment, ' +
        'moves the gig to in_progress and rejects the other pending applications',
      security: bearer,
      params: IdParams,
      response: {
        200: Type.Object({ application: ApplicationRef, assignment: Type.Ref(Assignment) }),
        ...errorResponses(400, 401, 403, 404, 409)
      }
    }
  }, async (request) => acceptApplication(request.domain, request.caller!, request.params.id))

  app.post('/applications/:id/reject', {
    config: { invalidate: { events: ['application.rejected'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['applications'],
      summary: 'Reject a pending application (poster only)',
      security: bearer,
      params: IdParams,
      response: { 200: ApplicationRef, ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request) => rejectApplication(request.domain, request.caller!, request.params.id))

  app.post('/applications/:id/withdraw', {
    config: { invalidate: { events: ['application.updated'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['applications'],
      summary: 'Withdraw a pending application (applicant only)',
      security: bearer,
      params: IdParams,
      response: { 200: ApplicationRef, ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request) => withdrawApplication(request.domain, request.caller!, request.params.id))
}

export default applicationsRoutes

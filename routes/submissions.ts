import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { createSubmission, getSubmission, gigSubmissions, reviewSubmission } from '../src/domain/submissions.ts'
import { bearer, errorResponses, IdParams, StringEnum, Submission } from './schemas.ts'
import { KEYS } from '../src/catalog.ts'

const SubmissionBody = Type.Object({
  content: Type.String({ minLength: 1, maxLength: 20000, description: 'the work handed in: text, links, notes' })
}, { additionalProperties: false })

const ReviewBody = Type.Object({
  status: StringEnum(['approved', 'changes_requested']),
  notes: Type.Optional(Type.String({ maxLength: 5000 }))
}, { additionalProperties: false })

// always by reference: the shared schema itself as a response would shadow the $ref of later routes
const SubmissionRef = Type.Ref(Submission)
const SubmissionList = Type.Array(SubmissionRef)

const submissionsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/gigs/:id/submissions', {
    config: { invalidate: { events: ['submission.created'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['submissions'],
      summary: 'Submit work for an in-progress gig (its assigned worker only; one awaiting review at a time)',
      security: bearer,
      params: IdParams,
      body: SubmissionBody,
      response: { 201: SubmissionRef, ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request, reply) => {
    const submission = await createSubmission(request.domain, request.caller!, request.params.id, request.body)
    return reply.code(201).send(submission)
  })

  app.get('/gigs/:id/submissions', {
    config: { cache: { key: KEYS.gig_submissions.template, ttl: KEYS.gig_submissions.ttl, scope: 'user' } },
    onRequest: app.requireUser,
    schema: {
      tags: ['submissions'],
      summary: "A gig's submissions, newest first (its poster and assigned worker only)",
      security: bearer,
      params: IdParams,
      response: { 200: SubmissionList, ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => gigSubmissions(request.domain, request.caller!, request.params.id))

  app.get('/submissions/:id', {
    onRequest: app.requireUser,
    schema: {
      tags: ['submissions'],
      summary: "One submission (the gig's poster and the submitter only)",
      security: bearer,
      params: IdParams,
      response: { 200: SubmissionRef, ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => getSubmission(request.domain, request.caller!, request.params.id))

  app.post('/submissions/:id/review', {
    config: { invalidate: { events: ['submission.reviewed'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['submissions'],
      summary: 'Approve a submission or request changes (the gig\'s poster only; a submission is reviewed once)',
      security: bearer,
      params: IdParams,
      body: ReviewBody,
      response: { 200: SubmissionRef, ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request) => reviewSubmission(request.domain, request.caller!, request.params.id, request.body))
}

export default submissionsRoutes

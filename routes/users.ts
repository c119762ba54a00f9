import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { userDrafts } from '../src/domain/gigs.ts'
import { getUser, gigsOfUser, updateUser, userApplications, userStats } from '../src/domain/users.ts'
import { Application, bearer, errorResponses, GigList, IdParams, SkillList, User } from './schemas.ts'
import { KEYS } from '../src/catalog.ts'

const UserPatchBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
  headline: Type.Optional(Type.String({ maxLength: 200 })),
  skills: Type.Optional(SkillList)
}, { additionalProperties: false, minProperties: 1 })

/** An application as its applicant lists it: with the title of the gig it is for. */
const UserApplication = Type.Object({ ...Application.properties, gigTitle: Type.String() })

const Count = Type.Integer({ minimum: 0 })
const UserStats = Type.Object({
  userId: Type.Integer(),
  gigs: Type.Object({
    open: Count, in_progress: Count, completed: Count, cancelled: Count, total: Count
  }, { description: 'published gigs by status (drafts are not counted)' }),
  applications: Type.Object({
    pending: Count, accepted: Count, rejected: Count, withdrawn: Count, total: Count
  }, { description: 'applications sent, by status' }),
  accepted: Type.Integer({ minimum: 0, description: 'applications of the user that were accepted' }),
  totalEarned: Type.Number({ description: 'agreed amounts of paid assignments the user worked on' }),
  totalSpent: Type.Number({ description: "agreed amounts of paid assignments on the user's gigs" })
})

const usersRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/users/:id', {
    schema: {
      tags: ['users'],
      summary: 'Public profile of a user (never the email or role)',
      params: IdParams,
      response: { 200: Type.Ref(User), ...errorResponses(400, 401, 404) }
    }
  }, async (request) => getUser(request.domain, request.params.id))

  app.patch('/users/:id', {
    config: { invalidate: { events: ['user.updated'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['users'],
      summary: 'Edit your own profile (name, headline, skills)',
      security: bearer,
      params: IdParams,
      body: UserPatchBody,
      response: { 200: Type.Ref(User), ...errorResponses(400, 401, 403, 404) }
    }
  }, async (request) => updateUser(request.domain, request.caller!, request.params.id, request.body))

  app.get('/users/:id/gigs', {
    config: { cache: { key: KEYS.user_gigs.template, ttl: KEYS.user_gigs.ttl } },
    schema: {
      tags: ['users'],
      summary: "A user's published gigs, newest first",
      params: IdParams,
      response: { 200: GigList, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => gigsOfUser(request.domain, request.params.id))

  app.get('/users/:id/drafts', {
    config: { cache: { key: KEYS.user_drafts.template, ttl: KEYS.user_drafts.ttl, scope: 'user' } },
    onRequest: app.requireUser,
    schema: {
      tags: ['users'],
      summary: 'Your own draft gigs, newest first',
      security: bearer,
      params: IdParams,
      response: { 200: GigList, ...errorResponses(400, 401, 403) }
    }
  }, async (request) => userDrafts(request.domain, request.params.id, request.caller!))

  app.get('/users/:id/applications', {
    config: { cache: { key: KEYS.user_applications.template, ttl: KEYS.user_applications.ttl, scope: 'user' } },
    onRequest: app.requireUser,
    schema: {
      tags: ['users'],
      summary: 'Your own applications, newest first, each with its gig title',
      security: bearer,
      params: IdParams,
      response: { 200: Type.Array(UserApplication), ...errorResponses(400, 401, 403) }
    }
  }, async (request) => userApplications(request.domain, request.caller!, request.params.id))

  app.get('/users/:id/stats', {
    config: { cache: { key: KEYS.gig_stats.template, ttl: KEYS.gig_stats.ttl } },
    schema: {
      tags: ['users'],
      summary: "A user's gigs and applications by status, and money earned and spent",
      params: IdParams,
      response: { 200: UserStats, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => userStats(request.domain, request.params.id))
}

export default usersRoutes

import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  changeGigStatus, createGig, deleteGig, featuredGigs, getGig, listGigs, updateGig
} from '../src/domain/gigs.ts'
import {
  bearer, CategorySlug, Currency, errorResponses, Gig, GigList, GigPage, GigStatus, Id, IdParams, Pagination, SkillList, StringEnum
} from './schemas.ts'
import { ALL_GIG_LISTINGS, gigTags, KEYS } from '../src/catalog.ts'

const GigBody = Type.Object({
  title: Type.String({ minLength: 3, maxLength: 200 }),
  description: Type.Optional(Type.String({ maxLength: 20000 })),
  category: CategorySlug,
  skills: Type.Optional(SkillList),
  budgetMin: Type.Integer({ minimum: 0, maximum: 100000000 }),
  budgetMax: Type.Integer({ minimum: 0, maximum: 100000000 }),
  currency: Type.Optional(Currency),
  featured: Type.Optional(Type.Boolean()),
  status: Type.Optional(StringEnum(['draft', 'open'], { description: 'publish at once with "open"' }))
}, { additionalProperties: false })

const GigPatchBody = Type.Partial(Type.Omit(GigBody, ['status']), { additionalProperties: false, minProperties: 1 })

const IfMatch = Type.Object({
  'if-match': Type.Optional(Type.String({ pattern: '^(W/)?"?[0-9]{1,10}"?$', description: 'the gig version last seen, e.g. "3"' }))
})

function parseIfMatch (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  return Number(value.replace(/^W\//, '').replaceAll('"', ''))
}

const gigRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/gigs', {
    config: { cache: { key: KEYS.gig_list.template, ttl: KEYS.gig_list.ttl, tags: [ALL_GIG_LISTINGS] } },
    schema: {
      tags: ['gigs'],
      summary: 'List gigs (newest first)',
      querystring: Type.Object({
        status: Type.Optional(StringEnum(['open', 'in_progress', 'completed', 'cancelled'])),
        category: Type.Optional(CategorySlug),
        skill: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        minBudget: Type.Optional(Type.Integer({ minimum: 0 })),
        maxBudget: Type.Optional(Type.Integer({ minimum: 0 })),
        postedBy: Type.Optional(Id),
        ...Pagination
      }, { additionalProperties: false }),
      response: { 200: GigPage, ...errorResponses(400) }
    }
  }, async (request) => listGigs(request.domain, request.query, {
    // The page also depends on each gig it shows: a title edit reaches it through gig:{id}, and
    // leaves the listing pages that do not show the gig (and the gig_list tag) alone.
    dependsOn: (gigIds) => request.cacheDependsOn(gigTags(gigIds))
  }))

  app.get('/featured', {
    config: { cache: { key: KEYS.featured_gigs.template, ttl: KEYS.featured_gigs.ttl } },
    schema: {
      tags: ['gigs'],
      summary: 'Open featured gigs',
      response: { 200: GigList }
    }
  }, async (request) => featuredGigs(request.domain))

  app.get('/gigs/:id', {
    config: { cache: { key: KEYS.gig.template, ttl: KEYS.gig.ttl } },
    schema: {
      tags: ['gigs'],
      summary: 'One gig (drafts only for their poster); a signed-in view is recorded in /me/recent-views',
      params: IdParams,
      response: { 200: Gig, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => {
    const gig = await getGig(request.domain, request.params.id, request.caller)
    if (request.caller) await app.sessions.recordView(request.caller.id, gig.id)
    return gig
  })

  app.post('/gigs', {
    config: { invalidate: { events: ['gig.created'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['gigs'],
      summary: 'Post a gig (a draft unless status is "open")',
      security: bearer,
      body: GigBody,
      response: { 201: Gig, ...errorResponses(400, 401, 409) }
    }
  }, async (request, reply) => {
    const gig = await createGig(request.domain, request.caller!, request.body)
    return reply.code(201).send(gig)
  })

  app.patch('/gigs/:id', {
    config: { invalidate: { events: ['gig.updated'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['gigs'],
      summary: 'Edit a draft or open gig (poster only); If-Match guards against lost updates',
      security: bearer,
      params: IdParams,
      headers: IfMatch,
      body: GigPatchBody,
      response: { 200: Gig, ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request) => updateGig(request.domain, request.caller!, request.params.id, request.body, parseIfMatch(request.headers['if-match'])))

  app.delete('/gigs/:id', {
    config: { invalidate: { events: ['gig.deleted'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['gigs'],
      summary: 'Delete a gig and its applications (poster only; not once work is accepted)',
      security: bearer,
      params: IdParams,
      response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request, reply) => {
    await deleteGig(request.domain, request.caller!, request.params.id)
    return reply.code(204).send(null)
  })

  app.post('/gigs/:id/status', {
    config: { invalidate: { events: ['gig.status_changed'] } },
    onRequest: app.requireUser,
    schema: {
      tags: ['gigs'],
      summary: 'Move a gig along draft → open → in_progress → completed, or cancel it (poster only)',
      security: bearer,
      params: IdParams,
      body: Type.Object({ status: GigStatus }, { additionalProperties: false }),
      response: { 200: Gig, ...errorResponses(400, 401, 403, 404, 409) }
    }
  }, async (request) => changeGigStatus(request.domain, request.caller!, request.params.id, request.body.status))
}

export default gigRoutes

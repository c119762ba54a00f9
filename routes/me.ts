import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Caller, DomainContext } from '../src/domain/context.ts'
import { conflict, forbidden, notFound } from '../src/domain/errors.ts'
import { findGig } from '../src/domain/gigs.ts'
import { bearer, errorResponses, Id } from './schemas.ts'
import { SearchCriteria } from './search.ts'

/** An autosave holds a form's state, not a document: 64 KiB is plenty and bounds the cache entry. */
const AUTOSAVE_BODY_LIMIT = 64 * 1024

const GigIdParams = Type.Object({ gigId: Id })

// Session entries keep their times as ISO strings already.
const Timestamp = Type.String({ format: 'date-time' })

const RecentViews = Type.Array(Type.Object({ gigId: Type.Integer(), viewedAt: Timestamp }))
// typed as the session API stores it; documented and serialised as the criteria GET /search records
const SearchHistory = Type.Array(Type.Object({ query: Type.Unsafe<Record<string, unknown>>(SearchCriteria), searchedAt: Timestamp }))

const DraftData = Type.Record(Type.String(), Type.Unknown(), { description: 'the draft form as the client keeps it' })
const Autosave = Type.Object({ gigId: Type.Integer(), data: DraftData, savedAt: Timestamp })

/**
 * Only the caller's own draft can be autosaved: someone else's draft does not exist for them (404,
 * as in GET /gigs/:id), someone else's published gig is theirs to keep (403), and the caller's own
 * gig once published is no longer a draft (409 GIG_NOT_DRAFT).
 */
async function assertOwnDraft (ctx: DomainContext, caller: Caller, gigId: number): Promise<void> {
  const gig = await findGig(ctx.db, gigId)
  if (!gig || (gig.status === 'draft' && gig.postedBy !== caller.id)) throw notFound('gig', gigId)
  if (gig.postedBy !== caller.id) throw forbidden('only the author of a draft may autosave it')
  if (gig.status !== 'draft') throw conflict('GIG_NOT_DRAFT', `gig ${gigId} is ${gig.status}, not a draft`)
}

const meRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/me/recent-views', {
    onRequest: app.requireUser,
    schema: {
      tags: ['me'],
      summary: 'Gigs the caller viewed recently, most recent first',
      security: bearer,
      response: { 200: RecentViews, ...errorResponses(401) }
    }
  }, async (request) => app.sessions.recentViews(request.caller!.id))

  app.get('/me/search-history', {
    onRequest: app.requireUser,
    schema: {
      tags: ['me'],
      summary: "The caller's recent searches (normalised criteria), most recent first",
      security: bearer,
      response: { 200: SearchHistory, ...errorResponses(401) }
    }
  }, async (request) => app.sessions.searchHistory(request.caller!.id))

  app.put('/me/drafts/:gigId/autosave', {
    onRequest: app.requireUser,
    bodyLimit: AUTOSAVE_BODY_LIMIT,
    schema: {
      tags: ['me'],
      summary: 'Autosave the form state of one of the caller\'s drafts (kept for 30 minutes)',
      security: bearer,
      params: GigIdParams,
      body: Type.Object({ data: DraftData }, { additionalProperties: false }),
      response: { 200: Autosave, ...errorResponses(400, 401, 403, 404, 409, 413) }
    }
  }, async (request) => {
    const caller = request.caller!
    await assertOwnDraft(request.domain, caller, request.params.gigId)
    return app.sessions.saveDraft(caller.id, request.params.gigId, request.body.data)
  })

  app.get('/me/drafts/:gigId/autosave', {
    onRequest: app.requireUser,
    schema: {
      tags: ['me'],
      summary: 'The caller\'s autosaved form state of a draft',
      security: bearer,
      params: GigIdParams,
      response: { 200: Autosave, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => {
    const saved = await app.sessions.getDraft(request.caller!.id, request.params.gigId)
    if (!saved) throw notFound('autosave for gig', request.params.gigId)
    return saved
  })

  app.delete('/me/drafts/:gigId/autosave', {
    onRequest: app.requireUser,
    schema: {
      tags: ['me'],
      summary: 'Discard the caller\'s autosave of a draft (idempotent)',
      security: bearer,
      params: GigIdParams,
      response: { 204: Type.Null(), ...errorResponses(400, 401) }
    }
  }, async (request, reply) => {
    await app.sessions.deleteDraft(request.caller!.id, request.params.gigId)
    return reply.code(204).send(null)
  })
}

export default meRoutes

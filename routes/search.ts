import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { MAX_SEARCH_SKILLS, hasCriteria, normaliseSearch, searchGigs, searchLexemes } from '../src/domain/search.ts'
import { CategorySlug, errorResponses, GigPage, Pagination, StringEnum } from './schemas.ts'
import { ALL_SEARCH_RESULTS, KEYS, searchTags } from '../src/catalog.ts'

const SearchSort = StringEnum(['relevance', 'newest', 'budget'], {
  description: 'relevance (the default with q; without q the order is newest), newest, or budget (highest first)'
})

/** A search as remembered in /me/search-history: its normalised criteria. */
export const SearchCriteria = Type.Object({
  q: Type.Optional(Type.String()),
  category: Type.Optional(Type.String()),
  skills: Type.Optional(Type.Array(Type.String())),
  minBudget: Type.Optional(Type.Integer()),
  maxBudget: Type.Optional(Type.Integer()),
  sort: Type.String()
})

const SearchQuery = Type.Object({
  q: Type.Optional(Type.String({ maxLength: 200, description: 'web-search syntax: words, "a phrase", or, -excluded' })),
  category: Type.Optional(CategorySlug),
  skills: Type.Optional(Type.Array(Type.String({ maxLength: 1000, pattern: '^[a-z0-9,-]*$' }), {
    maxItems: MAX_SEARCH_SKILLS,
    description: 'gigs listing any of these skills: skills=a,b or skills=a&skills=b'
  })),
  minBudget: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000000 })),
  maxBudget: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000000 })),
  sort: Type.Optional(SearchSort),
  ...Pagination
}, { additionalProperties: false })

const searchRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/search', {
    config: { cache: { key: KEYS.search.template, ttl: KEYS.search.ttl, tags: [ALL_SEARCH_RESULTS] } },
    schema: {
      tags: ['search'],
      summary: 'Full-text search over open gigs; a signed-in search is kept in /me/search-history',
      querystring: SearchQuery,
      response: { 200: GigPage, ...errorResponses(400, 401) }
    }
  }, async (request) => {
    const { page, pageSize } = request.query
    const criteria = normaliseSearch(request.query)
    // Before the search reads anything: a gig edit invalidates the results whose query shares a
    // lexeme with the gig's text (or that need none), not every search. One more statement, and
    // only when the result is going to be stored.
    await request.cacheDependsOn(async () => searchTags(await searchLexemes(request.domain, criteria.q)))
    const result = await searchGigs(request.domain, criteria, page, pageSize)
    if (request.caller && hasCriteria(criteria)) {
      // history is a convenience: losing it must never cost the caller their results
      try {
        await app.sessions.recordSearch(request.caller.id, { ...criteria })
      } catch (err) {
        request.log.warn({ err }, 'search history not recorded')
      }
    }
    return result
  })
}

export default searchRoutes

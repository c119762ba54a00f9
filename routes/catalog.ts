import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import {
  categoriesWithCounts, dailyStats, MAX_STATS_DAYS, popularSkills, topApplicants, topCreators
} from '../src/domain/stats.ts'
import { errorResponses } from './schemas.ts'
import { KEYS } from '../src/catalog.ts'

const Day = Type.String({ format: 'date', description: 'a UTC day, YYYY-MM-DD' })
const DayCounts = Type.Array(Type.Object({ day: Day, created: Type.Integer() }))

const CategoryList = Type.Array(Type.Object({
  slug: Type.String(),
  name: Type.String(),
  openGigs: Type.Integer()
}))

const SkillRanking = Type.Array(Type.Object({ skill: Type.String(), openGigs: Type.Integer() }))

const CreatorLeaderboard = Type.Array(Type.Object({
  userId: Type.Integer(),
  name: Type.String(),
  gigsPosted: Type.Integer({ description: 'published (non-draft) gigs' })
}))

const ApplicantLeaderboard = Type.Array(Type.Object({
  userId: Type.Integer(),
  name: Type.String(),
  acceptedApplications: Type.Integer()
}))

const catalogRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/categories', {
    config: { cache: { key: KEYS.categories.template, ttl: KEYS.categories.ttl } },
    schema: {
      tags: ['catalog'],
      summary: 'Every category with its number of open gigs',
      response: { 200: CategoryList }
    }
  }, async (request) => categoriesWithCounts(request.domain))

  app.get('/skills/popular', {
    config: { cache: { key: KEYS.popular_skills.template, ttl: KEYS.popular_skills.ttl } },
    schema: {
      tags: ['catalog'],
      summary: 'The 20 skills most listed by open gigs, with counts',
      response: { 200: SkillRanking }
    }
  }, async (request) => popularSkills(request.domain))

  app.get('/stats/daily', {
    schema: {
      tags: ['catalog'],
      summary: 'Gigs (drafts excluded) and applications created per UTC day over the last N days, oldest first',
      querystring: Type.Object({
        days: Type.Integer({ minimum: 1, maximum: MAX_STATS_DAYS, default: 7, description: 'days back, today included' })
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ gigs: DayCounts, applications: DayCounts }),
        ...errorResponses(400)
      }
    }
  }, async (request) => dailyStats(request.domain, request.query.days))

  app.get('/leaderboards/creators', {
    config: { cache: { key: KEYS['leaderboard:creators'].template, ttl: KEYS['leaderboard:creators'].ttl } },
    schema: {
      tags: ['catalog'],
      summary: 'The 10 users with the most published gigs',
      response: { 200: CreatorLeaderboard }
    }
  }, async (request) => topCreators(request.domain))

  app.get('/leaderboards/applicants', {
    config: { cache: { key: KEYS['leaderboard:applicants'].template, ttl: KEYS['leaderboard:applicants'].ttl } },
    schema: {
      tags: ['catalog'],
      summary: 'The 10 users with the most accepted applications',
      response: { 200: ApplicantLeaderboard }
    }
  }, async (request) => topApplicants(request.domain))
}

export default catalogRoutes

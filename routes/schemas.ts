import { Type } from '@sinclair/typebox'

/** Dates leave the database as Date objects and are serialised as ISO strings. */
export const DateTime = Type.Unsafe<Date>({ type: 'string', format: 'date-time' })

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String(),
  error: Type.String(),
  message: Type.String()
}, { $id: 'ErrorResponse', description: 'The one error shape of every route' })

const ErrorRef = Type.Ref(ErrorResponse)

/** Response entries for the error codes a route can return. */
export function errorResponses (...codes: number[]): Record<number, typeof ErrorRef> {
  const out: Record<number, typeof ErrorRef> = {}
  for (const c of codes) out[c] = ErrorRef
  return out
}

export const Id = Type.Integer({ minimum: 1, maximum: 2147483647 })
export const IdParams = Type.Object({ id: Id })
export const Pagination = {
  page: Type.Integer({ minimum: 1, maximum: 10000, default: 1 }),
  pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 })
}
export const bearer = [{ bearerAuth: [] }]

const Slug = Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-z0-9][a-z0-9-]*$' })
export const SkillList = Type.Array(Slug, { maxItems: 20, uniqueItems: true })
export const CategorySlug = Slug
export const Currency = Type.String({ pattern: '^[A-Z]{3}$' })

/** A string enum that OpenAPI shows as `enum` and TypeScript as a union. */
export function StringEnum<const T extends readonly string[]> (values: T, opts: { description?: string, default?: T[number] } = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts })
}

export const GigStatus = StringEnum(['draft', 'open', 'in_progress', 'completed', 'cancelled'])

export const Gig = Type.Object({
  id: Type.Integer(),
  title: Type.String(),
  description: Type.String(),
  category: Type.String(),
  skills: Type.Array(Type.String()),
  budgetMin: Type.Integer(),
  budgetMax: Type.Integer(),
  currency: Type.String(),
  status: Type.String(),
  featured: Type.Boolean(),
  postedBy: Type.Integer(),
  version: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime
}, { $id: 'Gig' })

export const GigList = Type.Array(Type.Ref(Gig))
export const GigPage = Type.Object({
  items: Type.Array(Type.Ref(Gig)),
  page: Type.Integer(),
  pageSize: Type.Integer(),
  total: Type.Integer()
})

export const User = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  headline: Type.String(),
  skills: Type.Array(Type.String()),
  rating: Type.Number(),
  version: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime
}, { $id: 'User' })

export const Application = Type.Object({
  id: Type.Integer(),
  gigId: Type.Integer(),
  applicantId: Type.Integer(),
  coverLetter: Type.String(),
  proposedBudget: Type.Integer(),
  status: Type.String(),
  version: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime
}, { $id: 'Application' })

export const Assignment = Type.Object({
  id: Type.Integer(),
  gigId: Type.Integer(),
  applicationId: Type.Integer(),
  workerId: Type.Integer(),
  agreedAmount: Type.Integer(),
  paymentStatus: Type.String(),
  version: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime
}, { $id: 'Assignment' })

export const Submission = Type.Object({
  id: Type.Integer(),
  gigId: Type.Integer(),
  assignmentId: Type.Integer(),
  submitterId: Type.Integer(),
  content: Type.String(),
  status: Type.String(),
  reviewNotes: Type.Union([Type.String(), Type.Null()]),
  version: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime
}, { $id: 'Submission' })

/** Shared schemas registered once with `app.addSchema` so routes can `$ref` them. */
export const sharedSchemas = [ErrorResponse, Gig, User, Application, Assignment, Submission]

import t from 'tap'
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import { requestKey } from '../../plugins/cache.ts'
import { compileKeyTemplate, normaliseQuery } from '../../src/cache/keys.ts'
import { KEYS } from '../../src/catalog.ts'

// Distinct requests never share a cache entry: for every key template the service uses (and a
// few built to tempt an injection), two requests get one key only if they are the same request
// once normalised. Values are drawn with the delimiters and globs keys are made of.

const GIG_LIST_QUERY = ['status', 'category', 'skill', 'minBudget', 'maxBudget', 'postedBy', 'page', 'pageSize']
const SEARCH_QUERY = ['q', 'category', 'skills', 'minBudget', 'maxBudget', 'sort', 'page', 'pageSize']

interface Route { name: string, template: string, scope: 'public' | 'user', query: string[] }

const ROUTES: Route[] = [
  { name: 'gig', template: KEYS.gig.template, scope: 'public', query: [] },
  { name: 'user_gigs', template: KEYS.user_gigs.template, scope: 'public', query: [] },
  { name: 'user_drafts', template: KEYS.user_drafts.template, scope: 'user', query: [] },
  { name: 'user_applications', template: KEYS.user_applications.template, scope: 'user', query: [] },
  { name: 'gig_applications', template: KEYS.gig_applications.template, scope: 'user', query: [] },
  { name: 'gig_list', template: KEYS.gig_list.template, scope: 'public', query: GIG_LIST_QUERY },
  { name: 'search', template: KEYS.search.template, scope: 'public', query: SEARCH_QUERY },
  { name: 'featured', template: KEYS.featured_gigs.template, scope: 'public', query: [] },
  // Two values side by side: "a:b"+"c" must not meet "a"+"b:c".
  { name: 'pair', template: 'pair:{params.a}:{params.b}', scope: 'public', query: [] },
  { name: 'listing', template: 'listing:{query}', scope: 'user', query: ['a', 'b'] },
  { name: 'one', template: 'one:{query.a}', scope: 'public', query: ['a'] }
]

const compiled = ROUTES.map((r) => ({ ...r, key: compileKeyTemplate(r.template, { allowedQuery: r.query }) }))

// Delimiters of keys, tags, globs, query strings, percent-escapes and our own markers.
const DELIMS = [':', '@', '&', '=', ',', '*', '?', '[', ']', '\\', '%', '%2A', '%3A', '~', '{', '}', ' ', '\n', '|', '/', '.', '"', "'", '\uD800', '']
const value = fc.oneof(
  fc.constantFrom(...DELIMS),
  fc.array(fc.oneof(fc.constantFrom(...DELIMS), fc.string({ maxLength: 3 })), { maxLength: 4 }).map((a) => a.join('')),
  fc.integer({ min: -2, max: 20 }).map(String)
)
const queryValue = fc.oneof(value, fc.array(value, { minLength: 1, maxLength: 3 }))

const request = fc.record({
  route: fc.nat({ max: compiled.length - 1 }),
  params: fc.record({ id: value, a: value, b: value }),
  query: fc.dictionary(fc.constantFrom('a', 'b', 'q', 'status', 'page', 'skills', 'zzz'), queryValue, { maxKeys: 4 }),
  user: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom('1@2', '2', '1:2'))
})

type Req = typeof request extends fc.Arbitrary<infer R> ? R : never

function keyOf (r: Req): string {
  const route = compiled[r.route]!
  return requestKey(route.key, route.scope, { params: r.params, query: r.query, user: { id: r.user } })
}

/** What the response may depend on: the values the route's key takes in, normalised as the key does. */
function identity (r: Req): unknown {
  const route = compiled[r.route]!
  const params = route.key.placeholders.filter((p) => p.startsWith('params.')).map((p) => r.params[p.slice(7) as 'id' | 'a' | 'b'])
  const query = route.key.usesQuery ? normaliseQuery(r.query, route.query) : []
  return { route: route.name, params, query, user: route.scope === 'user' ? String(r.user) : null }
}

t.test('two requests share a key only when they are the same request', async (t) => {
  fc.assert(fc.property(request, request, (a, b) => {
    if (keyOf(a) !== keyOf(b)) return true
    return isDeepStrictEqual(identity(a), identity(b))
  }), { numRuns: 20_000 })
  t.pass('20 000 pairs')
})

t.test('the same request always gets the same key', async (t) => {
  fc.assert(fc.property(request, (r) => keyOf(r) === keyOf(structuredClone(r))), { numRuns: 2000 })
  t.pass()
})

t.test('a key never holds whitespace, a glob character, or an "@" other than the caller\'s', async (t) => {
  fc.assert(fc.property(request, (r) => {
    const route = compiled[r.route]!
    const key = keyOf(r)
    const body = route.scope === 'user' ? key.slice(0, key.lastIndexOf('@')) : key
    return !/[\s*?[\]\\@]/.test(body)
  }), { numRuns: 5000 })
  t.pass()
})

t.test('the close calls: delimiter-shaped values next to each other stay apart', async (t) => {
  const pair = compiled.find((r) => r.name === 'pair')!
  const k = (a: string, b: string): string => requestKey(pair.key, 'public', { params: { a, b }, query: {}, user: null })
  t.not(k('x:y', 'z'), k('x', 'y:z'))
  t.not(k('x%3Ay', 'z'), k('x:y', 'z'))
  const drafts = compiled.find((r) => r.name === 'user_drafts')!
  const u = (id: string, user: number | string): string => requestKey(drafts.key, 'user', { params: { id }, query: {}, user: { id: user } })
  t.not(u('1@2', 1), u('1', '2@1'), 'a param cannot pose as another caller')
  const gigList = compiled.find((r) => r.name === 'gig_list')!
  const q = (query: Record<string, unknown>): string => requestKey(gigList.key, 'public', { params: {}, query, user: null })
  t.not(q({ skill: 'ts&status=open' }), q({ skill: 'ts', status: 'open' }), 'a value cannot spell another query')
  t.equal(q({ status: 'open', skill: 'ts' }), q({ skill: 'ts', status: 'open' }), 'order does not matter')
})

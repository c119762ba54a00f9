import t from 'tap'
import { compileKeyTemplate, escapeKeyPart, hashQuery, MISSING } from '../../src/cache/keys.ts'

const tricky = [
  '', ' ', '  ', ':', '::', '*', '?', '[', ']', '[a-z]', '{', '}', '{params.id}', '%', '%25', '%2A', '%3A',
  'a:b', 'a%3Ab', 'gig:1', 'gig:*', 'a b', 'a+b', 'a%20b', '\n', '\r\n', '\t', '\\', '/', '..', '.',
  '~', '%7E', "'", '"', '!', '(', ')', '&', '=', ',', '#', 'ü', 'u\u0308', '✓', '😀', '\u0000',
  '\uD800', '\uDC00', '\uD800\uDC00', '%uD800', 'tag:gig:1', 'user_gigs:7', '-_.', 'A', 'a'
]

t.test('escapeKeyPart is injective over tricky inputs', async (t) => {
  const seen = new Map<string, string>()
  for (const input of tricky) {
    const out = escapeKeyPart(input)
    const earlier = seen.get(out)
    t.ok(earlier === undefined, `${JSON.stringify(input)} → ${out} is not also the escape of ${JSON.stringify(earlier)}`)
    seen.set(out, input)
  }
  t.equal(seen.size, tricky.length)
})

t.test('escapeKeyPart output holds no separator, glob, quote or missing marker', async (t) => {
  for (const input of tricky) {
    const out = escapeKeyPart(input)
    t.match(out, /^(?:[A-Za-z0-9._-]|%[0-9A-F]{2}|%u[0-9A-F]{4})*$/, `${JSON.stringify(input)} → ${out}`)
    t.not(out, MISSING)
  }
  t.equal(escapeKeyPart('*'), '%2A')
  t.equal(escapeKeyPart("'"), '%27')
  t.equal(escapeKeyPart('~'), '%7E')
  t.equal(escapeKeyPart('a.b'), 'a.b', 'dots stay')
  t.equal(escapeKeyPart('42'), '42', 'plain ids stay readable')
})

t.test('escapeKeyPart round-trips random strings (so it is injective on them)', async (t) => {
  let failures = 0
  const alphabet = ['a', 'Z', '0', ':', '*', '?', '[', ']', '{', '}', '%', ' ', '~', '!', "'", '(', ')', 'é', '😀', '\n']
  for (let i = 0; i < 5000; i++) {
    let s = ''
    const len = Math.floor(Math.random() * 8)
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(Math.random() * alphabet.length)]
    if (decodeURIComponent(escapeKeyPart(s)) !== s) failures++
  }
  t.equal(failures, 0)
})

t.test('templates compile to a pattern, placeholders and user use', async (t) => {
  const cases: Array<[string, string]> = [
    ['gig:{params.id}', 'gig'],
    ['user_gigs:{params.id}', 'user_gigs'],
    ['featured_gigs', 'featured_gigs'],
    ['stats:gigs:daily', 'stats:gigs:daily'],
    ['session:gig_views:{user.id}', 'session:gig_views'],
    ['session:draft_autosave:{user.id}:{params.gigId}', 'session:draft_autosave']
  ]
  for (const [template, pattern] of cases) t.equal(compileKeyTemplate(template).pattern, pattern, template)
  t.equal(compileKeyTemplate('search:{hash}', { allowedQuery: ['q'] }).pattern, 'search')
  const c = compileKeyTemplate('session:draft_autosave:{user.id}:{params.gigId}')
  t.same(c.placeholders, ['user.id', 'params.gigId'])
  t.equal(c.usesUser, true)
  t.equal(compileKeyTemplate('gig:{params.id}').usesUser, false)
  t.equal(compileKeyTemplate('stats:gigs:daily').render({}), 'stats:gigs:daily')
})

t.test('bad templates fail at compile time, naming the template or placeholder', async (t) => {
  t.throws(() => compileKeyTemplate(''), { code: 'CACHE_ERR_BAD_TEMPLATE' })
  t.throws(() => compileKeyTemplate('gig:{body.id}'), { code: 'CACHE_ERR_BAD_TEMPLATE', message: /gig:\{body\.id\}/ })
  t.throws(() => compileKeyTemplate('gig:{params.id'), { code: 'CACHE_ERR_BAD_TEMPLATE', message: /unclosed/ })
  t.throws(() => compileKeyTemplate('gig:{}'), { code: 'CACHE_ERR_BAD_TEMPLATE' })
  t.throws(() => compileKeyTemplate('gig:{user.name}'), { code: 'CACHE_ERR_BAD_TEMPLATE' })
  t.throws(() => compileKeyTemplate('gig:*'), { code: 'CACHE_ERR_BAD_TEMPLATE' }, 'no globs in literals')
  t.throws(() => compileKeyTemplate('{params.id}'), { code: 'CACHE_ERR_BAD_TEMPLATE' }, 'needs a literal name')
  t.throws(() => compileKeyTemplate('gig_list:{query.sort}', { allowedQuery: ['page'] }),
    { code: 'CACHE_ERR_QUERY_NOT_ALLOWED', message: /\{query\.sort\}/ })
  t.throws(() => compileKeyTemplate('gig_list:{query.sort}'), { code: 'CACHE_ERR_QUERY_NOT_ALLOWED' })
  t.throws(() => compileKeyTemplate('search:{hash}'), { code: 'CACHE_ERR_QUERY_NOT_ALLOWED', message: /search:\{hash\}/ })
})

t.test('rendering escapes every value; missing values render as the marker', async (t) => {
  const gig = compileKeyTemplate('gig:{params.id}')
  t.equal(gig.render({ params: { id: 42 } }), 'gig:42')
  t.equal(gig.render({ params: { id: '1:*' } }), 'gig:1%3A%2A', 'no forged separator or glob')
  t.equal(gig.render({ params: {} }), 'gig:~')
  t.equal(gig.render({}), 'gig:~')
  t.not(gig.render({ params: { id: '~' } }), gig.render({ params: {} }), 'a literal ~ is not "missing"')
  t.not(gig.render({ params: { id: '' } }), gig.render({ params: {} }), 'empty is not "missing"')

  const mine = compileKeyTemplate('session:gig_views:{user.id}')
  t.equal(mine.render({ user: { id: 7 } }), 'session:gig_views:7')
  t.equal(mine.render({ user: null }), 'session:gig_views:~')

  const sorted = compileKeyTemplate('gig_list:{query.sort}:{query.page}', { allowedQuery: ['page', 'sort'] })
  t.equal(sorted.render({ query: { page: ' 2 ', sort: 'new' } }), 'gig_list:new:2')
  t.equal(sorted.render({ query: { page: '' } }), 'gig_list:~:~', 'empty query values count as missing')
})

t.test('{query} renders allowed names sorted as name=value&…, dropping empties', async (t) => {
  const list = compileKeyTemplate('gig_list:{query}', { allowedQuery: ['sort', 'q', 'page', 'skills'] })
  t.equal(list.render({ query: { sort: ' new ', page: '', q: 'x y', other: 'ignored' } }), 'gig_list:q=x%20y&sort=new')
  t.equal(list.render({ query: { q: 'x y', sort: 'new' } }), list.render({ query: { sort: 'new', q: ' x y' } }), 'order and padding do not matter')
  t.equal(list.render({ query: { skills: ['ts', 'go', ''] } }), 'gig_list:skills=go,ts', 'arrays sorted, empties dropped')
  t.not(list.render({ query: { q: 'a,b' } }), list.render({ query: { q: ['a', 'b'] } }), 'a value with a comma is not a list')
  t.not(list.render({ query: { q: 'a&sort=b' } }), list.render({ query: { q: 'a', sort: 'b' } }), 'no forged pairs')
  t.equal(list.render({}), 'gig_list:')
})

t.test('{hash} is a stable 32-hex sha256 of the normalised allowed query', async (t) => {
  const search = compileKeyTemplate('search:{hash}', { allowedQuery: ['q', 'category', 'skills'] })
  const a = search.render({ query: { q: 'design', category: 'art', skills: ['b', 'a'] } })
  const b = search.render({ query: { skills: ['a', 'b'], category: ' art ', q: 'design', utm: 'x', page: '' } })
  t.match(a, /^search:[0-9a-f]{32}$/)
  t.equal(a, b, 'key order, whitespace, array order and unlisted names do not matter')
  t.not(search.render({ query: { q: 'design!' } }), search.render({ query: { q: 'design' } }))
  t.equal(hashQuery({ b: '1', a: '2' }), hashQuery({ a: '2', b: '1', c: '' }))
  t.equal(hashQuery({ a: ['x'] }), hashQuery({ a: 'x' }), 'a one-element array equals its element')
  t.equal(hashQuery({ a: 1 }, ['b']), hashQuery({}), 'allowed list filters')
  t.equal(hashQuery({ a: 'x' }).length, 32)
})

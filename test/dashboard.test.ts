import { existsSync } from 'node:fs'
import t from 'tap'
import { chromium, type Browser } from 'playwright-core'
import type { FastifyInstance } from 'fastify'
import { authAs, build, USERS } from './helpers/build.ts'

// Debian's Chromium, driven by playwright-core: no browser download. `.ci/run` installs it.
const CHROMIUM = '/usr/bin/chromium'
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (apt-get install chromium): the dashboard is not tried in a browser`
// `DASHBOARD_SCREENSHOT=docs/dashboard.png npx tap test/dashboard.test.ts` also drives a minute
// of mixed traffic and saves the README's screenshot.
const SCREENSHOT = process.env.DASHBOARD_SCREENSHOT

async function launch (t: { teardown (fn: () => unknown): void }): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
  t.teardown(() => browser.close())
  return browser
}

async function listen (app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const addr = app.server.address()
  if (addr === null || typeof addr === 'string') throw new Error('no port')
  return `http://127.0.0.1:${addr.port}`
}

async function mixedTraffic (app: FastifyInstance, seconds: number): Promise<void> {
  const bob = authAs(app, USERS.bob)
  const end = Date.now() + seconds * 1000
  for (let i = 0; Date.now() < end; i++) {
    const gig = 1 + (i % 5)
    await app.inject(`/gigs/${gig}`)
    await app.inject(`/users/${1 + (i % 3)}`)
    await app.inject('/featured')
    await app.inject(`/users/${1 + (i % 2)}/gigs`)
    await app.inject(`/search?q=${['logo', 'api', 'video'][i % 3]}`)
    if (i % 7 === 0) await app.inject('/categories')
    if (i % 25 === 0) await app.inject({ method: 'PATCH', url: `/gigs/${gig}`, headers: authAs(app, USERS.alice), payload: { title: `Title revision ${i}` } })
    if (i % 40 === 0) await app.inject({ url: '/gigs/1', headers: bob })
    await new Promise((resolve) => setTimeout(resolve, 40))
  }
}

t.test('the dashboard shows the patterns after traffic, and a forced low hit rate shows its alert', { skip, timeout: 180_000 }, async (t) => {
  const app = await build(t, { config: { cacheAlerts: { minSamples: 5 } } })
  const base = await listen(app)
  for (const url of ['/gigs/1', '/gigs/1', '/gigs/1', '/featured', '/featured']) await app.inject(url)

  const browser = await launch(t)
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  const errors: string[] = []
  page.on('pageerror', (err) => errors.push(err.message))
  await page.goto(`${base}/cache/dashboard?every=300`)

  const gigRow = page.locator('tr[data-pattern="gig"]')
  await gigRow.waitFor({ timeout: 10_000 })
  t.equal(await gigRow.locator('td').nth(2).textContent(), '2', 'gig hits')
  t.equal(await gigRow.locator('td').nth(3).textContent(), '1', 'gig misses')
  t.equal(await page.locator('tr[data-pattern="featured_gigs"] td').nth(1).textContent(), 'list')
  t.equal(await page.locator('tr[data-route="GET /gigs/:id"] td').first().textContent(), 'GET /gigs/:id')
  t.equal(await page.locator('#hitrate-chart g[data-series="gig"] circle').count() > 0, true, 'gig is drawn on the hit-rate chart')
  t.equal(await page.locator('#latency-chart [data-bar="gig:hit"]').count(), 1, 'hit vs miss latency bars')
  t.equal(await page.locator('#memory-chart [data-bar="gig:bytes"]').count(), 1, 'memory by pattern')
  t.equal(await page.locator('#breaker').textContent(), 'unknown', 'the memory store has no breaker')
  t.match(await page.locator('#alert-list').textContent(), /No active alerts/)

  // Six gigs nobody asked for before: 2 hits out of 9 lookups, 22% < 70%.
  for (let id = 2; id <= 7; id++) await app.inject(`/gigs/${id}`)
  const alert = page.locator('[data-alert="hit_rate:gig"]')
  await alert.waitFor({ timeout: 10_000 })
  // The page polls while the six requests run: it may first show an intermediate figure (2/5, 2/6 …).
  await page.waitForFunction(() => document.querySelector('[data-alert="hit_rate:gig"]')?.textContent?.includes('(2/9)') === true,
    undefined, { timeout: 10_000 }).catch(() => {})
  t.match(await alert.textContent(), /hit rate of entity pattern "gig" is 22\.2% \(2\/9\), below 70%/)
  t.match(await gigRow.locator('td[data-col="window-hit-rate"]').getAttribute('class'), /low/, 'the rate is marked low in the table')
  t.same(errors, [], 'no script errors in the page')
})

t.test('screenshot of the dashboard on Redis after a minute of traffic', {
  skip: skip || (SCREENSHOT === undefined ? 'set DASHBOARD_SCREENSHOT=<file.png> to take it' : false),
  timeout: 180_000
}, async (t) => {
  const app = await build(t, { redis: true, config: { cacheAlerts: { minSamples: 10 } } })
  const base = await listen(app)
  const browser = await launch(t)
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  await page.goto(`${base}/cache/dashboard?every=1000`)
  await mixedTraffic(app, 60)
  // A crawler walking cold ids at the end: the gig hit rate drops below 70% and the picture shows the alert.
  for (let id = 100; id < 700; id++) await app.inject(`/gigs/${id}`)
  await app.sampleCacheMemory()
  await page.waitForTimeout(2500)
  await page.screenshot({ path: SCREENSHOT as string, fullPage: true })
  t.ok(existsSync(SCREENSHOT as string), `saved ${SCREENSHOT}`)
})

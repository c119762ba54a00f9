import t from 'tap'
import { build } from '../helpers/build.ts'
import { startRedisServer } from '../helpers/redis-server.ts'
import { fetchRead, type App } from './helpers/fresh.ts'
import { walkLifecycle, type StepName } from './helpers/lifecycle.ts'

/** Redis is stopped before this step (after the applications are in) … */
const KILL_BEFORE: StepName = 'reject'
/** … and started again, empty, before this one. */
const RESTART_BEFORE: StepName = 'approve'

/** Waits until the cache answers again: a public read fetched twice is a HIT (ioredis reconnects with backoff). */
async function cacheAnswers (app: App, timeoutMs = 20000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    await fetchRead(app, { url: '/leaderboards/creators' })
    const res = await fetchRead(app, { url: '/leaderboards/creators' })
    if (res.headers['x-cache'] === 'HIT') return true
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return false
}

t.test('the same lifecycle with Redis killed halfway and restarted later: every response correct, no read stale', async (t) => {
  const own = await startRedisServer()
  // Teardowns run last-registered first: the app closes while its Redis still answers.
  t.teardown(() => own.stop())
  // A generous per-operation timeout: on a saturated CI machine event-loop lag alone can exceed the
  // 100 ms default and open the breaker, which this walk is not about (the kill is seen as refused connections).
  const app = await build(t, { config: { redisUrl: own.url, cachePrefix: `e2e-outage-${process.pid}`, cacheTimeoutMs: 1000 } })
  let up = true
  await walkLifecycle(t, app, {
    cacheUp: () => up,
    before: async (step) => {
      if (step === KILL_BEFORE) {
        await own.kill()
        up = false
      } else if (step === RESTART_BEFORE) {
        await own.start()
        t.ok(await cacheAnswers(app), 'the cache answers again after Redis restarts')
        up = true
      }
    }
  })
})

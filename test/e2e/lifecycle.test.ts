import t from 'tap'
import { build } from '../helpers/build.ts'
import { walkLifecycle } from './helpers/lifecycle.ts'

// The real app: Postgres, the shared Redis under this test's own prefix, and the in-process L1 in front.
t.test('a gig\'s whole lifecycle through the cached API: every read after every step equals the database', async (t) => {
  // See redis-outage.test.ts: event-loop lag on a busy machine must not open the breaker mid-walk.
  const app = await build(t, { redis: true, config: { cacheTimeoutMs: 1000 } })
  await walkLifecycle(t, app, { cacheUp: () => true })
})

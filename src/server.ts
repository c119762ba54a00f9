import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'

const config = loadConfig()
const app = await buildApp({ config })

// Finish in-flight requests and close the database and Redis on SIGINT/SIGTERM.
closeWithGrace({ delay: 10000 }, async ({ err }) => {
  if (err) app.log.error({ err }, 'shutting down after an error')
  await app.close()
})

try {
  await app.listen({ port: config.port, host: config.host })
  app.log.info(`Gig Service docs at http://${config.host}:${config.port}/docs`)
} catch (err) {
  app.log.error({ err }, 'could not start')
  process.exit(1)
}

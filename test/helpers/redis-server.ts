import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A free TCP port on 127.0.0.1, as the OS hands it out. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => { resolve(typeof addr === 'object' && addr ? addr.port : 0) })
    })
  })
}

async function waitUntil (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function answers (port: number): Promise<boolean> {
  const { Socket } = await import('node:net')
  return await new Promise((resolve) => {
    const s = new Socket()
    let buf = ''
    s.setTimeout(200)
    s.once('error', () => { s.destroy(); resolve(false) })
    s.once('timeout', () => { s.destroy(); resolve(false) })
    s.on('data', (d) => {
      buf += d.toString()
      if (buf.includes('\r\n')) { s.destroy(); resolve(buf.startsWith('+PONG')) }
    })
    s.connect(port, '127.0.0.1', () => { s.write('PING\r\n') })
  })
}

/** A redis-server of the test's own, on a free port: it may be killed, paused or restarted at will. */
export interface OwnRedis {
  readonly port: number
  readonly url: string
  /** SIGKILL: the server vanishes without closing connections gracefully. */
  kill (): Promise<void>
  /** Starts it again on the same port (empty: it keeps nothing on disk). */
  start (): Promise<void>
  restart (): Promise<void>
  /** Stops it for good and removes its directory. */
  stop (): Promise<void>
  readonly running: boolean
}

/** Starts a redis-server (Debian's binary) with no persistence on a free port. */
export async function startRedisServer (extraArgs: string[] = []): Promise<OwnRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'gig-redis-'))
  let child: ChildProcess | undefined
  const launch = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--daemonize', 'no', ...extraArgs], { stdio: 'ignore' })
    const proc = child
    proc.once('exit', () => { if (child === proc) child = undefined })
    await waitUntil(() => answers(port), 5000, `redis-server on port ${port}`)
  }
  const kill = async (): Promise<void> => {
    const proc = child
    if (!proc) return
    child = undefined
    const exited = new Promise((resolve) => proc.once('exit', resolve))
    proc.kill('SIGKILL')
    await exited
  }
  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running () { return child !== undefined },
    kill,
    start: launch,
    restart: async () => { await kill(); await launch() },
    stop: async () => { await kill(); rmSync(dir, { recursive: true, force: true }) }
  }
}

import { createServer, Socket, type Server } from 'node:net'

/**
 * - `pass`: bytes flow both ways;
 * - `latency`: every chunk, both ways, is delivered `latencyMs` late (in order);
 * - `blackhole`: connections stay open but nothing is delivered; bytes sent meanwhile are held
 *   and delivered when the mode changes back (as TCP retransmits after a partition heals), unless
 *   either side closes first (then they die with the connection, as they do in the kernel);
 * - `reset`: every connection is reset (RST), new ones too;
 * - `refuse`: nothing listens (ECONNREFUSED) and every open connection is reset.
 */
export type ProxyMode = 'pass' | 'latency' | 'blackhole' | 'reset' | 'refuse'

export interface TcpProxy {
  readonly port: number
  readonly mode: ProxyMode
  /** Connections open through the proxy now. */
  readonly connections: number
  /** Bytes delivered to the target since the proxy started. */
  readonly bytesToTarget: number
  setMode (mode: ProxyMode, opts?: { latencyMs?: number }): Promise<void>
  close (): Promise<void>
}

interface Pair {
  client: Socket
  upstream: Socket | undefined
  /** Held while blackholed: [direction, chunk] in arrival order. */
  held: Array<['up' | 'down', Buffer]>
}

/** An in-process TCP proxy on a free port of 127.0.0.1 in front of `target`, for fault tests. */
export async function startTcpProxy (target: { port: number, host?: string }): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1'
  let mode: ProxyMode = 'pass'
  let latencyMs = 0
  let bytesToTarget = 0
  const pairs = new Set<Pair>()
  let server: Server | undefined
  let port = 0

  const destroyPair = (pair: Pair, reset: boolean): void => {
    pairs.delete(pair)
    pair.held = []
    for (const s of [pair.client, pair.upstream]) {
      if (s === undefined || s.destroyed) continue
      if (reset) s.resetAndDestroy()
      else s.destroy()
    }
  }

  const deliver = (pair: Pair, dir: 'up' | 'down', chunk: Buffer): void => {
    const dst = dir === 'up' ? pair.upstream : pair.client
    if (dst === undefined || dst.destroyed) return
    if (dir === 'up') bytesToTarget += chunk.length
    dst.write(chunk)
  }

  const forward = (pair: Pair, dir: 'up' | 'down', chunk: Buffer): void => {
    // Held bytes go first: anything arriving before they are flushed queues behind them.
    if (mode === 'blackhole' || pair.held.length > 0 || pair.upstream === undefined || pair.upstream.connecting) {
      pair.held.push([dir, chunk])
    } else if (mode === 'latency') {
      // Equal delays keep their order: Node runs timers of one duration first in, first out.
      setTimeout(() => { if (pairs.has(pair)) deliver(pair, dir, chunk) }, latencyMs)
    } else {
      deliver(pair, dir, chunk)
    }
  }

  const connectUpstream = (pair: Pair): void => {
    const upstream = new Socket()
    pair.upstream = upstream
    upstream.on('data', (chunk: Buffer) => forward(pair, 'down', chunk))
    upstream.on('error', () => destroyPair(pair, true))
    upstream.on('close', () => destroyPair(pair, false))
    upstream.connect(target.port, host, () => flush(pair))
  }

  const flush = (pair: Pair): void => {
    if (mode === 'blackhole' || pair.upstream === undefined || pair.upstream.connecting) return
    const held = pair.held
    pair.held = []
    for (const [dir, chunk] of held) forward(pair, dir, chunk)
  }

  const onConnection = (client: Socket): void => {
    const pair: Pair = { client, upstream: undefined, held: [] }
    if (mode === 'reset' || mode === 'refuse') {
      client.resetAndDestroy()
      return
    }
    pairs.add(pair)
    client.on('data', (chunk: Buffer) => forward(pair, 'up', chunk))
    client.on('error', () => destroyPair(pair, true))
    client.on('close', () => destroyPair(pair, false))
    // A blackholed network never completes the far side's handshake: connect once it heals.
    if (mode !== 'blackhole') connectUpstream(pair)
  }

  const listen = async (): Promise<void> => {
    const srv = createServer(onConnection)
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject)
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject)
        resolve()
      })
    })
    const addr = srv.address()
    port = typeof addr === 'object' && addr !== null ? addr.port : port
    server = srv
  }

  const stopListening = async (): Promise<void> => {
    const srv = server
    server = undefined
    if (srv === undefined) return
    await new Promise<void>((resolve) => srv.close(() => resolve()))
  }

  await listen()

  return {
    get port () { return port },
    get mode () { return mode },
    get connections () { return pairs.size },
    get bytesToTarget () { return bytesToTarget },
    async setMode (next, opts = {}) {
      mode = next
      latencyMs = opts.latencyMs ?? latencyMs
      if (next === 'reset' || next === 'refuse') {
        for (const pair of [...pairs]) destroyPair(pair, true)
      }
      if (next === 'refuse') {
        await stopListening()
        return
      }
      if (server === undefined) await listen()
      if (next === 'pass' || next === 'latency') {
        for (const pair of pairs) {
          if (pair.upstream === undefined) connectUpstream(pair)
          else flush(pair)
        }
      }
    },
    async close () {
      for (const pair of [...pairs]) destroyPair(pair, false)
      await stopListening()
    }
  }
}

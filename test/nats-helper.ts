/**
 * A real nats-server for the JetStream tests: one per test file, on a free port, with its
 * store in a temp dir. In CI (`CI=true`) a missing binary fails the tests; locally they are
 * skipped with the reason printed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { findNatsServer, NatsServer } from '../src/queue/nats-server.js'

export const NATS_BIN = findNatsServer()
const inCI = ['1', 'true'].includes(String(process.env.CI).toLowerCase())

/** True when the JetStream tests must not run here (no binary, not CI). */
export const SKIP_NATS = !NATS_BIN && !inCI
if (SKIP_NATS) console.warn('JetStream tests skipped: no nats-server binary (set NATS_SERVER_BIN, or apt-get install nats-server); CI=true makes this a failure')

export interface TestNats {
  url: string
  dir: string
  server: NatsServer
}

/** Starts one nats-server for the current test file (in beforeAll) and stops it after all its tests. */
export function useNatsServer(options: { maxPayload?: number } = {}): TestNats {
  const handle = {} as TestNats
  beforeAll(async () => {
    if (!NATS_BIN) throw new Error('no nats-server binary found (NATS_SERVER_BIN, PATH, /usr/sbin/nats-server) and CI requires the JetStream tests')
    handle.dir = mkdtempSync(join(tmpdir(), 'faasdev-nats-'))
    handle.server = new NatsServer({ dataDir: handle.dir, maxPayload: options.maxPayload ?? 16 * 1024 * 1024, log: () => undefined })
    await handle.server.start()
    handle.url = handle.server.url
  })
  afterAll(async () => {
    await handle.server?.close()
    if (handle.dir) rmSync(handle.dir, { recursive: true, force: true })
  })
  return handle
}

/**
 * The `nats-server` child faasdev owns when `--queue jetstream` is given without
 * `--nats-url`: JetStream on, its store under the data dir, listening on 127.0.0.1 on a
 * port the server picks (read back from its ports file). The child must never outlive us,
 * but nothing lets a process die with its parent portably (no prctl from Node), so a
 * `kill -9` of faasdev leaves it running: the pid file in the data dir lets the next start
 * stop that orphan before it starts a fresh server on the same store.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { FaasError } from '../errors.js'

export interface NatsServerOptions {
  /** faasdev's data dir; the server's files live in `DATA_DIR/nats/`. */
  dataDir: string
  /** The server's `max_payload` in bytes (the largest message it accepts). */
  maxPayload: number
  /** Where the server's output goes, one line at a time (prefixed by the caller). */
  log: (line: string) => void
  /** @default process.env (reads `NATS_SERVER_BIN` and `PATH`) */
  env?: NodeJS.ProcessEnv
}

const FALLBACK_BIN = '/usr/sbin/nats-server'

/** `NATS_SERVER_BIN`, else `nats-server` on PATH, else the Debian package's path; undefined when none is executable. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const executable = (file: string): boolean => {
    try {
      accessSync(file, constants.X_OK)
      return true
    } catch {
      return false
    }
  }
  const fromEnv = env.NATS_SERVER_BIN
  if (fromEnv) return executable(fromEnv) ? fromEnv : undefined
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, 'nats-server'))) return join(dir, 'nats-server')
  }
  return executable(FALLBACK_BIN) ? FALLBACK_BIN : undefined
}

export function missingNatsServerError(env: NodeJS.ProcessEnv = process.env): FaasError {
  const where = env.NATS_SERVER_BIN ? `NATS_SERVER_BIN=${env.NATS_SERVER_BIN} is not an executable file` : 'no nats-server on PATH'
  return new FaasError(
    'ERR_QUEUE_UNAVAILABLE',
    `--queue jetstream needs a nats-server binary (${where}). Install one: "apt-get install nats-server", "brew install nats-server", ` +
      'or put a release binary from https://github.com/nats-io/nats-server/releases on PATH (or point NATS_SERVER_BIN at it); ' +
      'or connect to a running server with --nats-url nats://HOST:4222',
  )
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** True when `pid` runs a nats-server (Linux /proc; elsewhere trust the pid file). */
function isNatsServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nats-server')
  } catch {
    return process.platform !== 'linux' && isAlive(pid)
  }
}

async function waitExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 25))
  }
  return true
}

export class NatsServer {
  readonly dir: string
  private child: ChildProcess | undefined
  private address: string | undefined
  private closing: Promise<void> | undefined
  private readonly pidFile: string
  /** The pid of the faasdev that owns the server: a second faasdev on the same data dir must not take over a live one's store. */
  private readonly ownerFile: string

  constructor(private readonly options: NatsServerOptions) {
    this.dir = join(options.dataDir, 'nats')
    this.pidFile = join(this.dir, 'nats-server.pid')
    this.ownerFile = join(this.dir, 'owner.pid')
  }

  /** `nats://127.0.0.1:PORT` once started. */
  get url(): string {
    if (!this.address) throw new Error('nats-server not started')
    return this.address
  }

  get pid(): number | undefined {
    return this.child?.pid
  }

  async start(): Promise<void> {
    const env = this.options.env ?? process.env
    const bin = findNatsServer(env)
    if (!bin) throw missingNatsServerError(env)
    mkdirSync(this.dir, { recursive: true })
    this.checkOwner()
    await this.stopStale()
    writeFileSync(this.ownerFile, `${process.pid}\n`)

    const conf = join(this.dir, 'nats-server.conf')
    writeFileSync(
      conf,
      [
        '# written by faasdev at each start',
        'listen: "127.0.0.1:-1"',
        `max_payload: ${Math.ceil(this.options.maxPayload)}`,
        `pid_file: ${JSON.stringify(this.pidFile)}`,
        `ports_file_dir: ${JSON.stringify(this.dir)}`,
        `jetstream { store_dir: ${JSON.stringify(join(this.dir, 'store'))} }`,
        '',
      ].join('\n'),
    )
    const child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    let output = ''
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString()
      if (output.length < 4000) output += text
      for (const line of text.split('\n')) if (line.trim()) this.options.log(line.trimEnd())
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    const exited = new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => resolve(`nats-server exited (${signal ?? `code ${code}`})`))
      child.once('error', (err) => resolve(`nats-server could not start: ${err.message}`))
    })

    const portsFile = join(this.dir, `nats-server_${child.pid}.ports`)
    const deadline = Date.now() + 15_000
    let stop: string | undefined
    void exited.then((why) => (stop = why))
    for (;;) {
      if (stop) throw new FaasError('ERR_QUEUE_UNAVAILABLE', `${stop} before it was ready: ${output.trim().slice(-1500)}`)
      if (existsSync(portsFile)) {
        try {
          const ports = JSON.parse(readFileSync(portsFile, 'utf8')) as { nats?: string[] }
          const url = ports.nats?.[0]
          if (url) {
            this.address = url
            break
          }
        } catch {
          // Written but not complete yet: read it again.
        }
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new FaasError('ERR_QUEUE_UNAVAILABLE', `nats-server did not report its port within 15 s: ${output.trim().slice(-1500)}`)
      }
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  private checkOwner(): void {
    let owner: number
    try {
      owner = Number(readFileSync(this.ownerFile, 'utf8').trim())
    } catch {
      return
    }
    if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid || !isAlive(owner)) return
    let cmdline = ''
    try {
      cmdline = readFileSync(`/proc/${owner}/cmdline`, 'utf8')
    } catch {
      // Not Linux, or gone: the pid alone decides.
    }
    if (cmdline && !/node|faasdev/.test(cmdline)) return
    throw new FaasError(
      'ERR_QUEUE_UNAVAILABLE',
      `the data dir ${this.options.dataDir} is in use by another faasdev (pid ${owner}) with its own nats-server: stop it, ` +
        'give this instance its own --data-dir, or share one server with --nats-url',
    )
  }

  /** A server left by a faasdev that was killed (`kill -9`) still holds the store: stop it first. */
  private async stopStale(): Promise<void> {
    let pid: number
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim())
    } catch {
      return
    }
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid) && isNatsServer(pid)) {
      this.options.log(`stopping nats-server ${pid} left running by a previous faasdev`)
      try {
        // SIGTERM lets it flush the file store; SIGKILL only if it hangs.
        process.kill(pid, 'SIGTERM')
        if (!(await waitExit(pid, 10_000))) {
          process.kill(pid, 'SIGKILL')
          await waitExit(pid, 5_000)
        }
      } catch {
        // Gone in between.
      }
    }
    rmSync(this.pidFile, { force: true })
    if (Number.isInteger(pid) && pid > 0) rmSync(join(this.dir, `nats-server_${pid}.ports`), { force: true })
  }

  /** Stops the server (SIGTERM, then SIGKILL after `timeoutMs`). Idempotent. */
  close(timeoutMs = 10_000): Promise<void> {
    this.closing ??= (async () => {
      const child = this.child
      if (!child || child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
      await exited
      clearTimeout(timer)
      rmSync(this.pidFile, { force: true })
      rmSync(this.ownerFile, { force: true })
      if (child.pid) rmSync(join(this.dir, `nats-server_${child.pid}.ports`), { force: true })
    })()
    return this.closing
  }
}

import { createServer } from 'node:net'
import { FaasError } from '../errors.js'

export interface PortReservation {
  /** Frees the port for the gateway; idempotent. */
  release(): Promise<void>
}

/**
 * Takes the gateway's port before any function builds, so a busy port is reported at once
 * (not after every build, under a table of "ready" functions) and nothing else takes the
 * port while the functions build. Port 0 is never busy: nothing to hold.
 */
export async function reservePort(port: number, host: string): Promise<PortReservation> {
  if (port === 0) return { release: async () => undefined }
  const server = createServer((socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `port ${port} on ${host}`
      if (err.code === 'EADDRINUSE') reject(new FaasError('ERR_PORT_IN_USE', `${where} is already in use (another faasdev up or gateway?): stop it, or pass --port with a free port (0 picks one)`, { cause: err }))
      else if (err.code === 'EACCES') reject(new FaasError('ERR_PORT_IN_USE', `not allowed to listen on ${where}: pick a port above 1023 with --port`, { cause: err }))
      else reject(err)
    })
    server.listen({ port, host, exclusive: true }, resolve)
  })
  let released: Promise<void> | undefined
  return {
    release: () => (released ??= new Promise<void>((resolve) => server.close(() => resolve()))),
  }
}

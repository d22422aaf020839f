import type { Socket } from 'node:net'

/** How long a client still sending a refused body is read from, at most, before the socket is dropped. */
export const LINGER_MS = 5000

/**
 * A lingering close, as nginx's `lingering_close`, for a response sent before the request's
 * body was read (413, or 503 while draining). Node's server destroys such a socket (its
 * response says `Connection: close`) as soon as the response is written; the client is still
 * sending, the unread bytes make the kernel answer with a reset, and a client that reads only
 * after sending (most do) never sees the response. Here the write side is ended instead (a FIN
 * after the response), and what the client still sends is read and dropped by Node's parser
 * until the client closes its side, for at most `ms`.
 *
 * Node's server calls `destroySoon()` on the socket after such a response; this socket's own
 * `destroySoon` is replaced. On a Node that stopped calling it, the socket closes as before.
 */
export function lingerOnClose(socket: Socket, ms = LINGER_MS): void {
  socket.destroySoon = function lingeringClose(this: Socket): void {
    if (this.destroyed) return
    if (this.writable) this.end()
    const timer = setTimeout(() => this.destroy(), ms)
    timer.unref()
    // Otherwise the socket closes by itself once the response is flushed and the client has
    // closed its side (a Duplex ends when both halves have).
    this.once('close', () => clearTimeout(timer))
  }
}

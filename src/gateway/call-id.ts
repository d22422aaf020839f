/**
 * New call ids: random UUIDs (version 4), as `crypto.randomUUID()` makes them, but each one
 * a single flat string. `randomUUID()` joins twenty pieces, a rope of about twenty objects that
 * V8 flattens again the first time the id is hashed (a map key) or checked (a header value);
 * a gateway that makes one per call, thousands a second, pays for both.
 */
import { randomFillSync } from 'node:crypto'

const HEX = Buffer.from('0123456789abcdef', 'latin1')
/** Random bytes for this many ids are drawn at once, as `randomUUID()` does. */
const BATCH = 128
const random = Buffer.alloc(16 * BATCH)
let next = BATCH
const text = Buffer.alloc(36)
/** Where each of the 16 bytes goes in the 36 characters (the dashes stay). */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
text.write('00000000-0000-4000-8000-000000000000', 'latin1')

export function newCallId(): string {
  if (next === BATCH) {
    randomFillSync(random)
    next = 0
  }
  const o = 16 * next++
  for (let i = 0; i < 16; i++) {
    let b = random[o + i] as number
    // RFC 9562: version 4 in the high nibble of byte 6, variant 10 in the top bits of byte 8.
    if (i === 6) b = (b & 0x0f) | 0x40
    else if (i === 8) b = (b & 0x3f) | 0x80
    const at = AT[i] as number
    text[at] = HEX[b >> 4] as number
    text[at + 1] = HEX[b & 0x0f] as number
  }
  return text.toString('latin1', 0, 36)
}

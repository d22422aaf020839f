import { functionOfReplica } from './log-buffer.js'

// Bright ANSI colours that read on dark and light terminals alike.
const COLOURS = [36, 33, 35, 32, 34, 96, 93, 95, 92, 94]

/**
 * Prints handler output as `hello-2 | line`, the replica name coloured per function when
 * the stream is a terminal (so interleaved output of several functions stays readable).
 */
export function terminalPrinter(out: NodeJS.WriteStream = process.stdout, colour = out.isTTY === true && !process.env.NO_COLOR) {
  const assigned = new Map<string, number>()
  return (replica: string, _stream: 'stdout' | 'stderr', line: string): void => {
    if (!colour) {
      out.write(`${replica} | ${line}\n`)
      return
    }
    const fn = functionOfReplica(replica)
    let code = assigned.get(fn)
    if (code === undefined) assigned.set(fn, (code = COLOURS[assigned.size % COLOURS.length] ?? 36))
    out.write(`\x1b[${code}m${replica} |\x1b[0m ${line}\n`)
  }
}

import { pino, type Logger } from 'pino'
import pretty from 'pino-pretty'

export interface LoggerOptions {
  /** Human-readable lines instead of JSON. @default true when stderr is a terminal */
  pretty?: boolean
  /** @default 'info', or $FAASDEV_LOG_LEVEL */
  level?: string
  destination?: NodeJS.WritableStream
}

/**
 * faasdev's own log: JSON lines (pino, the logger Fastify uses) for scripts and log
 * shippers, pino-pretty's coloured lines on a terminal. Written synchronously to stderr so a
 * line printed just before an exit is never lost.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stderr
  const isPretty = options.pretty ?? (destination as NodeJS.WriteStream).isTTY === true
  const level = options.level ?? process.env.FAASDEV_LOG_LEVEL ?? 'info'
  const stream = isPretty
    ? pretty({ destination, sync: true, colorize: !process.env.NO_COLOR, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' })
    : pino.destination({ dest: 2, sync: true })
  return pino({ level, base: { pid: process.pid } }, options.destination && !isPretty ? (destination as unknown as pino.DestinationStream) : stream)
}

/**
 * The runtime's `log(line)` over a pino logger: `warning: …` and `error: …` lines get their
 * level, the rest are info.
 */
export function lineLogger(logger: Logger): (line: string) => void {
  return (line) => {
    if (line.startsWith('warning: ')) logger.warn(line.slice(9))
    else if (line.startsWith('error: ')) logger.error(line.slice(7))
    else logger.info(line)
  }
}

export type LogFormat = 'json' | 'pretty' | 'plain'
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty', 'plain']

/** `--log-format` / $FAASDEV_LOG_FORMAT, else pretty on a terminal and plain lines otherwise. */
export function defaultLogFormat(env: NodeJS.ProcessEnv = process.env, stderr: NodeJS.WriteStream = process.stderr): LogFormat {
  const wanted = env.FAASDEV_LOG_FORMAT as LogFormat | undefined
  if (wanted && LOG_FORMATS.includes(wanted)) return wanted
  return stderr.isTTY ? 'pretty' : 'plain'
}

import type { Context } from 'faasdev'

/**
 * Sleeps (default 1 s, `?ms=` to change) to show backpressure: with `max_inflight: 2` and one
 * replica, a third concurrent call gets 429 at once instead of queueing behind the others.
 */
export default async function handle(req: Request, ctx: Context): Promise<string> {
  const ms = Number(new URL(req.url).searchParams.get('ms') ?? 1000)
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms)
    ctx.signal.addEventListener('abort', () => {
      clearTimeout(timer)
      reject(ctx.signal.reason as Error)
    })
  })
  return `slept ${ms} ms\n`
}

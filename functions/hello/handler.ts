import type { Context } from 'faasdev'

/** A fetch-style handler: a standard Request in, a Response (or string, object, bytes) out. */
export default async function handle(req: Request, ctx: Context): Promise<Response> {
  const url = new URL(req.url)
  const name = url.searchParams.get('name') ?? ((await req.text()) || 'world')
  return Response.json({ message: `Hello, ${name}!`, path: url.pathname, callId: ctx.callId })
}
